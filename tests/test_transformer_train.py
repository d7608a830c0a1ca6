"""`plotter train transformer` end to end on a tiny synthetic data set: runs, saves, reloads, draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from plotter.cli import main
from plotter.models.checkpoint import load_checkpoint, load_model
from plotter.models.grow import load_grown
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
    args = [
        "train",
        "transformer",
        "--data",
        str(data),
        "--class",
        "blob",
        "--out",
        str(out),
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--eval-every",
        "3",
        "--warmup-steps",
        "2",
        "--embd",
        "32",
        "--layers",
        "2",
        "--heads",
        "2",
        "--mixtures",
        "3",
        "--threads",
        "1",
        "--log-every",
        "3",
        "--keep-every",
        "3",
        "--xy-freqs",
        "2",
        "--scribble-prob",
        "1.0",
        "--repeat-prob",
        "1.0",
    ]  # must fit the block
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


def _tiny(layers=2, xy=0, n_classes=3):
    from plotter.models.transformer import TransformerConfig

    torch.manual_seed(0)
    cfg = TransformerConfig(
        block_size=16,
        n_layer=layers,
        n_head=2,
        n_embd=16,
        n_mixtures=3,
        dropout=0.0,
        n_classes=n_classes,
        xy_freqs=xy,
    )
    return SketchTransformer(cfg, scale=2.0, classes=[f"c{i}" for i in range(n_classes)])


def _rows(b=3, t=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, 5, generator=g)
    x[..., 2:] = torch.nn.functional.one_hot(torch.randint(0, 3, (b, t), generator=g), 3).float()
    return x


def test_grown_model_computes_the_same_function_then_trains_its_new_parts():
    small, big = _tiny(layers=2), _tiny(layers=3, xy=2)
    new = load_grown(big, small.state_dict())
    assert any(k.startswith("blocks.2.") for k in new) and any(k.startswith("wxy_abs.") for k in new)
    x, cids = _rows(), torch.tensor([0, 1, 2])
    a, b = small.mdn_params(x, cids), big.mdn_params(x, cids)
    assert torch.allclose(a.mu, b.mu, atol=1e-6) and torch.allclose(a.pen_logits, b.pen_logits, atol=1e-6)
    y = torch.roll(x, -1, dims=1)
    from plotter.models.mdn import mdn_loss

    mdn_loss(big.mdn_params(x, cids), y, torch.ones(3, 9))["nll"].backward()
    assert big.blocks[2].mlp.c_proj.weight.grad.abs().sum() > 0  # the no-op block learns from step one


def test_grow_refuses_a_checkpoint_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        load_grown(_tiny(layers=2), _tiny(layers=2, n_classes=4).state_dict())


def test_bf16_autocast_loss_stays_float32_and_close_to_fp32():
    from plotter.training.data import make_batch

    model = _tiny()
    rng = np.random.default_rng(0)
    s3 = [np.column_stack([rng.normal(size=(n, 2)), rng.random(n) < 0.2]).astype(np.float32) for n in (5, 9)]
    batch = make_batch(s3, [0, 2])
    ref = model(batch)["loss"].detach()
    with torch.autocast("cpu", torch.bfloat16):
        low = model(batch)["loss"].detach()
    assert low.dtype == torch.float32 and abs(float(low) - float(ref)) < 0.05 * abs(float(ref))


def test_grow_through_the_cli(tmp_path):
    data = tiny_npz(tmp_path / "blob.npz")
    common = [
        "train",
        "transformer",
        "--data",
        str(data),
        "--class",
        "blob",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--eval-every",
        "2",
        "--warmup-steps",
        "1",
        "--embd",
        "16",
        "--heads",
        "2",
        "--mixtures",
        "3",
    ]
    first = CliRunner().invoke(main, common + ["--out", str(tmp_path / "a"), "--layers", "1"])
    assert first.exit_code == 0, first.output
    grown = CliRunner().invoke(
        main,
        common
        + [
            "--out",
            str(tmp_path / "b"),
            "--layers",
            "2",
            "--xy-freqs",
            "2",
            "--init-from",
            str(tmp_path / "a" / "best.pt"),
            "--grow",
            "--bf16",
            "--cosine-by-time",
            "--max-minutes",
            "5",
        ],
    )
    assert grown.exit_code == 0, grown.output
    assert "start as no-ops" in grown.output
    assert load_model(tmp_path / "b" / "best.pt").config.n_layer == 2
    plain = CliRunner().invoke(
        main,
        common
        + ["--out", str(tmp_path / "c"), "--layers", "2", "--init-from", str(tmp_path / "a" / "best.pt")],
    )
    assert plain.exit_code != 0 and "does not fit" in plain.output and "Traceback" not in plain.output
