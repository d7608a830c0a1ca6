"""Ramer-Douglas-Peucker on one polyline: the primitive that readers (the raw Quick, Draw! format) and the
planner (`plotter.plan.simplify`) share, so it lives in the sketch layer that both sit on.

Iterative with an explicit stack (no recursion limit on long strokes); each span's farthest point comes
from one vectorised distance.
"""

from __future__ import annotations

import math

import numpy as np

from plotter.errors import PlotterError


class SimplifyError(PlotterError):
    """A simplification tolerance that is negative or not a number."""


def _distances(pts: np.ndarray, a: np.ndarray, b: np.ndarray, segment: bool) -> np.ndarray:
    """Distance of each point to the line (or segment) a-b; to the point a when a == b."""
    ab = b - a
    denom = float(ab @ ab)
    rel = pts - a
    if denom == 0.0:
        return np.hypot(rel[:, 0], rel[:, 1])
    if not segment:
        return np.abs(rel[:, 0] * ab[1] - rel[:, 1] * ab[0]) / math.sqrt(denom)
    t = np.clip((rel @ ab) / denom, 0.0, 1.0)
    d = rel - t[:, None] * ab
    return np.hypot(d[:, 0], d[:, 1])


def rdp_mask(points: np.ndarray, eps: float, segment: bool = True) -> np.ndarray:
    """Boolean mask of the points RDP keeps (both ends always kept)."""
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    keep[0] = keep[-1] = True
    if n < 3:
        return keep
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        d = _distances(pts[i + 1 : j], pts[i], pts[j], segment)
        k = int(np.argmax(d))
        if d[k] > eps:
            k += i + 1
            keep[k] = True
            stack.append((i, k))
            stack.append((k, j))
    return keep


def rdp(points: np.ndarray, eps: float, segment: bool = False) -> np.ndarray:
    """Ramer-Douglas-Peucker of one (N, 2) polyline -> (M, 2), keeping both ends.

    The default measures distance to the infinite line through each span's ends, as the `rdp` package
    Google used for Quick, Draw! does (so the raw reader reproduces the published simplification);
    `segment=True` measures to the segment, which never cuts off a spike that doubles back past an end.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise SimplifyError(f"rdp needs an (N, 2) array of points, got shape {pts.shape}")
    check_tolerance(eps)
    return pts[rdp_mask(pts, eps, segment)].copy()


def check_tolerance(tolerance: float) -> None:
    if not (isinstance(tolerance, (int, float, np.floating)) and math.isfinite(tolerance) and tolerance >= 0):
        raise SimplifyError(f"simplify tolerance must be a number >= 0, got {tolerance!r}")
