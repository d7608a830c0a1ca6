"""Page layout: sketches (any unit) -> one mm sketch in the bed frame, on a sheet of paper on the bed.

Why here and not in the emitter: the layout decides scale, rotation and placement, and is the last point
where "does not fit" can be explained in the user's terms (paper, margins, grid) instead of machine
coordinates. Frames: the *bed frame* is mm, x right, y down, origin at the top-left corner of the bed seen
from above (the emitter maps it to machine XY). The paper lies against the machine's origin corner (plus an
optional offset), so on a Y-up machine the paper's bottom-left corner sits at machine X0 Y0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from plotter.errors import LayoutError
from plotter.plan.clip import clip_sketch
from plotter.sketch import Sketch

PAPERS: dict[str, tuple[float, float]] = {
    "a6": (105.0, 148.0),
    "a5": (148.0, 210.0),
    "a4": (210.0, 297.0),
    "a3": (297.0, 420.0),
    "a2": (420.0, 594.0),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
    "tabloid": (279.4, 431.8),
}
_MM = {"mm": 1.0, "cm": 10.0, "in": 25.4, "": 1.0}


@dataclass(frozen=True)
class Paper:
    """A sheet in mm; `width`/`height` as placed (after orientation)."""

    name: str
    width: float
    height: float

    def oriented(self, landscape: bool) -> Paper:
        short, long_ = sorted((self.width, self.height))
        w, h = (long_, short) if landscape else (short, long_)
        return Paper(self.name, w, h)


def parse_paper(spec: str) -> Paper:
    """'a4', 'Letter', '210x297', '200x150mm', '8.5x11in' -> Paper (as given: portrait unless W > H)."""
    key = spec.strip().lower()
    if key in PAPERS:
        return Paper(key, *PAPERS[key])
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(mm|cm|in|)", key)
    if not m:
        raise LayoutError(f"unknown paper {spec!r}: use {', '.join(PAPERS)} or WxH in mm (e.g. 200x150mm)")
    w, h = float(m.group(1)) * _MM[m.group(3)], float(m.group(2)) * _MM[m.group(3)]
    if w <= 0 or h <= 0:
        raise LayoutError(f"paper {spec!r} must have a positive width and height")
    return Paper(key, w, h)


def parse_grid(spec: str) -> tuple[int, int]:
    """'3x3' -> (cols, rows)."""
    m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", spec.lower())
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise LayoutError(f"grid {spec!r} must be COLSxROWS with both at least 1, e.g. 3x3")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Bed:
    """The part of a profile the layout needs (a `plotter.gcode.profile.Bed` works as well)."""

    width: float
    height: float
    origin: str = "bottom-left"


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    width: float
    height: float


@dataclass
class Layout:
    """Result: the laid-out sketch (mm, bed frame) and where everything went."""

    sketch: Sketch
    paper: Paper
    paper_origin: tuple[float, float]  # top-left corner of the paper in the bed frame
    cells: list[Cell]
    scales: list[float]  # mm per sketch unit, one per input sketch
    clipped: int = 0  # strokes cut or dropped by clipping
    notes: list[str] = field(default_factory=list)

    @property
    def paper_box(self) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the paper in the bed frame (for previews)."""
        return (*self.paper_origin, self.paper.width, self.paper.height)


def choose_orientation(paper: Paper, bed: Bed | None, landscape: bool | None) -> Paper:
    """Explicit choice wins; otherwise portrait if it fits the bed, else landscape if that fits."""
    if landscape is not None or bed is None:
        return paper.oriented(bool(landscape))
    portrait = paper.oriented(False)
    if portrait.width <= bed.width and portrait.height <= bed.height:
        return portrait
    return paper.oriented(True)


def grid_cells(area: tuple[float, float, float, float], cols: int, rows: int, gap: float) -> list[Cell]:
    """Row-major cells of equal size inside `area` (x, y, w, h), `gap` mm apart."""
    x, y, w, h = area
    cw, ch = (w - gap * (cols - 1)) / cols, (h - gap * (rows - 1)) / rows
    if cw <= 0 or ch <= 0:
        raise LayoutError(f"a {cols}x{rows} grid with {gap:g} mm gaps leaves no room on {w:.0f} x {h:.0f} mm")
    return [Cell(x + c * (cw + gap), y + r * (ch + gap), cw, ch) for r in range(rows) for c in range(cols)]


def fit_into(sketch: Sketch, cell: Cell, rotate: float, size: float | None = None) -> tuple[Sketch, float]:
    """Rotate about the centre (degrees, clockwise on paper), scale to fit keeping aspect, centre in cell.

    With `size`, the sketch's longer side becomes `size` mm instead of filling the cell (it must still fit).
    """
    if size is not None and not size > 0:  # 0 would collapse every stroke onto one point
        raise LayoutError(f"--size must be a positive length, got {size:g} mm")
    x0, y0, x1, y1 = sketch.bounds()
    if rotate % 360:
        sketch = sketch.rotate(rotate, about=((x0 + x1) / 2, (y0 + y1) / 2))
        x0, y0, x1, y1 = sketch.bounds()
    w, h = x1 - x0, y1 - y0
    spans = [cell.width / w if w > 1e-12 else math.inf, cell.height / h if h > 1e-12 else math.inf]
    scale = min(spans) if min(spans) < math.inf else 1.0
    if size is not None and max(w, h) > 1e-12:
        wanted = size / max(w, h)
        if wanted > scale * (1 + 1e-9):
            raise LayoutError(
                f"--size {size:g} mm does not fit a {cell.width:.1f} x {cell.height:.1f} mm cell "
                f"(at most {max(w, h) * scale:.1f} mm for this sketch)"
            )
        scale = wanted
    tx = cell.x + (cell.width - w * scale) / 2 - x0 * scale
    ty = cell.y + (cell.height - h * scale) / 2 - y0 * scale
    placed = sketch.affine(np.array([[scale, 0.0, tx], [0.0, scale, ty]]), unit="mm")
    return placed, scale


