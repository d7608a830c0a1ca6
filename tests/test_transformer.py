"""Sketch Transformer: loss, masking, sampling (cached == uncached), termination, prefixes, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plotter.errors import CheckpointError, PlotterError, UnknownClassError
from plotter.models.checkpoint import load_model, save_checkpoint
from plotter.models.transformer import KVCache, SketchTransformer, TransformerConfig
from plotter.sketch import Sketch
from plotter.training.data import make_batch

TINY = TransformerConfig(block_size=64, n_layer=2, n_head=2, n_embd=32, dropout=0.0, n_mixtures=3)
PEN_END = -1  # index of the p3 (end-of-sketch) logit in the MDN head's output


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and the machine is shared with training runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rough_model(end_bias: float = -1.0, seed: int = 0, cfg: TransformerConfig = TINY) -> SketchTransformer:
    """An untrained model with large weights (so positions and history matter) and a chosen end bias.

    end_bias -1 at tau 0.4 gives ~4% chance to end per row: sketches of varied lengths in one batch.
    """
    torch.manual_seed(seed)
    m = SketchTransformer(cfg, scale=10.0, classes=["cat"])
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.3)
        m.head.proj.bias[PEN_END] = end_bias
    return m.eval()


def synthetic(n: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Normalized stroke-3 'sketches': noisy squares of 4-12 points, pen lifted after the last point."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(4, 13))
        ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
        pts = np.column_stack([np.cos(ang), np.sin(ang)]) * rng.uniform(0.5, 1.5)
        d = np.diff(pts, axis=0, prepend=np.zeros((1, 2))) + rng.normal(0, 0.02, (k, 2))
        lift = np.zeros(k)
        lift[-1] = 1
        out.append(np.column_stack([d, lift]).astype(np.float32))
    return out


def assert_same_sketches(a: list[Sketch], b: list[Sketch]) -> None:
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        assert len(sa.strokes) == len(sb.strokes)
        assert sa.meta["ended"] == sb.meta["ended"]
        for x, y in zip(sa.strokes, sb.strokes):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-3)


def test_cached_sampler_matches_uncached_for_same_seed():
    m = rough_model()
    cached = m.generate(12, temperature=0.7, seed=3, use_cache=True)
    plain = m.generate(12, temperature=0.7, seed=3, use_cache=False)
    lengths = [s.n_points for s in cached]
    assert len(set(lengths)) > 3, "sketches should end at different steps, exercising per-sequence stopping"
    assert sum(s.n_points for s in cached) > 50
    assert_same_sketches(cached, plain)
    other = m.generate(12, temperature=0.7, seed=4)
    assert [s.n_points for s in other] != lengths


def test_cached_prefill_in_chunks_matches_full_forward():
    m = rough_model()
    x = torch.randn(3, 20, 5)
    x[..., 2:] = torch.nn.functional.one_hot(torch.randint(0, 3, (3, 20)), 3).float()
    with torch.no_grad():
        full = m.mdn_params(x)
        cache = KVCache(m.config, 3, x.device, x.dtype)
        first = m.mdn_params(x[:, :7], cache=cache)
        rest = m.mdn_params(x[:, 7:], cache=cache)  # several new queries against cached keys: needs the mask
    torch.testing.assert_close(torch.cat([first.mu, rest.mu], 1), full.mu, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.cat([first.pen_logits, rest.pen_logits], 1), full.pen_logits)


def test_causal_masking_later_input_does_not_change_earlier_outputs():
    m = rough_model()
    x = torch.randn(2, 16, 5)
    x2 = x.clone()
    x2[:, 10] += 5.0
    with torch.no_grad():
        a, b = m.mdn_params(x), m.mdn_params(x2)
    torch.testing.assert_close(a.mu[:, :10], b.mu[:, :10])
    torch.testing.assert_close(a.logit_pi[:, :10], b.logit_pi[:, :10])
    assert not torch.allclose(a.mu[:, 10:], b.mu[:, 10:])


def test_padding_does_not_change_the_loss():
    m = rough_model()
    sk = synthetic(6)
    tight = m(make_batch(sk))["loss"]
    padded = m(make_batch(sk, pad_to=40))["loss"]
    torch.testing.assert_close(tight, padded, rtol=1e-5, atol=1e-6)
    # garbage in the padding rows of the input is ignored too (they are only ever attended by padding rows)
    b = make_batch(sk, pad_to=40)
    b.x[b.mask == 0] = 7.0
    torch.testing.assert_close(m(b)["loss"], padded, rtol=1e-5, atol=1e-6)


def test_end_row_is_trained_and_padding_after_it_is_not():
    """Ending is learned from the end row (0, 0, 0, 0, 1) after the last point; padding gets no gradient."""
    from plotter.models.mdn import mdn_loss

    m = rough_model()
    sk = synthetic(2)
    b = make_batch(sk, pad_to=20)
    params = m.mdn_params(b.x)
    params.pen_logits.retain_grad()
    mdn_loss(params, b.y, b.mask)["nll"].backward()
    g = params.pen_logits.grad.abs().sum(-1)  # (B, T+1)
    for i, s in enumerate(sk):
        n = len(s)
        assert bool(b.y[i, n, 4] == 1) and g[i, n] > 0, "the end row must be in the loss"
        assert bool((g[i, : n + 1] > 0).all())
        assert float(g[i, n + 1 :].sum()) == 0.0, "padding after the end row must be masked"


def test_loss_falls_on_tiny_synthetic_data():
    torch.manual_seed(0)
    m = SketchTransformer(TINY, scale=1.0)
    batch = make_batch(synthetic(12))
    opt = m.configure_optimizer(type("Cfg", (), {"lr": 1e-2, "weight_decay": 0.0})())
    first = float(m(batch)["loss"].detach())
    for _ in range(40):
        loss = m.compute_loss(batch, 0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(m(batch)["loss"].detach())
    assert last < first - 1.0, (first, last)


def test_weight_decay_only_on_matrices():
    m = SketchTransformer(TINY)
    opt = m.configure_optimizer(type("Cfg", (), {"lr": 1e-3, "weight_decay": 0.1})())
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))


def test_sampling_terminates_at_max_len_and_block_size():
    never_ends = rough_model(end_bias=-30.0)
    short = never_ends.generate(4, seed=0, max_len=20)
    assert all(s.n_points == 20 and not s.meta["ended"] for s in short)
    full = never_ends.generate(2, seed=0, max_len=10_000)
    assert all(s.n_points == TINY.block_size - 1 and not s.meta["ended"] for s in full)
    ends_now = rough_model(end_bias=30.0).generate(3, seed=0)
    assert all(s.is_empty() and s.meta["ended"] for s in ends_now)


def test_prefix_is_kept_exactly_and_continued():
    m = rough_model(end_bias=-2.0)
    prefix = Sketch([np.array([[3.0, 4.0], [20.5, 4.25], [20.5, 30.0]]), np.array([[1.0, 1.0], [2.0, 9.0]])])
    for use_cache in (True, False):
        out = m.generate(5, seed=1, prefix=prefix, use_cache=use_cache, max_len=40)
        for s in out:
            assert len(s.strokes) > len(prefix.strokes)
            for got, want in zip(s.strokes, prefix.strokes):
                assert np.array_equal(got, want)
            assert s.n_points <= 40
    assert_same_sketches(m.generate(5, seed=1, prefix=prefix, max_len=40),
                         m.generate(5, seed=1, prefix=prefix, max_len=40, use_cache=False))


def test_bad_arguments_are_clear_errors():
    m = rough_model()
    with pytest.raises(PlotterError, match="temperature"):
        m.generate(1, temperature=0.0)
    with pytest.raises(UnknownClassError, match="cat"):
        m.generate(1, class_name="cta")
    long_prefix = Sketch([np.cumsum(np.ones((70, 2)), axis=0)])
    with pytest.raises(PlotterError, match="prefix has 70 points"):
        m.generate(1, prefix=long_prefix)
    with pytest.raises(PlotterError, match="unit"):
        m.generate(1, prefix=Sketch([np.zeros((2, 2))], unit="mm"))


def test_class_conditional_model_uses_its_class_embedding():
    cfg = TransformerConfig(**{**TINY.__dict__, "n_classes": 2})
    torch.manual_seed(0)
    m = SketchTransformer(cfg, classes=["cat", "dog"])
    b = make_batch(synthetic(4), class_ids=[0, 1, 0, 1])
    loss_a = m(b)["loss"]
    b.class_ids = torch.tensor([1, 0, 1, 0])
    assert not torch.allclose(loss_a, m(b)["loss"])
    dogs = m.generate(3, class_name="dog", seed=0)
    assert all(s.meta["class"] == "dog" for s in dogs)


def test_checkpoint_round_trip(tmp_path):
    m = rough_model()
    path = save_checkpoint(tmp_path / "t.pt", m, provenance={"data": "synthetic"})
    back = load_model(path)
    assert isinstance(back, SketchTransformer) and back.config == m.config
    assert back.scale == m.scale and back.classes == ["cat"]
    for (k, v), (k2, v2) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert_same_sketches(m.generate(4, seed=9), back.generate(4, seed=9))
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "cut.pt")


def test_input_noise_perturbs_training_inputs_only():
    """Noise on input offsets changes the training loss, never the targets, and is off in eval mode."""
    from dataclasses import replace

    noisy = rough_model(cfg=replace(TINY, input_noise=0.5))
    clean = rough_model(cfg=TINY)
    batch = make_batch(synthetic(6))
    x_before, y_before = batch.x.clone(), batch.y.clone()
    # eval mode: identical to the same weights without noise
    torch.testing.assert_close(noisy(batch)["loss"], clean(batch)["loss"])
    noisy.train()
    torch.manual_seed(1)
    a = noisy(batch)["loss"]
    torch.manual_seed(2)
    b = noisy(batch)["loss"]
    assert not torch.allclose(a, b)  # a fresh draw each step
    clean.train()
    torch.manual_seed(1)
    c = clean(batch)["loss"]  # dropout 0: training mode alone changes nothing
    torch.testing.assert_close(c, clean.eval()(batch)["loss"])
    assert torch.equal(batch.x, x_before) and torch.equal(batch.y, y_before)  # batch untouched


def test_self_feed_swaps_inputs_for_the_models_own_samples():
    """Scheduled sampling: training inputs mix in the model's own sampled offsets; eval, targets untouched."""
    from dataclasses import replace

    batch = make_batch(synthetic(6))
    x_before, y_before = batch.x.clone(), batch.y.clone()
    fed = rough_model(cfg=replace(TINY, self_feed=1.0))
    clean = rough_model(cfg=TINY)
    torch.testing.assert_close(fed(batch)["loss"], clean(batch)["loss"])  # eval mode: no swap
    fed.train()
    torch.manual_seed(0)
    x_all = fed._self_feed(batch.x, None)
    assert torch.equal(x_all[:, 0], batch.x[:, 0])  # the start token stays
    assert torch.equal(x_all[..., 2:], batch.x[..., 2:])  # pen states stay real
    assert not torch.allclose(x_all[:, 1:, :2], batch.x[:, 1:, :2])  # every offset is the model's own
    none = rough_model(cfg=replace(TINY, self_feed=1e-9)).train()._self_feed(batch.x, None)
    assert torch.equal(none, batch.x)  # share ~0: nothing swapped
    assert not torch.allclose(fed(batch)["loss"], clean(batch)["loss"])
    assert torch.equal(batch.x, x_before) and torch.equal(batch.y, y_before)  # batch untouched


