"""Watch a drawing happen: panels of pen moves drawn stroke by stroke, as a GIF or self-contained HTML.

Why: a sample grid shows the result, not how the pen gets there; before a long plot a maker wants to see
the order, the pen-up travel (shown faint) and the pen lifts. Every panel is one list of `Move`s (see
`plotter.sketch.moves`); all panels draw at once, each at its own pace, so a 4 x 4 grid takes as long as one
sketch. Time is pen path length (down and up), as on a plotter at constant speed.

GIF frames are drawn incrementally on a supersampled canvas (each frame adds only the new pieces), reduced
to a fixed palette so that frames differ only where the pen moved: 16 sketches x 48 frames stay well under
1 MB. The HTML is one SVG with a CSS animation per move (`pathLength="1"` dash trick): no script needed to
play, a small one to replay.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from plotter.errors import SketchFormatError
from plotter.sketch.moves import Move

RGB = tuple[int, int, int]
COLORS: dict[str, RGB] = {"": (20, 20, 20), "prefix": (20, 20, 20), "new": (214, 82, 22)}
TRAVEL: RGB = (240, 170, 190)
MARKER: RGB = (220, 30, 60)
_SNAP = [255 if v >= 246 else v for v in range(256)]


@dataclass
class Style:
    """Picture settings shared by the GIF, the PNG and the SVG/HTML outputs."""

    cell: int = 200  # pixels per panel (square)
    line_width: float = 2.0
    padding: float = 0.07  # fraction of a cell left empty around a drawing
    travel: bool = True  # show pen-up moves (faint)
    colors: dict[str, RGB] = field(default_factory=lambda: dict(COLORS))
    captions: Sequence[str] | None = None
    cols: int | None = None


def _grid(n: int, style: Style) -> tuple[int, int, int]:
    cols = style.cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cap = max(12, style.cell // 12) if style.captions else 0
    return cols, rows, cap


def _fit(moves: Sequence[Move], box: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(scale, ox, oy) mapping the moves' bounds into box (x, y, w, h), aspect kept, centred."""
    pts = np.concatenate([m.points for m in moves])
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    bx, by, bw, bh = box
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    s = min(bw / w, bh / h) if (x1 - x0 > 1e-9 or y1 - y0 > 1e-9) else 1.0
    return s, bx + (bw - w * s) / 2 - x0 * s, by + (bh - h * s) / 2 - y0 * s


def _check(panels: Sequence[Sequence[Move]]) -> None:
    if not panels or not any(any(m.down for m in p) for p in panels):
        raise SketchFormatError("nothing to animate: no pen-down strokes")


def _placed(panels: Sequence[Sequence[Move]], style: Style, ss: int) -> list[list[Move]]:
    """Every panel's moves in canvas pixels (supersample ss)."""
    cols, _, cap = _grid(len(panels), style)
    c = style.cell * ss
    pad = style.padding * c
    out = []
    for i, moves in enumerate(panels):
        if not moves:
            out.append([])
            continue
        r, k = divmod(i, cols)
        s, ox, oy = _fit(moves, (k * c + pad, r * (c + cap * ss) + pad, c - 2 * pad, c - 2 * pad))
        out.append([Move(m.points * s + (ox, oy), m.down, m.tag, m.seconds) for m in moves])
    return out


# ------------------------------------------------------------------------------------------ raster frames
def _cut(points: np.ndarray, cum: np.ndarray, d0: float, d1: float) -> np.ndarray:
    """The part of a polyline between arc lengths d0 and d1 (cum: cumulative lengths, cum[0] = 0)."""
    inner = points[(cum > d0) & (cum < d1)]
    ends = [np.array([np.interp(d, cum, points[:, 0]), np.interp(d, cum, points[:, 1])]) for d in (d0, d1)]
    return np.vstack([ends[0], inner, ends[1]])


class _Timeline:
    """One panel's moves on one clock: path length, or machine seconds where every move knows its time.
    `between(d0, d1)` yields the pieces drawn in that stretch of the clock."""

    def __init__(self, moves: Sequence[Move]) -> None:
        self.items = []
        self.timed = bool(moves) and all(m.seconds is not None for m in moves)
        total = 0.0
        for m in moves:
            pts = m.points
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1) if len(pts) > 1 else np.zeros(0)
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            if self.timed and m.seconds:
                if cum[-1] > 0:
                    cum = cum * (m.seconds / cum[-1])  # constant speed along the move
                else:  # a wait: time passes, the pen stays where it is
                    pts, cum = np.vstack([pts[:1], pts[:1]]), np.array([0.0, m.seconds])
            self.items.append((m, pts, total, cum))
            total += float(cum[-1])
        self.total = total

    def between(self, d0: float, d1: float) -> list[tuple[Move, np.ndarray, bool]]:
        """(move, points, starts_here) for every piece drawn between d0 and d1 of the clock."""
        out = []
        for m, pts, start, cum in self.items:
            end = start + cum[-1]
            if end < d0 or start > d1 or (end == start and not d0 <= start < d1 + 1e-12):
                continue
            if end == start:
                out.append((m, pts[:1], True))
                continue
            a, b = max(d0, start) - start, min(d1, end) - start
            if b > a or a == 0.0:
                out.append((m, _cut(pts, cum, a, b), a == 0.0))
        return out

    def position(self, d: float) -> np.ndarray | None:
        for _, pts, start, cum in self.items:
            if start + cum[-1] >= d:
                return _cut(pts, cum, 0.0, max(0.0, d - start))[-1]
        return self.items[-1][1][-1] if self.items else None


