"""Our own JSON sketch format: readable by humans, diffable, and exact.

    {"format": "plotter-sketch", "version": 1, "unit": "px",
     "strokes": [[[x, y], [x, y], ...], ...], "meta": {"class": "cat"}}

A file holds one such object, a list of them, or
{"format": "plotter-sketches", "version": 1, "sketches": [...]}. Why not stroke-3: absolute points survive
hand editing (one wrong delta in stroke-3 shifts everything after it).
A Quick, Draw! record (an object with "drawing") is accepted too, so single drawings pasted from the web work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plotter.errors import SketchFormatError
from plotter.sketch.core import UNITS, Sketch
from plotter.sketch.formats.ndjson import record_to_sketch, short_reason

FORMAT = "plotter-sketch"
COLLECTION = "plotter-sketches"
VERSION = 1


def sketch_to_dict(sketch: Sketch, decimals: int = 3) -> dict[str, Any]:
    """The JSON object for one sketch; coordinates rounded to `decimals` (ints stay ints)."""
    strokes = []
    for s in sketch.strokes:
        r = np.round(s, decimals)
        strokes.append([[_num(x), _num(y)] for x, y in r])
    return {
        "format": FORMAT,
        "version": VERSION,
        "unit": sketch.unit,
        "strokes": strokes,
        "meta": sketch.meta,
    }


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def dict_to_sketch(obj: Any, where: str) -> Sketch:
    """Validate one sketch object and build the `Sketch`."""
    if not isinstance(obj, dict):
        raise SketchFormatError(f"{where}: a sketch must be a JSON object, got {type(obj).__name__}")
    if "drawing" in obj:
        return record_to_sketch(obj, where, {"source": where, "class": obj.get("word")})
    if obj.get("format") != FORMAT:
        raise SketchFormatError(f"{where}: 'format' must be {FORMAT!r}, got {obj.get('format')!r}")
    if obj.get("version") != VERSION:
        raise SketchFormatError(f"{where}: unsupported version {obj.get('version')!r} (this reader knows 1)")
    unit = obj.get("unit", "px")
    if unit not in UNITS:
        raise SketchFormatError(f"{where}: 'unit' must be one of {', '.join(UNITS)}, got {unit!r}")
    strokes = obj.get("strokes")
    if not isinstance(strokes, list):
        raise SketchFormatError(f"{where}: 'strokes' must be a list of strokes")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise SketchFormatError(f"{where}: 'meta' must be an object")
    arrays = []
    for k, stroke in enumerate(strokes):
        try:
            arr = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise SketchFormatError(f"{where}: stroke {k} is not a list of [x, y] numbers") from None
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise SketchFormatError(f"{where}: stroke {k} must be a non-empty list of [x, y] points")
        if not np.all(np.isfinite(arr)):
            raise SketchFormatError(f"{where}: stroke {k} has NaN or infinite coordinates")
        arrays.append(arr)
    return Sketch(arrays, unit=unit, meta=dict(meta))


def parse_document(doc: Any, name: str) -> list[Sketch]:
    """Any accepted JSON document -> sketches."""
    if isinstance(doc, dict) and doc.get("format") == COLLECTION:
        items = doc.get("sketches")
        if not isinstance(items, list):
            raise SketchFormatError(f"{name}: 'sketches' must be a list")
    elif isinstance(doc, list):
        items = doc
    else:
        items = [doc]
    out = []
    for i, item in enumerate(items):
        sketch = dict_to_sketch(item, f"{name} sketch {i}" if len(items) > 1 else name)
        sketch.meta.setdefault("source", name)
        sketch.meta.setdefault("index", i)
        out.append(sketch)
    return out


def read_json(path: Path) -> list[Sketch]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a BOM from a Windows editor is not an error
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SketchFormatError(f"{path.name}: not a UTF-8 text file") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SketchFormatError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, an integer over 4300 digits
        raise SketchFormatError(f"{path.name}: not usable JSON ({short_reason(exc)})") from None
    return parse_document(doc, path.name)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in sketch meta")


def dumps(sketches: Sequence[Sketch], decimals: int = 3) -> str:
    """One sketch -> a sketch object; several -> a collection document."""
    items = [sketch_to_dict(s, decimals) for s in sketches]
    doc: Any = items[0] if len(items) == 1 else {"format": COLLECTION, "version": VERSION, "sketches": items}
    return json.dumps(doc, default=_json_default, separators=(",", ":")) + "\n"


def write_json(sketches: Sketch | Sequence[Sketch], path: str | Path, decimals: int = 3) -> Path:
    """Write sketches in our JSON format; returns the path."""
    seq = [sketches] if isinstance(sketches, Sketch) else list(sketches)
    path = Path(path)
    try:
        path.write_text(dumps(seq, decimals), encoding="utf-8")
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot write: {exc.strerror or exc}") from None
    return path
