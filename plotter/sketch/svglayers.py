"""SVG layers as pens: Inkscape layers, else stroke colours, each a sketch of its own (vpype's model).

Why: a two-colour drawing is two pens. A plotter job draws one pen's strokes, lifts, parks and waits for the
next pen; the layers must stay registered (one transform for all), which is the planner's job
(`plotter.job.layers`). Here: which strokes belong to which pen, in the order the file first names them.
"""

from __future__ import annotations

from pathlib import Path

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch
from plotter.sketch.svg import _local, _mm_per_unit, _parse, walk_tagged


def read_svg_layers(path: str | Path, *, tolerance: float = 0.1) -> list[Sketch]:
    """One sketch per layer (meta: `layer` name, `colour`, `source`, `mm_per_unit` when the file says)."""
    path = Path(path)
    try:
        root = _parse(path)
        if _local(root.tag) != "svg":
            raise SketchFormatError(f"the root element is <{_local(root.tag)}>, not <svg>")
        tagged = [(s, layer, colour) for s, layer, colour in walk_tagged(root, tolerance) if len(s)]
        scale = _mm_per_unit(root)
    except SketchFormatError as exc:
        raise SketchFormatError(f"{path.name}: {exc}") from None
    except (ArithmeticError, ValueError) as exc:
        raise SketchFormatError(f"{path.name}: numbers out of range ({exc})") from None
    by_layer = any(layer is not None for _, layer, _ in tagged)
    groups: dict[str, list] = {}
    colours: dict[str, str | None] = {}
    for stroke, layer, colour in tagged:
        key = (layer or "(no layer)") if by_layer else (colour if colour not in (None, "none") else "black")
        groups.setdefault(key, []).append(stroke)
        colours.setdefault(key, colour)
    out = []
    for name, strokes in groups.items():
        meta = {"source": path.name, "layer": name, "colour": colours[name] or "black"}
        if scale is not None:
            meta["mm_per_unit"] = scale
        out.append(Sketch(strokes, unit="px", meta=meta))
    return out


def select_layers(layers: list[Sketch], wanted: tuple[str, ...] | list[str]) -> list[Sketch]:
    """Only the named layers (by name or 1-based number), in the file's order; unknown names refused."""
    if not wanted:
        return layers
    names = [str(s.meta.get("layer")) for s in layers]
    keep: set[int] = set()
    for w in wanted:
        if w.isdigit() and 1 <= int(w) <= len(layers):
            keep.add(int(w) - 1)
        elif w in names:
            keep.add(names.index(w))
        else:
            raise SketchFormatError(f"no layer {w!r}; the file has {', '.join(repr(n) for n in names)}")
    return [s for i, s in enumerate(layers) if i in keep]
