"""One yardstick for both sketch models: held-out NLL, recognizability, diversity, termination.

Why these numbers (issue 4): NLL alone cannot tell a model that draws cats from one that draws blobs with the
right statistics, so samples are also judged by a 345-class raster CNN trained on real drawings. The judge's
own accuracy on *real* held-out drawings of the class is the ceiling a model can reach; diversity is the mean
pairwise distance of the judge's penultimate features, beside the same figure for as many real drawings, so a
model that repeats one good cat fails. A sample must also end by itself (emit end-of-sketch before max_len).

NLL (plotter.training.nll) is reported in two conventions over the same held-out real sketches (the official
test split), both through the models' public `mdn_params` hooks with the end state absorbing:
  * paper: L_s over real points and L_p over all N_max rows (padding included), both / N_max, mean over
    sketches (Ha & Eck 2017), N_max = the longest test sketch + its end row, offsets / the model's scale;
  * per valid row: the same sums over points and the end row only / number of those rows (what training logs).
For Sketch-RNN the reconstruction term uses z = the encoder's mean μ, and the KL term is reported beside it
(paper "loss" = L_R + KL, without the weight or floor used in training); the transformer is autoregressive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from plotter.errors import DataError, PlotterError
from plotter.models.sampling import class_index, resolve_temperature
from plotter.sketch import Sketch
from plotter.training.classifier import Classifier, load_classifier
from plotter.training.nll import held_out_nll

TARGETS = {"recognizability_ratio": 0.85, "diversity_tolerance": 0.10, "ended_share": 0.99}
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class Report:
    """Everything `plotter evaluate` measures; `to_dict()` is the JSON report."""

    checkpoint: str
    kind: str
    class_name: str
    temperature: float
    n_samples: int
    seed: int
    nll: dict = field(default_factory=dict)
    recognizability: dict = field(default_factory=dict)
    diversity: dict = field(default_factory=dict)
    ended: dict = field(default_factory=dict)
    classifier: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def checks(self) -> dict[str, bool | None]:
        """Pass/fail against the issue's targets (None where a figure could not be computed)."""
        r, d, e = self.recognizability.get("ratio"), self.diversity.get("ratio"), self.ended.get("share")
        return {
            "recognizability": None if r is None else r >= TARGETS["recognizability_ratio"],
            "diversity": None if d is None else abs(d - 1.0) <= TARGETS["diversity_tolerance"],
            "ended": None if e is None else e >= TARGETS["ended_share"],
        }

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": TARGETS, "checks": self.checks()}

    def summary(self) -> str:
        """Readable multi-line summary with PASS/FAIL per target."""
        def mark(ok: bool | None) -> str:
            return "n/a " if ok is None else ("PASS" if ok else "FAIL")

        c, n, r, d, e = self.checks(), self.nll, self.recognizability, self.diversity, self.ended
        lines = [f"{self.kind} {self.checkpoint} — class {self.class_name!r}, {self.n_samples} samples at "
                 f"τ={self.temperature}, seed {self.seed}"]
        if n.get("paper") is not None:
            p, v = n["paper"], n["per_valid_row"]
            kl = f" + KL {n['kl']:.3f} = {n['paper_total']:.3f}" if n.get("kl") is not None else ""
            lines.append(f"  NLL (paper, /N_max={n['n_max']}): {p['nll']:.3f} "
                         f"(offsets {p['offset_nll']:.3f}, pen {p['pen_nll']:.3f}){kl}")
            lines.append(f"  NLL per valid row:        {v['nll']:.3f} "
                         f"(offsets {v['offset_nll']:.3f}, pen {v['pen_nll']:.3f}) "
                         f"on {n['n_sketches']} {self.data.get('split_judged', 'test')} sketches")
        else:
            lines.append(f"  NLL: not computed ({n.get('skipped', 'no test data')})")
        if r:
            lines.append(f"  [{mark(c['recognizability'])}] recognizability {r['samples']:.3f} vs real "
                         f"{r['real']:.3f} (ceiling) → ratio {_f(r['ratio'])} (target ≥ "
                         f"{TARGETS['recognizability_ratio']})")
        if d:
            lines.append(f"  [{mark(c['diversity'])}] diversity {d['samples']:.3f} vs real {d['real']:.3f} "
                         f"→ ratio {_f(d['ratio'])} (target 1 ± {TARGETS['diversity_tolerance']})")
        if e:
            share = "n/a" if e["share"] is None else f"{e['share']:.3f}"
            lines.append(f"  [{mark(c['ended'])}] ended by themselves {share} "
                         f"(target ≥ {TARGETS['ended_share']})")
        return "\n".join(lines)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


