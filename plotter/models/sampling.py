"""Sampling helpers shared by both models: argument checks, prefixes, termination and de-normalization.

Models sample in normalized stroke-5 (offsets / scale); users see `Sketch`es in the data's pixel units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from plotter.errors import PlotterError
from plotter.sketch import Sketch

DEFAULT_TEMPERATURE = 0.4  # Sketch-RNN's customary τ; a checkpoint may carry its own (checkpoint "sampling")


def check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0 or t > 5:
        raise PlotterError(f"temperature must be in (0, 5], got {temperature}")
    return t


def resolve_temperature(model: object, temperature: float | None) -> float:
    """The τ to sample at: the one asked for, else the model's own default (chosen by a validation sweep and
    stored in its checkpoint; 0.4 where none was stored)."""
    if temperature is None:
        temperature = getattr(model, "default_temperature", DEFAULT_TEMPERATURE)
    return check_temperature(temperature)


def class_index(classes: Sequence[str], class_name: str | None) -> int | None:
    """Index of `class_name` in the model's classes (None = the model's only/first class)."""
    if class_name is None:
        return None
    from plotter.sketch.classes import require_class

    return list(classes).index(require_class(class_name, classes))  # "Alarm_Clock" is "alarm clock"


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def prefix_to_stroke5(prefix: Sketch, scale: float) -> np.ndarray:
    """A partial sketch (data pixel units) -> normalized stroke-5 rows without the end row, (P, 5) float32."""
    if prefix.is_empty():
        return np.zeros((0, 5), dtype=np.float32)
    s5 = prefix.to_stroke5()[:-1].astype(np.float32)  # drop the end-of-sketch row: the model continues
    s5[:, :2] /= scale
    return s5


def rows_to_sketch(rows: np.ndarray, scale: float, meta: dict | None = None) -> Sketch:
    """Normalized stroke-5 rows (no start token) -> Sketch in pixel units, cut at the first end row.

    A sketch that never emitted an end row (cut by max_len) still ends; `meta["ended"]` says which it was.
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    ends = np.flatnonzero(rows[:, 4] > 0.5)
    ended = bool(len(ends))
    rows = rows[: ends[0]] if ended else rows
    s3 = np.column_stack([rows[:, :2] * scale, rows[:, 3]])
    info = {"ended": ended, **(meta or {})}
    if len(s3) == 0:
        return Sketch([], unit="px", meta=info)
    return Sketch.from_stroke3(s3, unit="px", meta=info)


def stack_prefixes(prefix: Sketch | Sequence[Sketch] | None, n: int, scale: float) -> list[np.ndarray] | None:
    """One normalized prefix per sample (a single Sketch is repeated n times)."""
    if prefix is None:
        return None
    items = [prefix] * n if isinstance(prefix, Sketch) else list(prefix)
    if len(items) != n:
        raise PlotterError(f"got {len(items)} prefixes for {n} samples")
    return [prefix_to_stroke5(p, scale) for p in items]


def join_prefix(prefix: Sketch | None, generated: Sketch) -> Sketch:
    """Prefix strokes kept exactly as given, followed by the generated strokes placed after its last point."""
    if prefix is None or prefix.is_empty():
        return generated
    last = prefix.strokes[-1][-1]
    tail = [s + last for s in generated.strokes]
    return Sketch(
        [s.copy() for s in prefix.strokes] + tail,
        unit="px",
        meta={**generated.meta, "prefix_strokes": len(prefix)},
    )
