"""Steering the models: continue a user's partial sketch, morph between two sketches, pick classes safely.

Checkpoint discovery and the model cache are the job layer's (`plotter.job.models`); plotting a completion
is a draw job (`plotter.job.draw.plan_completion`).

Everything here sits on the models' public API (`generate(..., prefix=)`, Sketch-RNN's `encode`/`decode`)
so both models gain the same features without touching their sampling loops.

Scale: the models were trained on Quick, Draw! drawings (each fitted into a 0..255 box, then simplified with
RDP at 2 px) and sample in units of the checkpoint's `scale`. A partial drawn in Inkscape may be 2000 units
wide with a point every 0.1 unit, so `normalize_partial` fits it into the data's box and simplifies it the
same way before the model sees it; the completions come back in that data space with the (normalized)
prefix strokes kept exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from plotter.errors import PlotterError, SketchFormatError, UnknownClassError
from plotter.sketch import Sketch
from plotter.sketch.classes import require_class

DATA_BOX = 255.0  # Quick, Draw! simplified drawings fit a 0..255 box
DATA_RDP = 2.0  # ... and were simplified with RDP epsilon 2


# ------------------------------------------------------------------------------------------ classes
def check_class(model: Any, class_name: str) -> None:
    """Fail fast with close names before sampling (the model would too, but after loading work)."""
    classes = list(getattr(model, "classes", None) or [])
    if classes:
        require_class(class_name, classes)


def resolve_class(model: Any, class_name: str | None) -> str | None:
    """The class to draw: the one asked for (an unknown name fails with the closest names suggested),
    the model's only class, or an error asking for one when the model draws several."""
    classes = list(getattr(model, "classes", None) or [])
    if class_name is None:
        if len(classes) > 1:
            raise UnknownClassError(
                f"this checkpoint draws {len(classes)} classes; pick one with --class "
                f"(e.g. {', '.join(classes[:3])}; `plotter classes` lists them all)"
            )
        return classes[0] if classes else None
    if not classes:
        return None  # a model without class names draws whatever it was trained on
    return require_class(class_name, classes)  # as the model spells it: "Alarm_Clock" -> "alarm clock"


def max_points(model: Any) -> int:
    """The most points one sampled sketch can have (prefix included)."""
    cfg = model.config
    return int(cfg.block_size - 1) if hasattr(cfg, "block_size") else int(cfg.max_len)


# ------------------------------------------------------------------------------------------ completion
def normalize_partial(
    sketch: Sketch, size: float | None = None, simplify: float = DATA_RDP, box: float = DATA_BOX
) -> Sketch:
    """A user's partial drawing in the data's pixel space: scaled so its longest side is `size` (default:
    only shrunk to fit `box`), moved into the box if it lies outside, and RDP-simplified at `simplify` px."""
    from plotter.plan.simplify import simplify as rdp

    if sketch.is_empty():
        raise SketchFormatError("the sketch is empty: no strokes to start from")
    if size is not None and not (math.isfinite(size) and size > 0):
        raise PlotterError(f"--size must be a positive number of data pixels, got {size}")
    x0, y0, x1, y1 = sketch.bounds()
    longest = max(x1 - x0, y1 - y0)
    s = 1.0
    if longest > 0 and (size is not None or longest > box):
        s = (size if size is not None else box) / longest
    out = sketch.scale(s, unit="px")
    x0, y0, x1, y1 = out.bounds()
    if x0 < 0 or y0 < 0 or x1 > box or y1 > box:
        out = out.translate(-x0, -y0)
    out = rdp(out, simplify) if simplify > 0 else out
    out.meta = {**sketch.meta, "normalized_scale": s}
    return out


def complete_sketches(
    model: Any,
    partial: Sketch,
    n: int = 6,
    temperature: float | None = None,
    class_name: str | None = None,
    seed: int | None = None,
    size: float | None = None,
    simplify: float = DATA_RDP,
) -> list[Sketch]:
    """`n` continuations of `partial`; each result starts with exactly the normalized partial's strokes
    (`meta["prefix_strokes"]` says how many) followed by what the model drew."""
    if n < 1:
        raise PlotterError(f"number of completions must be >= 1, got {n}")
    name = resolve_class(model, class_name)
    prefix = normalize_partial(partial, size=size, simplify=simplify)
    limit = max_points(model)
    if prefix.n_points >= limit - 8:
        raise PlotterError(
            f"the partial has {prefix.n_points} points after simplification; this model draws at most "
            f"{limit}: simplify more (--simplify) or draw less"
        )
    out = model.generate(n, temperature=temperature, class_name=name, prefix=prefix, seed=seed)
    for sk in out:
        sk.meta.setdefault("prefix_strokes", len(prefix))
    return out


# ------------------------------------------------------------------------------------------ morphing
def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: keeps the norm that Gaussian latents live at (linear would shrink it)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return (1 - t) * a + t * b
    omega = math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0)))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)


def _need_encoder(model: Any) -> None:
    if getattr(model, "kind", None) != "sketch-rnn":
        raise PlotterError("morph needs a Sketch-RNN checkpoint (the transformer has no latent space)")
    if not model.config.conditional:
        raise PlotterError("this Sketch-RNN was trained --unconditional: it has no encoder to morph with")


def latents(model: Any, sketches: Sequence[Sketch]) -> np.ndarray:
    """Sketch-RNN latent means (B, Z) of sketches (normalized into the data space first)."""
    _need_encoder(model)
    return model.encode([normalize_partial(s) for s in sketches]).cpu().numpy().astype(np.float64)


def random_latents(model: Any, seeds: Sequence[int]) -> np.ndarray:
    """z ~ N(0, I), one per seed (the same seed gives what `generate(seed=...)` starts from)."""
    import torch

    _need_encoder(model)
    z = [torch.randn(1, model.config.z_size, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.cat(z).numpy().astype(np.float64)


def morph(
    model: Any,
    za: np.ndarray,
    zb: np.ndarray,
    steps: int = 8,
    temperature: float = 0.1,
    class_name: str | None = None,
    seed: int = 0,
) -> list[Sketch]:
    """Decode `steps` latents on the great circle from za to zb. Every panel is decoded alone with the
    same seed (common random numbers), so the ends are exactly `decode(za)` and `decode(zb)` and the
    panels differ only through z."""
    import torch

    _need_encoder(model)
    if steps < 2:
        raise PlotterError(f"a morph needs at least 2 steps, got {steps}")
    name = resolve_class(model, class_name)
    out = []
    for t in np.linspace(0.0, 1.0, steps):
        z = torch.tensor(slerp(za, zb, float(t)), dtype=torch.float32).unsqueeze(0)
        sk = model.decode(z, temperature=temperature, class_name=name, seed=seed)[0]
        sk.meta["t"] = round(float(t), 3)
        out.append(sk)
    return out
