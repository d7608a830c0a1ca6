"""Growing a trained Sketch Transformer: more blocks, pen-position features, same function at the start."""

from __future__ import annotations

import torch

from plotter.models.transformer import SketchTransformer


def load_grown(model: SketchTransformer, state: dict[str, torch.Tensor]) -> list[str]:
    """Load a smaller model's weights into `model` so it computes exactly the same function at first.

    Why: a run can go on from a shipped checkpoint with more blocks or the pen-position features
    (`xy_freqs`) instead of starting over. Every saved tensor must fit; a new block's residual
    projections and the new position features start at zero, so they add nothing until trained.
    Returns the names that were not in `state`.
    """
    own = model.state_dict()
    for k, v in state.items():
        if k not in own or own[k].shape != v.shape:
            raise ValueError(f"{k}: {tuple(v.shape)} does not fit this model")
    new = [k for k in own if k not in state]
    with torch.no_grad():
        model.load_state_dict(state, strict=False)
        params = dict(model.named_parameters())
        for k in new:
            if k.startswith("wxy_abs.") or ".c_proj." in k:
                params[k].zero_()
            elif not k.startswith("blocks."):
                raise ValueError(f"{k} is missing and cannot start as a no-op")
    return new
