"""SVG in and out.

Writer: one `<path>` per stroke inside an Inkscape layer, `width`/`height` in mm and a viewBox in mm, so vpype
and Inkscape open the file at its physical size; pen-up travel can be added as faint dashed lines in a
separate group (`data-plotter="travel"`) for previews, which our reader skips.

Reader: enough of SVG to take a user's drawing as a sketch: `<path>` (M L H V Z, C S Q T flattened to a
tolerance, A arcs), `<line>`, `<polyline>`, `<polygon>`, `<rect>`, `<circle>`, `<ellipse>`, nested
`transform`s.
Coordinates stay in SVG user units (y down, as in a sketch); unit "px".
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import svgwrite
from svgwrite.extensions import Inkscape

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch
from plotter.sketch.svgpath import flatten_path

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_UNITS_MM = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6, "px": 25.4 / 96}
_UNITS_MM[""] = _UNITS_MM["px"]


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
) -> Path:
    """Write one sketch; `page` = (x, y, width, height) in sketch units (default: bounds plus 2 %)."""
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
    layer = ink.layer(label="1 pen", id="layer1")
    style = dict(fill="none", stroke=color, stroke_width=_fmt(stroke_width))
    style.update({"stroke-linecap": "round", "stroke-linejoin": "round"})
    layer.update(style)
    for s in sketch.strokes:
        layer.add(dwg.path(d=_d(s, decimals)))
    dwg.add(layer)
    if travel and sketch.strokes:
        dwg.add(_travel_group(dwg, sketch, start, stroke_width, decimals))
    try:
        dwg.save(pretty=False)
    except OSError as exc:
        raise SketchFormatError(f"{Path(path).name}: cannot write: {exc.strerror or exc}") from None
    return Path(path)


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
    return [float(v) for v in _NUM.findall(text or "")]


def parse_transform(text: str | None) -> np.ndarray:
    """SVG `transform` attribute -> 3x3 matrix."""
    m = np.eye(3)
    for name, args in re.findall(r"([a-zA-Z]+)\s*\(([^)]*)\)", text or ""):
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
            raise SketchFormatError(f"unsupported SVG transform {name}({args})")
        m = m @ t
    return m


def _hidden(el: ET.Element) -> bool:
    style = (el.get("style") or "").replace(" ", "")
    return el.get("display") == "none" or "display:none" in style or el.get("data-plotter") == "travel"


def _ellipse(cx: float, cy: float, rx: float, ry: float, tol: float) -> list[np.ndarray]:
    if rx <= 0 or ry <= 0:
        return []
    n = max(8, int(math.ceil(math.pi / math.acos(max(-1.0, 1 - tol / max(rx, ry))))))
    t = np.linspace(0, 2 * np.pi, n + 1)
    return [np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)])]


def _element_strokes(el: ET.Element, tag: str, tol: float) -> list[np.ndarray]:
    g = el.get
    num = lambda k: float(_floats(g(k, "0"))[0]) if _floats(g(k, "0")) else 0.0  # noqa: E731
    if tag == "path":
        return flatten_path(g("d", ""), tol)
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


def _walk(el: ET.Element, m: np.ndarray, tol: float, out: list[np.ndarray]) -> None:
    tag = _local(el.tag)
    if tag in ("defs", "clipPath", "mask", "symbol", "marker", "metadata", "title", "desc", "style"):
        return
    if _hidden(el):
        return
    m = m @ parse_transform(el.get("transform"))
    for stroke in _element_strokes(el, tag, tol):
        out.append(stroke @ m[:2, :2].T + m[:2, 2])
    for child in el:
        _walk(child, m, tol, out)


def _mm_per_unit(root: ET.Element) -> float | None:
    width, box = root.get("width"), _floats(root.get("viewBox"))
    m = re.fullmatch(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*(mm|cm|in|pt|pc|px|)\s*", width or "")
    if not m or len(box) != 4 or box[2] <= 0:
        return None
    return float(m.group(1)) * _UNITS_MM[m.group(2)] / box[2]


def read_svg(path: Path, *, tolerance: float = 0.1) -> list[Sketch]:
    """All visible drawn elements of an SVG as one sketch (document order = stroke order)."""
    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        raise SketchFormatError(f"{path.name}: not well-formed XML ({exc})") from None
    if _local(root.tag) != "svg":
        raise SketchFormatError(f"{path.name}: the root element is <{_local(root.tag)}>, not <svg>")
    strokes: list[np.ndarray] = []
    try:
        _walk(root, np.eye(3), tolerance, strokes)
    except SketchFormatError as exc:
        raise SketchFormatError(f"{path.name}: {exc}") from None
    strokes = [s for s in strokes if len(s) and np.all(np.isfinite(s))]
    meta: dict = {"source": path.name}
    scale = _mm_per_unit(root)
    if scale is not None:
        meta["mm_per_unit"] = scale
    return [Sketch(strokes, unit="px", meta=meta)]
