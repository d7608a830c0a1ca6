"""Files of the per-class report (`plotter evaluate --classes`): JSON, a markdown table, two pictures.

Why pictures: 345 ratios read best as a histogram (how many classes are near the ceiling, how long the tail
is) and as recognizability against ceiling (a class the classifier itself cannot tell apart is no failure
of the model); a grid of a dozen classes' samples shows what the numbers mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from plotter.training.evaluate import save_grid
from plotter.training.evaluate_classes import ClassReport, ClassRow


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def sorted_rows(rep: ClassReport) -> list[ClassRow]:
    """Worst ratio first; classes without a ceiling (ratio n/a) last."""
    return sorted(rep.rows, key=lambda r: (not r.usable, r.ratio or 0.0, r.name))


def summary_lines(rep: ClassReport) -> list[str]:
    """The few lines printed by the CLI and put at the top of the markdown."""
    s = rep.summary()
    lines = [
        f"{rep.kind} {rep.checkpoint}: {s['classes']} classes x {rep.per_class} samples at "
        f"τ={rep.temperature:g}, seed {rep.seed}",
        f"recognizability / ceiling: mean {_f(s['mean_ratio'])}, median {_f(s['median_ratio'])}; "
        f"{s['classes_at_target']}/{s['rated_classes']} rated classes >= {s['target_ratio']}",
        f"mean recognizability {_f(s['mean_recognizability'])} vs mean ceiling {_f(s['mean_ceiling'])} "
        f"(classifier's own held-out mean {_f(s['mean_clf_heldout'])}); "
        f"mean diversity ratio {_f(s['mean_diversity_ratio'])}",
        f"ended by themselves {_f(s['ended_share'])} of all samples; {s['classes_ending_below_target']} "
        f"classes below 0.99",
        "worst: " + ", ".join(f"{n} {r:.2f}" for n, r in s["worst"]),
        "best:  " + ", ".join(f"{n} {r:.2f}" for n, r in s["best"]),
    ]
    if s["no_ceiling"]:
        lines.append(f"not rated (no ceiling from < {s['min_real']} real drawings, or it is 0): "
                     f"{', '.join(s['no_ceiling'])}")
    return lines


def cat_lines(rep: ClassReport, name: str = "cat") -> list[str]:
    """Markdown table: this checkpoint's row for `name` beside the single-class checkpoints' reports."""
    row = rep.row(name)
    if row is None:
        return []
    head = ["| model | τ | n | recognizability | ceiling | ratio | ended | diversity ratio |",
            "|---|---|---|---|---|---|---|---|"]
    body = [f"| **{Path(rep.checkpoint).name}** ({rep.kind}, {len(rep.rows)} classes) | "
            f"{rep.temperature:g} | {row.n} | {row.recognizability:.3f} ± {row.rec_se:.3f} | "
            f"{row.ceiling:.3f} | {_f(row.ratio)} | {_f(row.ended)} | {_f(row.diversity_ratio)} |"]
    for o in rep.single_class:
        body.append(f"| {Path(str(o['checkpoint'])).name} ({o['kind']}) | {_f(o['temperature'], 1)} | "
                    f"{o['n']} | {_f(o['recognizability'])} | {_f(o['ceiling'])} | {_f(o['ratio'])} | "
                    f"{_f(o['ended'])} | {_f(o['diversity_ratio'])} |")
    return [f"## {name} beside the single-class checkpoints", "", *head, *body, "",
            "± is the binomial standard error of the per-class sample; the single-class reports use "
            "`plotter evaluate --class` with their own n.", ""]


def markdown(rep: ClassReport) -> str:
    """Summary, the cat comparison, then one row per class sorted by ratio (worst first)."""
    lines = [f"# Per-class recognizability: {Path(rep.checkpoint).name}", "",
             *[f"- {x}" for x in summary_lines(rep)], "", *cat_lines(rep),
             "## All classes (worst ratio first)", "",
             "| # | class | n | recognizability | ceiling | real n | ratio | ended | diversity ratio "
             "| taken for |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in enumerate(sorted_rows(rep), 1):
        wrong = ", ".join(f"{c} {n}" for c, n in r.taken_for.items())
        ratio = _f(r.ratio) + ("" if r.usable else " (not rated)")
        lines.append(f"| {k} | {r.name} | {r.n} | {r.recognizability:.3f} | {r.ceiling:.3f} | {r.n_real} | "
                     f"{ratio} | {_f(r.ended, 2)} | {_f(r.diversity_ratio, 2)} | {wrong} |")
    lines += ["", "ceiling = the classifier's top-1 on the class's real held-out drawings (the sketch "
              "model's test split); ratio = recognizability / ceiling; ended = share of samples that "
              "ended by themselves.", ""]
    return "\n".join(lines)


def plot_ratios(rep: ClassReport, path: Path) -> Path:
    """Histogram of the per-class ratio, and recognizability against ceiling (cat marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = rep.summary()
    ratios = np.array([r.ratio for r in rep.rows if r.usable])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.hist(np.minimum(ratios, 1.5), bins=np.linspace(0, 1.5, 31), color="#4a7ab8", edgecolor="white")
    a.axvline(s["target_ratio"], color="#c33", ls="--", label=f"target {s['target_ratio']}")
    if s["median_ratio"] is not None:
        a.axvline(s["median_ratio"], color="black", label=f"median {s['median_ratio']:.2f}")
    a.set(xlabel="recognizability / ceiling (clipped at 1.5)", ylabel="classes",
          title=f"{s['classes_at_target']}/{s['rated_classes']} rated classes at target")
    a.legend()
    ceil = np.array([r.ceiling for r in rep.rows if r.usable])
    rec = np.array([r.recognizability for r in rep.rows if r.usable])
    b.scatter(ceil, rec, s=10, alpha=0.6, color="#4a7ab8")
    b.plot([0, 1], [0, 1], color="gray", lw=1, label="ratio 1")
    b.plot([0, 1], [0, s["target_ratio"]], color="#c33", ls="--", lw=1, label=f"ratio {s['target_ratio']}")
    cat = rep.row("cat")
    if cat is not None:
        b.scatter([cat.ceiling], [cat.recognizability], s=40, color="#e80", zorder=3, label="cat")
    b.set(xlabel="ceiling (classifier on real held-out drawings)", ylabel="recognizability of samples",
          xlim=(0, 1), ylim=(0, 1), title=f"{Path(rep.checkpoint).name}, {rep.per_class} samples/class")
    b.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grid_classes(rep: ClassReport, count: int = 12, must: tuple[str, ...] = ("cat",)) -> list[str]:
    """`count` classes spread evenly from best to worst ratio (cat always among them), best first."""
    best_first = sorted(rep.rows, key=lambda r: (not r.usable, -(r.ratio or 0.0), r.name))
    ranked = [r.name for r in best_first]
    chosen = [n for n in must if n in ranked][:count]
    rest = [n for n in ranked if n not in chosen]
    k = count - len(chosen)
    if k > 0 and rest:
        chosen += [rest[i] for i in sorted({round(j * (len(rest) - 1) / max(k - 1, 1)) for j in range(k)})]
    return sorted(chosen, key=ranked.index)


def write_grid(rep: ClassReport, path: Path, names: list[str], cols: int = 8) -> Path:
    """One row per class: its first samples, each captioned with the classifier's verdict."""
    sketches, labels, ok, row_labels = [], [], [], []
    for name in names:
        got, verdicts = rep.samples.get(name, [])[:cols], rep.preds.get(name, [])[:cols]
        sketches += got + [None] * (cols - len(got))
        labels += verdicts + [""] * (cols - len(got))
        ok += [v == name for v in verdicts] + [True] * (cols - len(got))
        r = rep.row(name)
        row_labels.append(f"{name}\nratio {_f(r.ratio, 2) if r else 'n/a'}")
    from plotter.sketch import Sketch

    filled = [s if s is not None else Sketch([]) for s in sketches]
    return save_grid(filled, path, labels, ok, cols=cols, cell=96, row_labels=row_labels)


def write_outputs(rep: ClassReport, out_dir: str | Path, grid: list[str] | None = None) -> dict[str, str]:
    """JSON report, markdown table, ratio plot and sample grid under `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(rep.checkpoint).stem}-classes-t{rep.temperature:g}"
    names = grid or grid_classes(rep)
    rep.files = {"json": str(out / f"{stem}-report.json"), "table": str(out / f"{stem}-table.md"),
                 "plot": str(plot_ratios(rep, out / f"{stem}-ratio.png")),
                 "grid": str(write_grid(rep, out / f"{stem}-grid.png", names))}
    Path(rep.files["table"]).write_text(markdown(rep))
    Path(rep.files["json"]).write_text(json.dumps(rep.to_dict(), indent=1) + "\n")
    return rep.files
