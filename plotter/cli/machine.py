"""`plotter pen`, `plotter home`, `plotter jog`, `plotter settings`: set a machine up by hand.

Thin: the conversations with GRBL are `plotter.grbl.control.Machine`; pen values are checked and saved by
`plotter.gcode.pen_edit`. Each command opens the port, does one thing, reads the result back, and closes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from plotter.cli.params import verbose_option

DEFAULT_PROFILE = "grbl-servo"


def machine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--device, --profile, --baud, --unlock, -v: the same on every machine command."""
    for option in reversed((
        click.option("--device", "-d", envvar="PLOTTER_DEVICE", default=None,
                     help="Serial port or URL (grblsim://...) [$PLOTTER_DEVICE]."),
        click.option("--profile", default=lambda: os.environ.get("PLOTTER_PROFILE", DEFAULT_PROFILE),
                     show_default=DEFAULT_PROFILE,
                     help="Firmware profile name or YAML path ($PLOTTER_PROFILE)."),
        click.option("--baud", type=click.IntRange(1200), default=None,
                     help="Serial speed [default: profile's]."),
        click.option("--unlock", is_flag=True, help="Send $X first if GRBL is alarm-locked."),
        verbose_option,
    )):  # fmt: skip
        f = option(f)
    return f


def _open(device: str | None, profile: Any, baud: int | None) -> Any:
    from plotter.errors import DeviceError
    from plotter.grbl.control import Machine

    if not device:
        raise DeviceError("no device given: pass --device PATH or a URL, or set $PLOTTER_DEVICE "
                          "(`plotter devices` lists ports; grblsim:// is the simulated plotter)")
    return Machine.open(device, profile, baud)


def _where(pos: tuple[float, ...]) -> str:
    return " ".join(f"{axis}{value:.3f}" for axis, value in zip("XYZ", pos))


@click.command()
@click.argument("action", type=click.Choice(["up", "down", "toggle", "test"]))
@machine_options
@click.option("--set", "changes", multiple=True, metavar="FIELD=VALUE",
              help="Try another pen value: --set down_command='M3 S800' --set dwell_down=0.3 (repeatable).")
@click.option("--save", "save_path", type=click.Path(dir_okay=False), default=None,
              help="Write the --set values into this profile file (extends --profile if it is new).")
@click.option("--cycles", type=click.IntRange(1, 100), default=3, show_default=True,
              help="test: down/up cycles.")
def pen(action: str, device: str | None, profile: str, baud: int | None, unlock: bool,
        changes: tuple[str, ...], save_path: str | None, cycles: int) -> None:  # fmt: skip
    """Move the pen: up, down, toggle, or test (down/up a few times) with the profile's values and dwells.

    Each move waits until GRBL has run it, then reads the pen back (servo: the spindle value driving the PWM;
    z: the Z height). Calibrate with --set and keep the values with --save mine.yaml.
    """
    from plotter.gcode import load_profile
    from plotter.gcode.pen_edit import parse_pen_settings, save_pen, with_pen

    base = load_profile(profile)
    overrides = parse_pen_settings(changes)
    prof = with_pen(base, overrides)  # checked before the port opens
    with _open(device, prof, baud) as machine:
        machine.require_ready(unlock)
        if action == "test":
            for i, report in enumerate(machine.test(cycles)):
                click.echo(f"cycle {i // 2 + 1}: pen {'down' if report.down else 'up':4} ({report.detail})")
        else:
            if action == "toggle":
                down, lines = machine.toggle()
            else:
                down, lines = action == "down", machine.pen(action == "down")
            report = machine.pen_report()
            click.echo(f"pen {'down' if report.down else 'up'} ({report.detail}) after {'; '.join(lines)}")
            if report.down != down:
                raise click.ClickException(f"the machine reports the pen {'down' if report.down else 'up'} "
                                           f"after sending {'; '.join(lines)}")
    if save_path:
        if not overrides:
            raise click.ClickException("--save needs at least one --set FIELD=VALUE to write")
        written = save_pen(save_path, base, overrides)
        click.echo(f"saved {', '.join(f'pen.{k}' for k in overrides)} to {written}")


@click.command()
@machine_options
def home(device: str | None, profile: str, baud: int | None, unlock: bool) -> None:
    """Run GRBL's homing cycle ($H) and print where the machine set its origin.

    Needs limit switches and $22=1; homing also clears the alarm lock a homing machine starts in.
    """
    from plotter.gcode import load_profile

    with _open(device, load_profile(profile), baud) as machine:
        click.echo("homing ($H)...", err=True)
        click.echo(f"homed: machine position {_where(machine.home())}")


@click.command()
@click.argument("moves", nargs=-1, required=True, metavar="X10 Y-5 ...")
@machine_options
@click.option("--feed", "-f", type=click.FloatRange(min=1.0), default=None,
              help="mm/min [default: the profile's draw feed].")
@click.option("--to", "absolute", is_flag=True, help="Go to these work coordinates, not by them.")
def jog(moves: tuple[str, ...], device: str | None, profile: str, baud: int | None, unlock: bool,
        feed: float | None, absolute: bool) -> None:  # fmt: skip
    """Jog by (or, with --to, to) a distance per axis in mm, e.g. `plotter jog X10 Y-5`.

    Uses GRBL's jog command ($J=): with soft limits on, a target beyond the machine's travel is refused
    before anything moves.
    """
    from plotter.gcode import load_profile
    from plotter.grbl.control import parse_jog

    prof = load_profile(profile)
    parsed = parse_jog(moves)
    with _open(device, prof, baud) as machine:
        machine.require_ready(unlock)
        pos = machine.jog(parsed, feed or prof.motion.draw_feed, absolute=absolute)
        click.echo(f"at {_where(pos)}")


@click.command()
@machine_options
@click.option("--set", "changes", multiple=True, metavar="N=VALUE", help="Write $N=VALUE (repeatable).")
@click.option("--yes", "-y", is_flag=True, help="Write without asking.")
def settings(device: str | None, profile: str, baud: int | None, unlock: bool, changes: tuple[str, ...],
             yes: bool) -> None:  # fmt: skip
    """Show GRBL's $ settings with their meaning; --set 110=5000 writes one after asking (send-response)."""
    from plotter.gcode import load_profile
    from plotter.grbl.control import parse_settings, setting_name

    wanted = parse_settings(changes)
    with _open(device, load_profile(profile), baud) as machine:
        current = machine.settings()
        if not wanted:
            for number, value in current.items():
                click.echo(f"${number}={value:<12} {setting_name(number)}")
            return
        for number, value in wanted.items():
            click.echo(f"${number}: {current.get(number, '(none)')} -> {value}   {setting_name(number)}")
        if not yes:
            click.confirm("Write these to GRBL's EEPROM?", default=False, abort=True)
        for number, value in wanted.items():
            click.echo(f"${number}={machine.write_setting(number, value)}")
