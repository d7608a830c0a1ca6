"""Per-class report for a class-conditioned checkpoint (issue 7): is every class it can draw recognizable?

Why a separate pass from `evaluate.evaluate`: a 345-class model cannot afford 1,000 samples and a likelihood
pass per class, so each class gets N samples (default 50) judged by the same classifier, beside that
classifier's accuracy on the class's real held-out drawings (the ceiling). The pieces are `evaluate.py`'s
own (`sample_sketches`, `judge`, `real_test_sketches`, `diversity_pair`, `ended_share`), so a class row
means exactly what the single-class report means, at a smaller n (standard error in `rec_se`).

Ceiling caveat: the real drawings are the *sketch model's* test split (seed 0, as training used; cat: the
official cat.npz split). Only cat's are guaranteed unseen by the classifier; other classes' test drawings
may be in its training set, which flatters the ceiling and so makes the ratio conservative. The classifier's
own held-out per-class accuracy is reported beside it (`clf_heldout`) for that reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from plotter.errors import PlotterError, UnknownClassError
from plotter.models.sampling import resolve_temperature
from plotter.sketch import Sketch
from plotter.training.evaluate import (
    TARGETS,
    Progress,
    diversity_pair,
    ended_share,
    judge,
    most_common_wrong,
    real_test_sketches,
    sample_sketches,
)

SEED_STRIDE = 1000  # class k samples with seeds seed + k * SEED_STRIDE + batch: classes never share a seed
MIN_REAL = 30  # fewer real held-out drawings give no usable ceiling (the six ~25-drawing classes have 1 or 2)


@dataclass
class ClassRow:
    """One class: its samples judged beside its real held-out drawings."""

    name: str
    n: int
    recognizability: float  # share of samples the classifier puts in this class (top-1)
    rec_se: float  # binomial standard error of that share
    top5: float
    ceiling: float  # the same share for real held-out drawings
    ratio: float | None  # recognizability / ceiling (None when the ceiling is 0)
    ended: float | None  # share of samples that emitted end-of-sketch by themselves
    empty: int
    diversity_ratio: float | None  # feature-space spread, samples / real (same count each)
    n_real: int
    clf_heldout: float | None  # the classifier's accuracy on its own held-out drawings of the class
    split: str
    taken_for: dict = field(default_factory=dict)  # the classes wrong samples were put in most often
    usable: bool = True  # counted in the summary: a ratio, from at least MIN_REAL real drawings


@dataclass
class ClassReport:
    """Everything `plotter evaluate --classes` measures; `to_dict()` is the JSON report."""

    checkpoint: str
    kind: str
    temperature: float
    per_class: int
    seed: int
    min_real: int = MIN_REAL
    rows: list[ClassRow] = field(default_factory=list)
    classifier: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    single_class: list[dict] = field(default_factory=list)  # single-class reports of the same class (cat)
    samples: dict[str, list[Sketch]] = field(default_factory=dict, repr=False)  # a few a class, for the grid
    preds: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        """Mean/median ratio, how many classes reach the target, pooled termination; best and worst five."""
        rated = sorted((r for r in self.rows if r.usable), key=lambda r: r.ratio)
        ratios = np.array([r.ratio for r in rated], dtype=np.float64)
        n_all = sum(r.n for r in self.rows)
        ended = [r.ended * r.n for r in self.rows if r.ended is not None]
        target = TARGETS["recognizability_ratio"]
        return {
            "classes": len(self.rows),
            "rated_classes": len(rated),
            "min_real": self.min_real,
            "samples": n_all,
            "mean_ratio": float(ratios.mean()) if len(ratios) else None,
            "median_ratio": float(np.median(ratios)) if len(ratios) else None,
            "classes_at_target": int((ratios >= target).sum()),
            "target_ratio": target,
            "no_ceiling": [f"{r.name} ({r.n_real} real)" for r in self.rows if not r.usable],
            "mean_recognizability": _mean([r.recognizability for r in rated]),  # means over rated classes
            "mean_ceiling": _mean([r.ceiling for r in rated]),
            "mean_clf_heldout": _mean([r.clf_heldout for r in rated if r.clf_heldout is not None]),
            "mean_diversity_ratio": _mean([r.diversity_ratio for r in rated if r.diversity_ratio]),
            "ended_share": float(sum(ended) / n_all) if ended and len(ended) == len(self.rows) else None,
            "classes_ending_below_target": sum(1 for r in self.rows
                                               if r.ended is not None and r.ended < TARGETS["ended_share"]),
            "worst": [(r.name, round(r.ratio, 3)) for r in rated[:5]],
            "best": [(r.name, round(r.ratio, 3)) for r in rated[::-1][:5]],
        }

    def row(self, name: str) -> ClassRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def to_dict(self) -> dict:
        skip = ("rows", "samples", "preds")  # rows come last; sketches are for the grid only
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return {**d, "summary": self.summary(), "targets": TARGETS, "rows": [asdict(r) for r in self.rows]}


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


# ---------------------------------------------------------------------------------------------- pieces
def resolve_classes(model: object, spec: str | Sequence[str]) -> list[str]:
    """`all` -> every class the model draws, in its order; else the comma list, each name checked (an
    unknown one fails with the closest names suggested), duplicates dropped."""
    from plotter.models.complete import resolve_class

    classes = list(getattr(model, "classes", None) or [])
    if not classes:
        raise PlotterError("this checkpoint lists no class names; evaluate it with --class instead")
    names = [n.strip() for n in ([spec] if isinstance(spec, str) else spec) for n in str(n).split(",")]
    names = [n for n in names if n]
    if not names:
        raise PlotterError("--classes needs `all` or a comma list of class names")
    if "all" in names:
        return classes
    return list(dict.fromkeys(str(resolve_class(model, n)) for n in names))


def single_class_reports(eval_dir: str | Path | None, class_name: str) -> list[dict]:
    """Figures of single-class reports (`plotter evaluate --out DIR`) of `class_name`, to set beside it."""
    import json

    out = []
    for path in sorted(Path(eval_dir).glob("*-report.json")) if eval_dir else []:
        try:
            rep = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(rep, dict) or rep.get("class_name") != class_name or "recognizability" not in rep:
            continue
        rec, div, end = rep["recognizability"], rep.get("diversity") or {}, rep.get("ended") or {}
        out.append({"report": str(path), "checkpoint": rep.get("checkpoint"), "kind": rep.get("kind"),
                    "temperature": rep.get("temperature"), "n": rep.get("n_samples"),
                    "recognizability": rec.get("samples"), "ceiling": rec.get("real"),
                    "ratio": rec.get("ratio"),
                    "ended": end.get("share"), "diversity_ratio": div.get("ratio")})
    return out


def measure_class(
    model: object, classifier: object, data: str | Path, name: str, cid: int, per_class: int,
    temperature: float, seed: int, keep: int = 8,
) -> tuple[ClassRow, list[Sketch], list[str], dict]:
    """Sample, judge and compare one class; returns the row, `keep` samples with their verdicts, timings."""
    t0 = time.time()
    real, info = real_test_sketches(data, name)
    t1 = time.time()
    samples = sample_sketches(model, per_class, temperature, name, seed + cid * SEED_STRIDE)
    t2 = time.time()
    target = classifier.class_index(name)
    js = judge(classifier, samples, target)
    jr = judge(classifier, real, target)
    t3 = time.time()
    ratio = js["top1"] / jr["top1"] if jr["top1"] > 0 else None
    d_s, d_r, _ = diversity_pair(js["feats"], jr["feats"], seed) if min(len(samples), len(real)) >= 2 \
        else (0.0, 0.0, 0)
    end = ended_share(samples)
    held = (getattr(classifier, "metrics", {}) or {}).get("per_class_top1", {}).get(name)
    p, n = js["top1"], len(samples)
    row = ClassRow(name, n, p, math.sqrt(p * (1 - p) / n), js["top5"], jr["top1"], ratio, end["share"],
                   end["empty"], d_s / d_r if d_r > 0 else None, len(real), held, str(info.get("split", "")),
                   most_common_wrong(js["pred"], target, classifier.classes, k=3))
    verdicts = [classifier.classes[int(k)] for k in js["pred"][:keep]]
    timing = {"loading_s": t1 - t0, "sampling_s": t2 - t1, "classifying_s": t3 - t2}
    return row, samples[:keep], verdicts, timing


def evaluate_classes(
    model_ckpt: str | Path, classifier: object, data: str | Path, classes: str | Sequence[str] = "all",
    per_class: int = 50, temperature: float | None = None, seed: int = 0, progress: Progress | None = None,
    model: object | None = None, compare_dir: str | Path | None = None, compare_class: str = "cat",
    min_real: int = MIN_REAL,
) -> ClassReport:
    """Judge every class in `classes` (see the module); nothing is written here (see `class_report`)."""
    if per_class < 2:
        raise PlotterError(f"need at least 2 samples per class, got --per-class {per_class}")
    t0 = time.time()
    if model is None:
        from plotter.models.checkpoint import load_model

        model = load_model(model_ckpt)
    temperature = resolve_temperature(model, temperature)  # None: the checkpoint's own default
    names = resolve_classes(model, classes)
    model_classes = list(model.classes)
    unknown = [n for n in names if n not in classifier.classes]
    if unknown:
        more = " ..." if len(unknown) > 5 else ""
        raise UnknownClassError(f"the classifier does not know {', '.join(unknown[:5])}{more}; "
                                f"it judges {len(classifier.classes)} Quick, Draw! classes")
    rep = ClassReport(str(model_ckpt), str(getattr(model, "kind", type(model).__name__)), float(temperature),
                      int(per_class), int(seed), int(min_real))
    rep.classifier = {"path": getattr(classifier, "path", ""),
                      "test_top1": (getattr(classifier, "metrics", {}) or {}).get("test_top1")}
    timing = {"loading_s": 0.0, "sampling_s": 0.0, "classifying_s": 0.0}
    for k, name in enumerate(names):
        row, kept, verdicts, t = measure_class(model, classifier, data, name, model_classes.index(name),
                                               per_class, temperature, seed)
        row.usable = row.ratio is not None and row.n_real >= min_real
        rep.rows.append(row)
        rep.samples[name], rep.preds[name] = kept, verdicts
        timing = {key: timing[key] + t[key] for key in timing}
        if progress is not None:
            progress("classes", k + 1, len(names))
    splits = [r.split for r in rep.rows]
    rep.data = {"path": str(data), "splits": {s: splits.count(s) for s in sorted(set(splits))}}
    rep.single_class = single_class_reports(compare_dir, compare_class) if compare_class in names else []
    rep.timing = {**{k: round(v, 1) for k, v in timing.items()}, "total_s": round(time.time() - t0, 1)}
    return rep
