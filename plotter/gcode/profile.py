"""Firmware profiles: one YAML file per machine, loaded into frozen dataclasses and validated field by field.

Why: a profile is the only place where machine facts live (bed, feeds, GRBL's $110-$122/$11, how the pen
moves, how long a line may be). Typos must not silently fall back to defaults, so unknown keys are errors
with a close-name suggestion, and every message names the file and the dotted field. Profiles may
`extends:` another profile and override a few fields.

Bundled profiles live in the top-level `firmware_profiles/` directory. A source checkout or `pip install -e .`
finds them next to the package; a regular `pip install .` installs them as data files under
`<prefix>/share/plotter/firmware_profiles/` (setup.cfg `data_files`). `$PLOTTER_PROFILE_PATH` (os.pathsep
separated directories) is searched first.
"""

from __future__ import annotations

import difflib
import os
import site
import sys
import sysconfig
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from plotter.errors import InputLimitError, ProfileError
from plotter.gcode import schema
from plotter.gcode.rules import LINE_LIMITS, check_line

FIRMWARES = tuple(LINE_LIMITS)
MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Axes:
    """One value per axis (mm/min for rates, mm/s² for accelerations)."""

    x: float
    y: float
    z: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)


@dataclass(frozen=True)
class Bed:
    width: float = 300.0
    height: float = 200.0
    origin: str = "bottom-left"  # machine X0 Y0 seen from above: bottom-left (Y up) | top-left (Y down)
    # positive: machine zero is the bed's origin corner (no homing) | negative: stock GRBL after homing keeps
    # machine coordinates in [-max_travel, 0] (soft limits check that), so the G-code moves G54's zero there
    machine_space: str = "positive"

    @property
    def y_up(self) -> bool:
        return self.origin == "bottom-left"


@dataclass(frozen=True)
class Motion:
    draw_feed: float = 2000.0
    travel_feed: float | None = None  # None: travel with G0 at max_rate
    max_rate: Axes = field(default_factory=lambda: Axes(5000.0, 5000.0, 1000.0))
    acceleration: Axes = field(default_factory=lambda: Axes(500.0, 500.0, 100.0))
    junction_deviation: float = 0.01


@dataclass(frozen=True)
class Pen:
    mode: str = "servo"  # servo | z
    up_command: str = "M5"
    down_command: str = "M3 S1000"
    z_up: float = 5.0
    z_down: float = 0.0
    z_feed: float = 1000.0
    dwell_up: float = 0.2
    dwell_down: float = 0.2


@dataclass(frozen=True)
class Output:
    decimals: int = 3
    max_line_length: int = 80
    comments: bool = True
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    return_home: bool = True


@dataclass(frozen=True)
class Controller:
    rx_buffer_size: int = 128
    planner_blocks: int = 15
    baudrate: int = 115200


@dataclass(frozen=True)
class Profile:
    """A validated machine description; build it with `load_profile` or `profile_from_dict`."""

    name: str
    description: str = ""
    firmware: str = "grbl"
    units: str = "mm"
    bed: Bed = field(default_factory=Bed)
    motion: Motion = field(default_factory=Motion)
    pen: Pen = field(default_factory=Pen)
    output: Output = field(default_factory=Output)
    controller: Controller = field(default_factory=Controller)
    source: str = ""

    @property
    def max_line_length(self) -> int:
        return self.output.max_line_length

    def kinematics(self) -> Any:
        """The planner's view of this machine (`plotter.plan.motion.Kinematics`) for time estimates."""
        from plotter.plan.motion import Kinematics

        m = self.motion
        return Kinematics(
            max_rate=m.max_rate.as_tuple(),
            accel=m.acceleration.as_tuple(),
            junction_deviation=m.junction_deviation,
        )


