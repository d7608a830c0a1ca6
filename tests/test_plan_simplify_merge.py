"""RDP simplification and stroke merging: geometry kept within tolerance, semantics kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from plotter.errors import PlotterError
from plotter.plan.merge import merge_strokes
from plotter.plan.simplify import rdp, simplify
from plotter.sketch import Sketch
from plotter.sketch.rdp import _distances

polyline = arrays(np.float64, st.tuples(st.integers(1, 60), st.just(2)), elements=st.floats(-100, 100))


def max_deviation(original: np.ndarray, simplified: np.ndarray) -> float:
    """Largest distance from an original point to the simplified polyline."""
    if len(simplified) == 1:
        return float(np.abs(original - simplified[0]).max(initial=0.0))
    d = np.min([_distances(original, a, b, True) for a, b in zip(simplified, simplified[1:])], axis=0)
    return float(d.max())


def test_rdp_drops_collinear_points_and_keeps_corners():
    line = np.column_stack([np.arange(11.0), np.zeros(11)])
    assert rdp(line, 0.1).tolist() == [[0, 0], [10, 0]]
    corner = np.array([[0, 0], [5, 0.05], [10, 0], [10, 10]], dtype=float)
    assert rdp(corner, 0.1).tolist() == [[0, 0], [10, 0], [10, 10]]
    assert len(rdp(corner, 0.01)) == 4


def test_rdp_line_metric_matches_google_and_segment_metric_keeps_spikes():
    spike = np.array([[0, 0], [20, 0], [10, 0]], dtype=float)  # goes past the end and comes back
    assert len(rdp(spike, 1.0)) == 2  # line distance is 0: Google's rdp drops it
    assert len(rdp(spike, 1.0, segment=True)) == 3


def test_rdp_long_stroke_has_no_recursion_problem():
    t = np.linspace(0, 200 * np.pi, 200_000)
    spiral = np.column_stack([t * np.cos(t), t * np.sin(t)])
    out = rdp(spiral, 0.5)
    assert 100 < len(out) < len(spiral)
    assert (out[0] == spiral[0]).all() and (out[-1] == spiral[-1]).all()


@settings(max_examples=60, deadline=None)
@given(polyline, st.floats(0.0, 5.0))
def test_simplify_stays_within_tolerance(points, tol):
    sk = Sketch([points], unit="mm")
    out = simplify(sk, tol).strokes[0]
    assert (out[0] == points[0]).all() and (out[-1] == points[-1]).all()
    assert len(out) <= len(points)
    assert max_deviation(points, out) <= tol + 1e-9


def test_simplify_keeps_closed_loops_closed_and_rejects_bad_tolerance(square):
    out = simplify(square, 0.5)
    assert (out.strokes[0][0] == out.strokes[0][-1]).all() and len(out.strokes[0]) == 5
    with pytest.raises(PlotterError, match="tolerance"):
        simplify(square, -1.0)
    with pytest.raises(PlotterError, match="tolerance"):
        simplify(square, float("nan"))


def segments(sk: Sketch) -> set:
    """The drawn geometry as a set of undirected segments (rounded), ignoring zero-length ones."""
    out = set()
    for s in sk.strokes:
        for a, b in zip(s, s[1:]):
            a, b = tuple(np.round(a, 6)), tuple(np.round(b, 6))
            if a != b:
                out.add(tuple(sorted((a, b))))
    return out


def test_merge_joins_touching_strokes_reversing_where_needed():
    a = np.array([[0, 0], [1, 0]], dtype=float)
    b = np.array([[2, 0], [1, 0]], dtype=float)  # drawn towards a's end: must be reversed
    c = np.array([[2, 0], [2, 1]], dtype=float)
    far = np.array([[9, 9], [9, 8]], dtype=float)
    out = merge_strokes(Sketch([a, b, c, far], unit="mm"), 0.01)
    assert len(out) == 2
    assert out.strokes[0].tolist() == [[0, 0], [1, 0], [2, 0], [2, 1]]
    assert segments(out) == segments(Sketch([a, b, c, far]))


def test_merge_grows_backwards_and_respects_tolerance():
    a = np.array([[1, 0], [2, 0]], dtype=float)
    b = np.array([[0, 0], [0.95, 0]], dtype=float)  # its end is 0.05 from a's start
    assert len(merge_strokes(Sketch([a, b]), 0.01)) == 2
    out = merge_strokes(Sketch([a, b]), 0.1)
    assert len(out) == 1 and out.strokes[0].tolist() == [[0, 0], [0.95, 0], [1, 0], [2, 0]]


def test_merge_keeps_closed_loop_closed(square):
    out = merge_strokes(square, 0.01)
    assert len(out) == 1
    assert segments(out) == segments(square)
    pts = [tuple(p) for p in out.strokes[0]]
    assert pts.count((0.0, 0.0)) >= 2  # the loop still returns to its start


@settings(max_examples=40, deadline=None)
@given(st.lists(arrays(np.int64, st.tuples(st.integers(2, 5), st.just(2)), elements=st.integers(0, 4)),
                min_size=1, max_size=12))  # fmt: skip
def test_merge_never_loses_or_adds_geometry(strokes):
    sk = Sketch([s.astype(float) for s in strokes], unit="mm")
    out = merge_strokes(sk, 0.0)
    assert segments(out) == segments(sk)
    assert len(out) <= len(sk)
    assert out.pen_down_length() == pytest.approx(sk.pen_down_length())


def test_merge_rejects_bad_tolerance(square):
    with pytest.raises(PlotterError, match="tolerance"):
        merge_strokes(square, -0.1)
