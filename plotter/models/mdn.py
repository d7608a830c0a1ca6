"""Mixture density output shared by Sketch-RNN and the Sketch Transformer.

One head, one loss, one sampler, so the two models' numbers mean the same thing.

Loss convention (both models, training and validation):
    offset_nll = sum of -log p(dx, dy) over real points            / number of valid rows
    pen_nll    = sum of cross-entropy(pen) over valid rows           / number of valid rows
    valid rows = the real points plus the end-of-sketch row (mask == 1); padding rows are ignored.
So `offset_nll + pen_nll` is the NLL per stroke-5 row of the data actually present, independent of padding.
The paper's normalization (divide by N_max, pen loss over all N_max rows incl. padding) is `paper_nll`.

Numerics: log-densities throughout, logsumexp over components, sigma = exp(log_sigma) with log_sigma clamped
to [LOG_SIGMA_MIN, LOG_SIGMA_MAX], rho = tanh(.) * RHO_MAX so 1 - rho^2 >= 2e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_SIGMA_MIN = -6.0  # sigma floor ~0.0025 of the data scale (< 0.1 px on Quick, Draw! data)
LOG_SIGMA_MAX = 4.0
RHO_MAX = 1.0 - 1e-5
LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class MDNParams:
    """Mixture parameters for every position; leading dims: (B, T) in training, (B,) sampling."""

    logit_pi: torch.Tensor  # (..., M) unnormalized mixture weights
    mu: torch.Tensor  # (..., M, 2)
    log_sigma: torch.Tensor  # (..., M, 2) already clamped
    rho: torch.Tensor  # (..., M) in (-RHO_MAX, RHO_MAX)
    pen_logits: torch.Tensor  # (..., 3)

    def at(self, index: int | slice) -> MDNParams:
        """Slice the time axis (dim 1) of (B, T, ...) params, e.g. `.at(-1)` for the last step."""
        return MDNParams(
            *(t[:, index] for t in (self.logit_pi, self.mu, self.log_sigma, self.rho, self.pen_logits))
        )


class MDNHead(nn.Module):
    """Linear map from features to M bivariate Gaussians (pi, mu, sigma, rho) + 3 pen logits."""

    def __init__(self, d_in: int, n_mixtures: int = 20) -> None:
        super().__init__()
        self.n_mixtures = n_mixtures
        self.proj = nn.Linear(d_in, 6 * n_mixtures + 3)

    def forward(self, h: torch.Tensor) -> MDNParams:
        m = self.n_mixtures
        out = self.proj(h).float()  # (..., 6M+3); fp32 even under bf16 autocast: the loss needs the precision
        logit_pi, mu, log_sigma, rho, pen = out.split([m, 2 * m, 2 * m, m, 3], dim=-1)
        lead = h.shape[:-1]
        return MDNParams(
            logit_pi=logit_pi,
            mu=mu.reshape(*lead, m, 2),
            log_sigma=log_sigma.reshape(*lead, m, 2).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX),
            rho=torch.tanh(rho) * RHO_MAX,
            pen_logits=pen,
        )


def offset_log_prob(params: MDNParams, xy: torch.Tensor) -> torch.Tensor:
    """log p(dx, dy) under the mixture, shape (...); xy is (..., 2)."""
    d = (xy.unsqueeze(-2) - params.mu) * torch.exp(-params.log_sigma)  # (..., M, 2) standardized
    zx, zy = d[..., 0], d[..., 1]
    one_m_rho2 = 1.0 - params.rho**2  # >= 2e-5 by construction
    quad = (zx**2 + zy**2 - 2.0 * params.rho * zx * zy) / one_m_rho2
    log_n = -0.5 * quad - LOG_2PI - params.log_sigma.sum(-1) - 0.5 * torch.log(one_m_rho2)  # (..., M)
    return torch.logsumexp(F.log_softmax(params.logit_pi, dim=-1) + log_n, dim=-1)


def pen_log_prob(params: MDNParams, y: torch.Tensor) -> torch.Tensor:
    """log p(pen state) for one-hot targets y[..., 2:5], shape (...)."""
    return (F.log_softmax(params.pen_logits, dim=-1) * y[..., 2:5]).sum(-1)


def mdn_loss(params: MDNParams, y: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masked NLL per valid row (see module docstring). y: (B, T, 5) targets, mask: (B, T)."""
    points = mask * (1.0 - y[..., 4])  # real points only: the end/padding rows have no offset to predict
    denom = mask.sum().clamp_min(1.0)
    offset_nll = -(offset_log_prob(params, y[..., :2]) * points).sum() / denom
    pen_nll = -(pen_log_prob(params, y) * mask).sum() / denom
    return {"offset_nll": offset_nll, "pen_nll": pen_nll, "nll": offset_nll + pen_nll}


