"""The page-layout choices a job may carry (`draw`, `export`, daemon jobs): one check of untrusted values.

Why: `plotter export` and `plotter draw` offer the same layout options (one click factory,
`plotter.cli.params.layout_options`), and a draw job sent to the daemon carries them as JSON; this is where
that JSON is checked, so a bad margin over the socket reads as it does on the command line.
"""

from __future__ import annotations

import math
from typing import Any

from plotter.errors import JobError

LAYOUT_KEYS = ("landscape", "margin", "gap", "rotate", "size", "offset", "clip")
DEFAULTS: dict[str, Any] = {"landscape": None, "margin": 10.0, "gap": 5.0, "rotate": 0.0, "size": None,
                            "offset": [0.0, 0.0], "clip": False}


def _number(key: str, value: object, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobError(f"layout: {key} must be a finite number of mm, got {value!r}")
    if minimum is not None and value < minimum:
        raise JobError(f"layout: {key} must be at least {minimum:g}, got {value!r}")
    return float(value)


def check_layout(data: object) -> dict[str, Any]:
    """Untrusted mapping -> the non-default layout values (empty: the defaults); errors name the key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JobError("layout must be a JSON object (margin, landscape, gap, rotate, size, offset, clip)")
    unknown = sorted(set(data) - set(LAYOUT_KEYS))
    if unknown:
        raise JobError(f"layout: unknown option {unknown[0]!r} (known: {', '.join(LAYOUT_KEYS)})")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or (list(value) if isinstance(value, tuple) else value) == DEFAULTS[key]:
            continue
        if key in ("landscape", "clip"):
            if not isinstance(value, bool):
                raise JobError(f"layout: {key} must be true or false, got {value!r}")
            out[key] = value
        elif key == "offset":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise JobError(f"layout: offset must be [x, y] in mm, got {value!r}")
            out[key] = [_number("offset", v, None) for v in value]
        elif key == "size":
            out[key] = _number(key, value, 1e-3)
        else:
            out[key] = _number(key, value, None if key == "rotate" else 0.0)
    return out


def job_options_kwargs(layout: dict[str, Any] | None) -> dict[str, Any]:
    """Checked layout -> keyword arguments of `plotter.job.plan.JobOptions`."""
    out = dict(check_layout(layout))
    if "offset" in out:
        out["offset"] = tuple(out["offset"])
    return out
