"""Mixture density head: numerics, masking and the temperature convention."""

from __future__ import annotations

import math

import torch

from plotter.models.mdn import (
    MDNHead,
    MDNParams,
    absorb_after_end,
    mdn_loss,
    offset_log_prob,
    paper_nll,
    sample_mdn,
)


def _params(b: int, t: int, m: int = 3, seed: int = 0) -> MDNParams:
    torch.manual_seed(seed)
    return MDNHead(8, m)(torch.randn(b, t, 8))


def test_single_gaussian_matches_closed_form():
    p = MDNParams(
        logit_pi=torch.zeros(1, 1),
        mu=torch.tensor([[[1.0, -1.0]]]),
        log_sigma=torch.log(torch.tensor([[[2.0, 0.5]]])),
        rho=torch.tensor([[0.3]]),
        pen_logits=torch.zeros(1, 3),
    )
    x, y, sx, sy, r = 2.0, 0.0, 2.0, 0.5, 0.3
    zx, zy = (x - 1) / sx, (y + 1) / sy
    expect = -(zx**2 + zy**2 - 2 * r * zx * zy) / (2 * (1 - r**2)) - math.log(
        2 * math.pi * sx * sy * math.sqrt(1 - r**2)
    )
    assert abs(float(offset_log_prob(p, torch.tensor([[x, y]]))) - expect) < 1e-5


def test_extreme_parameters_stay_finite():
    head = MDNHead(4, 5)
    with torch.no_grad():
        head.proj.weight.fill_(0.0)
        head.proj.bias.fill_(-50.0)  # sigma at its floor, rho -> -1
    p = head(torch.zeros(2, 3, 4))
    y = torch.zeros(2, 3, 5)
    y[..., 0] = 1e3
    y[..., 2] = 1
    out = mdn_loss(p, y, torch.ones(2, 3))
    assert all(torch.isfinite(v) for v in out.values())


def test_padding_rows_do_not_change_loss():
    p = _params(1, 6)
    y = torch.zeros(1, 6, 5)
    y[0, :3, :2] = torch.randn(3, 2)
    y[0, :3, 2] = 1
    y[0, 3:, 4] = 1
    mask = torch.tensor([[1, 1, 1, 1, 0, 0.0]])
    a = mdn_loss(p, y, mask)
    p2 = MDNParams(*(t.clone() for t in (p.logit_pi, p.mu, p.log_sigma, p.rho, p.pen_logits)))
    p2.mu[0, 4:] += 100.0
    p2.pen_logits[0, 4:] += torch.tensor([9.0, -9.0, -9.0])
    b = mdn_loss(p2, y, mask)
    assert torch.allclose(a["nll"], b["nll"])
    paper = paper_nll(p, y, 6)  # the paper's convention counts the padding rows' pen loss
    assert paper["nll"] != a["nll"]


def test_temperature_near_zero_is_near_deterministic():
    p = _params(1, 1).at(0)
    with torch.no_grad():
        cold = torch.stack([sample_mdn(p, 0.01, torch.Generator().manual_seed(s)) for s in range(30)])
        hot = torch.stack([sample_mdn(p, 1.0, torch.Generator().manual_seed(s)) for s in range(30)])
    assert (cold[:, :, 2:] == cold[0, :, 2:]).all()  # pen state and component: argmax every time
    assert not (hot[:, :, 2:] == hot[0, :, 2:]).all()
    # offsets: sigma shrinks by sqrt(tau) = 0.1 and the component no longer varies
    assert (cold[:, :, :2].std(0) < 0.15 * hot[:, :, :2].std(0)).all()


def test_sample_is_one_hot_and_seeded():
    p = _params(4, 1).at(0)
    a = sample_mdn(p, 0.5, torch.Generator().manual_seed(3))
    b = sample_mdn(p, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (4, 5)
    assert (a[:, 2:].sum(-1) == 1).all()


def test_end_state_is_absorbing_for_the_paper_convention():
    p = _params(1, 6)
    y = torch.zeros(1, 6, 5)
    y[0, :2, 2] = 1
    y[0, 2:, 4] = 1  # 2 points, end row, 3 padding rows
    x = torch.cat([torch.tensor([[[0, 0, 1, 0, 0.0]]]), y[:, :-1]], dim=1)
    a = absorb_after_end(p, x)
    assert torch.equal(a.pen_logits[0, :3], p.pen_logits[0, :3])  # rows before the end untouched
    masked = mdn_loss(p, y, torch.tensor([[1, 1, 1, 0, 0, 0.0]]))["nll"]
    assert torch.allclose(mdn_loss(a, y, torch.tensor([[1, 1, 1, 0, 0, 0.0]]))["nll"], masked)
    # padding rows cost nothing once the end state is absorbing
    paper_a = paper_nll(a, y, 6)["pen_nll"] * 6
    paper_p = paper_nll(p, y, 6)["pen_nll"] * 6
    real_rows = -(torch.log_softmax(p.pen_logits[0, :3], -1) * y[0, :3, 2:]).sum()
    assert torch.allclose(paper_a, real_rows, atol=1e-4) and paper_p > paper_a
