"""Checkpoint format: bit-exact round trip, and one clear error for anything else."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from plotter.errors import CheckpointError
from plotter.models.checkpoint import load_checkpoint, load_model, save_checkpoint, set_default_temperature
from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    m = SketchRNN(SketchRNNConfig(enc_hidden=8, dec_hidden=16, z_size=4, n_mixtures=2))
    m.scale, m.classes = 33.5, ["cat"]
    path = save_checkpoint(tmp_path / "m.pt", m, provenance={"data": "x"}, metrics={"nll": 1.5})
    return m, path


def test_round_trip_is_bit_exact(saved):
    m, path = saved
    back = load_model(path)
    assert isinstance(back, SketchRNN) and back.config == m.config and not back.training
    assert back.scale == 33.5 and back.classes == ["cat"] and back.metrics == {"nll": 1.5}
    sa, sb = m.state_dict(), back.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    a, b = m.generate(2, seed=7), back.generate(2, seed=7)
    assert all(x.n_points == y.n_points for x, y in zip(a, b))


def test_missing_truncated_corrupt_foreign(tmp_path, saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 100)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    for name in ("trunc.pt", "junk.pt", "foreign.pt"):
        with pytest.raises(CheckpointError) as info:
            load_model(tmp_path / name)
        assert "\n" not in str(info.value)
    for name in ("trunc.pt", "junk.pt"):
        with pytest.raises(CheckpointError, match="truncated or not a torch file$"):
            load_model(tmp_path / name)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_hostile_pickle_is_refused_without_running(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "plotter-checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="holds objects other than weights$"):
        load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_model(raw)


def test_unknown_kind_and_wrong_shapes(tmp_path, saved):
    _, path = saved
    ck = torch.load(path, weights_only=True)
    torch.save({**ck, "kind": "gan"}, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match="unknown model kind"):
        load_model(tmp_path / "kind.pt")
    torch.save({**ck, "config": {**ck["config"], "dec_hidden": 32}}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "shape.pt")
    assert zipfile.is_zipfile(path)


def test_a_checkpoint_carries_its_own_default_temperature(saved, tmp_path):
    _, path = saved
    assert load_model(path).default_temperature == 0.4  # none stored: Sketch-RNN's customary 0.4
    assert load_model(path).generate(1, seed=1)[0].meta["temperature"] == 0.4
    set_default_temperature(path, 0.55, "a test")
    assert load_checkpoint(path)["sampling"] == {"temperature": 0.55, "chosen_by": "a test"}
    back = load_model(path)
    assert back.default_temperature == 0.55
    assert back.generate(1, seed=1)[0].meta["temperature"] == 0.55  # used when none is asked for
    assert back.generate(1, temperature=0.2, seed=1)[0].meta["temperature"] == 0.2  # an explicit τ wins
    with pytest.raises(CheckpointError, match=r"\(0, 5\]"):
        set_default_temperature(path, 0.0, "a test")
    for bad in (-1.0, "warm", True, 9.0):  # a hostile or broken entry is one clear error, not a crash later
        ckpt = load_checkpoint(path)
        ckpt["sampling"] = {"temperature": bad}
        torch.save(ckpt, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match="sampling temperature"):
            load_model(tmp_path / "bad.pt")


def test_a_checkpoint_carries_its_knot_cure(tmp_path):
    from plotter.models.checkpoint import set_sampling
    from plotter.models.transformer import SketchTransformer, TransformerConfig

    m = SketchTransformer(TransformerConfig(block_size=8, n_layer=1, n_head=1, n_embd=8, n_mixtures=2))
    path = save_checkpoint(tmp_path / "t.pt", m)
    set_default_temperature(path, 0.5, "a test")
    set_sampling(path, 6, 1.0, "a sweep")
    back = load_model(path)
    assert (back.default_temperature, back.knot_cap, back.pen_temperature) == (0.5, 6, 1.0)
    for bad in ({"knot_cap": 2}, {"knot_cap": "x"}, {"pen_temperature": 0}):
        ckpt = load_checkpoint(path)
        ckpt["sampling"] = bad
        torch.save(ckpt, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match="sampling"):
            load_model(tmp_path / "bad.pt")