def test_pen_weight_scales_only_the_pen_term_of_the_objective():
    from dataclasses import replace

    batch = make_batch(synthetic(6))
    plain = rough_model(cfg=TINY)(batch)
    weighted = rough_model(cfg=replace(TINY, pen_weight=3.0))(batch)
    torch.testing.assert_close(weighted["nll"], plain["nll"])  # what is logged and compared stays the NLL
    torch.testing.assert_close(weighted["loss"], plain["offset_nll"] + 3.0 * plain["pen_nll"])


def test_pen_position_features_follow_the_sum_of_offsets():
    """xy_freqs > 0: the pen's absolute position enters the model; cached sampling tracks it across steps."""
    from dataclasses import replace

    from plotter.models.transformer import xy_features

    xy = torch.tensor([[0.0, 0.0], [4.0, -2.0]])
    f = xy_features(xy, 3)  # per axis: 3 sines, 3 cosines; shifting by 16 units is one long wavelength
    assert f.shape == (2, 2 + 4 * 3)
    torch.testing.assert_close(f[0, 2:], torch.tensor(([0.0] * 3 + [1.0] * 3) * 2))
    torch.testing.assert_close(xy_features(xy + 16.0, 3)[:, 2:], f[:, 2:], atol=1e-5, rtol=0)

    cfg = replace(TINY, xy_freqs=4)
    m = rough_model(cfg=cfg)
    x = torch.randn(2, 12, 5)
    x[..., 2:] = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 12)), 3).float()
    moved = x.clone()
    moved[:, 3, :2] += 2.0  # row 3's offset moves the pen for every later row
    with torch.no_grad():
        a, b = m._embed(x, None), m._embed(moved, None)
        plain = rough_model(cfg=TINY)  # offsets only: a row's embedding is its own row's business
        pa, pb = plain._embed(x, None), plain._embed(moved, None)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 4:], b[:, 4:])  # later rows know where the pen now is
    torch.testing.assert_close(pa[:, 4:], pb[:, 4:])
    with torch.no_grad():
        a = m.mdn_params(x)
    cached = m.generate(12, temperature=0.7, seed=3, use_cache=True)
    assert len({s.n_points for s in cached}) > 3
    assert_same_sketches(cached, m.generate(12, temperature=0.7, seed=3, use_cache=False))
    with torch.no_grad():
        cache = KVCache(cfg, 2, x.device, x.dtype)
        first = m.mdn_params(x[:, :5], cache=cache)
        rest = m.mdn_params(x[:, 5:], cache=cache)
    torch.testing.assert_close(torch.cat([first.mu, rest.mu], 1), a.mu, rtol=1e-4, atol=1e-5)


