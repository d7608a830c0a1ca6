"""`plotter console`: talk to GRBL directly, with its replies shown and real-time keys acting at once.

Thin: the protocol side is `plotter.grbl.console.Console`. On a terminal every key goes through at once
(`?` `!` `~` Ctrl-X immediately, a line on Enter, Ctrl-D or Ctrl-C to leave); from a pipe or with -c each
line waits for GRBL's answer, so `echo '$$' | plotter console -d /dev/ttyUSB0` is a transcript.
"""

from __future__ import annotations

import sys
import threading

import click

from plotter.cli.machine import _open, machine_options


@click.command()
@machine_options
@click.option("--command", "-c", "commands", multiple=True, metavar="LINE",
              help="Send LINE and print the answer, instead of reading stdin (repeatable).")
def console(device: str | None, profile: str, baud: int | None, unlock: bool,
            commands: tuple[str, ...]) -> None:  # fmt: skip
    """Interactive GRBL console: type G-code or $ commands; ? ! ~ and Ctrl-X are real-time keys."""
    from plotter.gcode import load_profile
    from plotter.grbl.console import Console

    with _open(device, load_profile(profile), baud) as machine:
        if unlock and machine.state.state == "Alarm":
            machine.command("$X")
        banner = machine.banner.raw if machine.banner else "GRBL"
        click.echo(f"connected: {banner}, {machine.state.label}", err=True)
        con = Console(machine.link, lambda text: click.echo(text))  # one reader of the port, in order
        if commands or not sys.stdin.isatty():
            refused = con.run_lines(commands or sys.stdin)
            if refused:
                raise click.ClickException(f"GRBL refused {refused} line(s) (see above)")
            return
        _interactive(con)


def _interactive(con: object) -> None:
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()
    reader = threading.Thread(target=con.reader, args=(stop,), daemon=True)  # type: ignore[attr-defined]
    click.echo("GRBL console: ? status, ! hold, ~ resume, Ctrl-X reset, Ctrl-D to quit", err=True)
    reader.start()
    line = ""
    try:
        tty.setcbreak(fd)
        while not stop.is_set():
            key = sys.stdin.read(1)
            if key in ("", "\x04"):
                break
            line = con.send_key(key, line)  # type: ignore[attr-defined]
            if key in ("\r", "\n") or key == "\x18":
                click.echo("")
            elif key in ("\x7f", "\b"):
                click.echo("\b \b", nl=False)
            elif key.isprintable() and key not in "?!~":
                click.echo(key, nl=False)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        stop.set()
        reader.join(timeout=1.0)