def paper_nll(params: MDNParams, y: torch.Tensor, n_max: int) -> dict[str, torch.Tensor]:
    """The paper's normalization: L_s over real points / N_max, L_p over all N_max rows / N_max; batch mean.

    `params` and `y` must cover exactly `n_max` rows (pad the batch with `make_batch(..., pad_to=n_max - 1)`),
    padding rows being (0, 0, 0, 0, 1) as in the paper.
    """
    if y.shape[1] != n_max:
        raise ValueError(f"paper_nll needs {n_max} rows, got {y.shape[1]}")
    points = 1.0 - y[..., 4]
    ls = -(offset_log_prob(params, y[..., :2]) * points).sum(1) / n_max  # (B,)
    lp = -pen_log_prob(params, y).sum(1) / n_max
    return {"offset_nll": ls.mean(), "pen_nll": lp.mean(), "nll": (ls + lp).mean()}


def absorb_after_end(params: MDNParams, x: torch.Tensor) -> MDNParams:
    """Once the input row is end-of-sketch (x[..., 4] = 1, padding), the next row is end-of-sketch for sure.

    The format makes the end state absorbing; training masks those rows, so without this the pen logits there
    are arbitrary and the paper's NLL (pen loss over all N_max rows) would charge the model for them.
    """
    ended = x[..., 4:5] > 0.5  # (..., 1)
    absorbing = torch.tensor([-40.0, -40.0, 40.0], device=x.device, dtype=params.pen_logits.dtype)
    pen = torch.where(ended, absorbing, params.pen_logits)
    return MDNParams(params.logit_pi, params.mu, params.log_sigma, params.rho, pen)


def sample_mdn(
    params: MDNParams,
    temperature: float = 0.4,
    generator: torch.Generator | None = None,
    pen_temperature: float | None = None,
) -> torch.Tensor:
    """Draw one stroke-5 row per batch entry from (B, ...) params -> (B, 5).

    Temperature as in the paper and magenta-js: softmax(logits / tau) for pi and pen, sigma * sqrt(tau).
    `pen_temperature` (None: the same tau) sharpens the pen choice apart: at tau 0.4 a pen-up or end
    probability under one half is pushed toward zero, which is how samples fail to stop.
    """
    tau = max(float(temperature), 1e-4)
    b, dev = params.logit_pi.shape[0], params.logit_pi.device
    pi = torch.softmax(params.logit_pi.float() / tau, dim=-1)  # (B, M)
    k = torch.multinomial(pi, 1, generator=generator).squeeze(-1)  # (B,)
    rows = torch.arange(b, device=dev)
    mu, log_sigma, rho = (
        params.mu[rows, k],
        params.log_sigma[rows, k],
        params.rho[rows, k],
    )  # (B,2),(B,2),(B,)
    sigma = torch.exp(log_sigma) * math.sqrt(tau)
    eps = torch.randn(b, 2, generator=generator, device=dev, dtype=mu.dtype)
    dx = mu[:, 0] + sigma[:, 0] * eps[:, 0]
    dy = mu[:, 1] + sigma[:, 1] * (rho * eps[:, 0] + torch.sqrt(1.0 - rho**2) * eps[:, 1])
    pen_tau = tau if pen_temperature is None else max(float(pen_temperature), 1e-4)
    pen_p = torch.softmax(params.pen_logits.float() / pen_tau, dim=-1)  # (B, 3)
    pen = torch.multinomial(pen_p, 1, generator=generator).squeeze(-1)
    out = torch.zeros(b, 5, device=dev, dtype=mu.dtype)
    out[:, 0], out[:, 1] = dx, dy
    out[rows, 2 + pen] = 1.0
    return out
