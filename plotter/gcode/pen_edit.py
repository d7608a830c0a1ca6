"""Try new pen values without editing YAML by hand, then keep them: `plotter pen ... --set`, `--save`.

Why a module: the values are checked exactly as a profile file would be (same validator, same messages), and
the saved file is a small profile that `extends:` the one you started from, so it keeps getting its fixes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from plotter.errors import ProfileError
from plotter.gcode.profile import Pen, Profile, profile_from_dict, profile_to_dict

PEN_FIELDS = tuple(Pen.__dataclass_fields__)


def parse_pen_settings(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """('down_command=M3 S800', 'pen.dwell_down=0.3') -> {'down_command': 'M3 S800', 'dwell_down': 0.3}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix("pen.")
        if not sep or key not in PEN_FIELDS:
            raise ProfileError(f"--set {item!r}: use FIELD=VALUE with a pen field ({', '.join(PEN_FIELDS)})")
        text = key in ("up_command", "down_command", "mode")
        out[key] = value.strip() if text else yaml.safe_load(value)
    return out


def with_pen(profile: Profile, changes: dict[str, Any]) -> Profile:
    """The profile with these pen fields changed, validated like a file (refused with the field's name)."""
    if not changes:
        return profile
    data = profile_to_dict(profile)
    data["pen"] = {**data["pen"], **changes}
    return profile_from_dict(data, source=f"{profile.name} --set")


def save_pen(path: str | Path, base: Profile, changes: dict[str, Any]) -> Path:
    """Write the changed pen fields into `path`: a profile that extends `base`, or the same file updated."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        raise ProfileError(f"--save {path}: a profile file ends in .yaml")
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ProfileError(f"{path.name}: a profile must be a YAML mapping of fields")
        data = loaded
    elif base.source:
        from plotter.gcode.profile import bundled_profiles

        source = Path(base.source).resolve()
        bundled = bundled_profiles().get(base.name)
        parent = base.name if bundled is not None and bundled.resolve() == source else str(source)
        data = {"name": path.stem, "extends": parent}
    data["pen"] = {**(data.get("pen") or {}), **changes}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    from plotter.gcode.profile import load_profile

    load_profile(path)  # what was written must load (a bad file is refused now, not at the next plot)
    return path
