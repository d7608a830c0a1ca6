"""Join strokes whose ends meet, so the pen stays down across them (vpype's `linemerge`, with a KD-tree).

Every merge saves a pen lift and a drop: two servo moves and two full stops in GRBL's planner, each with its
dwell. Ends are looked up in a scipy cKDTree over all stroke ends (no O(n^2) scan); a stroke may be reversed
to make its matching end meet the chain.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from plotter.errors import PlotterError
from plotter.sketch import Sketch


class MergeError(PlotterError):
    """A merge tolerance that is negative or not a number."""


class _EndIndex:
    """Stroke ends (2i = start of i, 2i+1 = end of i) with removal, answering 'nearest free end within r'."""

    def __init__(self, strokes: list[np.ndarray]) -> None:
        self.points = np.array([p for s in strokes for p in (s[0], s[-1])], dtype=np.float64).reshape(-1, 2)
        self.tree = cKDTree(self.points)
        self.free = np.ones(len(strokes), dtype=bool)

    def take(self, i: int) -> None:
        self.free[i] = False

    def nearest(self, p: np.ndarray, r: float) -> int | None:
        """Index of the closest end of a free stroke within r of p (lowest index on ties), else None."""
        cand = np.asarray(self.tree.query_ball_point(p, r), dtype=np.int64)
        cand = cand[self.free[cand // 2]]
        if len(cand) == 0:
            return None
        d = np.hypot(*(self.points[cand] - p).T)
        order = np.lexsort((cand, d))
        return int(cand[order[0]])


def _join(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """head then tail; a shared point is written once, a small gap is drawn across."""
    if np.array_equal(head[-1], tail[0]):
        tail = tail[1:]
    return np.concatenate([head, tail]) if len(tail) else head


def merge_strokes(sketch: Sketch, tolerance: float) -> Sketch:
    """A new sketch where chains of strokes whose ends lie within `tolerance` are single strokes.

    Chains grow from each stroke (in drawing order) forwards from its end, then backwards from its start,
    always taking the closest free end. A closed stroke keeps its closing segment: it can join a chain at
    its start/end point, but is never opened up, so the drawn geometry is the same set of segments (plus
    pen-down bridges no longer than `tolerance`).
    """
    if not (isinstance(tolerance, (int, float, np.floating)) and math.isfinite(tolerance) and tolerance >= 0):
        raise MergeError(f"merge tolerance must be a number >= 0, got {tolerance!r}")
    strokes = sketch.strokes
    if len(strokes) < 2:
        return sketch.copy()
    index = _EndIndex(strokes)
    out: list[np.ndarray] = []
    for i, stroke in enumerate(strokes):
        if not index.free[i]:
            continue
        index.take(i)
        chain = stroke
        while (k := index.nearest(chain[-1], tolerance)) is not None:  # grow forwards
            j, at_end = divmod(k, 2)
            index.take(j)
            chain = _join(chain, strokes[j][::-1] if at_end else strokes[j])
        while (k := index.nearest(chain[0], tolerance)) is not None:  # grow backwards
            j, at_end = divmod(k, 2)
            index.take(j)
            chain = _join(strokes[j] if at_end else strokes[j][::-1], chain)
        out.append(np.ascontiguousarray(chain))
    merged = sketch.copy(out)
    merged.meta["merge_tolerance"] = float(tolerance)
    return merged
