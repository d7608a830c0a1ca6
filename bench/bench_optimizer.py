"""Pen-up optimizer benchmark: ours vs vpype `linesort` on pages of real Quick, Draw! sketches.

Usage (vpype is installed for this benchmark only, it is not a dependency of plotter):

    pip install vpype
    python bench/bench_optimizer.py [--data PATH] [--seeds 5] [--budget 1.0] [--pages 9,25,100]

Pages of 9, 25 and 100 sketches (mixed classes, fixed seed) are laid out on an A4 grid in mm, then ordered by
each method in the same run. Pen-up travel counts the move from the page origin (0, 0) to the first stroke
and every move between strokes (no return leg), for every method alike. Writes bench/results/optimizer.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from plotter.plan.merge import merge_strokes
from plotter.plan.order import default_kicks, held_karp_bound, mst_lower_bound, order_strokes
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


def run_vpype(page: Sketch, pipeline: str, repeat: int = 5) -> tuple[list[np.ndarray], float]:
    """vpype's result and its best wall time over `repeat` runs (the machine is shared: min is stable)."""
    import vpype as vp
    import vpype_cli

    best = float("inf")
    for _ in range(repeat):
        lc = vp.LineCollection([(s[:, 0] + 1j * s[:, 1]) * PX_PER_MM for s in page.strokes])
        doc = vp.Document()
        doc.add(lc, 1)
        t0 = time.perf_counter()
        out = vpype_cli.execute(pipeline, document=doc)
        best = min(best, time.perf_counter() - t0)
    lines = [np.column_stack([ln.real, ln.imag]) / PX_PER_MM for ln in out.layers[1]]
    return lines, best


def run_ours(
    page: Sketch, merge: bool, budget: float, kicks: int | None = 0, repeat: int = 5
) -> tuple[int, float, float, float]:
    """(strokes, mean pen-up over `repeat` runs, best wall time, MST bound), merging when asked inside the
    time and the budget. The mean, not the best run: a timed budget that the scheduler cuts short gives a
    worse plan, and that belongs in the result. kicks None: `default_kicks`, as `plan_job` runs it. The
    MST bound is read after the clock stops (it is a report, computed when read)."""
    best, travel = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        sk = merge_strokes(page, 0.05) if merge else page
        left = max(0.0, budget - (time.perf_counter() - t0))  # the budget covers merging too
        k = default_kicks(len(sk)) if kicks is None else kicks
        out, stats = order_strokes(sk, start=(0.0, 0.0), time_budget_s=left, kicks=k)
        best = min(best, time.perf_counter() - t0)
        travel.append(pen_up(out.strokes))
    return len(out), float(np.mean(travel)), best, stats.mst_lower_bound


VPYPE = [
    ("vpype linesort", "linesort"),
    ("vpype linesort --two-opt", "linesort --two-opt"),
    ("vpype linemerge linesort --two-opt", "linemerge linesort --two-opt"),
]
ILS = 10**9  # kicks: "until the budget"
FAST = "ours: order + ILS in 0.9x vpype's time"
PLAN_JOB = "ours: as plan_job runs it (2 kicks/stroke)"
# label, merge first, kicks (None: default_kicks), budget: seconds, or a fraction of vpype's time (str)
OURS = [
    ("ours: order, no kicks", False, 0, 1.0),
    (FAST, False, ILS, "0.9"),
    ("ours: merge + order + ILS in 0.9x vpype's time", True, ILS, "0.9"),
    (PLAN_JOB, False, None, 1.0),
]
BASELINE = {label: "vpype linesort --two-opt" for label, *_ in OURS}
BASELINE["ours: merge + order + ILS in 0.9x vpype's time"] = "vpype linemerge linesort --two-opt"


