"""The shared training loop and the `plotter train` command on a tiny synthetic data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from plotter.cli import main
from plotter.models.checkpoint import load_model
from plotter.training.loop import TrainConfig, lr_at

TINY = ["--enc-hidden", "8", "--dec-hidden", "16", "--z-size", "4", "--mixtures", "2", "--batch-size", "8"]


def _write_data(tmp_path):
    rng = np.random.default_rng(0)
    sk = []
    for i in range(60):
        n = 5 + i % 9
        s = np.column_stack([rng.integers(-30, 30, (n, 2)), np.zeros(n)]).astype(np.int16)
        s[-1, 2] = 1
        sk.append(s)
    obj = lambda a: np.array(a, dtype=object)  # noqa: E731
    np.savez(tmp_path / "cat.npz", train=obj(sk[:40]), valid=obj(sk[40:50]), test=obj(sk[50:]))
    return tmp_path / "cat.npz"


def test_lr_schedules():
    exp = TrainConfig(lr=1e-3, lr_decay=0.9, min_lr=1e-4)
    assert lr_at(0, exp) == 1e-3 and lr_at(1, exp) == pytest.approx(0.9e-3) and lr_at(1000, exp) == 1e-4
    cos = TrainConfig(lr=1e-3, min_lr=0.0, lr_schedule="warmup-cosine", warmup_steps=10, steps=110)
    assert lr_at(0, cos) < lr_at(9, cos) == 1e-3 and abs(lr_at(110, cos)) < 1e-12


def test_train_cli_writes_checkpoints_curve_and_resumes(tmp_path):
    data = _write_data(tmp_path)
    out = tmp_path / "run"
    args = [
        "train",
        "sketch-rnn",
        "--data",
        str(data),
        "--class",
        "cat",
        "--out",
        str(out),
        "--eval-every",
        "4",
        "--log-every",
        "2",
        "--threads",
        "1",
        *TINY,
    ]
    r = CliRunner().invoke(main, [*args, "--steps", "8"])
    assert r.exit_code == 0, r.output
    assert "step 8/8" in r.output and "valid @ 8" in r.output
    for name in ("best.pt", "last.pt", "resume.pt", "loss.png", "history.json", "samples.png"):
        assert (out / name).is_file(), name
    m = load_model(out / "best.pt")
    assert m.classes == ["cat"] and m.scale > 1 and m.config.dec_hidden == 16
    r = CliRunner().invoke(main, [*args, "--steps", "12", "--resume"])
    assert r.exit_code == 0, r.output
    assert "resumed" in r.output and "step 12/12" in r.output
    hist = json.loads((out / "history.json").read_text())
    assert [v["step"] for v in hist["valid"]] == [4, 8, 12]


def test_bad_input_is_one_line_error(tmp_path):
    data = _write_data(tmp_path)
    r = CliRunner().invoke(
        main, ["train", "sketch-rnn", "--data", str(data), "--class", "dog", "--steps", "1"]
    )
    assert r.exit_code == 1 and "Error:" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(
        main, ["train", "sketch-rnn", "--data", str(tmp_path), "--class", "dog", "--steps", "1"]
    )
    assert r.exit_code == 1 and "dog" in r.output


def test_init_from_fine_tunes_from_a_checkpoint_and_refuses_a_misfit(tmp_path):
    data = _write_data(tmp_path)
    base = ["train", "sketch-rnn", "--data", str(data), "--class", "cat", "--eval-every", "4"]
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "a"), "--steps", "4", *TINY])
    assert r.exit_code == 0, r.output
    start = load_model(tmp_path / "a" / "best.pt")
    args = [*base, "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "a" / "best.pt"), *TINY]
    r = CliRunner().invoke(main, [*args, "--steps", "1", "--kl-weight", "1.0", "--lr", "1e-9"])
    assert r.exit_code == 0, r.output
    tuned = load_model(tmp_path / "b" / "best.pt")
    assert tuned.config.kl_weight == 1.0 and tuned.scale == start.scale
    for (name, a), b in zip(start.state_dict().items(), tuned.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name  # lr 1e-9: the weights came from the checkpoint
    bigger = [a if a != "16" else "24" for a in args]  # a decoder size that does not fit the weights
    r = CliRunner().invoke(main, [*bigger, "--steps", "1"])
    assert r.exit_code == 2 and "does not fit" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, [*args, "--steps", "1", "--resume"])
    assert r.exit_code == 2 and "either --resume or --init-from" in r.output


def test_cosine_by_time_follows_the_clock_when_it_is_ahead_of_the_steps():
    cos = TrainConfig(lr=1e-3, min_lr=0.0, lr_schedule="warmup-cosine", warmup_steps=10, steps=1010,
                      max_minutes=60.0, cosine_by_time=True)
    assert lr_at(20, cos, minutes=0.0) == pytest.approx(lr_at(20, TrainConfig(**{**cos.__dict__,
                                                                                 "cosine_by_time": False})))
    assert lr_at(20, cos, minutes=30.0) == pytest.approx(0.5e-3)  # half the time spent: half-way down
    assert lr_at(20, cos, minutes=61.0) == pytest.approx(0.0)  # budget spent: the floor
    assert lr_at(1010, cos, minutes=1.0) == pytest.approx(0.0)  # steps ahead of the clock: steps rule


def test_train_config_defaults_to_one_thread():
    assert TrainConfig().num_threads == 1
