"""Field table and checks for firmware profiles.

Why: one table lists every field with its kind, range and whether it is a length (converted when `units: in`),
so validation, the README table and `plotter profiles show` cannot drift apart. Messages always read
`<file>: <section.field>: must be ..., got ...`.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any

from plotter.errors import ProfileError
from plotter.limits import short

TOP_KEYS = (
    "name",
    "description",
    "firmware",
    "units",
    "bed",
    "motion",
    "pen",
    "output",
    "controller",
    "extends",
)

# kind, is_length. Kinds: pos (> 0), nonneg (>= 0), num, pos|null, axes (x/y/z > 0), str, lines, bool,
# int:lo:hi, or a tuple of choices.
SPECS: dict[str, dict[str, tuple[Any, bool]]] = {
    "bed": {
        "width": ("pos", True),
        "height": ("pos", True),
        "origin": (("bottom-left", "top-left"), False),
        "machine_space": (("positive", "negative"), False),
    },
    "motion": {
        "draw_feed": ("pos", True),
        "travel_feed": ("pos|null", True),
        "max_rate": ("axes", True),
        "acceleration": ("axes", True),
        "junction_deviation": ("nonneg", True),
    },
    "pen": {
        "mode": (("servo", "z"), False),
        "up_command": ("str", False),
        "down_command": ("str", False),
        "z_up": ("num", True),
        "z_down": ("num", True),
        "z_feed": ("pos", True),
        "dwell_up": ("nonneg", False),
        "dwell_down": ("nonneg", False),
    },
    "output": {
        "decimals": ("int:0:6", False),
        "max_line_length": ("int:16:4096", False),
        "comments": ("bool", False),
        "header": ("lines", False),
        "footer": ("lines", False),
        "return_home": ("bool", False),
    },
    "controller": {
        "rx_buffer_size": ("int:16:1048576", False),
        "planner_blocks": ("int:1:100000", False),
        "baudrate": ("int:300:100000000", False),
    },
}

FIRMWARE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "grbl": {"output": {"max_line_length": 80}, "controller": {"rx_buffer_size": 128, "planner_blocks": 15}},
    "grblhal": {
        "output": {"max_line_length": 256},
        "controller": {"rx_buffer_size": 1024, "planner_blocks": 35},
    },
    "fluidnc": {
        "output": {"max_line_length": 256},
        "controller": {"rx_buffer_size": 256, "planner_blocks": 16},
    },
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Validator:
    """Checks mapping fields one by one; raises `ProfileError` naming the file and dotted field."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, message: str) -> None:
        raise ProfileError(f"{self.label}: {where}: {message}")

    def no_unknown(self, data: Any, keys: tuple[str, ...] | list[str], prefix: str) -> None:
        if not isinstance(data, dict):
            self.fail(prefix.rstrip(".") or "profile", f"must be a mapping of fields, got {short(data)}")
        for key in data:
            if key not in keys:
                close = difflib.get_close_matches(str(key), list(keys), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(keys)})"
                self.fail(f"{prefix}{key}", f"unknown field{hint}")

    def choice(self, data: dict, key: str, choices: tuple[str, ...], default: str, prefix: str) -> str:
        value = data.get(key, default)
        if value not in choices:
            self.fail(f"{prefix}{key}", f"must be one of {', '.join(choices)}, got {short(value)}")
        return value

    def text(self, data: dict, key: str, default: str | None, prefix: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            self.fail(f"{prefix}{key}", f"must be a non-empty text, got {short(value)}")
        return value

    def value(self, kind: Any, value: Any, where: str, scale: float) -> Any:
        """Check one value against its kind; lengths are multiplied by `scale` (inches -> mm)."""
        if isinstance(kind, tuple):
            if value not in kind:
                self.fail(where, f"must be one of {', '.join(kind)}, got {short(value)}")
            return value
        if kind == "pos|null":
            return None if value is None else self.value("pos", value, where, scale)
        if kind in ("pos", "nonneg", "num"):
            if not _is_number(value):
                bound = {"pos": " > 0", "nonneg": " >= 0", "num": ""}[kind]
                self.fail(where, f"must be a number{bound}, got {short(value)}")
            if kind == "pos" and not value > 0:
                self.fail(where, f"must be a number > 0, got {short(value)}")
            if kind == "nonneg" and not value >= 0:
                self.fail(where, f"must be a number >= 0, got {short(value)}")
            return float(value) * scale
        if kind.startswith("int:"):
            lo, hi = (int(x) for x in kind.split(":")[1:])
            if not (isinstance(value, int) and not isinstance(value, bool)) or not lo <= value <= hi:
                self.fail(where, f"must be an integer from {lo} to {hi}, got {short(value)}")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                self.fail(where, f"must be true or false, got {short(value)}")
            return value
        if kind == "str":
            if not isinstance(value, str) or not value.strip():
                self.fail(where, f"must be a non-empty G-code line, got {short(value)}")
            return value.strip()
        if kind == "lines":
            if value is None:
                return ()
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                self.fail(where, f"must be a list of G-code lines, got {short(value)}")
            return tuple(s.strip() for s in value if s.strip())
        raise ValueError(f"unknown kind {kind}")  # programming error, not user input

    def section(self, data: dict, name: str, cls: type, scale: float, defaults: dict[str, Any]) -> Any:
        """Validate `data[name]` against SPECS[name] and build `cls`; missing fields take defaults."""
        raw = data.get(name) or {}
        spec = SPECS[name]
        self.no_unknown(raw, tuple(spec), f"{name}.")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in raw:
                kind, is_length = spec[f.name]
                unit = scale if is_length else 1.0
                kwargs[f.name] = self.value(kind, raw[f.name], f"{name}.{f.name}", unit)
            elif f.name in defaults:
                kwargs[f.name] = defaults[f.name]
        return cls(**kwargs)

    def motion(self, raw: Any, scale: float, motion_cls: type, axes_cls: type) -> Any:
        """`motion_cls`/`axes_cls` are the profile's dataclasses (passed in: this table sits below them)."""
        raw = raw or {}
        spec = SPECS["motion"]
        self.no_unknown(raw, tuple(spec), "motion.")
        kwargs: dict[str, Any] = {}
        for key, (kind, is_length) in spec.items():
            if key not in raw:
                continue
            where = f"motion.{key}"
            if kind == "axes":
                axes = raw[key]
                self.no_unknown(axes, ("x", "y", "z"), f"{where}.")
                for axis in "xyz":
                    if axis not in axes:
                        self.fail(f"{where}.{axis}", "missing (give x, y and z)")
                kwargs[key] = axes_cls(*(self.value("pos", axes[a], f"{where}.{a}", scale) for a in "xyz"))
            else:
                kwargs[key] = self.value(kind, raw[key], where, scale if is_length else 1.0)
        return motion_cls(**kwargs)
