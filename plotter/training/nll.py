"""Held-out NLL of real sketches, scored through the models' own public hooks.

Why a module of its own: `evaluate` once rebuilt Sketch-RNN's decoder pass from private pieces and so skipped
`mdn.absorb_after_end`, overstating the paper-convention pen term ~8x. Here both models go through
`SketchRNN.posterior()` / `SketchRNN.mdn_params()` and `SketchTransformer.mdn_params()`, then the same
`absorb_after_end` (idempotent: Sketch-RNN already applies it), `mdn.paper_nll` and `mdn.mdn_loss`, so the two
models are scored identically and evaluate cannot drift from the training loss.

Conventions over the same held-out sketches, N_max = the longest kept sketch + its end row:
  * paper: L_s over real points + L_p over all N_max rows (padding included, end state absorbing), / N_max,
    mean over sketches (Ha & Eck 2017);
  * per valid row: the same terms over points and the end row only / their count (what training logs).
Offsets are divided by the model's scale. Sketch-RNN uses z = the encoder mean μ and reports the KL beside it
(paper "loss" = L_R + KL, unweighted, no floor); the transformer is autoregressive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _params_and_kl(model: torch.nn.Module, batch: object) -> tuple[object, torch.Tensor | None]:
    """Mixture params for every target row via the model's public hooks, and Sketch-RNN's per-sketch KL."""
    from plotter.models.mdn import absorb_after_end

    if getattr(model, "kind", None) == "sketch-rnn":
        z = kl = None
        if model.config.conditional:
            mu, logvar = model.posterior(batch)  # (B, Z) each
            z = mu  # deterministic reconstruction: the posterior mean
            kl = -0.5 * (1.0 + logvar - mu**2 - torch.exp(logvar)).mean(-1)  # (B,), as compute_loss
        return model.mdn_params(batch, z), kl
    cids = batch.class_ids if getattr(model, "wce", None) is not None else None
    params = model.mdn_params(batch.x, cids) if hasattr(model, "mdn_params") else model(batch.x, cids)
    return absorb_after_end(params, batch.x), None


@torch.no_grad()
def held_out_nll(model: torch.nn.Module, sketches: Sequence[np.ndarray], class_id: int = 0,
                 batch_size: int = 64, progress: Progress | None = None) -> dict:
    """NLL of real stroke-3 sketches (data units) in the paper's and the per-valid-row convention."""
    from plotter.models.mdn import mdn_loss, paper_nll
    from plotter.training.data import make_batch

    scale = float(getattr(model, "scale", 1.0))
    rows = int(getattr(model.config, "block_size", 10**9))  # the transformer reads at most block_size rows
    kept = [s for s in sketches if len(s) + 1 <= rows]  # input rows = start token + points = n_max
    if not kept:
        return {"paper": None, "skipped": f"no test sketch fits the model's {rows} rows"}
    n_max = max(len(s) for s in kept) + 1  # points + end-of-sketch row
    norm = [np.column_stack([s[:, :2] / scale, s[:, 2]]).astype(np.float32) for s in kept]
    sums = dict.fromkeys(["ls_paper", "lp_paper", "ls_valid", "lp_valid", "rows", "kl"], 0.0)
    model.eval()
    for i in range(0, len(norm), batch_size):
        chunk = norm[i : i + batch_size]
        batch = make_batch(chunk, [class_id] * len(chunk), pad_to=n_max - 1)  # exactly n_max rows
        params, kl = _params_and_kl(model, batch)
        paper, valid, nrows = paper_nll(params, batch.y, n_max), mdn_loss(params, batch.y, batch.mask), \
            float(batch.mask.sum())
        sums["ls_paper"] += float(paper["offset_nll"]) * len(chunk)  # batch means -> sums over sketches
        sums["lp_paper"] += float(paper["pen_nll"]) * len(chunk)
        sums["ls_valid"] += float(valid["offset_nll"]) * nrows  # per-row means -> sums over rows
        sums["lp_valid"] += float(valid["pen_nll"]) * nrows
        sums["rows"] += nrows
        sums["kl"] += 0.0 if kl is None else float(kl.sum())
        if progress is not None:
            progress("NLL", min(i + batch_size, len(norm)), len(norm))
    return _summary(sums, len(norm), n_max, len(sketches), scale, model)


def _summary(sums: dict, n: int, n_max: int, n_given: int, scale: float, model: torch.nn.Module) -> dict:
    paper = {"offset_nll": sums["ls_paper"] / n, "pen_nll": sums["lp_paper"] / n}
    paper["nll"] = paper["offset_nll"] + paper["pen_nll"]
    valid = {"offset_nll": sums["ls_valid"] / sums["rows"], "pen_nll": sums["lp_valid"] / sums["rows"]}
    valid["nll"] = valid["offset_nll"] + valid["pen_nll"]
    is_vae = getattr(model, "kind", None) == "sketch-rnn" and model.config.conditional
    kl_mean = sums["kl"] / n if is_vae else None
    return {
        "paper": paper, "per_valid_row": valid, "n_max": n_max, "n_sketches": n,
        "skipped_too_long": n_given - n, "scale": scale, "kl": kl_mean,
        "paper_total": paper["nll"] + kl_mean if kl_mean is not None else paper["nll"],
        "convention": ("paper: (sum L_s over points + sum L_p over all N_max rows, end state absorbing) "
                       "/ N_max, mean over sketches; per_valid_row: sums over points and the end row / their "
                       "count; "
                       "offsets / model scale; params from the model's mdn_params + mdn.absorb_after_end"
                       + ("; Sketch-RNN: z = encoder mean, KL mean over z dims (unweighted, no floor)"
                          if is_vae else "; autoregressive")),
    }
