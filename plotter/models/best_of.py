"""Best of K: sample K candidates per wanted sketch, throw out knots and cut-off ones, keep the best rated.

Why: a sampled sketch can fail in ways a plotter makes worse than a screen: a knot (a long run of
tiny pen-down steps: the pen drills one spot) or a sketch the length limit cut off. Both are cheap to see in
the strokes; whether the rest looks like the asked class is what the yardstick classifier says. Everything
here is pure (numpy over `Sketch`es, a `score` callable for the rating), so the job layer decides where the
classifier and the model come from, and tests can rate with anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from plotter.sketch import Sketch

TINY_PX = 5.0  # a pen-down step shorter than this (data px, 0-255 scale) is "tiny"; real cats: 4 % of steps
MAX_TINY_RUN = 8  # real drawings have runs of at most ~5 tiny steps; sampled knots run 10-60

Scorer = Callable[[Sequence[Sketch]], np.ndarray]  # sketches -> probability of the asked class, (K,)


@dataclass(frozen=True)
class Verdict:
    """Why a candidate may or may not be delivered."""

    ended: bool  # the model emitted its end row (not cut by the length limit)
    longest_tiny_run: int  # most consecutive tiny pen-down steps
    empty: bool

    @property
    def clean(self) -> bool:
        return self.ended and not self.empty and self.longest_tiny_run < MAX_TINY_RUN


def longest_tiny_run(sketch: Sketch, tiny: float = TINY_PX) -> int:
    """The most consecutive pen-down steps shorter than `tiny` (in the sketch's own units) in any stroke."""
    best = 0
    for s in sketch.strokes:
        if len(s) < 2:
            continue
        short = np.hypot(*np.diff(np.asarray(s, dtype=np.float64), axis=0).T) < tiny
        run = 0
        for v in short:  # strokes are short (tens of points): a plain scan is clearer than a trick
            run = run + 1 if v else 0
            best = max(best, run)
    return best


def verdict(sketch: Sketch, tiny: float = TINY_PX) -> Verdict:
    ended = bool(sketch.meta.get("ended", True))
    return Verdict(ended=ended, longest_tiny_run=longest_tiny_run(sketch, tiny), empty=sketch.is_empty())


def pick(candidates: Sequence[Sketch], scores: np.ndarray) -> int | None:
    """Index of the clean candidate with the highest score; None when every candidate is knotted, cut off or
    empty (the caller samples again or reports it: a bad sketch is never the pick)."""
    best, best_score = None, -np.inf
    for i, (s, sc) in enumerate(zip(candidates, np.asarray(scores, dtype=np.float64))):
        if verdict(s).clean and sc > best_score:
            best, best_score = i, float(sc)
    return best


def best_of(
    draw: Callable[[int, int], list[Sketch]], score: Scorer, n: int, k: int, seed: int, rounds: int = 3
) -> list[Sketch]:
    """`n` sketches, each the best clean one of `k` candidates.

    `draw(count, seed)` samples `count` sketches reproducibly from a seed; round r uses seed + r (a wanted
    sketch with no clean candidate gets `k` new ones, up to `rounds` rounds). Still none clean after that:
    the best-rated candidate that ended, else the best rated, marked `meta["best_of"]["clean"] = False`.
    Each kept sketch's meta says how it was chosen (k, its score, the round).
    """
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 and k >= 1, got n={n}, k={k}")
    chosen: list[Sketch | None] = [None] * n
    fallback: list[tuple[float, Sketch] | None] = [None] * n
    for r in range(max(1, rounds)):
        todo = [i for i in range(n) if chosen[i] is None]
        if not todo:
            break
        cands = draw(len(todo) * k, seed + r)
        scores = np.asarray(score(cands), dtype=np.float64)
        for j, i in enumerate(todo):
            group, sc = cands[j * k : (j + 1) * k], scores[j * k : (j + 1) * k]
            idx = pick(group, sc)
            if idx is not None:
                chosen[i] = _mark(group[idx], k, float(sc[idx]), r, True)
                continue
            order = sorted(range(len(group)), key=lambda m: (bool(group[m].meta.get("ended")), sc[m]))
            top = order[-1]
            if fallback[i] is None or (group[top].meta.get("ended"), sc[top]) > (
                fallback[i][1].meta.get("ended"), fallback[i][0]
            ):
                fallback[i] = (float(sc[top]), group[top])
    out = []
    for i in range(n):
        if chosen[i] is None:
            sc, s = fallback[i]  # type: ignore[misc]
            chosen[i] = _mark(s, k, sc, rounds - 1, False)
        out.append(chosen[i])
    return out  # type: ignore[return-value]


def _mark(s: Sketch, k: int, score: float, rnd: int, clean: bool) -> Sketch:
    meta = {**s.meta, "best_of": {"k": k, "score": round(score, 4), "round": rnd, "clean": clean}}
    return Sketch([np.asarray(p) for p in s.strokes], unit=s.unit, meta=meta)


class BestOfSampler:
    """A model whose `generate` delivers what `draw --best-of K` delivers: to evaluate it like a model."""

    def __init__(self, model: object, scorer_for: Callable[[str | None], Scorer], k: int) -> None:
        self.model, self.scorer_for, self.k = model, scorer_for, int(k)

    def generate(self, n: int, temperature: float | None = None, class_name: str | None = None,
                 seed: int | None = None, **kw: object) -> list[Sketch]:
        def draw(count: int, s: int) -> list[Sketch]:
            return self.model.generate(count, temperature=temperature, class_name=class_name, seed=s, **kw)

        return best_of(draw, self.scorer_for(class_name), n, self.k, 0 if seed is None else seed)

    def __getattr__(self, name: str) -> object:  # kind, classes, scale, default_temperature, ...
        return getattr(self.model, name)
