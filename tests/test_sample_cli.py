"""`plotter sample`: grids, animations and JSON from a checkpoint; seeds repeat; clear errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image
from tiny_models import one_torch_thread, save, tiny_rnn, tiny_transformer  # noqa: F401 (autouse fixture)

from plotter.cli import main
from plotter.sketch.io import read_sketches


@pytest.fixture
def ckpt(tmp_path):
    return save(tiny_transformer(["cat"]), tmp_path / "transformer-cat.pt")


def _run(args: list[str]):
    return CliRunner().invoke(main, args)


def test_sample_writes_every_picture_asked_for(ckpt, tmp_path) -> None:
    out = {k: tmp_path / f"g.{k}" for k in ("png", "svg", "gif", "html", "json")}
    args = ["sample", "--checkpoint", str(ckpt), "-n", "6", "--seed", "2", "--cell", "64", "--frames", "4"]
    res = _run(args + [a for k, p in out.items() for a in (f"--{k}", str(p))])
    assert res.exit_code == 0, res.output
    assert "transformer cat x6" in res.output and "6 sketches" in res.output
    assert Image.open(out["png"]).size == (3 * 64, 2 * 64)  # near-square grid
    gif = Image.open(out["gif"])
    assert gif.n_frames == 4 and gif.size == (3 * 64, 2 * 64)
    assert out["svg"].read_text().startswith("<svg") and "@keyframes" in out["html"].read_text()
    assert len(read_sketches(out["json"])) == 6


def test_same_seed_same_sketches_across_batches(ckpt, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.json"
        res = _run(["sample", "--checkpoint", str(ckpt), "-n", "5", "--batch", "2", "--seed", "9",
                    "--json", str(path)])  # fmt: skip
        assert res.exit_code == 0, res.output
        runs.append(json.loads(path.read_text()))
    assert runs[0] == runs[1]
    strokes = [s["strokes"] for s in runs[0]["sketches"]] if isinstance(runs[0], dict) else runs[0]
    assert len(strokes) == 5


def test_sampling_uses_the_checkpoints_own_temperature_unless_told(ckpt, tmp_path) -> None:
    from plotter.models.checkpoint import set_default_temperature

    set_default_temperature(ckpt, 0.55, "a test")
    res = _run(["sample", "--checkpoint", str(ckpt), "-n", "2", "--json", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    assert "at temperature 0.55" in res.output
    res = _run(["sample", "--checkpoint", str(ckpt), "-n", "2", "--temperature", "0.3",
                "--json", str(tmp_path / "b.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "at temperature 0.3" in res.output


def test_default_output_is_a_png_named_after_the_class(ckpt, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = _run(["sample", "--checkpoint", str(ckpt), "-n", "2", "--cell", "48"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cat-samples.png").is_file()


def test_sample_finds_the_shipped_checkpoint_by_model_and_class(tmp_path, monkeypatch) -> None:
    save(tiny_rnn(["cat"]), tmp_path / "sketch_rnn-cat.pt")
    monkeypatch.setenv("PLOTTER_CHECKPOINTS", str(tmp_path))
    out = str(tmp_path / "o.json")
    res = _run(["sample", "--model", "sketch-rnn", "--class", "cat", "-n", "2", "--json", out])
    assert res.exit_code == 0, res.output
    assert "sketch-rnn cat x2" in res.output
    save(tiny_transformer(["cat"]), tmp_path / "transformer-cat.pt")
    res = _run(["sample", "--class", "cat", "-n", "2", "--json", str(tmp_path / "o.json")])
    assert res.exit_code == 0 and "transformer cat x2" in res.output  # no --model: the better model


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "missing.pt"], "does not exist"),
        (["--temperature", "0"], "temperature must be in (0, 5]"),
        (["--class", "cta"], "unknown class 'cta'; did you mean cat?"),
        (["--class", "dog"], "it knows: cat"),
    ],
)
def test_bad_input_is_one_line(ckpt, args: list[str], message: str, tmp_path) -> None:
    if "--checkpoint" not in args:
        args = [*args, "--checkpoint", str(ckpt)]
    res = _run(["sample", *args, "--json", str(tmp_path / "x.json")])
    assert res.exit_code == 1, res.output
    assert message in res.output and "Traceback" not in res.output


def test_several_classes_one_row_each(tmp_path) -> None:
    ckpt = save(tiny_rnn(["cat", "dog", "apple"]), tmp_path / "multi.pt")
    out, js = tmp_path / "rows.png", tmp_path / "rows.json"
    args = ["sample", "--checkpoint", str(ckpt), "--class", "cat,apple", "-n", "3", "--seed", "1"]
    res = _run(args + ["--cell", "48", "--png", str(out), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert Image.open(out).size[0] == 3 * 48  # n per row, one row per class (plus captions)
    assert [s.meta["class"] for s in read_sketches(js)] == ["cat"] * 3 + ["apple"] * 3


def test_best_of_reproduces_from_a_seed_and_differs_from_the_raw_draw(ckpt, tmp_path) -> None:
    outs = {}
    for name, extra in (("a", ["--best-of", "4"]), ("b", ["--best-of", "4"]), ("raw", [])):
        path = tmp_path / f"{name}.json"
        res = _run(["sample", "--checkpoint", str(ckpt), "--class", "cat", "-n", "3", "--batch", "2",
                    "--seed", "5", "--json", str(path), *extra])  # fmt: skip
        assert res.exit_code == 0, res.output
        outs[name] = json.loads(path.read_text())
    assert outs["a"] == outs["b"] and outs["a"] != outs["raw"]
    res = _run(["sample", "--checkpoint", str(ckpt), "--best-of", "0"])
    assert res.exit_code != 0 and "Traceback" not in res.output
