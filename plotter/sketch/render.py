"""Raster previews with Pillow: one sketch, or a grid of sketches with captions.

Why: sample grids, training previews and `plotter export --png` all want the same picture, and Pillow is
light and torch-free. Lines are drawn at `supersample` times the size and downscaled, which gives
anti-aliased strokes without a vector renderer. y grows downward in sketches and in images, so no flip.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch

Color = str | tuple[int, int, int]


def _cell_size(cell: int | Sequence[int]) -> tuple[int, int]:
    w, h = (cell, cell) if isinstance(cell, int) else (int(cell[0]), int(cell[1]))
    if w < 8 or h < 8:
        raise SketchFormatError(f"render cell must be at least 8 x 8 pixels, got {w} x {h}")
    return w, h


def _stroke_color(i: int, n: int, color: Color | list) -> Color:
    if isinstance(color, list):  # one colour per stroke (the pens of a layered page)
        return color[i] if i < len(color) else "black"
    if color != "order":
        return color
    r, g, b = colorsys.hsv_to_rgb(0.75 * i / max(1, n - 1), 0.85, 0.8)
    return (int(r * 255), int(g * 255), int(b * 255))


def _caption_text(captions: bool | Sequence[str] | None, sketches: Sequence[Sketch], i: int) -> str | None:
    if not captions:
        return None
    if captions is True:
        meta = sketches[i].meta
        label = meta.get("caption") or meta.get("class") or ""
        return f"{label} {meta['index']}".strip() if "index" in meta else str(label) or None
    return str(captions[i]) if i < len(captions) else None


def _draw_sketch(
    draw: ImageDraw.ImageDraw,
    sketch: Sketch,
    box: tuple[float, float, float, float],
    frame: Sequence[float] | None,
    opts: dict,
) -> None:
    """Fit `frame` (default: the sketch bounds) into `box` (pixels), keep aspect, centre, draw."""
    if sketch.is_empty() and not (frame is not None and opts.get("outlines")):
        return
    bx, by, bw, bh = box
    fx0, fy0, fx1, fy1 = frame if frame is not None else sketch.bounds()
    fw, fh = max(fx1 - fx0, 1e-9), max(fy1 - fy0, 1e-9)
    scale = min(bw / fw, bh / fh)
    if fx1 - fx0 <= 1e-9 and fy1 - fy0 <= 1e-9:
        scale = 1.0
    ox = bx + (bw - fw * scale) / 2 - fx0 * scale
    oy = by + (bh - fh * scale) / 2 - fy0 * scale
    width = max(1, round(opts["line_width"]))
    for (x, y, w, h), colour, dashed in opts.get("outlines") or ():
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
        px = [(float(cx * scale + ox), float(cy * scale + oy)) for cx, cy in corners]
        _rect(draw, px, colour, max(1, width), 6.0 * width if dashed else 0.0)
    prev = None if opts["start"] is None else np.asarray(opts["start"], dtype=np.float64)
    n = len(sketch.strokes)
    for i, stroke in enumerate(sketch.strokes):
        pts = [(float(x * scale + ox), float(y * scale + oy)) for x, y in stroke]
        if opts["show_travel"] and prev is not None:
            a = (float(prev[0] * scale + ox), float(prev[1] * scale + oy))
            draw.line([a, pts[0]], fill=opts["travel_color"], width=max(1, width // 2))
        color = _stroke_color(i, n, opts["color"])
        if len(pts) == 1:
            r = width / 2
            draw.ellipse([pts[0][0] - r, pts[0][1] - r, pts[0][0] + r, pts[0][1] + r], fill=color)
        else:
            draw.line(pts, fill=color, width=width, joint="curve")
            r = width / 2  # round caps
            for x, y in (pts[0], pts[-1]):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        prev = stroke[-1]


def _rect(draw: ImageDraw.ImageDraw, pts: list, colour: Color, width: int, dash: float) -> None:
    """A closed outline; `dash` > 0 draws it dashed (Pillow has no dash pattern)."""
    for a, b in zip(pts, pts[1:]):
        if dash <= 0:
            draw.line([a, b], fill=colour, width=width)
            continue
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        for t0 in np.arange(0.0, length, 2 * dash):
            t1 = min(length, t0 + dash)
            p = [(a[0] + (b[0] - a[0]) * t / length, a[1] + (b[1] - a[1]) * t / length) for t in (t0, t1)]
            draw.line(p, fill=colour, width=width)


def render_image(
    sketches: Sketch | Sequence[Sketch],
    *,
    cols: int | None = None,
    cell: int | Sequence[int] = 256,
    line_width: float = 2.0,
    padding: float = 0.06,
    show_travel: bool = False,
    start: Sequence[float] | None = None,
    captions: bool | Sequence[str] | None = None,
    frame: Sequence[float] | None = None,
    color: Color | list = "black",
    travel_color: Color = (235, 150, 170),
    background: Color = "white",
    supersample: int = 2,
    outlines: Sequence[tuple[Sequence[float], Color, bool]] = (),
) -> Image.Image:
    """Render sketches into a grid image (RGB).

    cell: pixel size of one cell (int or (w, h)); padding: fraction of the cell kept empty around a sketch;
    frame: (x0, y0, x1, y1) in sketch units shown in every cell (default: each sketch's own bounds), e.g. the
    paper for a page preview; color "order" colours strokes by drawing order, a list gives each stroke its own
    (pens); captions True uses meta; outlines: ((x, y, w, h), colour, dashed) rectangles in the frame's units
    drawn under the strokes (a page preview's paper and bed edges).
    """
    items = [sketches] if isinstance(sketches, Sketch) else list(sketches)
    if not items:
        raise SketchFormatError("nothing to render: no sketches")
    cw, ch = _cell_size(cell)
    cols = cols or math.ceil(math.sqrt(len(items)))
    rows = math.ceil(len(items) / cols)
    ss = max(1, int(supersample))
    cap_h = max(12, ch // 12) if captions else 0
    img = Image.new("RGB", (cols * cw * ss, rows * (ch + cap_h) * ss), background)
    draw = ImageDraw.Draw(img)
    opts = dict(
        line_width=line_width * ss,
        show_travel=show_travel,
        start=start,
        color=color,
        travel_color=travel_color,
        outlines=outlines,
    )
    pad_x, pad_y = padding * cw * ss, padding * ch * ss
    for i, sk in enumerate(items):
        r, c = divmod(i, cols)
        x0, y0 = c * cw * ss, r * (ch + cap_h) * ss
        box = (x0 + pad_x, y0 + pad_y, cw * ss - 2 * pad_x, ch * ss - 2 * pad_y)
        _draw_sketch(draw, sk, box, frame, opts)
    if ss > 1:
        img = img.resize((cols * cw, rows * (ch + cap_h)), Image.LANCZOS)
    if captions:
        _draw_captions(img, items, captions, cols, cw, ch, cap_h)
    return img


def _draw_captions(img: Image.Image, items, captions, cols: int, cw: int, ch: int, cap_h: int) -> None:
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=max(9, cap_h - 3))
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    for i in range(len(items)):
        text = _caption_text(captions, items, i)
        if not text:
            continue
        r, c = divmod(i, cols)
        x, y = c * cw + cw / 2, r * (ch + cap_h) + ch + cap_h / 2
        draw.text((x, y), text[:40], fill=(80, 80, 80), font=font, anchor="mm")


def render_png(sketches: Sketch | Sequence[Sketch], path: str | Path, **kwargs: object) -> Path:
    """`render_image(...)` saved as PNG; returns the path."""
    path = Path(path)
    try:
        render_image(sketches, **kwargs).save(path, format="PNG")  # type: ignore[arg-type]
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot write: {exc.strerror or exc}") from None
    return path