# ---------------------------------------------------------------------------------------------- pieces
def real_test_sketches(
    data: str | Path, class_name: str, split: str = "test"
) -> tuple[list[np.ndarray], dict]:
    """Held-out real drawings of a class: the official test split where one exists (cat.npz), else the
    data pipeline's deterministic test split (same one the models never trained on). `split="valid"` gives
    the validation drawings instead, to choose among checkpoints without looking at the test set."""
    from plotter.training.data import load_splits

    if split not in ("test", "valid"):
        raise PlotterError(f"unknown split {split!r}: test or valid")
    splits = load_splits(data, [class_name])
    real = splits.test if split == "test" else splits.valid
    if not real:
        raise DataError(f"no held-out {split} sketches for {class_name!r} in {data}")
    src = splits.provenance.get("sources", {}).get(class_name, {})
    return list(real), {"path": str(data), f"{split}_sketches": len(real), "split_judged": split, **src}


def sample_sketches(
    model: object, n: int, temperature: float, class_name: str | None, seed: int,
    batch_size: int = 100, progress: Progress | None = None,
) -> list[Sketch]:
    """`n` samples in batches (batch k uses seed + k), so the run is reproducible and shows progress."""
    out: list[Sketch] = []
    for k, start in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - start)
        out.extend(model.generate(m, temperature=temperature, class_name=class_name, seed=seed + k))
        if progress is not None:
            progress("sampling", len(out), n)
    return out


