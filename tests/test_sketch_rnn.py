"""Sketch-RNN on tiny synthetic data: learning, masking, sampling, prefixes, encode/decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plotter.errors import PlotterError, UnknownClassError
from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig
from plotter.sketch import Sketch
from plotter.training.data import make_batch
from plotter.training.loop import TrainConfig

TINY = SketchRNNConfig(enc_hidden=16, dec_hidden=32, z_size=8, n_mixtures=3, max_len=40, dropout=0.0)


def synthetic(n: int = 8) -> list[np.ndarray]:
    """Squares and zig-zags in normalized units (stroke-3)."""
    out = []
    for i in range(n):
        k = 4 + i % 4
        s = np.zeros((k, 3), np.float32)
        s[:, 0] = np.where(np.arange(k) % 2 == 0, 1.0, -0.5) * (1 + 0.1 * i)
        s[:, 1] = 0.5
        s[k // 2, 2] = s[-1, 2] = 1
        out.append(s)
    return out


@pytest.fixture(autouse=True)
def one_thread():
    """2 shared cores: more threads only add contention for these tiny models."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(seed: int = 0, **kw) -> SketchRNN:
    torch.manual_seed(seed)
    m = SketchRNN(SketchRNNConfig(**{**TINY.__dict__, **kw}))
    m.scale, m.classes = 10.0, ["cat"]
    return m


def test_loss_falls_over_30_steps():
    m = tiny()
    batch = make_batch(synthetic())
    opt = m.configure_optimizer(TrainConfig(lr=1e-2))
    first = float(m(batch, 0)["nll"].detach())
    for step in range(30):
        loss = m(batch, step)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(m(batch, 30)["nll"].detach()) < first - 0.5


def test_padding_does_not_change_loss():
    m = tiny().eval()
    sk = synthetic(3)
    torch.manual_seed(1)
    a = m(make_batch(sk), 0)
    torch.manual_seed(1)
    b = m(make_batch(sk, pad_to=30), 0)
    for key in ("nll", "kl", "loss"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def test_kl_annealing_uses_the_step_exponent():
    m = tiny()
    assert m.kl_weight(0) == pytest.approx(0.01)
    assert 0.01 < m.kl_weight(10_000) < m.kl_weight(100_000) < 0.5


def test_sampling_terminates_at_max_len():
    m = tiny()
    with torch.no_grad():
        m.head.proj.bias[-3:] = torch.tensor([20.0, -20.0, -20.0])  # never lift, never end
    out = m.generate(3, temperature=1.0, seed=0, max_len=12)
    assert all(s.n_points == 12 and s.meta["ended"] is False for s in out)


def test_seeded_and_low_temperature_is_near_deterministic():
    m = tiny()
    a, b = m.generate(2, seed=5), m.generate(2, seed=5)
    assert all(
        len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x.strokes, y.strokes))
        for x, y in zip(a, b)
    )
    with torch.no_grad():
        m.head.proj.bias[-3:] = torch.tensor([5.0, -5.0, -5.0])  # keep drawing, so lengths match

    def spread(tau: float) -> float:
        z = torch.zeros(1, TINY.z_size)
        c, d = (np.concatenate(m.decode(z, temperature=tau, seed=s, max_len=15)[0].strokes) for s in (1, 2))
        assert len(c) == len(d) == 15
        return float(np.abs(c - d).mean())

    assert spread(0.01) < 0.2 * spread(1.0)


def test_prefix_is_kept_exactly():
    m = tiny()
    prefix = Sketch([np.array([[3.0, 4.0], [13.0, 4.5], [13.0, 14.0]]), np.array([[0.0, 0.0], [2.0, 7.0]])])
    out = m.generate(2, prefix=prefix, seed=3, max_len=20)
    for s in out:
        assert len(s.strokes) >= 2
        assert np.array_equal(s.strokes[0], prefix.strokes[0]) and np.array_equal(
            s.strokes[1], prefix.strokes[1]
        )
        assert s.n_points <= 20
    with pytest.raises(PlotterError, match="no room"):
        m.generate(1, prefix=prefix, max_len=5)


def test_encode_decode_and_bad_arguments():
    m = tiny()
    sk = [Sketch.from_stroke3(s * [10, 10, 1]) for s in synthetic(2)]
    z = m.encode(sk)
    assert z.shape == (2, TINY.z_size)
    assert len(m.decode(z, seed=0)) == 2
    with pytest.raises(UnknownClassError, match="cat"):
        m.generate(1, class_name="cta")
    with pytest.raises(PlotterError):
        m.generate(1, temperature=0)
    with pytest.raises(PlotterError):
        m.generate(0)
    with pytest.raises(PlotterError):
        m.encode([Sketch([])])


def test_unconditional_and_class_embedding_variants_train():
    for kw in ({"conditional": False}, {"n_classes": 2, "class_embed": 4}):
        m = tiny(**kw)
        batch = make_batch(synthetic(4), [0, 1, 0, 1])
        m(batch, 0)["loss"].backward()
        assert len(m.generate(1, seed=0, max_len=10)) == 1