def _draw_piece(
    draw: ImageDraw.ImageDraw, m: Move, pts: np.ndarray, cap: bool, style: Style, ss: int
) -> None:
    if not m.down:
        if style.travel and len(pts) > 1 and np.ptp(pts, axis=0).max() > 0:
            draw.line([tuple(p) for p in pts.tolist()], fill=TRAVEL, width=max(1, ss))
        return
    color = style.colors.get(m.tag, style.colors[""])
    w = max(1, round(style.line_width * ss))
    r = w / 2
    xy = [tuple(p) for p in pts.tolist()]
    if len(xy) > 1:
        draw.line(xy, fill=color, width=w, joint="curve")
    for x, y in ([xy[0]] if cap else []) + [xy[-1]]:  # round caps and joins between pieces
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)


def _palette(style: Style) -> Image.Image:
    """A fixed palette: ramps from white to every colour used, so all frames share one GIF palette."""
    cols = [*{*style.colors.values()}, TRAVEL, MARKER, (120, 120, 120)]
    entries: list[int] = [255, 255, 255]  # white once; ramps start away from it (lookup is coarse)
    steps = max(2, 254 // len(cols))
    for c in cols:
        for k in range(steps):
            t = 0.15 + 0.85 * k / (steps - 1)
            entries += [round(255 + (ch - 255) * t) for ch in c]
    pal = Image.new("P", (1, 1))
    pal.putpalette(entries + [255] * (768 - len(entries)))
    return pal


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def _font_text(img: Image.Image, xy: tuple[float, float], text: str, anchor: str, size: int = 14) -> None:
    ImageDraw.Draw(img).text(xy, text, fill=(90, 90, 90), font=_font(size), anchor=anchor)


def _captions(img: Image.Image, n: int, style: Style) -> None:
    if not style.captions:
        return
    cols, _, cap = _grid(n, style)
    for i, text in enumerate(style.captions[:n]):
        r, k = divmod(i, cols)
        xy = (k * style.cell + style.cell / 2, r * (style.cell + cap) + style.cell + cap / 2)
        _font_text(img, xy, str(text)[:40], "mm", max(9, cap - 3))


def render_frames(
    panels: Sequence[Sequence[Move]],
    frames: int = 48,
    style: Style | None = None,
    supersample: int = 2,
    palette: bool = True,
) -> list[Image.Image]:
    """`frames` pictures of the panels being drawn (pen position marked); the last one is the whole
    drawing without marker. In one shared palette (ready for a GIF) unless `palette` is False (RGB)."""
    _check(panels)
    style = style or Style()
    if frames < 2:
        raise SketchFormatError(f"an animation needs at least 2 frames, got {frames}")
    ss = max(1, int(supersample))
    cols, rows, cap = _grid(len(panels), style)
    size = (cols * style.cell, rows * (style.cell + cap))
    paper = Image.new("RGB", (size[0] * ss, size[1] * ss), "white")  # travel goes here, under the ink
    ink = Image.new("RGBA", paper.size, (0, 0, 0, 0))
    draws = (ImageDraw.Draw(paper), ImageDraw.Draw(ink))
    lines = [_Timeline(p) for p in _placed(panels, style, ss)]
    pal = _palette(style)
    out = []
    for k in range(1, frames + 1):
        for tl in lines:
            d0, d1 = tl.total * (k - 1) / frames, tl.total * k / frames
            for m, pts, starts in tl.between(d0 if k > 1 else -1.0, d1):
                _draw_piece(draws[m.down], m, pts, starts, style, ss)
        img = paper.copy()
        img.paste(ink, (0, 0), ink)
        img = img.reduce(ss) if ss > 1 else img  # box filter: fast, anti-aliased
        if k < frames:
            mark = ImageDraw.Draw(img)
            for tl in lines:
                pos = tl.position(tl.total * k / frames)
                if pos is not None and tl.total > 0:
                    x, y = pos / ss
                    mark.ellipse([x - 3, y - 3, x + 3, y + 3], outline=MARKER, width=2)
        _captions(img, len(panels), style)
        if len(lines) == 1 and lines[0].timed:  # a simulator trace: show the machine's clock
            _font_text(img, (6, 4), f"{lines[0].total * k / frames:6.1f} s of {lines[0].total:.1f} s", "la")
        if palette:  # snap near-white to white first: Pillow's palette lookup is coarse near the ends
            img = img.point(_SNAP * 3).quantize(palette=pal, dither=Image.Dither.NONE)
        out.append(img)
    return out


def render_panels(
    panels: Sequence[Sequence[Move]], style: Style | None = None, supersample: int = 2
) -> Image.Image:
    """The finished drawing of every panel in one picture (RGB): what the animation ends on."""
    return render_frames(panels, 2, style, supersample, palette=False)[-1]


def write_gif(
    panels: Sequence[Sequence[Move]],
    path: str | Path,
    frames: int = 48,
    frame_ms: int = 60,
    hold_ms: int = 2000,
    style: Style | None = None,
) -> Path:
    """Animated GIF of the panels being drawn, looping, holding the finished drawing for `hold_ms`."""
    imgs = render_frames(panels, frames, style)
    path = Path(path)
    durations = [frame_ms] * (len(imgs) - 1) + [hold_ms]
    try:
        imgs[0].save(path, format="GIF", save_all=True, append_images=imgs[1:], duration=durations, loop=0)
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot write: {exc.strerror or exc}") from None
    return path


# --------------------------------------------------------------------------------------------- SVG / HTML
def _hex(c: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def _svg(panels: Sequence[Sequence[Move]], style: Style, seconds: float | None) -> str:
    """One SVG for all panels; with `seconds`, each move is drawn in turn by a CSS animation."""
    _check(panels)
    cols, rows, cap = _grid(len(panels), style)
    w, h = cols * style.cell, rows * (style.cell + cap)
    body = []
    timed = [bool(p) and all(m.seconds is not None for m in p) for p in panels]
    totals = [sum((m.seconds or 0.0) if timed[i] else m.length for m in p) for i, p in enumerate(panels)]
    for i, moves in enumerate(_placed(panels, style, 1)):
        t = 0.0
        for m in moves:
            d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in m.points.tolist())
            if len(m.points) == 1:
                d += f" L{m.points[0, 0]:.1f},{m.points[0, 1]:.1f}"
            cls = "d" if m.down else "t"
            color = _hex(style.colors.get(m.tag, style.colors[""])) if m.down else _hex(TRAVEL)
            anim = ""
            if seconds:
                clock = (m.seconds or 0.0) if timed[i] else m.length
                dur = seconds * clock / max(totals[i], 1e-9)
                anim = f' style="animation-delay:{t:.3f}s;animation-duration:{max(dur, 0.001):.3f}s"'
                t += dur
            mark = "" if m.down else ' data-plotter="travel"'  # readers (ours, vpype users) skip these
            if m.down or (style.travel and m.length > 0):
                body.append(f'<path class="{cls}"{mark} stroke="{color}" d="{d}" pathLength="1"{anim}/>')
    if style.captions:
        for i, text in enumerate(style.captions[: len(panels)]):
            r, k = divmod(i, cols)
            x, y = k * style.cell + style.cell / 2, r * (style.cell + cap) + style.cell + cap * 0.75
            body.append(f'<text x="{x:.1f}" y="{y:.1f}">{html.escape(str(text)[:40])}</text>')
    css = (
        f"path{{fill:none;stroke-linecap:round;stroke-linejoin:round}}"
        f".d{{stroke-width:{style.line_width}}}.t{{stroke-width:1;stroke-dasharray:0.02 0.02}}"
        f"text{{font:{max(9, cap - 3)}px sans-serif;fill:#5a5a5a;text-anchor:middle}}"
    )
    if seconds:
        css += (
            ".d{stroke-dasharray:1 1;animation:draw linear both}"
            ".t{opacity:0;animation:show linear both}"
            "@keyframes draw{0%{stroke-dashoffset:1;opacity:0}0.01%{opacity:1}"
            "100%{stroke-dashoffset:0;opacity:1}}"
            "@keyframes show{0%{opacity:0}100%{opacity:1}}"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'style="background:white"><style>{css}</style>\n' + "\n".join(body) + "\n</svg>\n"
    )


def write_grid_svg(panels: Sequence[Sequence[Move]], path: str | Path, style: Style | None = None) -> Path:
    """The finished panels as one static SVG (colours by tag, travel faint and dashed)."""
    return _write(Path(path), _svg(panels, style or Style(), None))


def write_html(
    panels: Sequence[Sequence[Move]], path: str | Path, seconds: float = 6.0, style: Style | None = None,
    title: str = "plotter animation",
) -> Path:  # fmt: skip
    """A self-contained HTML page that plays the drawing in `seconds` (click to replay); no network."""
    svg = _svg(panels, style or Style(), seconds)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        "<body style='margin:16px;font:14px sans-serif;color:#555'>"
        f"<div id='a'>{svg}</div><p>{html.escape(title)} &middot; click the drawing to replay</p>"
        "<script>document.getElementById('a').onclick=function(){var s=this.firstElementChild;"
        "s.replaceWith(s.cloneNode(true));};</script></body></html>\n"
    )
    return _write(Path(path), page)


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot write: {exc.strerror or exc}") from None
    return path
