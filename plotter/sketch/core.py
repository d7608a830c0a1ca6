"""The one sketch type used everywhere: polylines in drawing order.

A `Sketch` is a list of strokes; each stroke is a float64 array of shape (N, 2) holding absolute x, y points
(y grows downward, as in Quick, Draw! and SVG). The same type carries unitless model output ("px") and
laid-out paper geometry ("mm"). Conversions to and from the stroke-3 and stroke-5 formats used by the
models live here so that every reader, model and planner agrees on them.

stroke-3: rows (dx, dy, p) where p = 1 means the pen lifts *after* this point; the first row is the offset of
the first point from the origin.
stroke-5: rows (dx, dy, p1, p2, p3): p1 pen stays down after this point, p2 pen lifts after it, p3 end of
sketch. The end-of-sketch row comes *after* the last real point; padding rows are (0, 0, 0, 0, 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from plotter.errors import SketchFormatError

UNITS = ("px", "mm")


def _as_stroke(points: object) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise SketchFormatError(f"a stroke must be an (N, 2) array of points, N >= 1; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise SketchFormatError("a stroke contains NaN or infinite coordinates")
    return arr


@dataclass
class Sketch:
    """Polylines in drawing order, in `unit` ("px" for model space, "mm" for paper)."""

    strokes: list[np.ndarray] = field(default_factory=list)
    unit: str = "px"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise SketchFormatError(f"unknown unit {self.unit!r}; expected one of {', '.join(UNITS)}")
        self.strokes = [_as_stroke(s) for s in self.strokes]

    # ------------------------------------------------------------------ basic facts
    def __len__(self) -> int:
        return len(self.strokes)

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.strokes)

    def is_empty(self) -> bool:
        return not self.strokes

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax); raises on an empty sketch, which has none."""
        if not self.strokes:
            raise SketchFormatError("an empty sketch has no bounds")
        pts = np.concatenate(self.strokes)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bounds()
        return x1 - x0, y1 - y0

    def pen_down_length(self) -> float:
        return float(sum(np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in self.strokes))

    def pen_up_length(self, start: Sequence[float] | None = None) -> float:
        """Travel between strokes (and from `start` to the first stroke, if given)."""
        total = 0.0
        prev = None if start is None else np.asarray(start, dtype=np.float64)
        for s in self.strokes:
            if prev is not None:
                total += float(np.linalg.norm(s[0] - prev))
            prev = s[-1]
        return total

    # ------------------------------------------------------------------ transforms (new sketch each time)
    def copy(self, strokes: Iterable[np.ndarray] | None = None, **changes: object) -> Sketch:
        new = Sketch(
            [s.copy() for s in (self.strokes if strokes is None else strokes)],
            unit=str(changes.pop("unit", self.unit)),
            meta=dict(changes.pop("meta", self.meta)),
        )
        if changes:
            raise TypeError(f"unknown fields: {', '.join(changes)}")
        return new

    def affine(self, matrix: np.ndarray, unit: str | None = None) -> Sketch:
        """Apply a 2x3 affine matrix [[a, b, tx], [c, d, ty]] to every point."""
        m = np.asarray(matrix, dtype=np.float64)
        return self.copy([s @ m[:, :2].T + m[:, 2] for s in self.strokes], unit=unit or self.unit)

    def translate(self, dx: float, dy: float) -> Sketch:
        return self.affine(np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]))

    def scale(self, sx: float, sy: float | None = None, unit: str | None = None) -> Sketch:
        sy = sx if sy is None else sy
        return self.affine(np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]]), unit=unit)

    def rotate(self, degrees: float, about: Sequence[float] = (0.0, 0.0)) -> Sketch:
        t = np.deg2rad(degrees)
        c, s = np.cos(t), np.sin(t)
        ox, oy = about
        return self.affine(np.array([[c, -s, ox - c * ox + s * oy], [s, c, oy - s * ox - c * oy]]))

    # ------------------------------------------------------------------ stroke-3 / stroke-5
    @classmethod
    def from_stroke3(cls, data: np.ndarray, unit: str = "px", meta: dict | None = None) -> Sketch:
        """Build from stroke-3 rows (dx, dy, pen_lift); the first row is the offset from the origin."""
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise SketchFormatError(f"stroke-3 data must have shape (N, 3), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise SketchFormatError("stroke-3 data contains NaN or infinite values")
        pts = np.cumsum(arr[:, :2], axis=0)
        lifts = np.flatnonzero(arr[:, 2] > 0.5)
        strokes, start = [], 0
        for end in list(lifts + 1) + [len(arr)]:
            if end > start:
                strokes.append(pts[start:end])
            start = end
        return cls(strokes, unit=unit, meta=dict(meta or {}))

    def to_stroke3(self) -> np.ndarray:
        """(N, 3) float64 rows (dx, dy, pen_lift); the last point of every stroke lifts the pen."""
        if not self.strokes:
            return np.zeros((0, 3))
        pts = np.concatenate(self.strokes)
        lift = np.zeros(len(pts))
        lift[np.cumsum([len(s) for s in self.strokes]) - 1] = 1.0
        d = np.diff(pts, axis=0, prepend=np.zeros((1, 2)))
        return np.column_stack([d, lift])

    @classmethod
    def from_stroke5(
        cls, data: np.ndarray, unit: str = "px", meta: dict | None = None, start_token: bool = False
    ) -> Sketch:
        """Build from stroke-5 rows, stopping at the first end-of-sketch row (p3 = 1).

        With `start_token`, the first row is the (0, 0, 1, 0, 0) token the models are fed and is skipped.
        """
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 5:
            raise SketchFormatError(f"stroke-5 data must have shape (N, 5), got {arr.shape}")
        arr = arr[1:] if start_token else arr
        ends = np.flatnonzero(arr[:, 4] > 0.5)
        arr = arr[: ends[0]] if len(ends) else arr
        return cls.from_stroke3(np.column_stack([arr[:, :2], arr[:, 3]]), unit=unit, meta=meta)

    def to_stroke5(self, max_len: int | None = None, start_token: bool = False) -> np.ndarray:
        """(N+1, 5) rows with the end-of-sketch row after the last point, padded to `max_len` rows."""
        s3 = self.to_stroke3()
        n = len(s3)
        rows = n + 1 + int(start_token)
        total = rows if max_len is None else max_len
        if total < rows:
            raise SketchFormatError(f"sketch needs {rows} stroke-5 rows, more than max_len={max_len}")
        out = np.zeros((total, 5))
        o = int(start_token)
        if start_token:
            out[0] = (0, 0, 1, 0, 0)
        out[o : o + n, :2] = s3[:, :2]
        out[o : o + n, 2] = 1.0 - s3[:, 2]
        out[o : o + n, 3] = s3[:, 2]
        out[o + n :, 4] = 1.0
        return out


def stroke3_to_stroke5(s3: np.ndarray, max_len: int | None = None) -> np.ndarray:
    """Convenience for the data pipeline: stroke-3 rows straight to padded stroke-5."""
    return Sketch.from_stroke3(s3).to_stroke5(max_len=max_len)
