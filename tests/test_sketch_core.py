import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plotter.errors import SketchFormatError
from plotter.sketch import Sketch


def test_stroke3_round_trip(square):
    s3 = square.to_stroke3()
    assert s3.shape == (7, 3)
    assert list(s3[:, 2]) == [0, 0, 0, 0, 1, 0, 1]
    back = Sketch.from_stroke3(s3)
    assert len(back) == 2
    for a, b in zip(back.strokes, square.strokes):
        np.testing.assert_allclose(a, b)


def test_stroke5_end_after_last_point_and_padding(square):
    s5 = square.to_stroke5(max_len=10)
    assert s5.shape == (10, 5)
    assert s5[6, 3] == 1 and s5[6, 4] == 0  # last real point lifts the pen
    assert (s5[7:] == [0, 0, 0, 0, 1]).all()  # end-of-sketch after it, then padding
    back = Sketch.from_stroke5(s5)
    assert back.n_points == square.n_points


def test_stroke5_start_token_is_dropped(square):
    s5 = square.to_stroke5(start_token=True)
    np.testing.assert_allclose(s5[0], [0, 0, 1, 0, 0])
    back = Sketch.from_stroke5(s5, start_token=True)
    np.testing.assert_allclose(back.strokes[0], square.strokes[0])


def test_stroke5_too_short_raises(square):
    with pytest.raises(SketchFormatError):
        square.to_stroke5(max_len=3)


def test_bad_input_is_a_domain_error():
    with pytest.raises(SketchFormatError):
        Sketch([np.zeros((3, 3))])
    with pytest.raises(SketchFormatError):
        Sketch.from_stroke3(np.array([[np.nan, 0, 1]]))
    with pytest.raises(SketchFormatError):
        Sketch([], unit="furlong")


def test_transforms(square):
    moved = square.translate(5, -5)
    assert moved.bounds() == (5, -5, 15, 5)
    big = square.scale(2, unit="mm")
    assert big.unit == "mm" and big.size() == (20, 20)
    rot = square.rotate(90)
    np.testing.assert_allclose(rot.bounds(), (-10, 0, 0, 10), atol=1e-9)
    assert square.pen_up_length() == 0.0
    assert square.pen_up_length(start=(3, 4)) == pytest.approx(5.0)


@given(st.lists(st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=1, max_size=8),
                min_size=1, max_size=6))
def test_stroke3_round_trip_property(strokes):
    sk = Sketch([np.array(s, dtype=float) for s in strokes])
    back = Sketch.from_stroke3(sk.to_stroke3())
    assert [len(s) for s in back.strokes] == [len(s) for s in sk.strokes]
    for a, b in zip(back.strokes, sk.strokes):
        np.testing.assert_allclose(a, b, atol=1e-9)
