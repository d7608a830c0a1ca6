"""The padded stroke-5 batch both models read: the layout is the models' contract, so it lives with them.

`plotter.training.data` builds these from its datasets; the models build one to encode a user's sketch.
Layout (T = longest sketch in the batch, in points):
    y[b, :n]    real points as stroke-5 (dx, dy, p1, p2, p3=0)
    y[b, n]     end-of-sketch row (0, 0, 0, 0, 1)       <- comes *after* the last point
    y[b, n+1:]  padding rows (0, 0, 0, 0, 1)
    x           = [start token (0, 0, 1, 0, 0), y[:, :-1]] (teacher forcing input)
    mask[b, t]  = 1 for t <= n (points and the end row), 0 for padding; an optional 4th stroke-3 column
                  (augment.insert_scribble, insert_repeat) zeroes the mask on rows that are inputs only
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass
class Batch:
    """One padded batch; see the module docstring for the row layout."""

    x: torch.Tensor  # (B, T+1, 5) decoder input, starts with the start token
    y: torch.Tensor  # (B, T+1, 5) targets: points, end row, padding
    mask: torch.Tensor  # (B, T+1) 1.0 on points and the end row
    lengths: torch.Tensor  # (B,) number of real points n per sketch
    class_ids: torch.Tensor | None = None  # (B,) int64

    def to(self, device: torch.device | str) -> Batch:
        cid = None if self.class_ids is None else self.class_ids.to(device)
        return Batch(self.x.to(device), self.y.to(device), self.mask.to(device), self.lengths.to(device), cid)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def make_batch(
    sketches: Sequence[np.ndarray], class_ids: Sequence[int] | None = None, pad_to: int | None = None
) -> Batch:
    """Stroke-3 (normalized) -> padded stroke-5 tensors. `pad_to`: fixed N_max (paper-style evaluation)."""
    lengths = np.array([len(s) for s in sketches])
    t = int(lengths.max()) if pad_to is None else max(int(pad_to), int(lengths.max()))
    b = len(sketches)
    y = np.zeros((b, t + 1, 5), dtype=np.float32)
    y[:, :, 4] = 1.0
    mask = np.zeros((b, t + 1), dtype=np.float32)
    for i, s in enumerate(sketches):
        n = len(s)
        y[i, :n, :2] = s[:, :2]
        y[i, :n, 2] = 1.0 - s[:, 2]
        y[i, :n, 3] = s[:, 2]
        y[i, :n, 4] = 0.0
        mask[i, : n + 1] = 1.0
        if s.shape[1] > 3:  # rows flagged 0 are context, never targets
            mask[i, :n] = s[:, 3]
    x = np.concatenate([np.broadcast_to(np.array(START_TOKEN, np.float32), (b, 1, 5)), y[:, :-1]], axis=1)
    cid = None if class_ids is None else torch.as_tensor(np.asarray(class_ids), dtype=torch.long)
    return Batch(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(y),
        torch.from_numpy(mask),
        torch.from_numpy(lengths.astype(np.int64)),
        cid,
    )
