"""Dry run: stream a G-code program into a simulated machine in virtual time and report what it did.

The feeder is deliberately the textbook one (GRBL's character counting, send-response around `$` writes), so
the numbers describe the machine and the program, not a clever sender. The real streamer lives in
`plotter.grbl` and is tested against the same simulator.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serial import SerialException

from plotter.errors import GcodeError, GrblError
from plotter.grbl.protocol_grblsim import Serial, SimOptions
from plotter.grbl.sim.trace import PenTrace
from plotter.sketch.moves import flip_y, moves_from_gcode, moves_from_trace, read_gcode


@dataclass
class DryRun:
    """Outcome of `dry_run`: the trace, every response line, and the first failure if any."""

    trace: PenTrace
    responses: list[str] = field(default_factory=list)
    failure: str | None = None
    sim_time_s: float = 0.0


def _clean(line: str) -> str:
    return line.split(";", 1)[0].strip()


def dry_run(
    lines: Iterable[str],
    options: SimOptions | None = None,
    progress: Callable[[int], None] | None = None,
    send_response: bool = False,
) -> DryRun:
    """Feed `lines` with character counting (or send-response, to see what a naive sender costs).

    Sending stops at the first error/alarm; lines already sent still run, as on GRBL.
    """
    options = options or SimOptions(latency_ms=0.0)
    port = Serial(None, timeout=60.0)
    port._options = options
    port.port = "grblsim://"
    port.open()
    machine = port.machine
    program = [(n, _clean(raw)) for n, raw in enumerate(lines, start=1)]
    program = [(n, text) for n, text in program if text]
    result = DryRun(machine.trace)
    try:
        _feed(port, program, result, progress, send_response, options.rx - 1)
    except SerialException:
        result.failure = result.failure or "the port vanished (as a yanked USB cable would)"
    if not machine.vanished:
        machine.drain()
    result.sim_time_s = machine.now
    return result


def _feed(port: Serial, program: list[tuple[int, str]], result: DryRun,
          progress: Callable[[int], None] | None, send_response: bool, rx: int) -> None:  # fmt: skip
    """Character counting (or send-response) until done or the first error, alarm or reset."""
    machine = port.machine
    while True:  # the power-up banner (and the alarm-lock message, if any) first
        hello = port.readline()
        if not hello or hello.startswith(b"Grbl "):
            break
    inflight: deque[tuple[int, int, str]] = deque()  # (line number, bytes, text)
    i = n = 0
    while i < len(program) or inflight:
        while i < len(program) and result.failure is None:
            n, text = program[i]
            size = len(text) + 1
            eeprom = text.startswith("$") and "=" in text
            if inflight and (eeprom or send_response or sum(s for _, s, _ in inflight) + size > rx):
                break
            port.write((text + "\n").encode("ascii", "replace"))
            inflight.append((n, size, text))
            i += 1
            if eeprom:
                break
        if not inflight:
            return
        reply = port.readline().decode("ascii", "replace").strip()
        near = inflight[0][0] if inflight else n
        if not reply:
            if machine.next_event_time() == float("inf") and not machine.out:
                result.failure = result.failure or f"the machine stopped answering (near line {near})"
                return
            continue
        result.responses.append(reply)
        if reply == "ok" or reply.startswith("error:"):
            n_done, _, text = inflight.popleft()
            if progress is not None:
                progress(1)
            if reply.startswith("error:") and result.failure is None:
                result.failure = f"line {n_done} ({text}): {_describe(reply)}"
        elif reply.startswith("ALARM:"):
            result.failure = result.failure or f"{_describe(reply)} (near line {near})"
            return
        elif reply.startswith("Grbl "):
            result.failure = (
                result.failure or f"the machine reset: everything in flight is lost (near line {near})"
            )
            return


def _describe(reply: str) -> str:
    try:
        from plotter.grbl.codes import describe_alarm, describe_error
    except ImportError:  # the code tables are another module's; the bare code still says what happened
        return reply
    kind, _, number = reply.partition(":")
    try:
        code = int(number)
    except ValueError:
        return reply
    return describe_error(code) if kind == "error" else describe_alarm(code)


def raise_on_failure(run: DryRun) -> None:
    if run.failure:
        raise GrblError(run.failure)


def gcode_moves(path: str | Path, simulate: bool = False) -> list[Any]:
    """Moves of a G-code file in picture orientation (Y down); `simulate` runs it through the simulated
    GRBL first and returns what that machine actually did (refused lines and alarms stop it, as on GRBL).
    Here, not in `plotter.sketch.moves`: the sketch layer sits below the simulator."""
    lines = read_gcode(path)
    if simulate:
        run = dry_run(lines)
        raise_on_failure(run)
        moves = moves_from_trace(run.trace)
    else:
        moves = moves_from_gcode(lines)
    if not any(m.down for m in moves):
        raise GcodeError(f"{Path(path).name}: no pen-down moves: nothing would be drawn")
    return flip_y(moves)
