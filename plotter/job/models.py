"""Finding checkpoints and keeping models loaded: what a job needs from the model layer, torch-free at import.

`ModelCache` is the daemon's warm state (a draw request pays only for sampling); the CLI uses a fresh one per
run. Checkpoint discovery is a file search (`$PLOTTER_CHECKPOINTS`, then the repository's `checkpoints/`),
so `plotter draw` talking to a daemon never imports torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plotter.errors import CheckpointError, PlotterError
from plotter.job.params import MODELS, checkpoint_dirs, default_checkpoint, made_for
from plotter.sketch.classes import match_class, require_class

MAX_MODELS = 8  # models kept loaded at once (a small sketch model is ~10 MB; torch's overhead adds more)


class ModelCache:
    """Models loaded once and kept (the daemon's warm state); thread-safe, torch imported on first use.

    Bounded: at most `max_models` stay loaded, the least recently used one is dropped first (issue 16:
    every distinct checkpoint a request named used to stay in memory for good)."""

    def __init__(self, loader: Callable[[Path], Any] | None = None, max_models: int = MAX_MODELS) -> None:
        self._loader = loader
        self.max_models = max(1, max_models)
        self._models: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self.sample_lock = threading.Lock()  # torch CPU sampling is not worth running in parallel on 2 cores
        self._classifier: Any = None  # best-of's judge: None = not looked for yet, False = none shipped

    def get(self, path: str | Path) -> Any:
        path = Path(path).expanduser().resolve()
        with self._lock:
            if path not in self._models:
                if not path.is_file():
                    raise CheckpointError(f"checkpoint {path} does not exist")
                loader = self._loader
                if loader is None:
                    loader = _load_torch_model
                while len(self._models) >= self.max_models:
                    self._models.pop(next(iter(self._models)))  # least recently used
                self._models[path] = loader(path)
            self._models[path] = self._models.pop(path)  # most recently used last
            return self._models[path]

    def scorer(self, class_name: str) -> Callable[[Any], Any]:
        """Best-of's rating: the shipped yardstick classifier's probability of `class_name`, loaded once.
        Without a classifier (or for a class it does not know) every candidate rates 0, so best-of still
        drops knots and cut-off sketches."""
        with self._lock:
            if self._classifier is None:
                self._classifier = _load_classifier()
        clf = self._classifier
        known = match_class(class_name, clf.classes) if clf is not False else None
        if known is not None:
            from plotter.training.classifier import class_scorer

            return class_scorer(clf, known)
        import numpy as np

        return lambda sketches: np.zeros(len(sketches))

    def loaded(self) -> list[str]:
        with self._lock:
            return [str(p) for p in self._models]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def _load_torch_model(path: Path) -> Any:
    """Load a checkpoint for sampling. Sampling is one small step at a time: extra intra-op threads only
    spin against each other (and against anything else on a small machine), so use $PLOTTER_TORCH_THREADS
    (default 1)."""
    import torch

    from plotter.models.checkpoint import load_model

    torch.set_num_threads(max(1, int(os.environ.get("PLOTTER_TORCH_THREADS", "1"))))
    return load_model(path)


def _load_classifier() -> Any:
    """checkpoints/classifier-345.pt (first checkpoint dir that has it), or False."""
    from plotter.training.classifier import load_classifier

    for d in checkpoint_dirs():
        if (d / "classifier-345.pt").is_file():
            return load_classifier(d / "classifier-345.pt")
    return False


def find_checkpoint(model: str, class_name: str | None, checkpoint: str | Path | None) -> Path:
    """`checkpoint` if given (must exist), else the shipped `<model>-<class>.pt` or any `<model>-*.pt`."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        return path
    path = default_checkpoint(model, class_name)
    if class_name is None or made_for(path, model, class_name):
        return path
    widest, most = path, 0  # a class no checkpoint knows: the widest one's error suggests the closest names
    for cand in shipped_checkpoints():  # `--class dog` with sketch_rnn-cat.pt and sketch_rnn-multiclass.pt
        if cand.stem.startswith(f"{MODELS[model]}-"):
            try:
                classes = known_classes(cand)
            except PlotterError:
                continue
            if match_class(class_name, classes) is not None:
                return cand
            if len(classes) > most:
                widest, most = cand, len(classes)
    return widest


def known_classes(path: str | Path) -> list[str]:
    """The classes a checkpoint draws: read without torch when possible (`job.ckmeta`), else loaded."""
    from plotter.job.ckmeta import checkpoint_classes

    found = checkpoint_classes(path)
    return found if found is not None else checkpoint_info(path)["classes"]


def check_classes(path: str | Path, names: list[str | None]) -> list[str | None]:
    """Every name checked against the checkpoint's classes *before* torch loads it (a typo fails in
    milliseconds, with suggestions); returns the names as the checkpoint spells them. A checkpoint whose
    classes cannot be read without torch is checked by the model after loading, as before."""
    from plotter.job.ckmeta import checkpoint_classes

    classes = checkpoint_classes(path)
    if not classes:
        return names
    return [n if n is None else require_class(n, classes, Path(path).name) for n in names]


def checkpoints_for(model: str, names: list[str], checkpoint: str | Path | None) -> dict[Path, list[str]]:
    """`sample --class cat,dog`: one checkpoint that knows every name if there is one (the given one
    always), else one per class ({path: names it draws})."""
    if checkpoint is not None or len(names) <= 1:
        return {find_checkpoint(model, names[0] if names else None, checkpoint): names}
    for cand in shipped_checkpoints():
        if cand.stem.startswith(f"{MODELS[model]}-"):
            try:
                classes = known_classes(cand)
            except PlotterError:
                continue
            if all(match_class(n, classes) is not None for n in names):
                return {cand: names}
    out: dict[Path, list[str]] = {}
    for name in names:
        out.setdefault(find_checkpoint(model, name, None), []).append(name)
    return out


def load(model: str, class_name: str | None, checkpoint: str | Path | None) -> Any:
    """Load the checkpoint for sampling (one torch thread unless $PLOTTER_TORCH_THREADS, as the daemon)."""
    path = find_checkpoint(model, class_name, checkpoint)
    check_classes(path, [class_name])
    loaded = ModelCache().get(path)
    if not hasattr(loaded, "generate"):
        raise CheckpointError(f"{path} holds a {getattr(loaded, 'kind', '?')} model, which does not draw")
    return loaded


def shipped_checkpoints() -> list[Path]:
    """Every `*.pt` in the checkpoint directories ($PLOTTER_CHECKPOINTS, then the repository's)."""
    seen, out = set(), []
    for d in checkpoint_dirs():
        for p in sorted(d.glob("*.pt")) if d.is_dir() else []:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                out.append(p)
    return out


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """kind, classes, scale and headline metrics of a checkpoint, read without building the model."""
    from plotter.models.checkpoint import load_checkpoint

    try:
        ckpt = load_checkpoint(path)
    except CheckpointError:
        ckpt = _other_checkpoint(path)  # e.g. the yardstick classifier: it has classes but does not draw
        if ckpt is None:
            raise
    return {
        "path": str(path),
        "kind": ckpt["kind"],
        "classes": [str(c) for c in ckpt.get("classes", [])],
        "scale": float(ckpt.get("scale", 1.0)),
        "metrics": ckpt.get("metrics", {}),
        "draws": ckpt.get("draws", True),
        "temperature": (ckpt.get("sampling") or {}).get("temperature"),  # its default τ, if it stores one
    }


def _other_checkpoint(path: str | Path) -> dict | None:
    """Another of our torch files with a `kind` and `classes` (read with weights_only), else None."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # corrupt, foreign pickle, ...: the caller reports the original error
        return None
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("kind"), str)):
        return None
    return {**ckpt, "draws": False} if isinstance(ckpt.get("classes"), list) else None
