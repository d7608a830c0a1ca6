"""`plotter train transformer` end to end on a tiny synthetic data set: runs, saves, reloads, draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from plotter.cli import main
from plotter.models.checkpoint import load_checkpoint, load_model
from plotter.models.transformer import SketchTransformer


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def tiny_npz(path, n=40, seed=0):
    """A sketch-rnn style .npz of small int16 stroke-3 drawings (train/valid/test)."""
    rng = np.random.default_rng(seed)

    def drawing():
        k = int(rng.integers(3, 12))
        rows = np.column_stack([rng.integers(-20, 21, (k, 2)), np.zeros(k)]).astype(np.int16)
        rows[-1, 2] = 1
        return rows

    def split(m):
        arr = np.empty(m, dtype=object)
        arr[:] = [drawing() for _ in range(m)]
        return arr

    np.savez(path, train=split(n), valid=split(8), test=split(8))
    return path


@pytest.mark.slow  # two short training runs: a few seconds idle, more on a busy machine
def test_train_transformer_cli_writes_a_loadable_checkpoint(tmp_path):
    data = tiny_npz(tmp_path / "blob.npz")
    out = tmp_path / "run"
    args = ["train", "transformer", "--data", str(data), "--class", "blob", "--out", str(out), "--steps", "6",
            "--batch-size", "8", "--eval-every", "3", "--warmup-steps", "2", "--embd", "32", "--layers", "2",
            "--heads", "2", "--mixtures", "3", "--threads", "1", "--log-every", "3", "--keep-every", "3",
            "--xy-freqs", "2", "--scribble-prob", "1.0", "--repeat-prob", "1.0"]  # must fit the block
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "stopped (steps) at step 6" in res.output
    for name in ("best.pt", "last.pt", "resume.pt", "loss.png", "history.json"):
        assert (out / name).is_file(), name
    kept = sorted(p.name for p in out.glob("step-*.pt"))
    assert kept == ["step-000003.pt", "step-000006.pt"]  # one per validation on a multiple of --keep-every
    assert load_checkpoint(out / kept[0])["metrics"]["step"] == 3
    train_cfg = load_checkpoint(out / "best.pt")["provenance"]["train"]
    assert train_cfg["weight_decay"] == 0.1 and train_cfg["lr_schedule"] == "warmup-cosine"  # own defaults
    model = load_model(out / "best.pt")
    assert isinstance(model, SketchTransformer)
    assert model.config.block_size == 12  # longest drawing (11 points) + start token
    assert model.config.xy_freqs == 2
    assert model.classes == ["blob"] and model.scale > 1.0
    sketches = model.generate(3, seed=0, class_name="blob")
    assert len(sketches) == 3 and all(s.n_points <= 11 for s in sketches)
    resumed = CliRunner().invoke(main, args[:9] + ["9"] + args[10:] + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed" in resumed.output and "at step 9" in resumed.output


def test_train_transformer_rejects_bad_sizes(tmp_path):
    data = tiny_npz(tmp_path / "blob.npz")
    base = ["train", "transformer", "--data", str(data), "--class", "blob", "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(main, base + ["--embd", "30", "--heads", "4"])
    assert res.exit_code != 0 and "not divisible" in res.output
    res = CliRunner().invoke(main, base + ["--block-size", "5"])
    assert res.exit_code != 0 and "--block-size" in res.output and "Traceback" not in res.output
