"""Ramer-Douglas-Peucker for one polyline, in numpy.

Why here: the Quick, Draw! raw reader must reproduce Google's simplification (RDP with epsilon 2.0) and the
sketch package may not depend on the planner. Iterative (explicit stack) so long strokes cannot hit the
recursion limit; the farthest point per span is found with one vectorized distance computation.
"""

from __future__ import annotations

import numpy as np


def _segment_distances(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point to the segment a-b (to a when a == b)."""
    ab = b - a
    denom = float(ab @ ab)
    if denom == 0.0:
        return np.linalg.norm(points - a, axis=1)
    t = np.clip(((points - a) @ ab) / denom, 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def rdp(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Keep both ends and every point farther than `epsilon` from the simplified line: (N, 2) -> (M, 2)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3 or epsilon <= 0:
        return pts.copy()
    keep = np.zeros(len(pts), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        d = _segment_distances(pts[i + 1 : j], pts[i], pts[j])
        k = int(np.argmax(d))
        if d[k] > epsilon:
            k += i + 1
            keep[k] = True
            stack.append((i, k))
            stack.append((k, j))
    return pts[keep]
