"""Sampling throughput of the multi-class transformer at batch 64: today's sampler vs the knot cure, one run.

Usage:

    python bench/bench_sampling_multiclass.py [CHECKPOINT] [--classes 8] [--repeats 2]

For `--classes` classes spread over the checkpoint's list, draws 64 sketches per class in one batch
(seed = class position) at the file's temperature, with (a) today's sampler: the pen choice at the offsets'
temperature, no knot cap; (b) the cure: pen temperature 1.0 and a cap of 6 tiny steps in a row (or what
the file stores). Reports CPU seconds (this process, best of `--repeats`), rows sampled, sketches/s,
ms per row-step of the batch and the share that ended by themselves. Sketches that never end run to the
block limit (250 rows), so they are most of today's cost; the per-row cost is the same for both.
Writes bench/results/sampling_multiclass.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from plotter.models.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]


def run(model: torch.nn.Module, names: list[str], repeats: int) -> dict:
    best, sk = float("inf"), []
    for _ in range(repeats):
        c0 = time.process_time()
        sk = [s for i, name in enumerate(names) for s in model.generate(64, class_name=name, seed=i)]
        best = min(best, time.process_time() - c0)
    rows = sum(s.meta["ended"] + s.n_points for s in sk)
    steps = sum(max(s.n_points for s in sk[i * 64 : (i + 1) * 64]) for i in range(len(names)))
    return {
        "cpu_s": best,
        "rows": rows,
        "per_s": len(sk) / best,
        "ended": float(np.mean([s.meta["ended"] for s in sk])),
        "ms_step": 1000 * best / steps,
        "median_pts": float(np.median([s.n_points for s in sk])),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", default=str(REPO / "checkpoints" / "transformer-multiclass.pt"))
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sampling_multiclass.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.checkpoint)
    names = model.classes[:: max(1, len(model.classes) // args.classes)][: args.classes]
    stored = (model.pen_temperature, model.knot_cap)
    cure = stored if stored[0] is not None else (1.0, 6)
    res = {}
    for label, (pen, cap) in (
        ("today: pen at the offsets' τ, no cap", (None, 0)),
        (f"cure: pen τ {cure[0]:g}, knot cap {cure[1]}", cure),
    ):
        model.pen_temperature, model.knot_cap = pen, cap
        res[label] = run(model, names, args.repeats)
        r = res[label]
        print(
            f"{label:40s} {r['cpu_s']:6.1f} CPU s {r['per_s']:6.1f} sketches/s {r['rows']:7d} rows "
            f"{r['ms_step']:5.2f} ms/step ended {100 * r['ended']:.1f}%",
            flush=True,
        )
    (a, ra), (b, rb) = res.items()
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"1 thread, load average {os.getloadavg()[0]:.1f}"
    )
    lines = [
        "# Multi-class transformer sampling at batch 64: today's sampler vs the knot cure (same run)",
        "",
        f"Machine: {machine}. Checkpoint: `{Path(args.checkpoint).name}` at its τ "
        f"{model.default_temperature:g}; {len(names)} classes x 64 sketches (one batch each). Command: "
        f"`python bench/bench_sampling_multiclass.py {Path(args.checkpoint).name} --classes {args.classes} "
        f"--repeats {args.repeats}`.",
        "",
        "| sampler | CPU s | sketches/s | rows sampled | ms per batch step | median points | ended |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in res.items():
        lines.append(
            f"| {label} | {r['cpu_s']:.1f} | {r['per_s']:.1f} | {r['rows']} | {r['ms_step']:.2f} | "
            f"{r['median_pts']:.0f} | {100 * r['ended']:.1f} % |"
        )
    lines += [
        "",
        f"Speed-up in sketches/s: **{rb['per_s'] / ra['per_s']:.2f}x** (per batch step: "
        f"{ra['ms_step'] / rb['ms_step']:.2f}x: the gain is fewer rows, not cheaper rows).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