def bench_page(n: int, path: Path, seed: int, budget: float) -> list[dict]:
    """Every method on one page; ours get their ratios to their vpype baseline and to the lower bounds."""
    page = grid_page(load_sketches(path, n, seed))
    S = np.array([s[0] for s in page.strokes])
    E = np.array([s[-1] for s in page.strokes])
    common = dict(page=n, seed=seed)
    rows = [dict(common, method="input order", strokes=len(page), pen_up=pen_up(page.strokes), seconds=0.0)]
    for label, pipe in VPYPE:
        lines, dt = run_vpype(page, pipe)
        rows.append(dict(common, method=label, strokes=len(lines), pen_up=pen_up(lines), seconds=dt))
    by = {r["method"]: r for r in rows}
    for label, merge, kicks, when in OURS:
        base = by[BASELINE[label]]
        secs = float(when) * base["seconds"] if isinstance(when, str) else min(float(when), budget)
        count, travel, dt, bound = run_ours(page, merge, secs, kicks, repeat=1 if kicks is None else 5)
        rows.append(
            dict(common, method=label, strokes=count, pen_up=travel, seconds=dt, bound=bound,
                 vs_vpype=travel / base["pen_up"], vs_mst=travel / bound, time_vs_vpype=dt / base["seconds"])
        )  # fmt: skip
    mst = mst_lower_bound(S, E, (0.0, 0.0))
    best = min(r["pen_up"] for r in rows if r["strokes"] == len(page))
    hk = held_karp_bound(S, E, (0.0, 0.0), best)
    for r in rows:
        if "bound" in r:  # merged strokes: the MST ratio is to their own bound; HK is for the page's strokes
            r["vs_hk"] = r["pen_up"] / hk if r["strokes"] == len(page) else float("nan")
    for label, value in (("MST lower bound", mst), ("Held-Karp lower bound", hk)):
        rows.append(dict(common, method=label, strokes=len(page), pen_up=value, seconds=float("nan")))
    return rows


RATIOS = ("vs_vpype", "vs_mst", "vs_hk", "time_vs_vpype")


