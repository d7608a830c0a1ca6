"""Layout: paper sizes, orientation, grids, fit/centre/rotate, the bed check and clipping."""

import numpy as np
import pytest

from plotter.errors import LayoutError
from plotter.plan.clip import clip_segment, clip_stroke
from plotter.plan.layout import Bed, layout_sketches, parse_grid, parse_paper
from plotter.sketch import Sketch


@pytest.mark.parametrize(
    "spec, size",
    [
        ("a4", (210, 297)),
        ("A3", (297, 420)),
        ("letter", (215.9, 279.4)),
        ("200x150", (200, 150)),
        ("20x30cm", (200, 300)),
        ("8.5x11in", (215.9, 279.4)),
    ],
)
def test_paper_sizes(spec, size):
    p = parse_paper(spec)
    assert (p.width, p.height) == pytest.approx(size)


def test_bad_paper_and_grid():
    with pytest.raises(LayoutError, match="unknown paper 'a9'"):
        parse_paper("a9")
    with pytest.raises(LayoutError, match="COLSxROWS"):
        parse_grid("3by3")
    assert parse_grid("4x2") == (4, 2)


def wide():
    return Sketch([np.array([[0, 0], [200, 0], [200, 100]])])  # 2:1 in px


def test_single_sketch_is_scaled_to_fit_and_centred():
    lay = layout_sketches([wide()], paper="a4", landscape=False, margin=10)
    x0, y0, x1, y1 = lay.sketch.bounds()
    assert lay.sketch.unit == "mm"
    assert (x0, x1) == pytest.approx((10, 200))  # full drawable width 190 mm
    assert (y1 - y0) == pytest.approx(95)  # aspect kept
    assert (y0 + y1) / 2 == pytest.approx(297 / 2)  # centred vertically
    assert lay.scales == [pytest.approx(190 / 200)]


def test_grid_cells_and_too_many_sketches():
    lay = layout_sketches([wide()] * 4, paper="200x200", margin=0, gap=0, grid="2x2")
    assert [(c.x, c.y) for c in lay.cells] == [(0, 0), (100, 0), (0, 100), (100, 100)]
    assert len(lay.sketch) == 4
    with pytest.raises(LayoutError, match=r"5 sketches do not fit a 2x2 grid .* --limit 4"):
        layout_sketches([wide()] * 5, grid="2x2")


def test_rotation_turns_a_wide_sketch_tall():
    lay = layout_sketches([wide()], paper="200x200", margin=0, rotate=90)
    w = lay.sketch.size()
    assert w[1] == pytest.approx(200) and w[0] == pytest.approx(100)
    # clockwise on paper (y down): the first segment (pointing +x) now points +y
    first = lay.sketch.strokes[0]
    assert first[1, 1] - first[0, 1] > 0 and abs(first[1, 0] - first[0, 0]) < 1e-9


def test_orientation_is_chosen_to_fit_the_bed():
    bed = Bed(310, 220)
    assert layout_sketches([wide()], paper="a4", bed=bed).paper.width == 297
    assert layout_sketches([wide()], paper="a4", bed=Bed(300, 400)).paper.width == 210
    assert layout_sketches([wide()], paper="a4", landscape=False).paper.width == 210


def test_paper_sits_on_the_machine_origin_corner():
    lay = layout_sketches([wide()], paper="a5", landscape=True, bed=Bed(300, 200), offset=(5, 7))
    assert lay.paper_origin == pytest.approx((5, 200 - 7 - 148))
    top = layout_sketches([wide()], paper="a5", landscape=True, bed=Bed(300, 200, "top-left"), offset=(5, 7))
    assert top.paper_origin == (5, 7)


def test_overflow_names_the_amount():
    with pytest.raises(LayoutError, match=r"overflows by 87\.0 mm at the top"):
        layout_sketches(
            [Sketch([np.array([[0, 0], [0, 100]])])], paper="a4", landscape=False, bed=Bed(300, 200)
        )


def test_clip_splits_strokes_at_the_bed_edge():
    tall = Sketch([np.array([[0, 0], [0, 100]])])
    lay = layout_sketches([tall], paper="a4", landscape=False, bed=Bed(300, 200), clip=True)
    x0, y0, x1, y1 = lay.sketch.bounds()
    assert y0 == pytest.approx(0) and y1 <= 200 and lay.clipped == 1


def test_clip_segment_and_stroke():
    rect = (0, 0, 10, 10)
    a, b = clip_segment(np.array([-5.0, 5.0]), np.array([15.0, 5.0]), rect)
    assert a.tolist() == [0, 5] and b.tolist() == [10, 5]
    assert clip_segment(np.array([-5.0, -5.0]), np.array([-1.0, 20.0]), rect) is None
    zigzag = np.array([[5, 5], [15, 5], [15, 8], [5, 8], [5, 20]], dtype=float)
    pieces = clip_stroke(zigzag, rect)
    assert len(pieces) == 2
    np.testing.assert_allclose(pieces[0], [[5, 5], [10, 5]])
    np.testing.assert_allclose(pieces[1], [[10, 8], [5, 8], [5, 10]])
    assert clip_stroke(np.array([[20.0, 20.0]]), rect) == []


def test_bad_margins():
    with pytest.raises(LayoutError, match="margins leave no room"):
        layout_sketches([wide()], paper="a6", margin=60)
    with pytest.raises(LayoutError, match="no sketches"):
        layout_sketches([])


def test_size_sets_the_longer_side_or_is_refused():
    lay = layout_sketches([wide()], paper="a4", landscape=False, margin=10, size=50)
    assert max(lay.sketch.size()) == pytest.approx(50)
    x0, _, x1, _ = lay.sketch.bounds()
    assert (x0 + x1) / 2 == pytest.approx(105)  # still centred
    with pytest.raises(LayoutError, match=r"--size 300 mm does not fit"):
        layout_sketches([wide()], paper="a4", landscape=False, size=300)
    with pytest.raises(LayoutError, match=r"--size must be a positive length, got 0 mm"):
        layout_sketches([wide()], paper="a4", landscape=False, size=0)
