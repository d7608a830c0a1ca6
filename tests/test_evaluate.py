"""`plotter evaluate`: sane numbers on fake models, both NLL conventions, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from plotter.cli import main as cli
from plotter.sketch import Sketch
from plotter.training.classifier import ClassifierConfig, SketchCNN, load_classifier, save_classifier
from plotter.training.classifier_train import TrainConfig, fit
from plotter.training.evaluate import Report, ended_share, evaluate, held_out_nll, mean_pairwise_distance
from plotter.training.raster import RasterSpec, rasterize_many

SPEC = RasterSpec(size=28, line_width=1.5)
SHAPES = ["circle", "line", "cross"]


def shape(kind: str, rng: np.random.Generator) -> Sketch:
    c, r, a = rng.uniform(0, 100, 2), rng.uniform(10, 60), rng.uniform(0, np.pi)
    if kind == "circle":
        t = np.linspace(0, 2 * np.pi, 24)
        return Sketch([c + r * np.column_stack([np.cos(t), np.sin(t)]) + rng.normal(0, 1, (24, 2))])
    d = r * np.array([np.cos(a), np.sin(a)])
    e = np.array([-d[1], d[0]])
    return Sketch([np.array([c - d, c + d])] + ([np.array([c - e, c + e])] if kind == "cross" else []))


class FakeModel:
    """Implements the models' `generate` contract with a drawing function instead of a network."""

    def __init__(self, draw, ended: bool | None = True) -> None:
        self.draw, self.ended, self.classes, self.kind = draw, ended, ["circle"], "fake"

    def generate(self, n, temperature=0.4, class_name=None, prefix=None, seed=None, max_len=None):
        rng = np.random.default_rng(seed)
        meta = {} if self.ended is None else {"ended": self.ended}
        return [self.draw(rng).copy(meta=meta) for _ in range(n)]


@pytest.fixture(scope="module")
def shapes_classifier(tmp_path_factory):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    sketches = [shape(k, rng) for k in SHAPES for _ in range(60)]
    model = SketchCNN(ClassifierConfig(n_classes=3, size=28, channels=[8, 16], hidden=32, dropout=0.1))
    fit(model, rasterize_many(sketches, SPEC), np.repeat(np.arange(3), 60),
        TrainConfig(epochs=6, batch_size=30, lr=1e-2, label_smoothing=0.0), log=lambda s: None)
    path = tmp_path_factory.mktemp("clf") / "shapes.pt"
    save_classifier(path, model, SHAPES, SPEC, {"test_top1": 0.9})
    return load_classifier(path)


@pytest.fixture
def circle_data(tmp_path):
    """A sketch-rnn style circle.npz (train/valid/test of int16 stroke-3)."""
    rng = np.random.default_rng(7)

    def s3() -> np.ndarray:
        return np.round(shape("circle", rng).to_stroke3()).astype(np.int16)

    splits = {k: np.empty(n, dtype=object) for k, n in (("train", 10), ("valid", 5), ("test", 40))}
    for arr in splits.values():
        for i in range(len(arr)):
            arr[i] = s3()
    np.savez(tmp_path / "circle.npz", **splits)
    return tmp_path


def test_real_like_samples_reach_the_ceiling_and_noise_does_not(shapes_classifier, circle_data) -> None:
    circles = FakeModel(lambda r: shape("circle", r))
    good = evaluate("fake.pt", shapes_classifier, circle_data, n=40, model=circles)
    assert good.recognizability["real"] >= 0.8
    assert good.recognizability["ratio"] >= 0.85 and good.checks()["recognizability"]
    assert good.diversity["n_each"] == 40 and 0.75 < good.diversity["ratio"] < 1.33
    assert good.ended["share"] == 1.0 and good.checks()["ended"]
    assert good.nll["paper"] is None  # not a torch model: no likelihood to measure

    def noise(r: np.random.Generator) -> Sketch:
        return Sketch([r.uniform(0, 100, (8, 2)) for _ in range(4)])

    bad = evaluate("noise.pt", shapes_classifier, circle_data, n=40, model=FakeModel(noise, ended=False))
    assert bad.recognizability["samples"] < good.recognizability["samples"] - 0.3
    assert bad.ended["share"] == 0.0 and bad.checks()["ended"] is False


def test_identical_samples_have_zero_diversity(shapes_classifier, circle_data, tmp_path) -> None:
    one = shape("circle", np.random.default_rng(3))
    rep = evaluate("same.pt", shapes_classifier, circle_data, n=20, model=FakeModel(lambda r: one),
                   out_dir=tmp_path / "out", grid_size=9)
    assert rep.diversity["samples"] == pytest.approx(0.0, abs=1e-6)
    assert rep.checks()["diversity"] is False
    data = json.loads((tmp_path / "out" / "same-circle-t0.4-report.json").read_text())
    assert data["checks"]["diversity"] is False and data["diversity"]["samples"] < 1e-6
    from PIL import Image

    assert Image.open(rep.files["grid"]).size == (8 * 112, 2 * (112 + 14))
    assert "FAIL" in rep.summary() and "PASS" in rep.summary()


