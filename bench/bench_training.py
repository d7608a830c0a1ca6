"""Training throughput of the Sketch Transformer on this CPU: tokens/s and achieved FLOP/s vs a plain matmul.

Usage:

    python bench/bench_training.py [--repeats 3] [--steps 3] [--classes 24]

Every row trains on the same real multiclass batches (Quick, Draw! dataset, Google, CC BY 4.0; from
`../shared/data/quickdraw/quickdraw.npz`, length-bucketed as `plotter train` builds them; synthetic strokes
of the same lengths if the data is absent) and is timed in CPU seconds of this thread, best of `--repeats`
(stable on a CPU shared with other jobs, where wall time is not). In the same run a 4096x512x512 matmul is
timed in fp32 and bf16: "of matmul" is the row's achieved FLOP/s over the matmul of the dtype it computes in.

Rows: today's recipe (`plotter train transformer` as the shipped multiclass model was trained: width 128,
4 blocks, batch 64, per-tensor AdamW loop, torch's default threads) beside the new defaults (1 thread, fused
AdamW), the model the long multiclass run trains (6 blocks, pen-position features, batch 128), and a wider
model with and without bf16 autocast (`--bf16`). FLOPs per token: 6 x matrix parameters + 12 x layers x
width x attended rows (nanoGPT's estimate, forward + backward). Writes bench/results/training.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from plotter.models.transformer import SketchTransformer, TransformerConfig
from plotter.training.data import Batch, make_batch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "quickdraw" / "quickdraw.npz"


@dataclass
class Recipe:
    name: str
    embd: int = 128
    layers: int = 4
    heads: int = 4
    batch: int = 64
    xy_freqs: int = 0
    threads: int = 1
    fused: bool = True
    bf16: bool = False


RECIPES = [
    Recipe("today: w128 L4 b64, per-tensor AdamW, 2 threads", threads=2, fused=False),
    Recipe("today's model on 1 thread, per-tensor AdamW", fused=False),
    Recipe("w128 L4 b64, 1 thread, fused AdamW"),
    Recipe("w128 L4 b64, bf16 autocast", bf16=True),
    Recipe("long run: w128 L6 xy6 b128, fp32", layers=6, xy_freqs=6, batch=128),
    Recipe("w256 L4 b64, fp32", embd=256),
    Recipe("w256 L4 b64, bf16 autocast", embd=256, bf16=True),
    Recipe("w384 L4 H6 b64, bf16 autocast", embd=384, heads=6, bf16=True),
]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def batches(batch: int, n_classes: int, n: int, seed: int = 0) -> tuple[list[Batch], int, str]:
    """`n` training batches of `batch` sketches as the trainer builds them (real data when present)."""
    rng = np.random.default_rng(seed)
    if DATA.is_file():
        from plotter.training.data import expand_classes, load_splits

        names = expand_classes(DATA, ["all"])[:: max(1, 345 // n_classes)][:n_classes]
        data = load_splits(DATA, names, limit=400)
        sk, ids, src = data.train, data.train_ids, f"{n_classes} classes of quickdraw.npz"
    else:
        lens = rng.integers(20, 140, 4000)
        sk = [np.column_stack([rng.normal(0, 30, (m, 2)), rng.random(m) < 0.1]) for m in lens]
        ids, src = list(rng.integers(0, n_classes, len(sk))), "synthetic strokes"
    scale = float(np.concatenate([s[:, :2].ravel() for s in sk]).std())
    order = np.argsort([len(s) for s in sk])
    out = []
    for _ in range(n):  # a length bucket at random, as BucketBatcher's shuffled batch order gives
        start = int(rng.integers(0, len(order) - batch))
        idx = order[start : start + batch]
        s3 = [np.column_stack([sk[i][:, :2] / scale, sk[i][:, 2]]).astype(np.float32) for i in idx]
        out.append(make_batch(s3, [ids[i] for i in idx]))
    return out, n_classes, src


def flops_per_token(model: SketchTransformer, rows: float) -> float:
    mats = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith(("wpe", "wce"))
    )
    cfg = model.config
    return 6.0 * mats + 12.0 * cfg.n_layer * cfg.n_embd * rows


def time_recipe(r: Recipe, data: list[Batch], n_classes: int, repeats: int) -> dict:
    torch.set_num_threads(r.threads)
    torch.manual_seed(0)
    cfg = TransformerConfig(
        block_size=251,
        n_layer=r.layers,
        n_head=r.heads,
        n_embd=r.embd,
        dropout=0.0,
        n_classes=n_classes,
        xy_freqs=r.xy_freqs,
    )
    model = SketchTransformer(cfg).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(
        groups, lr=1e-4, betas=(0.9, 0.95), fused=r.fused or None, foreach=False if not r.fused else None
    )

    def step(b: Batch) -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=r.bf16):
            loss = model(b)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step(data[0])  # warm-up
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        for b in data:
            step(b)
        best_cpu, best_wall = (
            min(best_cpu, time.process_time() - c0),
            min(best_wall, time.perf_counter() - t0),
        )
    tokens = sum(b.x.shape[0] * b.x.shape[1] for b in data)
    rows = float(np.mean([b.x.shape[1] for b in data]))
    # CPU seconds over threads: with 2 threads on 2 busy cores, CPU time counts both; wall is what a run sees
    secs = best_wall if r.threads > 1 else best_cpu
    fl = flops_per_token(model, rows) * tokens / secs
    return {
        "tok_s": tokens / secs,
        "gflops": fl / 1e9,
        "wall_tok_s": tokens / best_wall,
        "rows": rows,
        "params": sum(p.numel() for p in model.parameters()),
    }


def matmul_gflops(dtype: torch.dtype, repeats: int) -> float:
    torch.set_num_threads(1)
    a, w = torch.randn(4096, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
    a @ w
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(10):
            a @ w
        best = min(best, time.process_time() - c0)
    return 2 * 4096 * 512 * 512 * 10 / best / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed repeat")
    ap.add_argument("--classes", type=int, default=24)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "training.md")
    args = ap.parse_args(argv)
    machine = (
        f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
        f"{torch.__version__}, load average at start {os.getloadavg()[0]:.1f}"
    )
    print(machine, flush=True)
    mm = {
        "fp32": matmul_gflops(torch.float32, args.repeats),
        "bf16": matmul_gflops(torch.bfloat16, args.repeats),
    }
    print(
        f"matmul 4096x512x512, 1 thread: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s",
        flush=True,
    )
    data_cache: dict[int, tuple] = {}
    res = []
    for r in RECIPES:
        if r.batch not in data_cache:
            data_cache[r.batch] = batches(r.batch, args.classes, args.steps)
        data, n_classes, src = data_cache[r.batch]
        out = time_recipe(r, data, n_classes, args.repeats)
        out["of_mm"] = out["gflops"] / mm["bf16" if r.bf16 else "fp32"]
        res.append((r, out))
        print(
            f"{r.name:48s} {out['tok_s']:8.0f} tok/s  {out['gflops']:6.1f} GFLOP/s  "
            f"{100 * out['of_mm']:5.1f}% of matmul  ({out['params'] / 1e6:.2f}M params)",
            flush=True,
        )
    write_report(args, machine, mm, res, src)
    return 0


def write_report(args: argparse.Namespace, machine: str, mm: dict, res: list, src: str) -> None:
    base = res[0][1]["tok_s"]
    one = res[1][1]["tok_s"]
    lines = [
        "# Training throughput: Sketch Transformer, tokens/s and FLOP/s vs a matmul in the same run",
        "",
        f"Machine: {machine}. Data: {src}. Command: `python bench/bench_training.py --repeats {args.repeats} "
        f"--steps {args.steps} --classes {args.classes}`; best of {args.repeats}, CPU seconds of this "
        "process (wall seconds for the 2-thread row).",
        "",
        f"Same-run matmul 4096x512x512 on 1 thread: **fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} "
        "GFLOP/s** (AMX).",
        "",
        "| recipe | params | rows/batch | tokens/s | vs today | vs today on 1 thread | GFLOP/s "
        "| of matmul (its dtype) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, o in res:
        lines.append(
            f"| {r.name} | {o['params'] / 1e6:.2f} M | {o['rows']:.0f} | {o['tok_s']:.0f} | "
            f"{o['tok_s'] / base:.2f}x | {o['tok_s'] / one:.2f}x | {o['gflops']:.1f} | "
            f"{100 * o['of_mm']:.0f} % |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
