"""`plotter profiles list|show|validate`: see and check firmware profiles."""

from __future__ import annotations

import click
import yaml

from plotter.gcode.profile import bundled_profiles, load_profile, profile_dirs, profile_to_dict


@click.group()
def profiles() -> None:
    """List, show and validate firmware profiles (YAML)."""


@profiles.command("list")
def list_profiles() -> None:
    """Bundled and user profiles (searched in $PLOTTER_PROFILE_PATH, then firmware_profiles/)."""
    found = bundled_profiles()
    if not found:
        dirs = ", ".join(str(d) for d in profile_dirs())
        raise click.ClickException(f"no profiles found (searched {dirs})")
    for name, path in found.items():
        p = load_profile(path)
        pen = "servo" if p.pen.mode == "servo" else "Z axis"
        bed = f"{p.bed.width:g} x {p.bed.height:g} mm"
        click.echo(f"{name:<14} {p.firmware:<8} {bed:<16} pen: {pen:<6}  {p.description}")


@profiles.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Every field of a profile, defaults filled in (NAME or a path to a YAML file)."""
    p = load_profile(name)
    click.echo(f"# {p.source}")
    click.echo(yaml.safe_dump(profile_to_dict(p), sort_keys=False, default_flow_style=False).rstrip())


@profiles.command("validate")
@click.argument("path")
def validate(path: str) -> None:
    """Check a profile file; prints `ok` or the first bad field, exit 1."""
    p = load_profile(path)
    click.echo(f"ok: {p.name} ({p.firmware}, {p.bed.width:g} x {p.bed.height:g} mm, pen {p.pen.mode})")