def test_knot_cap_lifts_the_pen_and_keeps_cached_equal_to_uncached():
    from plotter.models.best_of import longest_tiny_run

    m = rough_model()
    m.scale = 0.5  # every step of this rough model is "tiny" (< 5 px): knots everywhere
    free = m.generate(12, temperature=0.7, seed=3)
    assert max(longest_tiny_run(s) for s in free) >= 6
    m.knot_cap = 4
    capped = m.generate(12, temperature=0.7, seed=3)
    assert max(longest_tiny_run(s) for s in capped) <= 4  # lifted at the 4th tiny step in a row
    assert_same_sketches(capped, m.generate(12, temperature=0.7, seed=3, use_cache=False))


def test_pen_temperature_changes_only_the_pen_choice():
    from plotter.models.mdn import MDNParams, sample_mdn

    z = torch.zeros
    pen = torch.tensor([[0.0, 0.0, -1.0]]).expand(4000, 3)
    p = MDNParams(z(4000, 2), z(4000, 2, 2), z(4000, 2, 2), z(4000, 2), pen)
    sharp = sample_mdn(p, 0.4, torch.Generator().manual_seed(1))
    calm = sample_mdn(p, 0.4, torch.Generator().manual_seed(1), pen_temperature=1.0)
    assert float(sharp[:, 4].mean()) < 0.15 < float(calm[:, 4].mean())  # the end, e^-1 / (2 + e^-1) ~ 0.16
