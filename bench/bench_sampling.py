"""Sampling speed of both models: ms per sketch and sketches/s at batch 1 and 64, on this machine, in one run.

Usage:

    python bench/bench_sampling.py [--threads 1] [--repeats 3] [--n1 8] [--temperature 0.4]

Rows: Sketch-RNN, the Sketch Transformer with its key/value cache, and the same transformer without it (full
forward pass over the whole prefix for every new row). The shipped checkpoints in `checkpoints/` are used
where present, else fresh default-config models. By default every model's end-of-sketch logit is pushed
down so every sketch runs to `--fixed-len` points: equal work per sketch for every model (an untrained model
would stop after 1-3 rows; trained ones draw different lengths). `--natural` lets shipped checkpoints end
by themselves instead. The cached and uncached transformer draw the same
sketches from the same seed (checked here), so they do identical work apart from the cache; that ratio is the
baseline comparison. Times are CPU seconds of this process (with 1 thread they equal wall time on an idle
machine, and stay meaningful on a CPU shared with training jobs; wall time is printed beside them), best of
`--repeats` runs. Writes bench/results/sampling.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from plotter.models.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]
CKPT = {
    "sketch-rnn": REPO / "checkpoints" / "sketch_rnn-cat.pt",
    "transformer": REPO / "checkpoints" / "transformer-cat.pt",
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_or_fresh(kind: str) -> tuple[torch.nn.Module, str]:
    """The shipped checkpoint, or a fresh default-config model."""
    if CKPT[kind].is_file():
        return load_model(CKPT[kind]), f"checkpoint {CKPT[kind].name}"
    torch.manual_seed(0)
    if kind == "sketch-rnn":
        from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig

        model = SketchRNN(SketchRNNConfig())
    else:
        from plotter.models.transformer import SketchTransformer, TransformerConfig

        model = SketchTransformer(TransformerConfig())
    return model.eval(), "fresh default config"


def force_length(model: torch.nn.Module) -> None:
    """Push the end-of-sketch logit down so every sketch runs to max_len: equal work for every model."""
    with torch.no_grad():
        model.head.proj.bias[-1] = -30.0


def best_time(fn: Callable[[], list], repeats: int) -> tuple[float, float, list]:
    """Best CPU seconds (this process, what the work costs) and best wall seconds over `repeats` runs."""
    cpu, wall, out = float("inf"), float("inf"), []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - t0)
    return cpu, wall, out


def measure(gen: Callable[..., list], batch: int, n_total: int, repeats: int, kw: dict) -> dict:
    """Draw n_total sketches in batches of `batch`; ms per sketch, sketches/s, mean points per sketch."""

    def run() -> list:
        out = []
        for i in range(n_total // batch):
            out += gen(batch, seed=1000 + i, **kw)
        return out

    secs, wall, sketches = best_time(run, repeats)
    ms = 1000.0 * secs / len(sketches)
    pts = float(np.mean([s.n_points for s in sketches]))
    ended = float(np.mean([s.meta.get("ended", False) for s in sketches]))
    wall_ms = 1000.0 * wall / len(sketches)
    return {"ms": ms, "wall_ms": wall_ms, "per_s": 1000.0 / ms, "points": pts, "ended": ended,
            "sketches": sketches}


def same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if len(x.strokes) != len(y.strokes):
            return False
        if not all(np.allclose(p, q, rtol=1e-4, atol=1e-3) for p, q in zip(x.strokes, y.strokes)):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: stable on a shared CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n1", type=int, default=8, help="sketches drawn one at a time per measurement")
    ap.add_argument("--n64", type=int, default=64, help="sketches drawn in batches of 64 per measurement")
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--fixed-len", type=int, default=60, help="points per sketch unless natural (cats ~59)")
    ap.add_argument("--natural", action="store_true",
                    help="with both checkpoints present, let sketches end by themselves (lengths differ)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sampling.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = (
        f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, torch {torch.__version__}, {args.threads} thread(s), "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    print(machine, flush=True)
    (rnn, rnn_src), (tf, tf_src) = load_or_fresh("sketch-rnn"), load_or_fresh("transformer")
    natural = args.natural and all(p.is_file() for p in CKPT.values())
    rnn_len = tf_len = None if natural else args.fixed_len
    if not natural:
        force_length(rnn)
        force_length(tf)
        rnn_src, tf_src = (f"{src}, forced to {args.fixed_len} points" for src in (rnn_src, tf_src))
    rows = [
        ("Sketch-RNN", rnn_src, rnn.generate, {"max_len": rnn_len}),
        ("Transformer, KV cache", tf_src, tf.generate, {"max_len": tf_len, "use_cache": True}),
        ("Transformer, no cache", tf_src, tf.generate, {"max_len": tf_len, "use_cache": False}),
    ]
    results: dict[tuple[str, int], dict] = {}
    for batch, n_total in ((1, args.n1), (64, args.n64)):
        for name, _, gen, kw in rows:
            r = measure(gen, batch, n_total, args.repeats, {"temperature": args.temperature, **kw})
            results[name, batch] = r
            print(f"{name:24s} batch {batch:2d}: {r['ms']:8.2f} CPU ms/sketch ({r['wall_ms']:8.2f} wall) "
                  f"{r['per_s']:8.1f} sketches/s ({r['points']:.1f} points/sketch)", flush=True)
    cached = {b: results["Transformer, KV cache", b] for b in (1, 64)}
    plain = {b: results["Transformer, no cache", b] for b in (1, 64)}
    identical = all(same(cached[b]["sketches"], plain[b]["sketches"]) for b in (1, 64))
    speedup = {b: plain[b]["ms"] / cached[b]["ms"] for b in (1, 64)}
    print(f"KV cache speed-up: {speedup[1]:.1f}x at batch 1, {speedup[64]:.1f}x at batch 64; "
          f"cached and uncached sketches identical: {identical}")
    write_report(args, machine, rows, results, speedup, identical)
    return 0


def write_report(args: argparse.Namespace, machine: str, rows: list, results: dict, speedup: dict,
                 identical: bool) -> None:
    lines = [
        "# Sampling speed: Sketch-RNN vs Sketch Transformer (with and without KV cache)",
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python bench/bench_sampling.py --threads {args.threads} --repeats {args.repeats} "
        f"--n1 {args.n1} --n64 {args.n64}{' --natural' if args.natural else ''} "
        f"--fixed-len {args.fixed_len}`; "
        f"temperature {args.temperature}; best of {args.repeats} runs.",
        "",
        "| model | weights | batch | CPU ms / sketch | wall ms / sketch | sketches / s (CPU) "
        "| points / sketch | ended by itself |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in (1, 64):
        for name, src, _, _ in rows:
            r = results[name, batch]
            lines.append(
                f"| {name} | {src} | {batch} | {r['ms']:.2f} | {r['wall_ms']:.2f} | {r['per_s']:.1f} | "
                f"{r['points']:.1f} | {100 * r['ended']:.0f}% |"
            )
    lines += [
        "",
        f"KV cache speed-up (uncached ms / cached ms, same sketches): **{speedup[1]:.1f}x at batch 1, "
        f"{speedup[64]:.1f}x at batch 64** (target >= 5x at batch 64). "
        "Cached and uncached samplers drew identical sketches from the same seeds: "
        f"{'yes' if identical else 'NO'}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
