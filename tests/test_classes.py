"""Class conditioning end to end: models draw per class, unknown names get suggestions, `plotter classes`,
`plotter train --class a,b` / `--class all` on a packed file."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_models import one_torch_thread, save, tiny_rnn, tiny_transformer, write_packed  # noqa: F401 (autouse fixture)

from plotter.cli import main
from plotter.errors import DataError, UnknownClassError
from plotter.models.checkpoint import load_model
from plotter.models.complete import resolve_class
from plotter.training.data import expand_classes

CLASSES = ["cat", "dog", "apple"]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a.strokes, b.strokes))


@pytest.mark.parametrize("make", [tiny_rnn, tiny_transformer])
def test_a_class_conditioned_model_draws_differently_per_class(make) -> None:
    model = make(CLASSES)
    cats = model.generate(4, class_name="cat", seed=5, max_len=30)
    dogs = model.generate(4, class_name="dog", seed=5, max_len=30)
    again = model.generate(4, class_name="cat", seed=5, max_len=30)
    assert all(_same(a, b) for a, b in zip(cats, again))  # same class, same seed: same drawings
    assert not all(_same(a, b) for a, b in zip(cats, dogs))  # only the class changed
    assert {s.meta["class"] for s in dogs} == {"dog"}


@pytest.mark.parametrize("make", [tiny_rnn, tiny_transformer])
def test_unknown_class_suggests_close_names(make) -> None:
    model = make(CLASSES)
    with pytest.raises(UnknownClassError, match="did you mean dog"):
        model.generate(1, class_name="dgo")
    with pytest.raises(UnknownClassError, match="did you mean apple"):
        resolve_class(model, "aple")


def test_class_names_are_matched_like_the_data_keys() -> None:
    model = tiny_transformer(["the_eiffel_tower", "cat"])
    assert resolve_class(model, "The Eiffel Tower") == "the_eiffel_tower"


def test_multiclass_model_needs_a_class_single_class_model_does_not() -> None:
    with pytest.raises(UnknownClassError, match="3 classes"):
        resolve_class(tiny_rnn(CLASSES), None)
    assert resolve_class(tiny_rnn(["cat"]), None) == "cat"


@pytest.mark.parametrize("command", ["sample", "complete", "morph"])
def test_every_command_with_class_suggests(command: str, tmp_path) -> None:
    ckpt = save(tiny_rnn(CLASSES), tmp_path / "multi.pt")
    doc = '{"format": "plotter-sketch", "version": 1, "strokes": [[[0, 0], [9, 9]]]}'
    (tmp_path / "p.json").write_text(doc)
    args = [command, *([str(tmp_path / "p.json")] if command == "complete" else [])]
    args += ["--checkpoint", str(ckpt), "--class", "catt", "--png", str(tmp_path / "o.png")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "Error: unknown class 'catt'; did you mean cat?" in res.output
    assert "Traceback" not in res.output


def test_classes_lists_a_checkpoint_and_the_shipped_ones(tmp_path, monkeypatch) -> None:
    save(tiny_rnn(CLASSES), tmp_path / "sketch_rnn-multi.pt")
    save(tiny_transformer(["cat"]), tmp_path / "transformer-cat.pt")
    from plotter.models.checkpoint import set_default_temperature

    set_default_temperature(tmp_path / "transformer-cat.pt", 0.5, "a test")
    res = CliRunner().invoke(main, ["classes", str(tmp_path / "sketch_rnn-multi.pt")])
    assert res.exit_code == 0
    assert res.stdout.split() == CLASSES  # one per line on stdout, for scripts
    monkeypatch.setenv("PLOTTER_CHECKPOINTS", str(tmp_path))
    res = CliRunner().invoke(main, ["classes"])
    assert res.exit_code == 0
    assert "sketch_rnn-multi.pt  sketch-rnn  3 classes: cat, dog, apple" in res.output
    assert "transformer-cat.pt  transformer  1 class (default temperature 0.5): cat" in res.output


def test_classes_of_a_foreign_file_is_one_line_error(tmp_path) -> None:
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    res = CliRunner().invoke(main, ["classes", str(tmp_path / "x.pt")])
    assert res.exit_code == 1 and res.output.startswith("Error:") and "Traceback" not in res.output


def test_expand_classes(tmp_path) -> None:
    packed = write_packed(tmp_path / "quickdraw.npz", ["apple", "cat", "dog"], per_class=3)
    assert expand_classes(packed, ["cat,dog", "apple", "cat"]) == ["cat", "dog", "apple"]
    assert expand_classes(tmp_path, ["all"]) == ["apple", "cat", "dog"]
    with pytest.raises(DataError, match="packed"):
        expand_classes(tmp_path / "nothing", ["all"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sketch-rnn", "transformer"])
def test_train_on_several_classes_end_to_end(kind: str, tmp_path) -> None:
    packed = write_packed(tmp_path / "quickdraw.npz", ["apple", "cat", "dog"], per_class=24)
    small = ["--enc-hidden", "8", "--dec-hidden", "16", "--z-size", "4", "--mixtures", "2"]
    if kind == "transformer":
        small = ["--layers", "1", "--heads", "2", "--embd", "16", "--mixtures", "2"]
    args = ["train", kind, "--data", str(packed), "--class", "all", "--limit", "10", "--steps", "3",
            "--batch-size", "8", "--eval-every", "3", "--out", str(tmp_path / "run")]  # fmt: skip
    args += ["--threads", "1"]
    args += small
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "30 train" in res.output  # 10 per class
    model = load_model(tmp_path / "run" / "best.pt")
    assert model.classes == ["apple", "cat", "dog"]
    assert model.config.n_classes == 3
    res = CliRunner().invoke(main, ["sample", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--class",
                                    "dog", "-n", "2", "--json", str(tmp_path / "d.json")])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_default_checkpoint_is_one_that_knows_the_class(tmp_path, monkeypatch) -> None:
    from plotter.job.models import find_checkpoint

    save(tiny_rnn(["cat"]), tmp_path / "sketch_rnn-cat.pt")
    save(tiny_rnn(CLASSES), tmp_path / "sketch_rnn-multiclass.pt")
    monkeypatch.setenv("PLOTTER_CHECKPOINTS", str(tmp_path))
    assert find_checkpoint("sketch-rnn", "cat", None).name == "sketch_rnn-cat.pt"
    assert find_checkpoint("sketch-rnn", "dog", None).name == "sketch_rnn-multiclass.pt"
    assert find_checkpoint("sketch-rnn", "zebra", None).name == "sketch_rnn-multiclass.pt"  # widest: suggests
    from plotter.job.models import ModelCache
    from plotter.job.params import DrawParams
    from plotter.job.pipeline import sample

    drawn = sample(DrawParams(class_name="dog", n=2, seed=0), ModelCache())  # `plotter draw --class dog`
    assert len(drawn) == 2


def test_classes_lists_a_classifier_as_not_drawing(tmp_path, monkeypatch) -> None:
    import torch

    clf = {"format": 1, "kind": "classifier", "classes": ["ant", "bee"], "state_dict": {}}
    torch.save(clf, tmp_path / "c.pt")
    monkeypatch.setenv("PLOTTER_CHECKPOINTS", str(tmp_path))
    res = CliRunner().invoke(main, ["classes"])
    assert res.exit_code == 0
    assert "classifier  2 classes (judges drawings; does not draw): ant, bee" in res.output
