"""Polyline clipping against an axis-aligned rectangle (Liang-Barsky per segment), splitting strokes.

Why: `--clip` must cut what leaves the bed, not drop whole strokes or clamp points onto the edge (which would
draw lines along the border). A stroke that leaves and re-enters becomes two strokes.
"""

from __future__ import annotations

import numpy as np

from plotter.sketch import Sketch

Rect = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax


def clip_segment(p: np.ndarray, q: np.ndarray, rect: Rect) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment p-q inside `rect`, or None."""
    xmin, ymin, xmax, ymax = rect
    d = q - p
    t0, t1 = 0.0, 1.0
    for num, den in ((p[0] - xmin, -d[0]), (xmax - p[0], d[0]), (p[1] - ymin, -d[1]), (ymax - p[1], d[1])):
        if den == 0.0:
            if num < 0:
                return None
            continue
        t = num / den
        if den < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return p + t0 * d, p + t1 * d


def clip_stroke(stroke: np.ndarray, rect: Rect) -> list[np.ndarray]:
    """Pieces of one polyline inside `rect` (in order)."""
    xmin, ymin, xmax, ymax = rect
    inside = (stroke[:, 0] >= xmin) & (stroke[:, 0] <= xmax) & (stroke[:, 1] >= ymin) & (stroke[:, 1] <= ymax)
    if inside.all():
        return [stroke]
    if len(stroke) == 1:
        return []
    pieces: list[np.ndarray] = []
    current: list[np.ndarray] = []
    for i in range(len(stroke) - 1):
        seg = clip_segment(stroke[i], stroke[i + 1], rect)
        if seg is None:
            if len(current) > 1:
                pieces.append(np.array(current))
            current = []
            continue
        a, b = seg
        if not current or not np.allclose(current[-1], a):
            if len(current) > 1:
                pieces.append(np.array(current))
            current = [a]
        current.append(b)
        if not inside[i + 1]:  # left the rectangle at b
            pieces.append(np.array(current))
            current = []
    if len(current) > 1:
        pieces.append(np.array(current))
    return pieces


def clip_sketch(sketch: Sketch, rect: Rect) -> tuple[Sketch, int]:
    """Clip every stroke; returns the new sketch and how many strokes were cut or dropped."""
    out: list[np.ndarray] = []
    changed = 0
    for s in sketch.strokes:
        pieces = clip_stroke(s, rect)
        if len(pieces) != 1 or pieces[0] is not s:
            changed += 1
        out += pieces
    return sketch.copy(out), changed
