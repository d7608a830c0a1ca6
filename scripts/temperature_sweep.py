"""Recognizability, diversity and ending of each checkpoint's samples across sampling temperatures, as a table
and one PNG (three panels, the targets dashed).

Why: temperature trades crispness for variety, and not by the same amount for every model. Sketch-RNN draws
its global choice (a head, a whole cat) from its latent z, which temperature does not touch; the transformer
makes every choice autoregressively under τ, so low τ sharpens it twice over: cats become prototypical and a
runaway of tiny steps can keep the pen from lifting. A model's default temperature is chosen from this sweep
on the *validation* drawings (sampling seeds 5000, 5100, ...), never from the test report.

    python scripts/temperature_sweep.py checkpoints/sketch_rnn-cat.pt checkpoints/transformer-cat.pt \
        --out checkpoints/eval/temperature-sweep.png

A `.json` written by `--json` stands in for a checkpoint (its rows are reused, not sampled again), so sweeps
run in parallel processes can be drawn in one figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _validation import validation_judge, validation_parser

from plotter.models.checkpoint import load_model, set_default_temperature
from plotter.models.sampling import DEFAULT_TEMPERATURE
from plotter.training.evaluate import TARGETS, target_margin


def choose(temps: list[float], margins: list[float], min_gain: float) -> float:
    """The best-margin temperature, but the customary 0.4 unless the best beats it by more than `min_gain`
    (margins move by ~0.1 between sampling seeds: a smaller gain is noise, not a reason to differ)."""
    best = int(np.argmax(margins))
    if DEFAULT_TEMPERATURE in temps and margins[best] - margins[temps.index(DEFAULT_TEMPERATURE)] <= min_gain:
        return DEFAULT_TEMPERATURE
    return temps[best]


def plot(results: dict[str, np.ndarray], temps: list[float], out: Path, note: str) -> None:
    """Three panels against τ (mean over seeds, bars = their spread), the targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    titles = ["recognizability ÷ real ceiling", "diversity ÷ real", "ended by themselves"]
    tol = TARGETS["diversity_tolerance"]
    lines = [[TARGETS["recognizability_ratio"]], [1 - tol, 1 + tol], [TARGETS["ended_share"]]]
    for name, r in results.items():  # r: (T, seeds, 3)
        mean = r.mean(axis=1)
        for k, ax in enumerate(axes):
            ax.errorbar(temps, mean[:, k], yerr=r[:, :, k].std(axis=1), marker="o", capsize=3, label=name)
    for ax, title, ys in zip(axes, titles, lines):
        for y in ys:
            ax.axhline(y, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("temperature τ")
    axes[2].set_ylim(0.9, 1.002)
    axes[0].legend(fontsize=8)
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = validation_parser(__doc__, "samples per seed and temperature")
    ap.add_argument("--temperatures", default="0.3,0.4,0.5,0.6,0.7,0.8")
    ap.add_argument("--out", type=Path, default=Path("runs/temperature-sweep.png"))
    ap.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    ap.add_argument("--set-default", action="store_true",
                    help="record each swept checkpoint's chosen temperature in the file (see choose())")
    ap.add_argument("--min-gain", type=float, default=0.1, help="margin gain needed to move off 0.4")
    a = ap.parse_args()
    temps = [float(t) for t in a.temperatures.split(",")]
    judge = None  # built on the first checkpoint to sample: saved .json rows need no judge
    results: dict[str, np.ndarray] = {}
    print("checkpoint | τ | recognizability x | diversity x | ended | worst margin (over seeds)")
    for path in a.checkpoints:
        if path.endswith(".json"):
            saved = json.loads(Path(path).read_text())
            if saved["temperatures"] != temps:
                raise SystemExit(f"{path} was swept at {saved['temperatures']}, not {temps}")
            results.update({k: np.array(v) for k, v in saved["results"].items()})
            continue
        judge = judge or validation_judge(a)
        model = load_model(path)
        r = np.array([judge.scores(model, a.n, t, a.seeds) for t in temps])  # (T, seeds, 3)
        results[Path(path).stem] = r
        margins = [min(target_margin(*row) for row in r[i]) for i in range(len(temps))]
        for i, t in enumerate(temps):
            m = r[i].mean(axis=0)
            print(f"{path} | {t:g} | {m[0]:.2f} | {m[1]:.3f} | {m[2]:.3f} | {margins[i]:+.2f}", flush=True)
        chosen = choose(temps, margins, a.min_gain)
        print(f"{path}: best-margin τ {temps[int(np.argmax(margins))]:g}; default chosen {chosen:g}")
        if a.set_default and chosen != model.default_temperature:  # an unchanged file keeps its sha1
            how = (f"scripts/temperature_sweep.py: best worst-seed margin over τ {a.temperatures} on the "
                   f"validation split, {a.n} samples x {a.seeds} seeds")
            set_default_temperature(path, chosen, how)
            print(f"{path}: default temperature set to {chosen:g}")
    if a.json is not None:
        rows = {k: v.tolist() for k, v in results.items()}
        a.json.write_text(json.dumps({"temperatures": temps, "results": rows}))
    note = f"{a.class_name}: {a.n} samples x {a.seeds} seeds per point, judged against the validation split"
    plot(results, temps, a.out, note)
    print(f"plot: {a.out}")


if __name__ == "__main__":
    main()