def test_mean_pairwise_distance_and_ended_share() -> None:
    assert mean_pairwise_distance(np.zeros((5, 3))) == 0.0
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == pytest.approx(10 / 3)
    s = Sketch([np.zeros((2, 2))])
    mixed = [s.copy(meta={"ended": True})] * 3 + [s.copy(meta={"ended": False})]
    assert ended_share(mixed)["share"] == 0.75
    assert ended_share([s])["share"] is None and "ended" in ended_share([s])["note"]


def test_validation_judge_scores_against_the_validation_drawings(shapes_classifier, circle_data) -> None:
    from plotter.training.evaluate import ValidationJudge, target_margin

    judge = ValidationJudge(shapes_classifier.path, circle_data, "circle")
    assert len(judge.real["feats"]) == 5  # the 5 validation circles, not the 40 test ones
    circles = judge.scores(FakeModel(lambda r: shape("circle", r)), 12, 0.4, seeds=2)
    lines = judge.scores(FakeModel(lambda r: shape("line", r), ended=False), 12, 0.4, seeds=2)
    assert len(circles) == 2 and all(rec > 0.85 and ended == 1.0 for rec, _, ended in circles)
    assert all(rec < 0.5 and ended == 0.0 for rec, _, ended in lines)
    assert min(target_margin(*r) for r in lines) < 0  # the fails rank below
    assert target_margin(0.85, 1.0, 1.0) == pytest.approx(0.0)  # margins are in units of each tolerance
    assert target_margin(1.7, 0.95, 1.0) == pytest.approx(0.5)
    assert target_margin(1.7, 1.0, 0.98) == pytest.approx(-1.0)


def test_report_checks_follow_the_targets() -> None:
    rep = Report("x.pt", "fake", "cat", 0.4, 10, 0, recognizability={"ratio": 0.84},
                 diversity={"ratio": 1.09}, ended={"share": 0.99})
    assert rep.checks() == {"recognizability": False, "diversity": True, "ended": True}


def test_held_out_nll_matches_the_training_loss_on_one_unpadded_batch() -> None:
    from plotter.models.mdn import mdn_loss
    from plotter.models.transformer import SketchTransformer, TransformerConfig
    from plotter.training.data import make_batch

    torch.manual_seed(0)
    cfg = TransformerConfig(n_layer=1, n_head=2, n_embd=16, block_size=40)
    model = SketchTransformer(cfg, scale=10.0).eval()
    rng = np.random.default_rng(0)
    sketches = [np.column_stack([rng.normal(0, 10, (n, 2)), rng.random(n) < 0.2]).astype(np.float32)
                for n in (5, 9, 12)]
    out = held_out_nll(model, sketches)
    norm = [np.column_stack([s[:, :2] / 10.0, s[:, 2]]).astype(np.float32) for s in sketches]
    batch = make_batch(norm)
    with torch.no_grad():
        ref = mdn_loss(model.mdn_params(batch.x), batch.y, batch.mask)
    assert out["per_valid_row"]["nll"] == pytest.approx(float(ref["nll"]), rel=1e-5)
    assert out["n_max"] == 13 and out["kl"] is None and np.isfinite(out["paper"]["nll"])
    # the transformer is scored with the same absorbing end state as Sketch-RNN: padding costs nothing
    rows = _valid_rows(sketches)
    assert out["paper"]["pen_nll"] * 13 * 3 == pytest.approx(out["per_valid_row"]["pen_nll"] * rows, rel=1e-4)


def _valid_rows(sketches: list[np.ndarray]) -> int:
    return sum(len(s) + 1 for s in sketches)  # valid rows: points + the end row


