"""Why low-temperature transformer samples do not end: the figures in checkpoints/README.md (issue 5).

    python scripts/diagnose_runaway.py [--data ../shared/data/quickdraw/cat.npz]

1. Teacher-forced on 200 real test cats: how often the model's next step is shorter than 5 px at
   tau 1 / 0.6 / 0.4 (one draw per position, 20 repeats), beside the real share; mean pen-lift probability;
   real training cats' lengths.
2. Sample lengths (points) and the share that ends, for both cat checkpoints at tau 0.4 and 1
   (400 samples, seed 11).
3. The transformer with its block stretched from 164 to 251 rows, the new positions zero / random / a copy of
   the last trained one (no training): does a sample that reached the old limit end later?
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import numpy as np
import torch

from plotter.models.checkpoint import load_model
from plotter.models.transformer import SketchTransformer
from plotter.training.data import StrokeDataset, load_splits, make_batch

TINY_PX = 5.0


def teacher_forced(model: SketchTransformer, data_path: str) -> None:
    data = load_splits(data_path, ["cat"], seed=0)
    sketches = StrokeDataset(data.test, model.scale, data.test_ids).sketches[:200]
    batch = make_batch(sketches)
    with torch.no_grad():
        p = model.mdn_params(batch.x)
    points = (batch.y[..., 2] > 0.5) & (batch.mask > 0)  # targets that are pen-down points
    tiny = TINY_PX / model.scale
    real = (batch.y[..., :2].norm(dim=-1) < tiny)[points].float().mean().item()
    real_len = np.percentile([len(s) for s in data.train], [50, 90, 99]).round(1)
    print(f"real training cats: points p50/p90/p99 {real_len}")
    gen = torch.Generator().manual_seed(0)
    for tau in (1.0, 0.6, 0.4):
        pi = torch.softmax(p.logit_pi / tau, -1)[points]  # (N, M)
        mu, sigma = p.mu[points], torch.exp(p.log_sigma[points]) * math.sqrt(tau)
        shares = []
        for _ in range(20):
            k = torch.multinomial(pi, 1, generator=gen).squeeze(-1)
            rows = torch.arange(len(k))
            xy = mu[rows, k] + sigma[rows, k] * torch.randn(len(k), 2, generator=gen)
            shares.append((xy.norm(dim=-1) < tiny).float().mean().item())
        lift = torch.softmax(p.pen_logits / tau, -1)[points][:, 1].mean().item()
        share = np.mean(shares)
        print(f"tau {tau}: P(step < {TINY_PX:g} px) {share:.3f} (real {real:.3f}); mean p(lift) {lift:.3f}")


def lengths(path: str) -> None:
    model = load_model(path).eval()
    for tau in (0.4, 1.0):
        out = model.generate(400, temperature=tau, seed=11)
        n = np.array([s.n_points for s in out])
        ended = np.mean([s.meta["ended"] for s in out])
        pct = np.percentile(n, [50, 90, 99]).round(1)
        print(f"{path} tau {tau}: ended {ended:.3f}, points p50/p90/p99 {pct}")


def stretched(model: SketchTransformer) -> None:
    old = model.config.block_size
    for mode in ("zero", "random", "last"):
        m = SketchTransformer(replace(model.config, block_size=251), scale=model.scale, classes=model.classes)
        state = model.state_dict()
        wpe = torch.zeros(251, model.config.n_embd)
        wpe[:old] = state["wpe.weight"]
        if mode == "random":
            gen = torch.Generator().manual_seed(0)
            wpe[old:] = torch.randn(251 - old, model.config.n_embd, generator=gen) * 0.02
        elif mode == "last":
            wpe[old:] = state["wpe.weight"][old - 1]
        state["wpe.weight"] = wpe
        m.load_state_dict(state)
        out = m.eval().generate(400, temperature=0.4, seed=11)
        ended = np.mean([s.meta["ended"] for s in out])
        print(f"block {old} -> 251, new positions {mode}: ended {ended:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/quickdraw/cat.npz")
    ap.add_argument("--transformer", default="checkpoints/transformer-cat.pt")
    ap.add_argument("--sketch-rnn", default="checkpoints/sketch_rnn-cat.pt")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.transformer).eval()
    teacher_forced(model, args.data)
    lengths(args.sketch_rnn)
    lengths(args.transformer)
    stretched(model)


if __name__ == "__main__":
    main()
