"""Torch-free path planning: merge, simplify, order strokes, lay them out, and estimate machine time.

Names are imported lazily so that, say, the GRBL simulator can use `plotter.plan.motion` without loading
scipy's spatial index.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "merge_strokes": "plotter.plan.merge",
    "simplify": "plotter.plan.simplify",
    "rdp": "plotter.plan.simplify",
    "order_strokes": "plotter.plan.order",
    "OrderStats": "plotter.plan.order",
    "mst_lower_bound": "plotter.plan.order",
    "default_kicks": "plotter.plan.order",
    "Kinematics": "plotter.plan.motion",
    "PlannerQueue": "plotter.plan.motion",
    "Progress": "plotter.plan.motion",
    "estimate_gcode": "plotter.plan.estimate",
    "estimate_moves": "plotter.plan.estimate",
    "TimeEstimate": "plotter.plan.estimate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'plotter.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
