"""`plotter evaluate --classes`: per-class recognizability of a multiclass checkpoint (issue 7).

A fake classifier that names a drawing by its stroke count (k strokes -> class k-1) and a fake model that
draws a chosen share of each class right give known answers; a tiny real checkpoint checks the command and
its files end to end. (Class conditioning itself -- samples differ by class, unknown names get suggestions --
is tested in test_classes.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_models import one_torch_thread, save, strokes, tiny_rnn, write_drawings, write_packed  # noqa: F401

from plotter.cli import main as cli
from plotter.errors import UnknownClassError
from plotter.models.sampling import class_index
from plotter.sketch import Sketch
from plotter.training.class_report import grid_classes, markdown, write_outputs
from plotter.training.evaluate import real_test_sketches
from plotter.training.evaluate_classes import ClassReport, ClassRow, evaluate_classes

CLASSES = ["apple", "bee", "cat", "dog"]  # the fake classifier reads 1, 2, 3, 4 strokes as these


class StrokeCounter:
    """A classifier with known answers: a drawing of k strokes is class k-1 (features: strokes, points)."""

    def __init__(self) -> None:
        self.classes, self.path, self.metrics = list(CLASSES), "counter", {"per_class_top1": {"apple": 0.9}}

    def class_index(self, name: str) -> int:
        return int(class_index(self.classes, name))

    def rasterize(self, sketches) -> np.ndarray:
        def count(s) -> tuple[int, int]:
            if isinstance(s, Sketch):
                return len(s.strokes), sum(len(x) for x in s.strokes)
            return int((np.asarray(s)[:, 2] > 0.5).sum()), len(s)

        return np.array([count(s) for s in sketches], dtype=np.float32).reshape(-1, 2)

    def predict(self, images, batch_size=256, progress=None):
        logits = np.zeros((len(images), len(self.classes)), np.float32)
        logits[np.arange(len(images)), np.clip(images[:, 0].astype(int) - 1, 0, len(self.classes) - 1)] = 1.0
        if progress is not None:
            progress(len(images))
        return logits, images.copy()


class ShareModel:
    """Draws class c right (the stroke count the counter expects) for a set share of samples."""

    kind = "fake"

    def __init__(self, right: dict[str, float], ended: dict[str, float] | None = None) -> None:
        self.right, self.ended, self.classes = right, ended or {}, list(right)

    def generate(self, n, temperature=0.4, class_name=None, prefix=None, seed=None, max_len=None):
        k_right, k_end = round(n * self.right[class_name]), round(n * self.ended.get(class_name, 1.0))
        k = CLASSES.index(class_name) + 1
        return [Sketch.from_stroke3(strokes(k if i < k_right else 1 + (k == 1), points=2 + i % 3, seed=i),
                                    meta={"ended": i < k_end}) for i in range(n)]


@pytest.fixture
def counted_data(tmp_path):
    """apple/bee all drawn right; cat right on every other drawing; dog never (ceiling 0)."""
    data = {"apple": [strokes(1, seed=i) for i in range(60)], "bee": [strokes(2, seed=i) for i in range(60)],
            "cat": [strokes(3 if i % 2 else 1, seed=i) for i in range(60)],
            "dog": [strokes(1, seed=i) for i in range(60)]}
    return write_drawings(tmp_path / "quickdraw.npz", data)


def test_each_class_gets_its_share_over_its_ceiling(counted_data) -> None:
    model = ShareModel({"apple": 1.0, "bee": 0.5, "cat": 0.6, "dog": 1.0}, ended={"bee": 0.75})
    rep = evaluate_classes("fake.pt", StrokeCounter(), counted_data, "all", per_class=20, model=model,
                           min_real=1)
    rows = {r.name: r for r in rep.rows}
    assert list(rows) == CLASSES and all(r.n == 20 for r in rows.values())
    apple = rows["apple"]
    assert apple.recognizability == 1.0 and apple.ceiling == 1.0 and apple.ratio == 1.0
    assert rows["bee"].recognizability == 0.5 and rows["bee"].ratio == 0.5 and rows["bee"].ended == 0.75
    real_cat = real_test_sketches(counted_data, "cat")[0]
    ceiling = np.mean([(s[:, 2] > 0.5).sum() == 3 for s in real_cat])
    assert 0 < ceiling < 1 and rows["cat"].ceiling == pytest.approx(ceiling)
    assert rows["cat"].ratio == pytest.approx(0.6 / ceiling) and rows["cat"].n_real == len(real_cat)
    assert rows["dog"].ceiling == 0.0 and rows["dog"].ratio is None  # no ceiling: no ratio
    assert rows["bee"].taken_for == {"apple": 10}  # bee's wrong samples have 1 stroke
    assert rows["apple"].clf_heldout == 0.9 and rows["bee"].clf_heldout is None
    s = rep.summary()
    assert s["mean_ratio"] == pytest.approx((1.0 + 0.5 + 0.6 / ceiling) / 3)
    assert s["median_ratio"] == pytest.approx(sorted([1.0, 0.5, 0.6 / ceiling])[1])
    assert s["classes_at_target"] == 1 + (0.6 / ceiling >= 0.85) and s["no_ceiling"] == ["dog (3 real)"]
    assert s["ended_share"] == pytest.approx((20 * 3 + 15) / 80) and s["classes_ending_below_target"] == 1


def test_named_classes_only_and_unknown_names_suggest(counted_data) -> None:
    model = ShareModel({"apple": 1.0, "bee": 1.0, "cat": 1.0, "dog": 1.0})
    rep = evaluate_classes("fake.pt", StrokeCounter(), counted_data, "bee, apple,bee", per_class=4,
                           model=model)
    assert [r.name for r in rep.rows] == ["bee", "apple"]
    with pytest.raises(UnknownClassError, match="did you mean bee"):
        evaluate_classes("fake.pt", StrokeCounter(), counted_data, "apple,bea", per_class=4, model=model)


def _rows(ratios: dict[str, float | None]) -> ClassReport:
    rep = ClassReport("m.pt", "fake", 0.4, 10, 0)
    rep.rows = [ClassRow(n, 10, 0.5, 0.1, 0.8, 0.5 / r if r else 0.0, r, 1.0, 0, 1.0, 40, None, "x",
                         usable=r is not None) for n, r in ratios.items()]
    return rep


def test_grid_spreads_from_best_to_worst_and_keeps_cat() -> None:
    rep = _rows({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "cat": 0.35, "e": 0.9, "z": None})
    assert grid_classes(rep, count=3) == ["e", "cat", "z"]  # best first; no-ceiling classes rank last
    assert grid_classes(rep, count=4) == ["e", "cat", "c", "z"]
    table = markdown(rep)
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    order = [line.split(" | ")[1] for line in rows]
    assert order == ["a", "b", "c", "cat", "d", "e", "z"]  # worst ratio first, n/a last


def test_outputs_are_written(counted_data, tmp_path) -> None:
    from PIL import Image

    model = ShareModel({"apple": 1.0, "bee": 0.5, "cat": 0.5, "dog": 1.0})
    rep = evaluate_classes("fake.pt", StrokeCounter(), counted_data, "all", per_class=6, model=model,
                           min_real=1)
    files = write_outputs(rep, tmp_path / "out", grid=["bee", "cat"])
    report = json.loads(open(files["json"]).read())
    assert [r["name"] for r in report["rows"]] == CLASSES and report["summary"]["classes"] == 4
    assert report["rows"][1]["ratio"] == 0.5
    assert Image.open(files["plot"]).size[0] > 600
    assert Image.open(files["grid"]).size == (120 + 8 * 96, 2 * (96 + 14))  # two rows: bee, cat
    assert "| bee | 6 | 0.500 | 1.000 | 3 | 0.500 |" in open(files["table"]).read()


def _classifier(tmp_path, names):
    import torch

    from plotter.training.classifier import ClassifierConfig, SketchCNN, save_classifier
    from plotter.training.raster import RasterSpec

    torch.manual_seed(0)
    net = SketchCNN(ClassifierConfig(n_classes=len(names), size=28, channels=[4, 8], hidden=16))
    save_classifier(tmp_path / "clf.pt", net, names, RasterSpec(size=28), {"test_top1": 0.5})
    return str(tmp_path / "clf.pt")


def test_cli_reports_every_class_of_a_checkpoint(tmp_path) -> None:
    ckpt = save(tiny_rnn(["cat", "dog", "apple"]), tmp_path / "multi.pt")
    data = tmp_path / "data"
    data.mkdir()
    write_packed(data / "quickdraw.npz", ["apple", "cat", "dog"], per_class=40)
    single = tmp_path / "eval"
    single.mkdir()
    (single / "cat-only-report.json").write_text(json.dumps({
        "checkpoint": "sketch_rnn-cat.pt", "kind": "sketch-rnn", "class_name": "cat", "temperature": 0.4,
        "n_samples": 1000, "recognizability": {"samples": 0.475, "real": 0.614, "ratio": 0.773}}))
    args = ["evaluate", str(ckpt), "--classes", "all", "--per-class", "4", "--classifier",
            _classifier(tmp_path, ["apple", "cat", "dog", "zebra"]), "--data", str(data), "--out",
            str(tmp_path / "out"), "--compare-dir", str(single), "--threads", "1", "-q"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "3 classes x 4 samples" in res.output and "recognizability / ceiling: mean" in res.output
    out = tmp_path / "out"
    report = json.loads((out / "multi-classes-t0.4-report.json").read_text())
    assert sorted(r["name"] for r in report["rows"]) == ["apple", "cat", "dog"]
    assert all(r["n"] == 4 and r["n_real"] == 2 for r in report["rows"])
    assert report["single_class"][0]["ratio"] == 0.773
    table = (out / "multi-classes-t0.4-table.md").read_text()
    assert "| sketch_rnn-cat.pt (sketch-rnn) | 0.4 | 1000 | 0.475 | 0.614 | 0.773 |" in table
    assert (out / "multi-classes-t0.4-ratio.png").stat().st_size > 0
    assert (out / "multi-classes-t0.4-grid.png").stat().st_size > 0
    res = CliRunner().invoke(cli, args + ["--best-of", "3"])  # what draw delivers, reported apart
    assert res.exit_code == 0, res.output
    best = json.loads((out / "multi-best3-classes-t0.4-report.json").read_text())
    assert all(r["n"] == 4 for r in best["rows"]) and best["checkpoint"].endswith("multi-best3.pt")


@pytest.mark.parametrize(("extra", "code", "words"), [
    (["--classes", "cat,dgo"], 1, "Error: unknown class 'dgo'; did you mean dog?"),
    (["--classes", "cat", "--grid-classes", "dog"], 2, "dog not among --classes"),
    (["--classes", "all", "--class", "cat"], 2, "--classes needs a CHECKPOINT"),
    (["--best-of", "4"], 2, "add --classes"),
])  # fmt: skip
def test_cli_bad_class_options_are_one_line(tmp_path, extra, code, words) -> None:
    ckpt = save(tiny_rnn(["cat", "dog", "apple"]), tmp_path / "multi.pt")
    write_packed(tmp_path / "quickdraw.npz", ["apple", "cat", "dog"], per_class=10)
    args = ["evaluate", str(ckpt), "--classifier", _classifier(tmp_path, ["apple", "cat", "dog"]),
            "--data", str(tmp_path), "-q", *extra]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code and words in res.output and "Traceback" not in res.output


def test_classes_with_too_few_real_drawings_are_not_rated(counted_data) -> None:
    """The six ~25-drawing Quick, Draw! classes leave 1-2 test drawings: no ceiling to divide by."""
    model = ShareModel({"apple": 1.0, "bee": 1.0, "cat": 1.0, "dog": 1.0})
    rep = evaluate_classes("fake.pt", StrokeCounter(), counted_data, "apple,bee", per_class=4, model=model,
                           min_real=4)  # each class has 3 test drawings
    assert [r.usable for r in rep.rows] == [False, False] and rep.rows[0].ratio == 1.0
    s = rep.summary()
    assert s["rated_classes"] == 0 and s["mean_ratio"] is None
    assert s["no_ceiling"] == ["apple (3 real)", "bee (3 real)"]
    assert "(not rated)" in markdown(rep)