def test_sketch_rnn_nll_is_the_models_own_loss_path(monkeypatch) -> None:
    """evaluate must score Sketch-RNN exactly as compute_loss does (z = μ here), so the two cannot drift."""
    from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig
    from plotter.training.data import make_batch

    torch.manual_seed(0)
    model = SketchRNN(SketchRNNConfig(enc_hidden=8, dec_hidden=16, z_size=4, n_mixtures=3)).eval()
    model.scale = 10.0
    rng = np.random.default_rng(1)
    sketches = [np.column_stack([rng.normal(0, 10, (n, 2)), rng.random(n) < 0.2]).astype(np.float32)
                for n in (5, 9, 12)]
    out = held_out_nll(model, sketches)
    norm = [np.column_stack([s[:, :2] / 10.0, s[:, 2]]).astype(np.float32) for s in sketches]
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # compute_loss's z = μ + σ·ε with ε = 0
    with torch.no_grad():
        ref = model.compute_loss(make_batch(norm, [0] * 3))
    assert out["per_valid_row"]["nll"] == pytest.approx(float(ref["nll"]), rel=1e-5)
    assert out["per_valid_row"]["pen_nll"] == pytest.approx(float(ref["pen_nll"]), rel=1e-5)
    assert out["kl"] == pytest.approx(float(ref["kl"]), rel=1e-5)
    # paper convention: padding rows after the end are absorbing (cost ~0): its sums equal the per-row ones
    rows, n, n_max = _valid_rows(sketches), len(sketches), out["n_max"]
    assert out["paper"]["pen_nll"] * n_max * n == pytest.approx(
        out["per_valid_row"]["pen_nll"] * rows, rel=1e-4)
    assert out["paper"]["offset_nll"] * n_max * n == pytest.approx(
        out["per_valid_row"]["offset_nll"] * rows, rel=1e-4)


def test_cli_errors_are_one_line(shapes_classifier, circle_data, tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["evaluate", str(tmp_path / "nope.pt"), "--classifier", shapes_classifier.path,
                              "--data", str(circle_data), "-q"])
    assert res.exit_code == 1 and res.output.startswith("Error:") and res.output.count("\n") == 1
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    args = ["evaluate", str(garbage), "--classifier", str(garbage), "--data", str(circle_data)]
    res = runner.invoke(cli, args)
    assert res.exit_code == 1 and "Error:" in res.output and res.output.count("\n") == 1


def test_cli_evaluates_a_real_checkpoint_end_to_end(shapes_classifier, circle_data, tmp_path) -> None:
    from plotter.models.checkpoint import save_checkpoint
    from plotter.models.transformer import SketchTransformer, TransformerConfig

    torch.manual_seed(0)
    model = SketchTransformer(TransformerConfig(n_layer=1, n_head=2, n_embd=16, block_size=64), scale=10.0,
                              classes=["circle"])
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model)
    res = CliRunner().invoke(cli, ["evaluate", str(ckpt), "--classifier", shapes_classifier.path, "--data",
                                   str(circle_data), "-n", "6", "--out", str(tmp_path / "o"), "--grid", "4"])
    assert res.exit_code == 0, res.output
    for words in ("recognizability", "diversity", "NLL (paper", "ended by themselves"):
        assert words in res.output
    report = json.loads((tmp_path / "o" / "tiny-circle-t0.4-report.json").read_text())
    assert report["kind"] == "transformer" and report["n_samples"] == 6
    assert np.isfinite(report["nll"]["paper"]["nll"]) and report["ended"]["n"] == 6
    assert report["recognizability"]["n_real"] == 40 and report["data"]["split_judged"] == "test"
    res = CliRunner().invoke(cli, ["evaluate", str(ckpt), "--classifier", shapes_classifier.path, "--data",
                                   str(circle_data), "-n", "6", "--out", str(tmp_path / "v"),
                                   "--split", "valid"])
    assert res.exit_code == 0, res.output
    assert "on 5 valid sketches" in res.output  # the 5 validation circles, not the 40 test ones
    report = json.loads((tmp_path / "v" / "tiny-circle-t0.4-report.json").read_text())
    assert report["recognizability"]["n_real"] == 5 and report["data"]["split_judged"] == "valid"


def test_real_baseline_passes_its_own_targets(shapes_classifier, circle_data, tmp_path) -> None:
    res = CliRunner().invoke(cli, ["evaluate", "--real-baseline", "--class", "circle", "--classifier",
                                   shapes_classifier.path, "--data", str(circle_data), "-n", "10", "--json",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # progress bars go to stderr
    assert report["kind"] == "real-train-drawings" and report["ended"]["share"] == 1.0
    assert report["recognizability"]["ratio"] > 0.8
    res = CliRunner().invoke(cli, ["evaluate", "--real-baseline", "--classifier", shapes_classifier.path])
    assert res.exit_code == 2 and "--class" in res.output


def test_held_out_nll_skips_sketches_longer_than_the_transformer_context() -> None:
    from plotter.models.transformer import SketchTransformer, TransformerConfig

    torch.manual_seed(0)
    cfg = TransformerConfig(n_layer=1, n_head=2, n_embd=16, block_size=10)
    model = SketchTransformer(cfg, scale=1.0).eval()
    sketches = [np.ones((n, 3), np.float32) for n in (9, 10, 4)]
    out = held_out_nll(model, sketches)
    assert out["skipped_too_long"] == 1 and out["n_sketches"] == 2 and out["n_max"] == 10
