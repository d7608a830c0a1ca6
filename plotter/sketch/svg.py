"""SVG in and out.

Writer: one `<path>` per stroke inside an Inkscape layer, `width`/`height` in mm and a viewBox in mm, so vpype
and Inkscape open the file at its physical size; pen-up travel can be added as faint dashed lines in a
separate group (`data-plotter="travel"`) for previews, which our reader skips.

Reader: enough of SVG to take a user's drawing as a sketch: `<path>` (M L H V Z, C S Q T flattened to a
tolerance, A arcs), `<line>`, `<polyline>`, `<polygon>`, `<rect>`, `<circle>`, `<ellipse>`, nested
`transform`s.
Coordinates stay in SVG user units (y down, as in a sketch); unit "px".
A hostile or broken file is one `SketchFormatError`: DOCTYPE entity declarations are refused before the tree
is built (billion laughs), any depth of nesting is walked without recursion, unknown encodings, non-finite
numbers and coordinates that overflow are named, and the points of a file are capped at `MAX_POINTS`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from xml.parsers import expat

import numpy as np
import svgwrite
from svgwrite.extensions import Inkscape

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch
from plotter.sketch.svgpath import flatten_path

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_UNITS_MM = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6, "px": 25.4 / 96}
_UNITS_MM[""] = _UNITS_MM["px"]
_TRANSFORM = re.compile(r"(?<![a-zA-Z])([a-zA-Z]+)\s*\(([^)]*)\)")  # the lookbehind keeps it linear
MAX_POINTS = 2_000_000  # after flattening: 32 MB of float64; a plotter drawing has far fewer
_MAX_CIRCLE = 4096  # segments of one circle or ellipse, whatever its radius
_SKIP = ("defs", "clipPath", "mask", "symbol", "marker", "metadata", "title", "desc", "style")


# ------------------------------------------------------------------------------------------------ writing
def _d(points: np.ndarray, decimals: int) -> str:
    pts = np.round(points, decimals)
    if len(pts) == 1:
        pts = np.vstack([pts, pts])  # a dot: zero-length segment, drawn with round caps
    coords = [f"{_fmt(x)},{_fmt(y)}" for x, y in pts]
    return "M" + coords[0] + " L" + " ".join(coords[1:])


def _fmt(v: float) -> str:
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def write_svg(
    sketch: Sketch,
    path: str | Path,
    *,
    page: Sequence[float] | None = None,
    stroke_width: float | None = None,
    travel: bool = False,
    start: Sequence[float] | None = None,
    color: str = "black",
    decimals: int = 3,
    pens: Sequence[tuple[str, str, int]] | None = None,
    outlines: Sequence[tuple[str, Sequence[float], bool]] = (),
) -> Path:
    """Write one sketch; `page` = (x, y, width, height) in sketch units (default: bounds plus 2 %).

    `pens`: (name, colour, strokes) in drawing order: one Inkscape layer per pen, so vpype and Inkscape see
    the layers again. `outlines`: (name, (x, y, w, h), dashed) edges drawn under the pens, e.g. the paper and
    the bed of a page preview; marked `data-plotter="outline"`, so our reader (like travel) skips them."""
    if page is None:
        x0, y0, x1, y1 = sketch.bounds() if sketch.strokes else (0.0, 0.0, 1.0, 1.0)
        pad = 0.02 * max(x1 - x0, y1 - y0, 1e-9)
        page = (x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    px, py, pw, ph = (float(v) for v in page)
    if not (pw > 0 and ph > 0):
        raise SketchFormatError(f"SVG page must have a positive size, got {pw} x {ph}")
    unit = "mm" if sketch.unit == "mm" else "px"
    if stroke_width is None:
        stroke_width = 0.35 if unit == "mm" else max(pw, ph) / 250
    dwg = svgwrite.Drawing(
        str(path), size=(f"{_fmt(pw)}{unit}", f"{_fmt(ph)}{unit}"), profile="full", debug=False
    )
    dwg.attribs["viewBox"] = " ".join(_fmt(v) for v in (px, py, pw, ph))
    ink = Inkscape(dwg)
    if outlines:
        dwg.add(_outline_group(dwg, outlines, stroke_width))
    at = 0
    for number, (name, colour, count) in enumerate(pens or [("1 pen", color, len(sketch.strokes))], start=1):
        label = name if pens is None else f"{number} {name}"
        layer = ink.layer(label=label, id=f"layer{number}")
        style = dict(fill="none", stroke=colour, stroke_width=_fmt(stroke_width))
        style.update({"stroke-linecap": "round", "stroke-linejoin": "round"})
        layer.update(style)
        for s in sketch.strokes[at : at + count]:
            layer.add(dwg.path(d=_d(s, decimals)))
        at += count
        dwg.add(layer)
    if travel and sketch.strokes:
        dwg.add(_travel_group(dwg, sketch, start, stroke_width, decimals))
    try:
        dwg.save(pretty=False)
    except OSError as exc:
        raise SketchFormatError(f"{Path(path).name}: cannot write: {exc.strerror or exc}") from None
    return Path(path)


def _outline_group(dwg: svgwrite.Drawing, outlines, width: float):  # type: ignore[no-untyped-def]
    group = dwg.g(id="outlines", fill="none", stroke="#8a8a8a")
    group.attribs["data-plotter"] = "outline"
    group.update({"stroke-width": _fmt(width * 0.5)})
    for name, (x, y, w, h), dashed in outlines:
        rect = dwg.rect(insert=(_fmt(x), _fmt(y)), size=(_fmt(w), _fmt(h)), id=f"outline-{name}")
        if dashed:
            rect.update({"stroke-dasharray": f"{_fmt(width * 4)},{_fmt(width * 3)}"})
        group.add(rect)
    return group


def _travel_group(dwg: svgwrite.Drawing, sketch: Sketch, start, width: float, decimals: int):
    group = dwg.g(id="travel", fill="none", stroke="#e0306a", opacity="0.45")
    dash = _fmt(width * 3)
    group.update({"stroke-width": _fmt(width * 0.6), "stroke-dasharray": f"{dash},{dash}"})
    group.attribs["data-plotter"] = "travel"
    prev = None if start is None else np.asarray(start, dtype=np.float64)
    for s in sketch.strokes:
        if prev is not None and not np.allclose(prev, s[0]):
            group.add(dwg.path(d=_d(np.vstack([prev, s[0]]), decimals)))
        prev = s[-1]
    return group


# ------------------------------------------------------------------------------------------------ reading
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _floats(text: str | None) -> list[float]:
    out = [float(v) for v in _NUM.findall(text or "")]
    if not all(math.isfinite(v) for v in out):
        raise SketchFormatError(f"number out of range in {(text or '')[:40]!r}")
    return out


def parse_transform(text: str | None) -> np.ndarray:
    """SVG `transform` attribute -> 3x3 matrix."""
    m = np.eye(3)
    for name, args in _TRANSFORM.findall(text or ""):
        a = _floats(args)
        t = np.eye(3)
        if name == "matrix" and len(a) == 6:
            t[:2] = [[a[0], a[2], a[4]], [a[1], a[3], a[5]]]
        elif name == "translate" and a:
            t[:2, 2] = [a[0], a[1] if len(a) > 1 else 0.0]
        elif name == "scale" and a:
            t[0, 0], t[1, 1] = a[0], a[1] if len(a) > 1 else a[0]
        elif name == "rotate" and a:
            c, s = math.cos(math.radians(a[0])), math.sin(math.radians(a[0]))
            cx, cy = (a[1], a[2]) if len(a) == 3 else (0.0, 0.0)
            t[:2] = [[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]]
        elif name == "skewX" and a:
            t[0, 1] = math.tan(math.radians(a[0]))
        elif name == "skewY" and a:
            t[1, 0] = math.tan(math.radians(a[0]))
        else:
            raise SketchFormatError(f"unsupported SVG transform {name[:20]}({args[:40]})")
        m = m @ t
    return m


def _hidden(el: ET.Element) -> bool:
    style = (el.get("style") or "").replace(" ", "")
    hidden = el.get("data-plotter") in ("travel", "outline")  # our previews' travel, paper and bed edges
    return el.get("display") == "none" or "display:none" in style or hidden


def _ellipse(cx: float, cy: float, rx: float, ry: float, tol: float) -> list[np.ndarray]:
    if rx <= 0 or ry <= 0:
        return []
    step = math.acos(max(-1.0, 1 - tol / max(rx, ry)))  # 0 when tol / r underflows: a huge radius
    n = max(8, int(math.ceil(math.pi / step))) if step > math.pi / _MAX_CIRCLE else _MAX_CIRCLE
    t = np.linspace(0, 2 * np.pi, n + 1)
    return [np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)])]


def _element_strokes(el: ET.Element, tag: str, tol: float, budget: int) -> list[np.ndarray]:
    g = el.get
    num = lambda k: float(_floats(g(k, "0"))[0]) if _floats(g(k, "0")) else 0.0  # noqa: E731
    if tag == "path":
        return flatten_path(g("d", ""), tol, max_points=budget)
    if tag == "line":
        return [np.array([[num("x1"), num("y1")], [num("x2"), num("y2")]])]
    if tag in ("polyline", "polygon"):
        v = _floats(g("points"))
        pts = np.array(v[: len(v) // 2 * 2], dtype=np.float64).reshape(-1, 2)
        if len(pts) and tag == "polygon":
            pts = np.vstack([pts, pts[:1]])
        return [pts] if len(pts) else []
    if tag == "rect":
        x, y, w, h = num("x"), num("y"), num("width"), num("height")
        if w <= 0 or h <= 0:
            return []
        return [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]])]
    if tag == "circle":
        return _ellipse(num("cx"), num("cy"), num("r"), num("r"), tol)
    if tag == "ellipse":
        return _ellipse(num("cx"), num("cy"), num("rx"), num("ry"), tol)
    return []


def _walk(root: ET.Element, tol: float) -> list[np.ndarray]:
    return [stroke for stroke, _, _ in walk_tagged(root, tol)]


_INKSCAPE = "{http://www.inkscape.org/namespaces/inkscape}"
_STROKE = re.compile(r"(?:^|;)\s*stroke\s*:\s*([^;]+)")


def _stroke_of(el: ET.Element, inherited: str | None) -> str | None:
    m = _STROKE.search(el.get("style") or "")
    value = (m.group(1) if m else el.get("stroke") or "").strip().lower()
    return inherited if value in ("", "inherit") else value


def walk_tagged(root: ET.Element, tol: float) -> list[tuple[np.ndarray, str | None, str | None]]:
    """Strokes in document order with their Inkscape layer (label) and stroke colour, both inherited.

    An explicit stack, as 100k nested `<g>` would pass the recursion limit. `<text>` is refused: a plotter
    cannot draw a font, and dropping it silently loses part of the drawing.
    """
    out: list[tuple[np.ndarray, str | None, str | None]] = []
    total = 0
    stack: list[tuple[ET.Element, np.ndarray, str | None, str | None]] = [(root, np.eye(3), None, None)]
    while stack:
        el, m, layer, colour = stack.pop()
        tag = _local(el.tag) if isinstance(el.tag, str) else ""
        if tag in _SKIP or _hidden(el):
            continue
        if tag in ("text", "tspan", "textPath", "flowRoot"):
            raise SketchFormatError("has <text>, which a pen plotter cannot draw as a font: convert it to "
                                    "paths first (Inkscape: Path > Object to Path; vpype: text is not read)")
        m = m @ parse_transform(el.get("transform"))
        if not np.all(np.isfinite(m)):
            raise SketchFormatError(f"<{tag}>: its transforms overflow")
        if tag == "g" and el.get(f"{_INKSCAPE}groupmode") == "layer":
            layer = el.get(f"{_INKSCAPE}label") or el.get("id") or f"layer {len(out)}"
        colour = _stroke_of(el, colour)
        for stroke in _element_strokes(el, tag, tol, MAX_POINTS - total):
            stroke = stroke @ m[:2, :2].T + m[:2, 2]
            if not np.all(np.isfinite(stroke)):
                raise SketchFormatError(f"<{tag}>: coordinates out of range after its transforms")
            total += len(stroke)
            if total > MAX_POINTS:
                raise SketchFormatError(f"more than {MAX_POINTS:,} points (simplify it first)")
            out.append((stroke, layer, colour))
        stack.extend((child, m, layer, colour) for child in reversed(el))
    return out


def _mm_per_unit(root: ET.Element) -> float | None:
    width, box = root.get("width"), _floats(root.get("viewBox"))
    m = re.fullmatch(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*(mm|cm|in|pt|pc|px|)\s*", width or "")
    if not m or len(box) != 4 or box[2] <= 0:
        return None
    try:
        scale = float(m.group(1)) * _UNITS_MM[m.group(2)] / box[2]
    except ValueError:  # "1.2.3mm"
        return None
    return scale if math.isfinite(scale) and scale > 0 else None


def _refuse_entity(*_: object) -> None:
    raise SketchFormatError("declares XML entities (DOCTYPE <!ENTITY>), which are refused")


def _parse(path: Path) -> ET.Element:
    """Bytes -> tree, refusing entity declarations first (billion laughs): expat expands internal entities,
    and only recent expat releases cap the amplification."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SketchFormatError(f"cannot read: {exc.strerror or exc}") from None
    check = expat.ParserCreate()
    check.EntityDeclHandler = _refuse_entity
    try:
        check.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise SketchFormatError(f"not well-formed XML ({exc})") from None
    except (LookupError, ValueError) as exc:  # encoding="klingon", or bytes that do not decode
        raise SketchFormatError(f"unreadable XML encoding ({exc})") from None


def read_svg(path: Path, *, tolerance: float = 0.1) -> list[Sketch]:
    """All visible drawn elements of an SVG as one sketch (document order = stroke order)."""
    meta: dict = {"source": path.name}
    try:
        root = _parse(path)
        if _local(root.tag) != "svg":
            raise SketchFormatError(f"the root element is <{_local(root.tag)}>, not <svg>")
        with np.errstate(all="ignore"):  # overflow is checked and named, not warned about
            strokes = [s for s in _walk(root, tolerance) if len(s)]
        scale = _mm_per_unit(root)
    except SketchFormatError as exc:
        raise SketchFormatError(f"{path.name}: {exc}") from None
    except (ArithmeticError, ValueError) as exc:  # a number no check above foresaw: still one line
        raise SketchFormatError(f"{path.name}: numbers out of range ({exc})") from None
    if scale is not None:
        meta["mm_per_unit"] = scale
    return [Sketch(strokes, unit="px", meta=meta)]
