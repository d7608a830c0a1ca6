"""Training-only augmentation on normalized stroke-3, as in sketch-rnn (scale, point dropping) plus a flip.

Why: 6k cats are few for a VAE; random per-axis scale and merging of short same-pen segments make the model
see new but plausible drawings every epoch. A horizontal flip keeps a cat a cat (not every class would agree,
so its probability is a knob).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augment:
    scale: float = 0.15  # per-axis scale factor drawn from 1 +- scale
    drop_prob: float = (
        0.10  # chance to merge a point into the next same-pen offset (sketch-rnn augment_strokes)
    )
    flip_prob: float = 0.0  # chance of a horizontal mirror

    def __call__(self, s3: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = drop_points(s3, self.drop_prob, rng) if self.drop_prob > 0 else s3.copy()
        if self.scale > 0:
            out[:, 0] *= 1.0 + self.scale * (2.0 * rng.random() - 1.0)
            out[:, 1] *= 1.0 + self.scale * (2.0 * rng.random() - 1.0)
        if self.flip_prob > 0 and rng.random() < self.flip_prob:
            out[:, 0] *= -1.0
        return out


def drop_points(s3: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Drop pen-down vertices with probability `prob` (sketch-rnn's augment_strokes).

    A point is merged into the previous one only inside a stroke (both pens down, 3+ points in), and offsets
    are summed, so every later point keeps its absolute position; stroke starts and ends always survive.
    """
    result: list[list[float]] = []
    prev_pen = 1.0
    count = 0
    for row in s3:
        dx, dy, pen = float(row[0]), float(row[1]), float(row[2])
        count = 0 if (pen > 0.5 or prev_pen > 0.5) else count + 1
        if pen < 0.5 and prev_pen < 0.5 and count > 2 and result and rng.random() < prob:
            result[-1][0] += dx
            result[-1][1] += dy
        else:
            result.append([dx, dy, pen])
            prev_pen = pen
    return np.asarray(result, dtype=np.float32).reshape(-1, 3)
