"""Quick, Draw! `.ndjson`: one drawing per line, raw (`[[xs], [ys], [ts]]` per stroke) or simplified.

Why the simplification: raw drawings are in screen pixels at any scale, with a point every few ms. Google's
published simplified form (and all our training data) is: align to 0, scale uniformly so the larger side is
255, resample at 1 px spacing, RDP with epsilon 2.0, round to integers. Raw input gets exactly that, so every
sketch the rest of the system sees has the same scale as the data the models learned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch
from plotter.sketch.rdp import rdp

SIZE = 255.0
EPSILON = 2.0


def resample(stroke: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every `spacing` along the polyline, keeping both ends."""
    if len(stroke) < 2:
        return stroke.copy()
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    total = along[-1]
    if total == 0.0:
        return stroke[:1].copy()
    ts = np.append(np.arange(0.0, total, spacing), total)
    return np.column_stack([np.interp(ts, along, stroke[:, 0]), np.interp(ts, along, stroke[:, 1])])


def simplify_raw(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Google's Quick, Draw! simplification of raw strokes (see module docstring)."""
    pts = np.concatenate(strokes)
    lo = pts.min(axis=0)
    span = float((pts.max(axis=0) - lo).max())
    scale = SIZE / span if span > 0 else 1.0
    out = []
    for s in strokes:
        s = (s - lo) * scale
        out.append(np.round(rdp(resample(s), EPSILON)))
    return out


def parse_drawing(drawing: Any, where: str) -> list[np.ndarray]:
    """`drawing` field -> strokes; raw drawings (with timestamps) are simplified."""
    if not isinstance(drawing, list):
        raise SketchFormatError(f"{where}: 'drawing' must be a list of strokes")
    strokes, raw = [], False
    for k, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise SketchFormatError(f"{where}: stroke {k} must be [[xs], [ys]] or [[xs], [ys], [ts]]")
        xs, ys = stroke[0], stroke[1]
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs:
            raise SketchFormatError(f"{where}: stroke {k} needs equally long, non-empty x and y lists")
        try:
            arr = np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)])
        except (TypeError, ValueError):
            raise SketchFormatError(f"{where}: stroke {k} has non-numeric coordinates") from None
        if not np.all(np.isfinite(arr)):
            raise SketchFormatError(f"{where}: stroke {k} has NaN or infinite coordinates")
        raw = raw or len(stroke) == 3
        strokes.append(arr)
    if not strokes:
        return []
    return simplify_raw(strokes) if raw else strokes


def looks_binary(head: bytes) -> bool:
    """A NUL byte or invalid UTF-8 in the first block: say "binary" instead of "line 1: not JSON"."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 3  # a character cut by the block's end is not an error
    return False


def parse_line(raw: bytes, where: str, *, first: bool = False) -> Any:
    """One line's JSON value, or None for a blank line.

    Why bytes in, decoded here: a binary file must fail as one `SketchFormatError` naming its line, not as a
    `UnicodeDecodeError` raised by a text-mode iterator; a BOM (Windows editors) is tolerated on line 1.
    """
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        raise SketchFormatError(f"{where}: not a UTF-8 text file") from None
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise SketchFormatError(f"{where}: not JSON ({exc.msg})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, an integer over 4300 digits
        raise SketchFormatError(f"{where}: not usable JSON ({short_reason(exc)})") from None


def short_reason(exc: BaseException) -> str:
    """First clause of a Python message, for a one-line error."""
    return str(exc).split(";")[0].split(":")[0].strip() or type(exc).__name__


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def read_ndjson(
    path: Path,
    *,
    class_name: str | None = None,
    limit: int | None = None,
    index: int | list[int] | None = None,
) -> list[Sketch]:
    """Read drawings (optionally only those whose `word` is `class_name`); unit "px"."""
    wanted = None if index is None else ({index} if isinstance(index, int) else set(index))
    out: list[Sketch] = []
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    with fh:
        if looks_binary(fh.read(4096)):
            raise SketchFormatError(f"{path.name}: not a UTF-8 text file")
        fh.seek(0)
        n = -1
        for lineno, raw in enumerate(fh, start=1):
            where = f"{path.name} line {lineno}"
            rec = parse_line(raw, where, first=lineno == 1)
            if rec is None:
                continue
            if not isinstance(rec, dict) or "drawing" not in rec:
                raise SketchFormatError(f"{where}: a Quick, Draw! record needs a 'drawing' field")
            word = rec.get("word")
            if class_name is not None and _key(str(word)) != _key(class_name):
                continue
            n += 1
            if wanted is not None and n not in wanted:
                continue
            meta = {"source": path.name, "index": n, "class": word, "key_id": rec.get("key_id")}
            out.append(record_to_sketch(rec, where, meta))
            if limit is not None and len(out) >= limit:
                break
    return out


def record_to_sketch(rec: dict, where: str, meta: dict) -> Sketch:
    meta = {k: v for k, v in meta.items() if v is not None}
    if "countrycode" in rec:
        meta["countrycode"] = rec["countrycode"]
    return Sketch(parse_drawing(rec["drawing"], where), unit="px", meta=meta)
