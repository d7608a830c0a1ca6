"""One checkpoint format for every model, loaded without executing pickled code.

File layout (a plain dict saved with torch.save, read with `torch.load(weights_only=True)`):
    {"format": "plotter-checkpoint", "version": 1, "kind": "sketch-rnn" | "transformer" | ...,
     "config": asdict(model.config), "state_dict": {...}, "scale": float, "classes": [str, ...],
     "provenance": {...}, "metrics": {...}, optional "sampling": {"temperature": float, "chosen_by": str}}
"sampling" is the model's default temperature, chosen after training (`set_default_temperature`) and used
wherever a sampler is not given one.
A model class is registered per kind with `register_model(kind, ModelClass, ConfigClass)`; it must accept
`ModelClass(config)` and carry `.config`, `.scale` (float) and `.classes` (list[str]) attributes.
Optimizer state for resuming lives in a separate resume file (`save_resume`): shipped checkpoints stay small.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from plotter.errors import CheckpointError

FORMAT = "plotter-checkpoint"
VERSION = 1
# kind -> (model class, config class); modules below are imported on demand so they can register themselves
_REGISTRY: dict[str, tuple[type, type]] = {}
_BUILTIN_MODULES = {"sketch-rnn": "plotter.models.sketch_rnn", "transformer": "plotter.models.transformer"}


def register_model(kind: str, model_cls: type, config_cls: type) -> None:
    """Make `kind` loadable; called at import time by each model module."""
    _REGISTRY[kind] = (model_cls, config_cls)


def _lookup(kind: str) -> tuple[type, type]:
    if kind not in _REGISTRY and kind in _BUILTIN_MODULES:
        try:
            importlib.import_module(_BUILTIN_MODULES[kind])
        except ImportError as exc:
            raise CheckpointError(f"model kind {kind!r} is not available ({exc})") from None
    if kind not in _REGISTRY:
        raise CheckpointError(f"unknown model kind {kind!r}; known: {', '.join(sorted(_BUILTIN_MODULES))}")
    return _REGISTRY[kind]


def _plain(obj: Any) -> Any:
    """Reduce metadata to what weights_only can load (dict/list/str/int/float/bool/None)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def _atomic_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shipped checkpoint is readable like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, model: torch.nn.Module, **meta: Any) -> Path:
    """Write `model` (weights, config, scale, classes) plus `meta` (provenance=, metrics=) atomically."""
    model = getattr(model, "module", model)  # unwrap DDP
    kind = getattr(model, "kind", None)
    if kind is None:
        raise CheckpointError(f"{type(model).__name__} has no `kind`; register it with register_model")
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": _plain(dataclasses.asdict(model.config)),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "scale": float(getattr(model, "scale", 1.0)),
        "classes": [str(c) for c in getattr(model, "classes", [])],
        "provenance": _plain(meta.pop("provenance", {})),
        "metrics": _plain(meta.pop("metrics", {})),
    }
    ckpt.update(_plain(meta))
    path = Path(path)
    _atomic_save(ckpt, path)
    return path


def _safe_load(path: Path, what: str) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, hostile __reduce__, ...
        if not zipfile.is_zipfile(path):  # torch.save writes a zip; its directory sits at the very end
            raise CheckpointError(f"{path} is not a readable {what}: truncated or not a torch file") from None
        if isinstance(exc, pickle.UnpicklingError):  # torch's own text is a page of advice about weights_only
            msg = f"{path} is not a readable {what}: it holds objects other than weights"
            raise CheckpointError(msg) from None
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a readable {what} ({type(exc).__name__}: {first})") from None


def load_checkpoint(path: str | Path) -> dict:
    """Read and validate a checkpoint dict; never runs pickled code."""
    path = Path(path)
    ckpt = _safe_load(path, "checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a plotter checkpoint (no format marker)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {ckpt.get('version')!r}; this plotter reads {VERSION}"
        )
    for key in ("kind", "config", "state_dict"):
        if key not in ckpt:
            raise CheckpointError(f"{path} is missing {key!r}")
    return ckpt