def grid_shape(n: int, grid: str | tuple[int, int] | None) -> tuple[int, int]:
    """(cols, rows): parsed from `grid`, or the smallest square-ish grid holding `n` sketches."""
    if grid is not None:
        return parse_grid(grid) if isinstance(grid, str) else grid
    cols = math.ceil(math.sqrt(max(n, 1)))
    return cols, math.ceil(max(n, 1) / cols)


def layout_sketches(
    sketches: Sequence[Sketch],
    *,
    paper: str | Paper = "a4",
    landscape: bool | None = None,
    margin: float = 10.0,
    grid: str | tuple[int, int] | None = None,
    gap: float = 5.0,
    rotate: float = 0.0,
    size: float | None = None,
    bed: Bed | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
    clip: bool = False,
    keep_scale: float | None = None,
) -> Layout:
    """Fit each sketch into its grid cell on the paper; refuse (or clip) geometry off the bed.

    `keep_scale` (mm per unit, an SVG's physical size): no fitting; the file's origin sits on the paper's
    top-left corner, so its own page maps onto the paper as drawn (vpype's `read` without `--fit`)."""
    if not sketches:
        raise LayoutError("nothing to lay out: no sketches")
    sheet = choose_orientation(parse_paper(paper) if isinstance(paper, str) else paper, bed, landscape)
    if margin < 0 or gap < 0:
        raise LayoutError("margin and gap must not be negative")
    area = (margin, margin, sheet.width - 2 * margin, sheet.height - 2 * margin)
    if area[2] <= 0 or area[3] <= 0:
        raise LayoutError(
            f"{margin:g} mm margins leave no room on {sheet.width:g} x {sheet.height:g} mm paper"
        )
    cols, rows = grid_shape(len(sketches), grid)
    if len(sketches) > cols * rows:
        raise LayoutError(
            f"{len(sketches)} sketches do not fit a {cols}x{rows} grid ({cols * rows} cells); "
            f"use a larger --grid, --limit {cols * rows}, or --pages"
        )
    ox, oy = _paper_origin(sheet, bed, offset)
    cells = [Cell(c.x + ox, c.y + oy, c.width, c.height) for c in grid_cells(area, cols, rows, gap)]
    strokes: list[np.ndarray] = []
    scales: list[float] = []
    for sk, cell in zip(sketches, cells):
        if sk.is_empty():
            scales.append(0.0)
            continue
        if keep_scale is not None:
            scale = keep_scale
            placed = sk.affine(np.array([[scale, 0.0, ox], [0.0, scale, oy]]), unit="mm")
        else:
            placed, scale = fit_into(sk, cell, rotate, size)
        strokes += placed.strokes
        scales.append(scale)
    meta = {"sketches": len(sketches), "paper": sheet.name}
    laid = Sketch(strokes, unit="mm", meta=meta)
    result = Layout(laid, sheet, (ox, oy), cells, scales)
    if bed is not None:
        _fit_bed(result, bed, clip)
    return result


def _paper_origin(sheet: Paper, bed: Bed | None, offset: tuple[float, float]) -> tuple[float, float]:
    dx, dy = offset
    if bed is None:
        return (dx, dy)
    if bed.origin == "bottom-left":  # paper's bottom-left at machine (dx, dy), Y up
        return (dx, bed.height - dy - sheet.height)
    return (dx, dy)


def _fit_bed(result: Layout, bed: Bed, clip: bool) -> None:
    sk = result.sketch
    if sk.is_empty():
        return
    x0, y0, x1, y1 = sk.bounds()
    over = {"left": -x0, "right": x1 - bed.width, "top": -y0, "bottom": y1 - bed.height}
    over = {k: v for k, v in over.items() if v > 1e-6}
    if not over:
        return
    if clip:
        px, py, pw, ph = result.paper_box
        rect = (max(0.0, px), max(0.0, py), min(bed.width, px + pw), min(bed.height, py + ph))
        result.sketch, result.clipped = clip_sketch(sk, rect)
        result.notes.append(f"clipped {result.clipped} strokes at the bed edge")
        return
    sides = ", ".join(f"{v:.1f} mm at the {k}" for k, v in over.items())
    raise LayoutError(
        f"drawing does not fit the {bed.width:g} x {bed.height:g} mm bed: it overflows by {sides} "
        f"(paper {result.paper.width:g} x {result.paper.height:g} mm); use a smaller --paper, a larger "
        f"--margin, --landscape/--portrait, or --clip"
    )
