"""The yardstick classifier: it learns, it round-trips, its data split keeps the cat ceiling unseen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plotter.errors import CheckpointError
from plotter.sketch import Sketch
from plotter.training.classifier import ClassifierConfig, SketchCNN, load_classifier, save_classifier
from plotter.training.classifier_train import (
    TrainConfig,
    accuracy,
    build_dataset,
    fit,
    main,
    sketch_hash,
    split_indices,
)
from plotter.training.raster import RasterSpec, rasterize_many

SPEC = RasterSpec(size=28, line_width=1.5)
SHAPES = ["circle", "line", "cross"]


def shape(kind: str, rng: np.random.Generator) -> Sketch:
    """A randomly placed, sized and rotated circle, line or cross."""
    c, r, a = rng.uniform(0, 100, 2), rng.uniform(10, 60), rng.uniform(0, np.pi)
    if kind == "circle":
        t = np.linspace(0, 2 * np.pi, 24)
        return Sketch([c + r * np.column_stack([np.cos(t), np.sin(t)]) + rng.normal(0, 1, (24, 2))])
    d = r * np.array([np.cos(a), np.sin(a)])
    strokes = [np.array([c - d, c + d])]
    if kind == "cross":
        e = np.array([-d[1], d[0]])
        strokes.append(np.array([c - e, c + e]))
    return Sketch(strokes)


def synthetic(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sketches = [shape(k, rng) for k in SHAPES for _ in range(n_per_class)]
    labels = np.repeat(np.arange(len(SHAPES)), n_per_class)
    return rasterize_many(sketches, SPEC), labels


def tiny_model() -> SketchCNN:
    torch.manual_seed(0)
    return SketchCNN(ClassifierConfig(n_classes=3, size=28, channels=[8, 16], hidden=32, dropout=0.1))


def test_training_reduces_loss_and_separates_circles_lines_crosses() -> None:
    torch.set_num_threads(1)
    x, y = synthetic(60, seed=1)
    xt, yt = synthetic(20, seed=2)
    model = tiny_model()
    before = accuracy(model, xt, yt)[0]
    cfg = TrainConfig(epochs=6, batch_size=30, lr=1e-2, label_smoothing=0.0)
    losses = fit(model, x, y, cfg, log=lambda s: None)
    top1, top5, per = accuracy(model, xt, yt)
    assert losses[-1] < 0.5 * losses[0]
    assert top1 >= 0.7 and top1 > before  # chance is 1/3
    assert top5 == 1.0 and per.shape == (3,)


def test_checkpoint_round_trip_predicts_identically(tmp_path) -> None:
    model = tiny_model().eval()
    path = tmp_path / "clf.pt"
    save_classifier(path, model, SHAPES, SPEC, {"test_top1": 0.5}, {"data": "synthetic"})
    clf = load_classifier(path)
    x, _ = synthetic(4, seed=3)
    with torch.no_grad():
        ref = model(torch.as_tensor(x).unsqueeze(1).float() / 255.0).numpy()
    logits, feats = clf.predict(x, batch_size=5)
    assert np.allclose(logits, ref, atol=1e-5)
    assert feats.shape == (12, 32)
    assert clf.classes == SHAPES and clf.spec == SPEC and clf.metrics["test_top1"] == 0.5
    assert clf.class_index("cross") == 2


@pytest.mark.parametrize("content", ["missing", "garbage", "truncated", "foreign", "mismatched"])
def test_bad_checkpoints_are_one_line_errors(tmp_path, content: str) -> None:
    path = tmp_path / "clf.pt"
    good = tmp_path / "good.pt"
    save_classifier(good, tiny_model(), SHAPES, SPEC)
    if content == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif content == "truncated":
        path.write_bytes(good.read_bytes()[:2000])
    elif content == "foreign":
        torch.save({"kind": "sketch-rnn", "state_dict": {}}, path)
    elif content == "mismatched":
        ckpt = torch.load(good, weights_only=True)
        ckpt["config"]["hidden"] = 64
        torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as err:
        load_classifier(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_unknown_class_suggests_close_names(tmp_path) -> None:
    save_classifier(tmp_path / "c.pt", tiny_model(), SHAPES, SPEC)
    with pytest.raises(Exception, match="circle"):
        load_classifier(tmp_path / "c.pt").class_index("circel")


def _fake_data(tmp_path) -> tuple:
    """A packed quickdraw.npz with 3 classes and a cat.npz whose valid/test drawings are also packed."""
    rng = np.random.default_rng(0)

    def drawing() -> np.ndarray:
        return np.column_stack([rng.integers(-20, 20, (6, 2)), [0, 0, 1, 0, 0, 1]]).astype(np.int16)

    cats = {k: [drawing() for _ in range(n)] for k, n in (("train", 30), ("valid", 5), ("test", 5))}
    packed = {"cat": cats["train"] + cats["valid"] + cats["test"], "dog": [drawing() for _ in range(20)],
              "ant": [drawing() for _ in range(10)]}
    arrays = {}
    for name, items in packed.items():
        arrays[f"{name}__data"] = np.concatenate(items)
        arrays[f"{name}__offsets"] = np.cumsum([0] + [len(s) for s in items]).astype(np.int64)
    np.savez(tmp_path / "quickdraw.npz", **arrays)
    obj = {k: np.array(v + [np.zeros((1, 3), np.int16)], dtype=object)[:-1] for k, v in cats.items()}
    np.savez(tmp_path / "cat.npz", **obj)
    return cats


def test_dataset_excludes_the_official_cat_valid_and_test_drawings(tmp_path) -> None:
    cats = _fake_data(tmp_path)
    cfg = TrainConfig(test_frac=0.2, test_cap=100)
    ds = build_dataset(tmp_path, cfg, RasterSpec(size=16), log=lambda s: None)
    assert ds["classes"] == ["ant", "cat", "dog"]
    assert ds["provenance"]["cat_holdout_excluded"] == 10
    cat = ds["classes"].index("cat")
    assert (ds["ytr"] == cat).sum() + (ds["yte"] == cat).sum() == 30  # only cat.npz's train drawings remain
    held = {sketch_hash(s) for s in cats["valid"] + cats["test"]}
    assert sketch_hash(cats["test"][0]) in held and sketch_hash(cats["train"][0]) not in held


def test_split_is_seeded_by_class_name_and_disjoint() -> None:
    cfg = TrainConfig(test_frac=0.1, test_cap=300, train_per_class=50)
    te, tr = split_indices(200, "dog", cfg)
    te2, tr2 = split_indices(200, "dog", cfg)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    assert len(te) == 20 and len(tr) == 50 and not set(te) & set(tr)
    assert not np.array_equal(split_indices(200, "cat", cfg)[0], te)


def test_command_line_trains_and_saves(tmp_path, capsys) -> None:
    _fake_data(tmp_path)
    out = tmp_path / "clf.pt"
    main(["--data", str(tmp_path), "--out", str(out), "--epochs", "1", "--size", "16", "--batch-size", "8"])
    clf = load_classifier(out)
    assert clf.classes == ["ant", "cat", "dog"] and clf.spec.size == 16
    assert 0.0 <= clf.metrics["test_top1"] <= 1.0 and clf.provenance["cat_holdout_excluded"] == 10
    with pytest.raises(SystemExit, match="no packed"):
        main(["--data", str(tmp_path / "nope"), "--out", str(out)])


def test_hidden_train_classifier_subcommand(tmp_path) -> None:
    from click.testing import CliRunner

    from plotter.cli import main as cli

    _fake_data(tmp_path)
    out = tmp_path / "c.pt"
    res = CliRunner().invoke(cli, ["train", "classifier", "--data", str(tmp_path), "--out", str(out),
                                   "--epochs", "1", "--train-per-class", "5"])
    assert res.exit_code == 0, res.output
    assert "held-out top-1" in res.output and load_classifier(out).provenance["n_train"] == 15
