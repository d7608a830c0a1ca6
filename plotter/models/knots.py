"""The knot cap: a sampler's way out of a run of tiny pen-down steps (shared by the transformer's sampler)."""

from __future__ import annotations

import torch

KNOT_STEP_PX = 5.0  # a step shorter than this (data px) is tiny; real drawings rarely make ~5 in a row


def cap_knots(
    row: torch.Tensor, runs: torch.Tensor, idx: torch.Tensor, cap: int, tiny: float
) -> torch.Tensor:
    """Count tiny pen-down steps in a row per sketch; at `cap` the sampled row lifts the pen (in place).

    Why: at low temperature a sample can fall into scribbling tiny steps on one spot (a knot: on paper, a pen
    drilling a hole) and never get out; a lift puts it back in a context training knew (a new stroke).
    Applied after the random draws, so the cached and uncached samplers stay identical.
    """
    small = (row[:, 2] > 0.5) & (row[:, :2].norm(dim=1) < tiny)  # (live,)
    r = torch.where(small, runs[idx] + 1, torch.zeros_like(runs[idx]))
    hit = r >= cap
    if bool(hit.any()):
        row[hit, 2:] = torch.tensor([0.0, 1.0, 0.0], dtype=row.dtype, device=row.device)
        r = torch.where(hit, torch.zeros_like(r), r)
    runs[idx] = r
    return runs
