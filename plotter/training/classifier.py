"""A small CNN over 345 Quick, Draw! classes: the yardstick that judges generated sketches.

Why: a model's samples are "recognizable" when a classifier trained on real drawings of all 345 classes puts
them in the intended class, and "diverse" when they spread as far apart in that classifier's feature space as
real drawings do. The classifier is sized for one CPU core (≈0.5 M parameters, 28×28 input, channels-last
convolutions at ~2,000 images/s training) and trained once, reproducibly, by
`plotter.training.classifier_train`.

Its checkpoint is a plain dict loaded with `torch.load(weights_only=True)`: kind "classifier", the config,
the raster spec (so evaluation draws sketches exactly as training did), the class list, metrics and
provenance.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from plotter.errors import CheckpointError
from plotter.sketch import Sketch
from plotter.training.raster import RasterSpec, rasterize_many

KIND = "classifier"
FORMAT = 1


@dataclass
class ClassifierConfig:
    """Every size of the network; stored in the checkpoint so loading rebuilds the same shape."""

    n_classes: int = 345
    size: int = 28  # input side; must match the raster spec
    channels: list[int] = field(default_factory=lambda: [16, 64, 128])  # one conv block + 2×2 pool each
    hidden: int = 256  # width of the penultimate layer = the feature space used for diversity
    dropout: float = 0.3


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SketchCNN(nn.Module):
    """conv-BN-ReLU-pool ×3 → dense `hidden` (the features) → dropout → class logits."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c, side = 1, config.size
        for c_out in config.channels:
            layers += [*_block(c, c_out), nn.MaxPool2d(2)]
            c, side = c_out, side // 2
        self.conv = nn.Sequential(*layers)
        flat = c * side * side
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.hidden), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) floats in [0, 1] → (B, hidden) penultimate activations."""
        return self.embed(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, n_classes) logits


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (B, S, S) → float (B, 1, S, S) in [0, 1], channels-last (≈1.5× faster on CPU)."""
    t = torch.as_tensor(images)
    return (t.unsqueeze(1).float() / 255.0).contiguous(memory_format=torch.channels_last)


@dataclass
class Classifier:
    """A loaded, ready-to-use classifier: the network in eval mode plus what it needs to read sketches."""

    model: SketchCNN
    classes: list[str]
    spec: RasterSpec
    metrics: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    path: str = ""

    def class_index(self, name: str) -> int:
        """Index of a class name; raises `UnknownClassError` with close names for a typo."""
        from plotter.models.sampling import class_index

        return int(class_index(self.classes, name))

    @torch.no_grad()
    def predict(
        self, images: np.ndarray, batch_size: int = 512, progress: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images (N, S, S) → (logits (N, C), features (N, hidden)), in batches."""
        self.model.eval()
        logits, feats = [], []
        for i in range(0, len(images), batch_size):
            f = self.model.features(to_input(images[i : i + batch_size]))
            feats.append(f.numpy())
            logits.append(self.model.head(f).numpy())
            if progress is not None:
                progress(min(batch_size, len(images) - i))
        h, c = self.model.config.hidden, self.model.config.n_classes
        if not logits:
            return np.zeros((0, c), np.float32), np.zeros((0, h), np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def rasterize(self, sketches: Sequence[Sketch | np.ndarray]) -> np.ndarray:
        """Draw sketches exactly as the training data was drawn."""
        return rasterize_many(sketches, self.spec)


def save_classifier(
    path: str | Path,
    model: SketchCNN,
    classes: Sequence[str],
    spec: RasterSpec,
    metrics: dict | None = None,
    provenance: dict | None = None,
) -> None:
    """Write the weights_only-loadable checkpoint (atomic: a crash never leaves a half file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "kind": KIND,
        "format": FORMAT,
        "config": asdict(model.config),
        "raster": asdict(spec),
        "classes": list(classes),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        "provenance": dict(provenance or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def load_classifier(path: str | Path) -> Classifier:
    """Load a classifier checkpoint; anything missing, corrupt or foreign is one `CheckpointError` line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"classifier checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({msg[:120]})") from None
    except Exception as exc:  # the weights-only unpickler raises pickle.UnpicklingError and friends
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        kind = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a classifier checkpoint (kind {kind!r})")
    try:
        config = ClassifierConfig(**ckpt["config"])
        spec = RasterSpec(**ckpt["raster"])
        classes = [str(c) for c in ckpt["classes"]]
        model = SketchCNN(config)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        line = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: classifier checkpoint is incomplete or mismatched ({line})") from None
    if len(classes) != config.n_classes or spec.size != config.size:
        raise CheckpointError(f"{path}: classifier checkpoint is inconsistent (classes or raster size)")
    model.eval()
    model.to(memory_format=torch.channels_last)
    metrics, provenance = dict(ckpt.get("metrics", {})), dict(ckpt.get("provenance", {}))
    return Classifier(model, classes, spec, metrics, provenance, str(path))


def class_scorer(classifier: Classifier, class_name: str) -> Callable[[Sequence[Sketch]], np.ndarray]:
    """sketches -> the classifier's probability that each is `class_name` (best-of's rating)."""
    target = classifier.class_index(class_name)

    def score(sketches: Sequence[Sketch]) -> np.ndarray:
        if not sketches:
            return np.zeros(0)
        logits, _ = classifier.predict(classifier.rasterize(sketches))
        return torch.softmax(torch.from_numpy(logits).double(), dim=1)[:, target].numpy()

    return score
