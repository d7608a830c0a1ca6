"""Pen-up optimizer benchmark: ours vs vpype `linesort` on pages of real Quick, Draw! sketches.

Usage (vpype is installed for this benchmark only, it is not a dependency of plotter):

    pip install vpype
    python bench/bench_optimizer.py [--data ../shared/data/quickdraw/quickdraw.npz] [--seed 0] [--budget 1.0]

Pages of 9, 25 and 100 sketches (mixed classes, fixed seed) are laid out on an A4 grid in mm, then ordered by
each method in the same run. Pen-up travel counts the move from the page origin (0, 0) to the first stroke
and every move between strokes (no return leg), for every method alike. Writes bench/results/optimizer.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from plotter.plan.merge import merge_strokes
from plotter.plan.order import mst_lower_bound, order_strokes
from plotter.sketch import Sketch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "quickdraw" / "quickdraw.npz"
PX_PER_MM = 96.0 / 25.4  # vpype works in CSS pixels; its default linemerge tolerance is 0.05 mm
PAGE = (210.0, 297.0)  # A4 portrait, mm
MARGIN = 10.0
GAP = 0.1  # fraction of a cell left empty around each sketch


def load_sketches(path: Path, n: int, seed: int) -> list[Sketch]:
    """n drawings from random classes (with a random drawing of each), as px sketches."""
    data = np.load(path)
    classes = sorted(k[: -len("__offsets")] for k in data.files if k.endswith("__offsets"))
    rng = np.random.default_rng(seed)
    out = []
    for cls in rng.choice(classes, size=n, replace=True):
        off = data[f"{cls}__offsets"]
        i = int(rng.integers(len(off) - 1))
        rows = data[f"{cls}__data"][off[i] : off[i + 1]]
        out.append(Sketch.from_stroke3(rows.astype(np.float64), unit="px", meta={"class": str(cls)}))
    return out


def grid_page(sketches: list[Sketch]) -> Sketch:
    """Scale each sketch into its cell of a near-square grid on the page (aspect kept, centred), in mm."""
    n = len(sketches)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    cw, ch = (PAGE[0] - 2 * MARGIN) / cols, (PAGE[1] - 2 * MARGIN) / rows
    strokes = []
    for k, sk in enumerate(sketches):
        x0, y0, x1, y1 = sk.bounds()
        s = (1 - GAP) * min(cw / max(x1 - x0, 1e-9), ch / max(y1 - y0, 1e-9))
        cx = MARGIN + (k % cols + 0.5) * cw - s * (x0 + x1) / 2
        cy = MARGIN + (k // cols + 0.5) * ch - s * (y0 + y1) / 2
        strokes += [st * s + (cx, cy) for st in sk.strokes]
    return Sketch(strokes, unit="mm")


def pen_up(strokes: list[np.ndarray]) -> float:
    return Sketch(strokes, unit="mm").pen_up_length(start=(0.0, 0.0))


def run_vpype(page: Sketch, pipeline: str) -> tuple[list[np.ndarray], float]:
    import vpype as vp
    import vpype_cli

    lc = vp.LineCollection([(s[:, 0] + 1j * s[:, 1]) * PX_PER_MM for s in page.strokes])
    doc = vp.Document()
    doc.add(lc, 1)
    t0 = time.perf_counter()
    out = vpype_cli.execute(pipeline, document=doc)
    dt = time.perf_counter() - t0
    lines = [np.column_stack([ln.real, ln.imag]) / PX_PER_MM for ln in out.layers[1]]
    return lines, dt


def run_ours(page: Sketch, merge: bool, budget: float) -> tuple[list[np.ndarray], float, float]:
    t0 = time.perf_counter()
    sk = merge_strokes(page, 0.05) if merge else page
    out, stats = order_strokes(sk, start=(0.0, 0.0), time_budget_s=budget)
    return out.strokes, time.perf_counter() - t0, stats.mst_lower_bound


def bench_page(n: int, path: Path, seed: int, budget: float) -> list[dict]:
    page = grid_page(load_sketches(path, n, seed))
    S = np.array([s[0] for s in page.strokes])
    E = np.array([s[-1] for s in page.strokes])
    mst = mst_lower_bound(S, E, (0.0, 0.0))
    rows = [dict(page=n, method="input order", strokes=len(page), pen_up=pen_up(page.strokes), seconds=0.0)]
    for label, pipe in [
        ("vpype linesort", "linesort"),
        ("vpype linesort --two-opt", "linesort --two-opt"),
        ("vpype linemerge linesort --two-opt", "linemerge linesort --two-opt"),
    ]:
        lines, dt = run_vpype(page, pipe)
        rows.append(dict(page=n, method=label, strokes=len(lines), pen_up=pen_up(lines), seconds=dt))
    for label, merge in [("ours: order", False), ("ours: merge + order", True)]:
        lines, dt, bound = run_ours(page, merge, budget)
        rows.append(
            dict(page=n, method=label, strokes=len(lines), pen_up=pen_up(lines), seconds=dt, mst=bound)
        )
    rows.append(dict(page=n, method="MST lower bound", strokes=len(page), pen_up=mst, seconds=float("nan")))
    return rows


def table(rows: list[dict]) -> list[str]:
    out = [
        "| page | method | strokes | pen-up (mm) | seconds | vs vpype two-opt | vs MST bound |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sorted({r["page"] for r in rows}):
        page = [r for r in rows if r["page"] == n]
        by = {r["method"]: r for r in page}
        base = {
            "ours: order": "vpype linesort --two-opt",
            "ours: merge + order": "vpype linemerge linesort --two-opt",
        }
        for r in page:
            vs_v = vs_m = ""
            if r["method"] in base:
                vs_v = f"{r['pen_up'] / by[base[r['method']]]['pen_up']:.3f}"
                vs_m = f"{r['pen_up'] / r['mst']:.3f}"
            secs = "" if np.isnan(r["seconds"]) else f"{r['seconds']:.3f}"
            out.append(
                f"| {n} | {r['method']} | {r['strokes']} | {r['pen_up']:.1f} | {secs} | {vs_v} | {vs_m} |"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=1.0, help="our time budget per page, seconds")
    ap.add_argument("--pages", default="9,25,100")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "optimizer.md")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 1
    try:
        import vpype
    except ImportError:
        print("vpype is not installed: pip install vpype", file=sys.stderr)
        return 1
    rows = []
    for n in (int(p) for p in args.pages.split(",")):
        print(f"page of {n} sketches ...", file=sys.stderr)
        rows += bench_page(n, args.data, args.seed, args.budget)
    machine = (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, vpype {vpype.__version__}"
    )
    lines = table(rows)
    print("\n".join(lines))
    print(machine)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cmd = f"python bench/bench_optimizer.py --seed {args.seed} --budget {args.budget} --pages {args.pages}"
    head = [
        "# Pen-up optimizer benchmark",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine}  ",
        "Pages: A4, 10 mm margin, a grid of real Quick, Draw! sketches",
        "(Quick, Draw! dataset, Google, CC BY 4.0), mixed classes, fixed seed.",
        "Pen-up = travel from (0, 0) to the first stroke plus all moves between strokes.",
        "Ratios: `ours: order` vs `vpype linesort --two-opt`; `ours: merge + order` vs",
        "`vpype linemerge linesort --two-opt`; each against the MST lower bound of the strokes it ordered.",
        "",
    ]
    args.out.write_text("\n".join(head + lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
