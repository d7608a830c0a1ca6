"""Read any sketch file we know; write JSON and SVG.

Why one dispatcher: every command (`export`, `draw`, `complete`, the daemon) accepts "a sketch file", so the
format is chosen here, by extension and then by content, and every failure is one `SketchFormatError` that
names the file and the reason.

Formats: sketch-rnn `.npz` (train/valid/test, or packed `<class>__data/__offsets`), Quick, Draw! `.ndjson`
(raw or simplified), our JSON (`.json`), SVG (`.svg`).
"""

from __future__ import annotations

import os
from pathlib import Path

from plotter.errors import SketchFormatError
from plotter.sketch.core import Sketch
from plotter.sketch.formats.native import read_json, write_json
from plotter.sketch.formats.ndjson import read_ndjson
from plotter.sketch.formats.npz import read_npz
from plotter.sketch.svg import read_svg, write_svg

__all__ = ["FORMATS", "read_sketches", "sniff_format", "write_json", "write_svg"]

FORMATS = {".npz": "npz", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json", ".svg": "svg"}


def sniff_format(path: Path) -> str:
    """Format name from the extension, else from the first bytes."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt:
        return fmt
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise SketchFormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    text = head.lstrip()
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if text.startswith((b"<?xml", b"<svg")):
        return "svg"
    if text.startswith(b"{") and b"\n{" in head and b'"drawing"' in head:
        return "ndjson"
    if text.startswith((b"{", b"[")):
        return "json"
    raise SketchFormatError(f"{path.name}: unknown sketch format (expected .npz, .ndjson, .json or .svg)")


def _select(
    sketches: list[Sketch], limit: int | None, index: int | list[int] | None, name: str
) -> list[Sketch]:
    if index is not None:
        wanted = [index] if isinstance(index, int) else list(index)
        for i in wanted:
            if not -len(sketches) <= i < len(sketches):
                raise SketchFormatError(f"{name}: index {i} is out of range (file holds {len(sketches)})")
        sketches = [sketches[i] for i in wanted]
    return sketches if limit is None else sketches[:limit]


def read_sketches(
    path: str | os.PathLike[str],
    *,
    split: str | None = None,
    class_name: str | None = None,
    limit: int | None = None,
    index: int | list[int] | None = None,
) -> list[Sketch]:
    """Sketches (unit "px", or "mm" for our JSON written in mm) from one file.

    `split` picks train/valid/test in sketch-rnn files (default test), `class_name` a class in packed `.npz`
    or a `word` in `.ndjson`, `index` one drawing or a list of them, `limit` the first N.
    """
    p = Path(path)
    if not p.exists():
        raise SketchFormatError(f"{p}: no such file")
    if p.is_dir():
        raise SketchFormatError(f"{p}: is a directory, not a sketch file")
    if limit is not None and limit < 1:
        raise SketchFormatError(f"{p.name}: limit must be at least 1, got {limit}")
    fmt = sniff_format(p)
    if split is not None and fmt != "npz":
        raise SketchFormatError(f"{p.name}: --split only applies to sketch-rnn .npz files")
    if fmt == "npz":
        sketches = read_npz(p, split=split, class_name=class_name, limit=limit, index=index)
    elif fmt == "ndjson":
        sketches = read_ndjson(p, class_name=class_name, limit=limit, index=index)
    elif fmt == "svg":
        sketches = _select(read_svg(p), limit, index, p.name)
    else:
        sketches = _select(read_json(p), limit, index, p.name)
    if not sketches:
        what = f" of class {class_name!r}" if class_name else ""
        raise SketchFormatError(f"{p.name}: holds no drawings{what}")
    return sketches
