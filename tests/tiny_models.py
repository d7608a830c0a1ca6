"""Tiny randomly initialised models for the sample/complete/morph/classes tests (fixed seeds, < 50 kB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from plotter.models.checkpoint import save_checkpoint
from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig
from plotter.models.transformer import SketchTransformer, TransformerConfig


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core box: extra torch threads only spin (7 s instead of 0.1 s per test)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_rnn(classes: list[str], seed: int = 0, max_len: int = 80) -> SketchRNN:
    torch.manual_seed(seed)
    n = len(classes)
    cfg = SketchRNNConfig(enc_hidden=16, dec_hidden=32, z_size=8, n_mixtures=3, max_len=max_len,
                          n_classes=n, class_embed=4 if n > 1 else 0)  # fmt: skip
    m = SketchRNN(cfg)
    m.scale, m.classes = 20.0, list(classes)
    return _draws(m).eval()


def tiny_transformer(classes: list[str], seed: int = 0, block: int = 81) -> SketchTransformer:
    torch.manual_seed(seed)
    n = len(classes)
    cfg = TransformerConfig(block_size=block, n_layer=1, n_head=2, n_embd=16, n_mixtures=3,
                            n_classes=n if n > 1 else 0)  # fmt: skip
    return _draws(SketchTransformer(cfg, scale=20.0, classes=list(classes))).eval()


def _draws(model: torch.nn.Module) -> torch.nn.Module:
    """Random weights end most sketches at once; lower the end-of-sketch logit so they draw something."""
    with torch.no_grad():
        model.head.proj.bias[-3:] = torch.tensor([1.0, -1.0, -4.0])  # pen down, lift, end
    return model


def save(model: torch.nn.Module, path: Path) -> Path:
    return save_checkpoint(path, model)


def write_packed(path: Path, classes: list[str], per_class: int = 40, seed: int = 0) -> Path:
    """A packed quickdraw.npz (`<class>__data`, `<class>__offsets`) of small random stroke-3 drawings."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for c in classes:
        parts = []
        for _ in range(per_class):
            n = int(rng.integers(5, 20))
            s = np.column_stack([rng.integers(-20, 21, n), rng.integers(-20, 21, n), rng.random(n) < 0.2])
            s[-1, 2] = 1
            parts.append(s.astype(np.int16))
        arrays[f"{c}__data"] = np.concatenate(parts)
        arrays[f"{c}__offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    np.savez(path, **arrays)
    return path


def strokes(k: int, points: int = 3, seed: int = 0) -> np.ndarray:
    """One int16 stroke-3 drawing of exactly `k` strokes (`points` points each): for fakes that count."""
    rng = np.random.default_rng(seed)
    rows = np.column_stack([rng.integers(-20, 21, k * points), rng.integers(-20, 21, k * points),
                            np.zeros(k * points)])  # fmt: skip
    rows[points - 1 :: points, 2] = 1
    return rows.astype(np.int16)


def write_drawings(path: Path, drawings: dict[str, list[np.ndarray]]) -> Path:
    """A packed quickdraw.npz holding exactly the given stroke-3 drawings per class."""
    arrays = {}
    for c, parts in drawings.items():
        arrays[f"{c}__data"] = np.concatenate(parts).astype(np.int16)
        arrays[f"{c}__offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    np.savez(path, **arrays)
    return path
