"""`plotter sim`: the simulated GRBL plotter, as a pseudo-terminal for any sender or as a file dry run."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import click

from plotter.cli.params import INPUT_FILE
from plotter.errors import DeviceError, GcodeError


def _speed(value: str) -> float:
    if value in ("realtime", "real", "1"):
        return 1.0
    try:
        speed = float(value)
    except ValueError:
        raise click.BadParameter(
            f"expected a number or 'realtime', got {value!r}", param_hint="--speed"
        ) from None
    if not 0 < speed < float("inf"):
        raise click.BadParameter(f"must be a finite number > 0, got {value!r}", param_hint="--speed")
    return speed


def _settings(items: tuple[str, ...]) -> dict[int, float]:
    out = {}
    for item in items:
        key, sep, value = item.lstrip("$").partition("=")
        try:
            out[int(key)] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"expected N=VALUE like 32=1, got {item!r}", param_hint="--set"
            ) from None
        if not sep:
            raise click.BadParameter(f"expected N=VALUE like 32=1, got {item!r}", param_hint="--set")
    return out


def _print_summary(trace, sim_time: float) -> None:
    s = trace.summary()
    click.echo(
        f"machine time {s['machine_time_s']:.2f} s (ideal {s['ideal_time_s']:.2f} s,"
        f" starved {s['starved_pct']:.2f} %)"
        f" | drawn {s['drawn_mm']:.1f} mm, travel {s['travel_mm']:.1f} mm, pen lifts {s['pen_lifts']}"
        f" | rx overflow {s['rx_overflow_bytes']} bytes | simulated {sim_time:.2f} s"
    )
    settle = s["pen_settle_min_s"]
    if settle is not None and settle < 0.1:
        click.echo(
            f"warning: motion starts {settle * 1000:.0f} ms after a pen move; a hobby servo needs ~100-300 ms"
            " (add G4 P0.2 after M3/M5, or set the profile's dwell_up/dwell_down)",
            err=True,
        )


@click.command()
@click.argument("gcode", required=False, type=INPUT_FILE)
@click.option("--pty", "use_pty", is_flag=True, help="Serve a pseudo-terminal (prints its /dev/pts path).")
@click.option(
    "--speed", default="realtime", show_default=True, help="Clock for --pty: realtime or N (x faster)."
)
@click.option(
    "--rx", default=128, show_default=True, type=click.IntRange(16, 1 << 20), help="RX buffer bytes."
)
@click.option("--blocks", default=15, show_default=True, type=click.IntRange(1, 1000), help="Planner blocks.")
@click.option("--homing", is_flag=True, help="$22=1: start in alarm lock until $H or $X.")
@click.option("--pen", type=click.Choice(["servo", "z"]), default="servo", show_default=True,
              help="What counts as pen down in the trace: M3 S>0 (servo) or Z <= 0 (z).")  # fmt: skip
@click.option("--set", "settings", multiple=True, metavar="N=V", help="A $ setting at power-up, e.g. 32=1.")
@click.option(
    "--latency-ms", default=1.0, show_default=True, type=click.FloatRange(0, 10_000), help="Serial latency."
)
@click.option(
    "--fault", multiple=True, metavar="SPEC", help="Inject a fault, e.g. error:20@line:5, vanish@t:30."
)
@click.option("--send-response", is_flag=True, help="Dry run with send-response instead of char counting.")
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what the machine drew (.svg or .png).")  # fmt: skip
@click.option("--profile", default=lambda: os.environ.get("PLOTTER_PROFILE", "grbl-servo"),
              show_default="grbl-servo", help="Dry run: the bed the FILE must stay on.")  # fmt: skip
def sim(
    gcode: Path | None,
    use_pty: bool,
    speed: str,
    rx: int,
    blocks: int,
    homing: bool,
    pen: str,
    settings: tuple[str, ...],
    latency_ms: float,
    fault: tuple[str, ...],
    send_response: bool,
    trace_path: Path | None,
    profile: str,
) -> None:
    """A simulated GRBL 1.1h pen plotter.

    With --pty it serves a pseudo-terminal that any sender can open like /dev/ttyUSB0 (Ctrl-C stops it);
    with a G-code FILE it dry-runs the file in virtual time and reports machine time, drawn length and pen
    lifts. The machine is also reachable from Python as serial.serial_for_url("grblsim://?...").
    """
    from plotter.grbl.protocol_grblsim import SimOptions

    if trace_path is not None and trace_path.suffix.lower() not in (".svg", ".png"):
        raise click.BadParameter(f"{trace_path.name}: the trace is .svg or .png", param_hint="--trace")
    if use_pty == (gcode is not None):
        raise click.UsageError(
            "give a G-code FILE for a dry run, or --pty to serve a pseudo-terminal (not both)"
        )
    options = SimOptions(rx=rx, blocks=blocks, homing=homing, pen=pen, settings=_settings(settings),
                         latency_ms=latency_ms, faults=list(fault))  # fmt: skip
    if gcode is not None:
        _dry_run(gcode, options, trace_path, send_response, profile)
    else:
        options.clock, options.speed = "realtime", _speed(speed)
        _serve_pty(options, trace_path)


def _dry_run(gcode: Path, options, trace_path: Path | None, send_response: bool, profile: str) -> None:
    from plotter.grbl.sim.dryrun import dry_run, raise_on_failure

    try:
        lines = gcode.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:  # as `plotter stream` says it, not a line of mojibake from GRBL
        raise GcodeError(f"{gcode} is not a text G-code file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DeviceError(f"{gcode}: cannot read: {exc.strerror or exc}") from None
    from plotter.grbl.flow import clean_line

    if not any(clean_line(line) for line in lines):  # as `plotter stream` refuses it
        raise GcodeError(f"{gcode} has no G-code lines")
    from plotter.gcode.bed import check_program_bed, machine_bed

    check_program_bed(lines, machine_bed(profile, options.settings), "pass --profile for the machine's bed")
    with click.progressbar(length=len(lines), label=f"simulating {gcode.name}", file=None) as bar:
        run = dry_run(lines, options, progress=bar.update, send_response=send_response)
    _print_summary(run.trace, run.sim_time_s)
    if trace_path is not None:
        click.echo(f"trace: {run.trace.write(trace_path)}")
    raise_on_failure(run)


def _serve_pty(options, trace_path: Path | None) -> None:
    from plotter.grbl.sim.pty import PtyBridge

    link = options.build()
    bridge = PtyBridge(link)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        path = bridge.start()
        click.echo(path, err=False)
        click.echo(f"simulated GRBL 1.1h on {path} (speed x{options.speed:g}); Ctrl-C to stop", err=True)
        bridge.serve(stop)
    finally:
        bridge.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if link.machine.vanished:
        click.echo("the simulated port vanished (fault injection)", err=True)
    _print_summary(link.machine.trace, link.machine.now)
    if trace_path is not None:
        click.echo(f"trace: {link.machine.trace.write(trace_path)}")