def build_model(ckpt: dict, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Instantiate and fill the model described by a loaded checkpoint dict."""
    model_cls, config_cls = _lookup(ckpt["kind"])
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(ckpt["config"]) - names
    if unknown:
        raise CheckpointError(
            f"checkpoint config has fields this version does not know: {', '.join(sorted(unknown))}"
        )
    try:
        model = model_cls(config_cls(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint weights do not fit the {ckpt['kind']} model: {str(exc).splitlines()[0]}"
        ) from None
    model.scale = float(ckpt.get("scale", 1.0))
    model.classes = list(ckpt.get("classes", []))
    model.provenance = ckpt.get("provenance", {})
    model.metrics = ckpt.get("metrics", {})
    sampling = ckpt.get("sampling", {})
    if "temperature" in (sampling if isinstance(sampling, dict) else {}):
        t = sampling["temperature"]
        model.default_temperature = _checked_temperature(t, "checkpoint sampling temperature")
    if "knot_cap" in (sampling if isinstance(sampling, dict) else {}):
        model.knot_cap = _checked_knot_cap(sampling["knot_cap"])
    if "pen_temperature" in (sampling if isinstance(sampling, dict) else {}):
        pt = sampling["pen_temperature"]
        model.pen_temperature = _checked_temperature(pt, "checkpoint sampling pen_temperature")
    return model.to(map_location).eval()


def _checked_knot_cap(k: object) -> int:
    """A stored knot cap: an integer 0 (off) or 3..250, else one clear error."""
    if isinstance(k, bool) or not isinstance(k, int) or not (k == 0 or 3 <= k <= 250):
        raise CheckpointError(f"checkpoint sampling knot_cap must be 0 or an integer in 3..250, got {k!r}")
    return int(k)


def set_sampling(path: str | Path, knot_cap: int, pen_temperature: float | None, chosen_by: str) -> Path:
    """Record the transformer's knot cap and pen temperature (chosen on the validation split) beside its τ."""
    k = _checked_knot_cap(knot_cap)
    entry = {"knot_cap": k, "cure_chosen_by": str(chosen_by)}
    if pen_temperature is not None:
        entry["pen_temperature"] = _checked_temperature(pen_temperature, "pen temperature")
    path = Path(path)
    ckpt = load_checkpoint(path)
    ckpt["sampling"] = {**(ckpt.get("sampling") or {}), **entry}
    _atomic_save(ckpt, path)
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Load any registered model from a checkpoint file, in eval mode."""
    return build_model(load_checkpoint(path), map_location)


def _checked_temperature(t: object, what: str) -> float:
    """A stored default temperature: a real number in (0, 5] (the samplers' range), else one clear error."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < float(t) <= 5:
        raise CheckpointError(f"{what} must be in (0, 5], got {t!r}")
    return float(t)


def set_default_temperature(path: str | Path, temperature: float, chosen_by: str) -> Path:
    """Record the temperature a checkpoint samples at when none is asked for (rewrites the file atomically).

    Why: temperature trades crispness for variety by a different amount per model, so the right default
    belongs to the trained file, chosen from its own validation sweep (`scripts/temperature_sweep.py`)."""
    t = _checked_temperature(temperature, "temperature")
    path = Path(path)
    ckpt = load_checkpoint(path)
    ckpt["sampling"] = {**(ckpt.get("sampling") or {}), "temperature": t, "chosen_by": str(chosen_by)}
    _atomic_save(ckpt, path)
    return path


def save_resume(path: str | Path, state: dict) -> Path:
    """Optimizer/step/history state for `--resume`, kept apart from the shipped checkpoint."""
    path = Path(path)
    _atomic_save({"format": "plotter-resume", "version": VERSION, **state}, path)
    return path


def load_resume(path: str | Path) -> dict:
    path = Path(path)
    state = _safe_load(path, "resume file")
    if not isinstance(state, dict) or state.get("format") != "plotter-resume":
        raise CheckpointError(f"{path} is not a plotter resume file")
    return state
