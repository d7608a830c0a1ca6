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
    scribble_prob: float = 0.0  # chance of a scribble the model must recover from (insert_scribble)
    repeat_prob: float = 0.0  # chance of a stroke drawn again, to recover from (insert_repeat)
    max_len: int = 250  # an insertion never makes a sketch longer than this (the model's block)

    def __call__(self, s3: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = drop_points(s3, self.drop_prob, rng) if self.drop_prob > 0 else s3.copy()
        if self.scale > 0:
            out[:, 0] *= 1.0 + self.scale * (2.0 * rng.random() - 1.0)
            out[:, 1] *= 1.0 + self.scale * (2.0 * rng.random() - 1.0)
        if self.flip_prob > 0 and rng.random() < self.flip_prob:
            out[:, 0] *= -1.0
        if self.repeat_prob > 0 and rng.random() < self.repeat_prob:
            out = insert_repeat(out, rng, self.max_len)
        if self.scribble_prob > 0 and rng.random() < self.scribble_prob:
            out = insert_scribble(out, rng, self.max_len)
        return out


def _with_mask(s3: np.ndarray) -> np.ndarray:
    """Stroke-3 with a 4th "is a target" column (kept if already there), so insertions can be chained."""
    if s3.shape[1] == 4:
        return s3.copy()
    return np.hstack([s3, np.ones((len(s3), 1), dtype=np.float32)])


def insert_scribble(
    s3: np.ndarray, rng: np.random.Generator, max_len: int, steps: tuple[int, int] = (4, 24)
) -> np.ndarray:
    """Insert a scribble the model must recover from; returns stroke-3 plus a 4th column, 1 where the row is a
    training target and 0 on the inserted rows (context only).

    Why: at low temperature an autoregressive sampler can fall into scribbling tiny steps on one spot, or into
    adding little strokes to a finished cat (a nose drawn over and over), contexts real data never shows, so
    the model has no idea it should lift, move on or end. Here it sees such a scribble and is trained on what
    the drawing really did next; the scribble itself is never a target. Half the time it is a closed run of
    tiny pen-down steps inside a stroke (it sums to zero: every later point keeps its place), half the time an
    extra little stroke after a stroke ends, and the next real move is shortened to land where it did: the
    targets stay exact (scheduled sampling swaps inputs without fixing targets, which is why it failed here).
    """
    n = len(s3)
    k = min(int(rng.integers(steps[0], steps[1] + 1)), max_len - n)
    body = _with_mask(s3)
    extra_stroke = rng.random() < 0.5
    where = np.flatnonzero(s3[:, 2] > 0.5) if extra_stroke else np.flatnonzero(s3[:-1, 2] < 0.5)
    if len(where) == 0 or k < steps[0]:
        return body
    at = int(rng.choice(where)) + 1  # insert before this row
    d = rng.normal(0.0, rng.uniform(0.04, 0.15), size=(k, 2))
    pen = np.zeros(k)
    if extra_stroke:  # move a little way, scribble, lift; the next real move still lands where it did
        d[0] = rng.normal(0.0, 0.5, size=2)
        pen[-1] = 1.0
        if at < n:
            body[at, :2] -= d.sum(axis=0)
    else:
        d -= d.mean(axis=0)  # a closed scribble: the pen ends where it began
    ins = np.column_stack([d, pen, np.zeros(k)]).astype(np.float32)
    return np.concatenate([body[:at], ins, body[at:]])


def insert_repeat(
    s3: np.ndarray, rng: np.random.Generator, max_len: int, copies: tuple[int, int] = (1, 3),
    jitter: float = 0.15,
) -> np.ndarray:
    """Draw one finished stroke again, 1-3 times, a little shifted and reshaped, as rows that are inputs only
    (4th column 0); the next real move is shortened so every real point keeps its place.

    Why: the other runaway of a low-temperature sampler is a whole stroke drawn over and over (an eye circled
    five times), a context real cats rarely show. Trained on what the drawing did after such repeats (move on,
    or end when the repeated stroke was the last), the model learns to leave the loop.
    """
    body = _with_mask(s3)
    n = len(body)
    lifts = np.flatnonzero(body[:, 2] > 0.5)
    starts = np.concatenate([[0], lifts[:-1] + 1]).astype(int)
    drawn = lifts - starts  # pen-down offsets in each stroke
    room = max_len - n
    ok = np.flatnonzero((drawn >= 2) & (drawn + 1 <= room) & (body[lifts, 3] > 0.5))
    if len(ok) == 0:
        return body
    i = int(rng.choice(ok))
    seg = body[starts[i] + 1: lifts[i] + 1, :2]  # (L, 2) the stroke's drawn offsets
    at = int(lifts[i]) + 1  # insert before this row
    rows, moved = [], np.zeros(2, dtype=np.float64)
    for _ in range(int(rng.integers(copies[0], copies[1] + 1))):
        if sum(len(r) for r in rows) + len(seg) + 1 > room:
            break
        d = seg * (1.0 + rng.uniform(-0.15, 0.15)) + rng.normal(0.0, 0.03, size=seg.shape)
        back = -d.sum(axis=0) + rng.normal(0.0, jitter, size=2)  # pen up, back to (near) the stroke's start
        block = np.zeros((len(d) + 1, 4), dtype=np.float32)
        block[0, :2], block[1:, :2], block[-1, 2] = back, d, 1.0
        rows.append(block)
        moved += back + d.sum(axis=0)
    if at < n:
        body[at, :2] -= moved
    return np.concatenate([body[:at], *rows, body[at:]])


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