def mean_pairwise_distance(feats: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs (0 for identical rows; needs ≥ 2 rows)."""
    f = np.asarray(feats, dtype=np.float64)
    if len(f) < 2:
        raise PlotterError("diversity needs at least 2 sketches")
    sq = (f * f).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
    iu = np.triu_indices(len(f), k=1)
    return float(np.sqrt(d2[iu]).mean())


def judge(classifier: Classifier, sketches: Sequence[Sketch | np.ndarray], target: int,
          progress: Progress | None = None, phase: str = "classifying") -> dict:
    """Rasterize and classify: top-1/top-5 hit rates on `target`, the predictions and the features."""
    images = classifier.rasterize(sketches)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(phase, done[0], len(images))

    logits, feats = classifier.predict(images, batch_size=256, progress=tick)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    return {"top1": float((top5[:, 0] == target).mean()), "top5": float((top5 == target).any(1).mean()),
            "pred": top5[:, 0], "feats": feats}


def diversity_pair(feats_a: np.ndarray, feats_b: np.ndarray, seed: int) -> tuple[float, float, int]:
    """Mean pairwise distance of two sets subsampled (seeded) to the same count, so they compare fairly."""
    m = min(len(feats_a), len(feats_b))
    rng = np.random.default_rng(seed)
    a = feats_a[rng.choice(len(feats_a), m, replace=False)]
    b = feats_b[rng.choice(len(feats_b), m, replace=False)]
    return mean_pairwise_distance(a), mean_pairwise_distance(b), m


def ended_share(sketches: Sequence[Sketch]) -> dict:
    """Share of samples whose meta says they emitted end-of-sketch before the length limit."""
    flags = [s.meta.get("ended") for s in sketches]
    known = [bool(f) for f in flags if f is not None]
    share = float(np.mean(known)) if known and len(known) == len(flags) else None
    empty = sum(1 for s in sketches if s.is_empty())
    return {"share": share, "count": int(sum(known)), "n": len(flags), "empty": empty,
            "note": None if share is not None else "generate() does not set meta['ended'] on every sketch"}


def score_samples(
    model: object, classifier: Classifier, real_judged: dict, target: int, n: int, temperature: float,
    seed: int, class_name: str | None = None,
) -> tuple[float, float, float]:
    """(recognizability ratio, diversity ratio, ended share) of `n` samples, as `evaluate` computes them,
    against real drawings already `judge`d; the quick form for sweeps over checkpoints or temperatures."""
    samples = sample_sketches(model, n, temperature, class_name, seed)
    js = judge(classifier, samples, target)
    ds, dr, _ = diversity_pair(js["feats"], real_judged["feats"], seed)
    rec = js["top1"] / real_judged["top1"] if real_judged["top1"] > 0 else float("nan")
    return rec, ds / dr if dr > 0 else float("nan"), float(ended_share(samples)["share"] or 0.0)


def target_margin(rec: float, div: float, ended: float) -> float:
    """Smallest margin over the three targets, each in units of its own tolerance (< 0: a target fails), so
    checkpoints or temperatures can be ranked by how safely they pass."""
    return min((rec - TARGETS["recognizability_ratio"]) / TARGETS["recognizability_ratio"],
               (TARGETS["diversity_tolerance"] - abs(div - 1.0)) / TARGETS["diversity_tolerance"],
               (ended - TARGETS["ended_share"]) / (1.0 - TARGETS["ended_share"]))


SELECTION_SEED = 5000  # choices made before a report (checkpoint, temperature) sample at 5000, 5100, ...


class ValidationJudge:
    """Scores a model's samples against one class's *validation* drawings, with seeds no report uses.

    Why: choosing a checkpoint or a default temperature by the test report would make that report a tuned
    number; choosing on validation leaves the test split an honest estimate."""

    def __init__(self, classifier: str | Path, data: str | Path, class_name: str) -> None:
        self.classifier = load_classifier(classifier)
        self.target = self.classifier.class_index(class_name)
        real, _ = real_test_sketches(data, class_name, split="valid")
        self.real = judge(self.classifier, real, self.target)

    def scores(
        self, model: object, n: int, temperature: float, seeds: int
    ) -> list[tuple[float, float, float]]:
        """(recognizability ratio, diversity ratio, ended share) for each of `seeds` sampling seeds."""
        return [score_samples(model, self.classifier, self.real, self.target, n, temperature,
                              SELECTION_SEED + 100 * k) for k in range(seeds)]


class RealDrawings:
    """Stands in for a model whose "samples" are real *training* drawings of the class.

    Why: it calibrates the yardstick. A perfect model would score like this (recognizability ratio ≈ 1,
    diversity ratio ≈ 1), so the targets can be read against what real data itself achieves.
    """

    kind = "real-train-drawings"

    def __init__(self, sketches: Sequence[np.ndarray], class_name: str, seed: int = 0) -> None:
        if not sketches:
            raise DataError(f"no training drawings of {class_name!r} to use as a baseline")
        self.sketches, self.classes = list(sketches), [class_name]
        self.order = np.random.default_rng(seed).permutation(len(self.sketches))
        self.cursor = 0

    def generate(
        self, n: int, temperature: float = 0.4, class_name: str | None = None,
        prefix: Sketch | None = None, seed: int | None = None, max_len: int | None = None,
    ) -> list[Sketch]:
        """The next `n` drawings of a fixed shuffle (wrapping around), as ended sketches in data units."""
        idx = self.order[np.arange(self.cursor, self.cursor + n) % len(self.order)]
        self.cursor += n
        return [Sketch.from_stroke3(self.sketches[i], meta={"ended": True}) for i in idx]

    @classmethod
    def load(cls, data: str | Path, class_name: str, seed: int = 0) -> RealDrawings:
        from plotter.training.data import load_splits

        return cls(load_splits(data, [class_name]).train, class_name, seed)


# ---------------------------------------------------------------------------------------------- grid + driver
def save_grid(sketches: Sequence[Sketch], path: str | Path, labels: Sequence[str] | None = None,
              ok: Sequence[bool] | None = None, cols: int = 8, cell: int = 112,
              row_labels: Sequence[str] | None = None, label_width: int = 120) -> Path:
    """PNG contact sheet: each sketch fitted in its cell, with the classifier's verdict under it
    (green = the target class, red = something else); `row_labels` name each row in a left margin."""
    from PIL import Image, ImageDraw

    from plotter.training.raster import _polylines

    rows = max(1, math.ceil(len(sketches) / cols))
    cap = 14 if labels is not None else 0
    margin = label_width if row_labels is not None else 0
    img = Image.new("RGB", (margin + cols * cell, rows * (cell + cap)), "white")
    draw = ImageDraw.Draw(img)
    for r, text in enumerate(row_labels or []):
        for j, part in enumerate(str(text).split("\n")):
            draw.text((4, r * (cell + cap) + (cell + cap) // 2 - 8 + 12 * j), part[:24], fill="black")
    for k, sk in enumerate(sketches):
        x0, y0 = margin + (k % cols) * cell, (k // cols) * (cell + cap)
        draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell + cap - 1], outline=(225, 225, 225))
        lines = _polylines(sk)
        if lines:
            pts = np.concatenate(lines)
            lo, hi = pts.min(0), pts.max(0)
            s = (cell - 12) / max(float((hi - lo).max()), 1e-9)
            off = np.array([x0, y0]) + cell / 2 - (lo + hi) / 2 * s
            for line in lines:
                xy = line * s + off
                if len(xy) > 1:
                    draw.line(xy.ravel().tolist(), fill="black", width=2, joint="curve")
                else:
                    draw.ellipse([xy[0, 0] - 1, xy[0, 1] - 1, xy[0, 0] + 1, xy[0, 1] + 1], fill="black")
        if labels is not None:
            good = ok is None or ok[k]
            draw.text((x0 + 3, y0 + cell), str(labels[k])[:18], fill=(0, 130, 0) if good else (200, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _model_class(model: object, class_name: str | None) -> tuple[str, str | None, int]:
    """(class to judge, class_name to pass to generate, the model's class id for NLL)."""
    classes = list(getattr(model, "classes", []) or [])
    if class_name is None:
        if len(classes) != 1:
            raise PlotterError(f"the model knows {len(classes) or 'no'} classes; name one with --class")
        return classes[0], None, 0
    if not classes:
        return class_name, None, 0
    cid = class_index(classes, class_name)
    return class_name, class_name, int(cid)


def evaluate(
    model_ckpt: str | Path, classifier: Classifier, data: str | Path, class_name: str | None = None,
    n: int = 1000, temperature: float | None = None, seed: int = 0, out_dir: str | Path | None = None,
    progress: Progress | None = None, model: object | None = None, grid_size: int = 64,
    split: str = "test",
) -> Report:
    """Measure a checkpoint (or an already loaded `model`) against held-out real sketches (`split` "test",
    or "valid" to pick checkpoints without touching the test set); see the module."""
    if n < 2:
        raise PlotterError(f"need at least 2 samples to measure diversity, got -n {n}")
    t0 = time.time()
    if model is None:
        from plotter.models.checkpoint import load_model

        model = load_model(model_ckpt)
    target_name, gen_class, model_cid = _model_class(model, class_name)
    temperature = resolve_temperature(model, temperature)  # None: the checkpoint's own default
    target = classifier.class_index(target_name)
    real, data_info = real_test_sketches(data, target_name, split)
    kind = str(getattr(model, "kind", type(model).__name__))
    rep = Report(str(model_ckpt), kind, target_name, float(temperature), int(n), int(seed), data=data_info)
    if Path(str(model_ckpt)).is_file():  # which file was judged, should it be retrained under the same name
        import hashlib

        rep.files["checkpoint_sha1"] = hashlib.sha1(Path(str(model_ckpt)).read_bytes()).hexdigest()
    cm = classifier.metrics
    # only the cat ceiling is guaranteed unseen: classifier training dropped cat.npz's valid/test drawings
    rep.data["ceiling_unseen_by_classifier"] = bool(
        target_name == "cat" and "official" in str(data_info.get("split", ""))
        and classifier.provenance.get("cat_holdout_excluded", 0) > 0
    )
    rep.classifier = {"path": classifier.path, "test_top1": cm.get("test_top1"),
                      "test_top5": cm.get("test_top5"), "raster": asdict(classifier.spec)}
    t = time.time()
    rep.nll = held_out_nll(model, real, model_cid, progress=progress) if isinstance(model, torch.nn.Module) \
        else {"paper": None, "skipped": "model is not a torch module"}
    rep.timing["nll_s"] = round(time.time() - t, 1)
    t = time.time()
    samples = sample_sketches(model, n, temperature, gen_class, seed, progress=progress)
    rep.timing["sampling_s"] = round(time.time() - t, 1)
    t = time.time()
    js = judge(classifier, samples, target, progress, "classifying samples")
    jr = judge(classifier, real, target, progress, "classifying real")
    rep.timing["classifying_s"] = round(time.time() - t, 1)
    ratio = js["top1"] / jr["top1"] if jr["top1"] > 0 else None
    rep.recognizability = {"samples": js["top1"], "real": jr["top1"], "ratio": ratio,
                           "samples_top5": js["top5"], "real_top5": jr["top5"], "n_real": len(real),
                           "most_common_wrong": most_common_wrong(js["pred"], target, classifier.classes)}
    ds, dr, m = diversity_pair(js["feats"], jr["feats"], seed)
    rep.diversity = {"samples": ds, "real": dr, "ratio": ds / dr if dr > 0 else None, "n_each": m,
                     "space": f"classifier penultimate features ({js['feats'].shape[1]}-d), Euclidean"}
    rep.ended = ended_share(samples)
    rep.timing["total_s"] = round(time.time() - t0, 1)
    if out_dir is not None:
        out = Path(out_dir)
        stem = f"{Path(str(model_ckpt)).stem}-{target_name}-t{temperature:g}"
        k = min(grid_size, len(samples))
        labels = [classifier.classes[int(p)] for p in js["pred"][:k]]
        hits = [int(p) == target for p in js["pred"][:k]]
        grid = save_grid(samples[:k], out / f"{stem}-samples.png", labels, hits)
        rep.files.update(grid=str(grid), json=str(out / f"{stem}-report.json"))
        import json

        Path(rep.files["json"]).write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    return rep


def most_common_wrong(pred: np.ndarray, target: int, classes: Sequence[str], k: int = 5) -> dict[str, int]:
    """The classes wrong samples were taken for most often (tells *how* a model fails)."""
    wrong = pred[pred != target]
    counts = np.bincount(wrong, minlength=len(classes))
    top = np.argsort(-counts)[:k]
    return {classes[i]: int(counts[i]) for i in top if counts[i] > 0}