def detail_table(rows: list[dict]) -> list[str]:
    out = [
        "| page | method | strokes | pen-up (mm) | seconds | pen-up vs vpype | vs MST bound "
        "| vs HK bound | time vs vpype |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        secs = "" if np.isnan(r["seconds"]) else f"{r['seconds']:.3f}"
        extra = " | ".join(f"{r[k]:.3f}" if k in r and not np.isnan(r[k]) else "" for k in RATIOS)
        out.append(f"| {r['page']} | {r['method']} | {r['strokes']} | {r['pen_up']:.1f} | {secs} | {extra} |")
    return out


def summary_table(rows: list[dict]) -> list[str]:
    """Mean (worst) ratios over seeds, per page size and method of ours."""
    out = [
        "| page | method | pages | pen-up vs vpype: mean (worst) | vs MST: mean (worst) "
        "| vs Held-Karp: mean (worst) | time vs vpype: mean (worst) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sorted({r["page"] for r in rows}):
        for label, *_ in OURS:
            rs = [r for r in rows if r["page"] == n and r["method"] == label]
            cells = " | ".join(
                f"{np.mean(v):.3f} ({np.max(v):.3f})" if not np.isnan(v).any() else "—"
                for v in (np.array([r[k] for r in rs]) for k in RATIOS)
            )
            out.append(f"| {n} | {label} | {len(rs)} | {cells} |")
    return out


def bounds_table(rows: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """Per page: both bounds, vpype and ours against them, and what Held-Karp proves for *any* ordering.

    Returns the table and the pages where HK rules out 0.92x vpype and 1.25x MST ("n/seed")."""
    out = [
        "| page | seed | strokes | MST (mm) | Held-Karp (mm) | HK ÷ MST | vpype two-opt ÷ HK "
        "| ours (0.9x vpype's time) ÷ HK | ours ÷ MST | ours (plan_job) ÷ HK "
        "| ≤ 0.92× vpype possible? | ≤ 1.25× MST possible? |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    no92, no125 = [], []
    for n, seed in sorted({(r["page"], r["seed"]) for r in rows}):
        by = {r["method"]: r for r in rows if r["page"] == n and r["seed"] == seed}
        hk, mst = by["Held-Karp lower bound"]["pen_up"], by["MST lower bound"]["pen_up"]
        vp, fast, job = (by[k]["pen_up"] for k in ("vpype linesort --two-opt", FAST, PLAN_JOB))
        if 0.92 * vp < hk:
            no92.append(f"{n}/{seed}")
        if hk > 1.25 * mst:
            no125.append(f"{n}/{seed}")
        v92 = "no: 0.92× vpype < HK" if 0.92 * vp < hk else "not excluded"
        v125 = f"no: HK = {hk / mst:.2f}× MST" if hk > 1.25 * mst else "not excluded"
        out.append(
            f"| {n} | {seed} | {by['MST lower bound']['strokes']} | {mst:.1f} | {hk:.1f} | {hk / mst:.3f} "
            f"| {vp / hk:.3f} | {fast / hk:.3f} | {fast / mst:.3f} | {job / hk:.3f} | {v92} | {v125} |"
        )
    return out, no92, no125


def bounds_text(no92: list[str], no125: list[str], pages: int) -> list[str]:
    """Why the MST half of the target cannot be met as written, with the pages that prove it."""
    where = (
        f"On {', '.join(no125)} (page/seed; {len(no125)} of {pages} pages) it is above 1.25× the MST bound, "
        "so *no* ordering reaches 1.25× MST there; on the other pages"
        if no125
        else f"It is below 1.25× the MST bound on all {pages} pages here, but"
    )
    text = (
        "Why ≤ 1.25× the MST bound is not reachable on every page: the MST bound is the cheapest *tree* "
        "joining the start and all strokes (edge = closest pair of ends). A pen path must visit each stroke "
        "once, enter it at one end and leave at the *other*, and cannot branch: where three or more strokes "
        "end near one point the tree joins them all there, while a path has to come back to that spot from "
        "the far end of all but one of them. The Held-Karp bound (a 1-tree over stroke *ends*, with "
        "penalties that push every end towards one pen-up move besides its stroke) charges for that and is "
        f"still a lower bound for every ordering. {where} it would take a plan within a few percent of the "
        "Held-Karp bound, which the bound does not promise exists (it is a bound, not a tour). The "
        "meaningful ratio is ours ÷ Held-Karp: at most how far from optimal a plan is. Likewise 0.92× vpype "
        f"two-opt is below Held-Karp, i.e. impossible, on {', '.join(no92) or 'no page'}."
    )
    return [""] + textwrap.wrap(text, 105, break_on_hyphens=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=5, help="pages per size (seeds 0..N-1)")
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
        for seed in range(args.seeds):
            print(f"page of {n} sketches, seed {seed} ...", file=sys.stderr, flush=True)
            rows += bench_page(n, args.data, seed, args.budget)
    machine = (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, vpype {vpype.__version__}"
    )
    summary, detail = summary_table(rows), detail_table([r for r in rows if r["seed"] == 0])
    table, no92, no125 = bounds_table(rows)
    pages = len({(r["page"], r["seed"]) for r in rows})
    bounds = ["", "## Lower bounds, per page: what they prove", ""] + table + bounds_text(no92, no125, pages)
    print("\n".join(summary + bounds + [""] + detail))
    print(machine)
    cmd = f"python bench/bench_optimizer.py --seeds {args.seeds} --budget {args.budget} --pages {args.pages}"
    head = [
        "# Pen-up optimizer benchmark",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine}",
        "",
        "Pages: A4, 10 mm margin, a grid of real Quick, Draw! sketches (Quick, Draw! dataset, Google,",
        "CC BY 4.0), mixed classes; seed k picks the sketches of page k. Pen-up = travel from (0, 0) to the",
        "first stroke plus all moves between strokes, for every method. Rows of ours:",
        "",
        "- `ours: order, no kicks`: `order_strokes(page)` (budget 1 s, `kicks=0`): greedy walk +",
        "  2-opt/or-opt to a local optimum, deterministic, long before the budget;",
        "- `... + ILS in 0.9x vpype's time`: `order_strokes(page, time_budget_s=B, kicks=10**9)`, B = 0.9 ×",
        "  the best-of-5 time of the vpype baseline measured just before in this run (merging included in",
        "  B for the merge row): a second local search from a greedy matching when it fits, then iterated",
        "  local search until the budget, which ends before vpype's time (scheduler permitting);",
        "- `ours: as plan_job runs it`: `order_strokes(page, kicks=default_kicks(n))`, what",
        "  `plotter export`, `plotter draw` and the daemon run: 2 seeded kicks per stroke, 1 s cap; same",
        "  page, same plan.",
        "",
        "Ratios: to `vpype linesort --two-opt` (the merge row: to `vpype linemerge linesort --two-opt`), to",
        "the MST lower bound of the strokes ordered, and to a Held-Karp lower bound (1-tree with subgradient",
        "optimisation over stroke ends, `plotter.plan.order.held_karp_bound`; valid for any penalties, so",
        "no ordering of the page can beat it; not computed for merged strokes). Times: best of 5 wall-clock",
        "runs (1 for the plan_job row), vpype and ours side by side in one run; our pen-up is the mean over",
        "the runs (the plan a budget cut short by the scheduler gives counts too). The machine has 2 cores",
        "shared with training jobs, so absolute seconds vary between runs and a budget of a few ms is at the",
        "mercy of the scheduler; the ratios come from the same run. Our time excludes the MST bound (a",
        "report, computed when read), as vpype computes none.",
        "",
        "## Summary over pages",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(head + summary + bounds + ["", "## Seed 0 in detail", ""] + detail) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