# ------------------------------------------------------------------------------------------ locating files
def profile_dirs() -> list[Path]:
    """Directories searched for `<name>.yaml`, in order."""
    dirs = [Path(p) for p in os.environ.get("PLOTTER_PROFILE_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[2] / "firmware_profiles")  # checkout / editable install
    bases = [sys.prefix, sysconfig.get_path("data"), site.USER_BASE or "", sys.base_prefix]
    for base in filter(None, bases):
        dirs.append(Path(base) / "share" / "plotter" / "firmware_profiles")
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def bundled_profiles() -> dict[str, Path]:
    """name -> path of every profile found on the search path (earlier directories win)."""
    found: dict[str, Path] = {}
    for d in profile_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                found.setdefault(p.stem, p)
    return found


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """Load a profile by bundled name (`grbl-servo`) or by path to a YAML file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in text or path.is_file():
        if not path.is_file():
            raise ProfileError(f"profile file {text!r} does not exist")
        return _load_file(path, chain=())
    known = bundled_profiles()
    if text not in known:
        close = difflib.get_close_matches(text, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        names = ", ".join(sorted(known)) or "none found"
        raise ProfileError(f"unknown profile {text!r}{hint} (known: {names})")
    return _load_file(known[text], chain=())


def _read_yaml(path: Path) -> dict[str, Any]:
    from plotter.limits import MAX_YAML_BYTES, load_yaml

    try:
        with path.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
        data = load_yaml(raw.decode("utf-8"), path.name)
    except OSError as exc:
        raise ProfileError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path.name}: not a UTF-8 text file") from None
    except RecursionError:
        raise ProfileError(f"{path.name}: nested too deeply") from None
    except InputLimitError as exc:
        raise ProfileError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProfileError(f"{path.name}: invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path.name}: a profile must be a YAML mapping of fields")
    return data


def _load_file(path: Path, chain: tuple[Path, ...]) -> Profile:
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ProfileError(f"{path.name}: extends: must be a profile name or path")
        base_path = path.parent / parent if parent.endswith((".yaml", ".yml")) else None
        if base_path is None:
            base_path = bundled_profiles().get(parent) or (path.parent / f"{parent}.yaml")
        if base_path.resolve() in chain or base_path.resolve() == path.resolve():
            raise ProfileError(f"{path.name}: extends: {parent!r} forms a cycle")
        if not base_path.is_file():
            raise ProfileError(f"{path.name}: extends: unknown profile {parent!r}")
        base = _read_yaml(base_path)
        base.pop("extends", None)
        base.pop("name", None)  # a profile that extends another keeps its own name (its file's, or its own)
        data = _deep_merge(base, data)
    data.setdefault("name", path.stem)
    return profile_from_dict(data, source=str(path))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# ------------------------------------------------------------------------------------------ validation
def profile_from_dict(data: dict[str, Any], source: str = "<profile>") -> Profile:
    """Validate a plain mapping (as read from YAML) into a `Profile`; errors name `source` and the field."""
    label = Path(source).name if source else "<profile>"
    v = schema.Validator(label)
    v.no_unknown(data, schema.TOP_KEYS, "")
    firmware = v.choice(data, "firmware", FIRMWARES, "grbl", "")
    units = v.choice(data, "units", ("mm", "in"), "mm", "")
    scale = MM_PER_INCH if units == "in" else 1.0
    defaults = schema.FIRMWARE_DEFAULTS[firmware]
    name = v.text(data, "name", None, "")
    bed = v.section(data, "bed", Bed, scale, {})
    motion = v.motion(data.get("motion", {}), scale, Motion, Axes)
    pen = v.section(data, "pen", Pen, scale, {})
    output = v.section(data, "output", Output, 1.0, defaults["output"])
    controller = v.section(data, "controller", Controller, 1.0, defaults["controller"])
    profile = Profile(
        name=name,
        description=v.text(data, "description", "", ""),
        firmware=firmware,
        units="mm",
        bed=bed,
        motion=motion,
        pen=pen,
        output=output,
        controller=controller,
        source=source,
    )
    _check_consistency(profile, label)
    return profile


def _check_consistency(p: Profile, label: str) -> None:
    limit = LINE_LIMITS[p.firmware]
    if p.output.max_line_length > limit:
        raise ProfileError(
            f"{label}: output.max_line_length: {p.firmware} accepts at most {limit} characters per line "
            f"(with the newline), got {p.output.max_line_length}"
        )
    if p.output.max_line_length > p.controller.rx_buffer_size:
        raise ProfileError(f"{label}: output.max_line_length: longer than controller.rx_buffer_size")
    if p.pen.mode == "z" and p.pen.z_up == p.pen.z_down:
        raise ProfileError(f"{label}: pen.z_up: must differ from pen.z_down")
    lines = [("pen.up_command", p.pen.up_command), ("pen.down_command", p.pen.down_command)]
    lines += [(f"output.header[{i}]", s) for i, s in enumerate(p.output.header)]
    lines += [(f"output.footer[{i}]", s) for i, s in enumerate(p.output.footer)]
    for where, line in lines:
        problems = check_line(line, p)
        if problems:
            raise ProfileError(f"{label}: {where}: {line!r} would be refused: {problems[0]}")
    for where, line in lines[:2]:
        if p.pen.mode == "servo" and any(c in line.upper() for c in "XY"):
            raise ProfileError(f"{label}: {where}: a pen command must not move X or Y, got {line!r}")


def profile_to_dict(p: Profile) -> dict[str, Any]:
    """Plain mapping of every field (for `plotter profiles show` and round trips)."""
    out: dict[str, Any] = {}
    for f in fields(p):
        if f.name == "source":
            continue
        value = getattr(p, f.name)
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return list(value)
    return value
