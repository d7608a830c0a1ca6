"""Sketches to small grayscale images, for the classifier that judges generated sketches.

Why a raster at all: recognizability and diversity are measured by a CNN over images, so real and generated
sketches must go through exactly the same rendering. The sketch is fitted into the image by its bounding box
(aspect kept, centred, with padding), drawn with Pillow at `supersample`× the size with a proportional line
width, then box-filtered down, which gives anti-aliased strokes like Google's 28×28 Quick, Draw! bitmaps.
Pillow's C line drawing keeps this around 0.1 ms a sketch, so ~1 M sketches rasterize in minutes on one core.

Images are uint8, 0 = background, 255 = ink (what a CNN wants, the opposite of paper).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from plotter.errors import SketchFormatError
from plotter.sketch import Sketch


@dataclass(frozen=True)
class RasterSpec:
    """How a sketch becomes an image; saved in the classifier checkpoint so evaluation draws the same way."""

    size: int = 28  # output side in pixels
    padding: float = 0.08  # empty margin, as a fraction of the side, on every edge
    line_width: float = 1.0  # stroke width in output pixels (drawn at supersample × this)
    supersample: int = 4  # draw this many times larger, then box-filter down (anti-aliasing)

    def __post_init__(self) -> None:
        if self.size < 4 or self.supersample < 1 or self.line_width <= 0 or not 0 <= self.padding < 0.5:
            raise SketchFormatError(f"invalid raster spec {self}")


def _polylines(item: Sketch | np.ndarray) -> list[np.ndarray]:
    """Absolute (N, 2) polylines from a Sketch or stroke-3 rows (dx, dy, pen_lift)."""
    if isinstance(item, Sketch):
        return [s for s in item.strokes if len(s)]
    arr = np.asarray(item)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SketchFormatError(f"stroke-3 data must have shape (N, 3), got {arr.shape}")
    pts = np.cumsum(arr[:, :2], axis=0, dtype=np.float64)
    cuts = np.flatnonzero(arr[:-1, 2] > 0.5) + 1
    return [p for p in np.split(pts, cuts) if len(p)]


def rasterize(item: Sketch | np.ndarray, spec: RasterSpec | None = None) -> np.ndarray:
    """One sketch (Sketch or stroke-3) to a (size, size) uint8 image; an empty sketch gives a blank image."""
    spec = spec or RasterSpec()
    big = spec.size * spec.supersample
    img = Image.new("L", (big, big), 0)
    lines = _polylines(item)
    if lines:
        pts = np.concatenate(lines)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extent = float(max(hi[0] - lo[0], hi[1] - lo[1]))
        inner = big * (1.0 - 2.0 * spec.padding)
        scale = inner / extent if extent > 0 else 1.0
        # centre the bounding box; (big - 1) / 2 is the pixel-centre of the canvas
        offset = (big - 1) / 2.0 - (lo + hi) / 2.0 * scale
        width = max(1, int(round(spec.line_width * spec.supersample)))
        draw = ImageDraw.Draw(img)
        for line in lines:
            xy = line * scale + offset
            if len(xy) == 1 or not np.any(xy != xy[0]):
                r = width / 2.0
                x, y = xy[0]
                draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
            else:
                draw.line(xy.ravel().tolist(), fill=255, width=width, joint="curve" if width > 2 else None)
    if spec.supersample > 1:
        img = img.reduce(spec.supersample)
    return np.asarray(img, dtype=np.uint8)


def rasterize_many(
    items: Iterable[Sketch | np.ndarray], spec: RasterSpec | None = None, count: int | None = None
) -> np.ndarray:
    """Stack of images (N, size, size) uint8; `count` preallocates when the iterable has no len()."""
    spec = spec or RasterSpec()
    if count is None and isinstance(items, Sequence):
        count = len(items)
    if count is not None:
        out = np.zeros((count, spec.size, spec.size), dtype=np.uint8)
        n = 0
        for n, item in enumerate(items, start=1):
            out[n - 1] = rasterize(item, spec)
        return out[:n]
    imgs = [rasterize(item, spec) for item in items]
    return np.stack(imgs) if imgs else np.zeros((0, spec.size, spec.size), dtype=np.uint8)
