"""`plotter stream` (send a G-code file to GRBL) and `plotter devices` (list serial ports).

Thin: the protocol, flow control, journal and resume logic live in `plotter.grbl`. The stream runs in a
worker thread so that Ctrl-C here can ask for a feed hold and then resume or cancel, like a pendant would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from plotter.cli.params import INPUT_FILE
from plotter.errors import GcodeError, JobError

EXIT_CANCELLED = 130  # as a shell reports a job ended by Ctrl-C: scripts must not take a cancel for "done"
EXIT_TERMINATED = 143  # 128 + SIGTERM: stopped by `kill`/systemd, after the same hold, reset and pen up


class _Terminated(Exception):
    """SIGTERM while the resume/cancel question is open: cancel at once, no one is there to answer."""


@contextlib.contextmanager
def _signals_noted(pending: list[int]) -> Iterator[None]:
    """SIGINT and SIGTERM append to `pending` instead of raising where they land.

    Why: the default KeyboardInterrupt is raised at whatever bytecode the main thread is on, so under load it
    could land outside the try around the wait and end the process mid-job with the machine still running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: object) -> None:
        if signum == signal.SIGTERM:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills, as usual
        pending.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _prompt_signals() -> Iterator[None]:
    """While asking: Ctrl-C aborts the question (→ cancel), SIGTERM raises `_Terminated`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def term(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Terminated()

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, term)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _read_program(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GcodeError(f"{path} is not a text G-code file ({exc.reason} at byte {exc.start})") from None


def _journal_records(path: Path) -> list[dict]:
    """The journal's records; a binary or foreign file is one line, not a UnicodeDecodeError."""
    from plotter.grbl.journal import JsonLinesSink

    try:
        return JsonLinesSink(path).records()
    except UnicodeDecodeError:
        raise JobError(f"{path} is not a journal (not UTF-8 text)") from None
    except OSError as exc:
        raise JobError(f"{path}: cannot read journal: {exc.strerror or exc}") from None


def _profile_bits(name: str | None):  # type: ignore[no-untyped-def]
    """(kinematics or None, pen-up lines, pen commands, line limit) from `--profile`, or defaults."""
    from plotter.grbl.flow import DEFAULT_LINE_LIMIT, clean_line
    from plotter.grbl.journal import PenCommands

    if not name:
        return None, (), None, DEFAULT_LINE_LIMIT
    from plotter.gcode import load_profile

    profile = load_profile(name)
    pen = profile.pen
    if pen.mode == "z":
        up = (f"G0 Z{pen.z_up:g}",)
        pens = PenCommands((clean_line(up[0]),), (clean_line(f"G1 Z{pen.z_down:g} F{pen.z_feed:g}"),))
    else:
        up = (pen.up_command,) + ((f"G4 P{pen.dwell_up:g}",) if pen.dwell_up else ())
        pens = PenCommands((clean_line(pen.up_command),), (clean_line(pen.down_command),))
    limit = DEFAULT_LINE_LIMIT if profile.firmware == "grbl" else profile.max_line_length
    return profile.kinematics(), up, pens, limit


def _estimate(lines: Sequence[str], kinematics: object | None, blocks: int) -> float | None:
    """Machine time from PLAN's estimator when it is installed; None keeps the bar honest."""
    try:
        from plotter.plan.estimate import estimate_gcode
        from plotter.plan.motion import Kinematics
    except ImportError:
        return None
    try:
        est = estimate_gcode(list(lines), kinematics or Kinematics(), planner_blocks=blocks)
    except Exception:  # noqa: BLE001 - an estimate is a nicety; never let it stop a job
        return None
    return float(getattr(est, "total_s", 0.0)) or None


def _lift_bits(profile: str) -> tuple[str | None, float]:
    """(why the pen cannot lift in a hold, or None; the pen-down dwell) for Ctrl-C's [l]ift choice."""
    from plotter.gcode import load_profile
    from plotter.grbl.penchange import lift_in_hold_refusal

    pen = load_profile(profile).pen
    return lift_in_hold_refusal(pen.mode, [pen.up_command], [pen.down_command]), pen.dwell_down


def _machine_kinematics(settings: dict[int, str]) -> object | None:
    """The machine's own $110-$112, $120-$122 and $11, when `$$` gave them (better than any default)."""
    try:
        from plotter.plan.motion import Kinematics

        v = {n: float(settings[n]) for n in (11, 110, 111, 112, 120, 121, 122)}
        return Kinematics(max_rate=(v[110], v[111], v[112]), accel=(v[120], v[121], v[122]),
                          junction_deviation=v[11])
    except Exception:  # noqa: BLE001 - no estimate beats a crash; fall back to the defaults
        return None


class _Bar:
    """One status line on stderr: lines, %, elapsed, remaining, machine state."""

    def __init__(self, label: str, estimate: float | None, enabled: bool) -> None:
        self.label, self.estimate, self.enabled = label, estimate, enabled
        self.tty = sys.stderr.isatty()
        self._lock = threading.Lock()
        self._decile = -1
        self.last = None
        self.suspended = False  # while a question is on screen: no redraw over it

    def __call__(self, progress) -> None:  # type: ignore[no-untyped-def]
        self.last = progress
        if not self.enabled or self.suspended:
            return
        frac = progress.percent / 100.0
        if self.estimate:
            remaining = self.estimate * (1.0 - frac)
        else:
            remaining = progress.elapsed_s * (1 - frac) / frac if frac > 0.02 else None
        done = progress.acked - progress.start
        todo = progress.total - progress.start
        text = (f"{self.label} {done}/{todo} lines {progress.percent:5.1f}%  elapsed "
                f"{_fmt_time(progress.elapsed_s)}  remaining {_fmt_time(remaining)}  {progress.state:<7}")
        with self._lock:
            if self.tty:
                click.echo("\r" + text, nl=False, err=True)
            elif int(progress.percent // 10) > self._decile:  # logs: a line per 10 %
                self._decile = int(progress.percent // 10)
                click.echo(text, err=True)

    def close(self) -> None:
        if self.enabled and self.tty and self.last is not None:
            click.echo("", err=True)


def _run_interruptible(streamer, job, bar=None) -> tuple[object, bool]:  # type: ignore[no-untyped-def]
    """Run `job()` in a thread; Ctrl-C holds the machine and asks resume or cancel, SIGTERM cancels.

    Returns (the job's result, whether SIGTERM cancelled it)."""
    box: dict[str, object] = {}
    pending: list[int] = []
    terminated = False
    finished = threading.Event()  # not Thread.join: an interrupted join can make is_alive() lie (3.11)

    def target() -> None:
        try:
            box["result"] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc
        finally:
            finished.set()

    shown = None
    with _signals_noted(pending):
        worker = threading.Thread(target=target, name="plotter-stream", daemon=True)
        worker.start()
        while not finished.wait(0.2):
            stop = getattr(streamer, "program_pause", None)
            if stop is not None and stop != shown and not terminated and not pending:
                shown = stop
                terminated = _program_pause(streamer, stop, bar)
            while pending and not finished.is_set():
                if pending.pop(0) == signal.SIGTERM:
                    terminated = True
                    click.echo("\nterminated: cancelling (feed hold, soft reset, pen up)...", err=True)
                    _quietly(streamer.cancel)
                elif not terminated:
                    terminated = _hold_and_ask(streamer, bar)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result"), terminated


def _program_pause(streamer, stop: tuple[int, str], bar=None) -> bool:  # type: ignore[no-untyped-def]
    """GRBL holds at an M0 in the file: say so, continue on Enter (Ctrl-C cancels); True on SIGTERM."""
    if bar is not None:
        with bar._lock:
            bar.suspended = True
    try:
        click.echo(f"\nstopped at line {stop[0] + 1} ({stop[1]}): the program pauses here (M0), e.g. to"
                   " change the pen. Press Enter to continue, Ctrl-C to cancel.", err=True)
        try:
            with _prompt_signals():
                click.prompt("continue", default="", show_default=False, prompt_suffix="> ", err=True)
        except (KeyboardInterrupt, click.Abort):
            _quietly(streamer.cancel)
            return False
        except _Terminated:
            _quietly(streamer.cancel)
            return True
        _quietly(streamer.resume)
        return False
    finally:
        if bar is not None:
            bar.suspended = False


def _quietly(action) -> None:  # type: ignore[no-untyped-def]
    try:
        action()
    except JobError:
        pass  # the job ended meanwhile


def _hold_and_ask(streamer, bar=None) -> bool:  # type: ignore[no-untyped-def]
    """Feed hold, then resume or cancel as the user answers; True when SIGTERM arrived while asking."""
    if bar is not None:
        with bar._lock:
            bar.suspended = True  # the stream thread keeps reporting progress: keep it off the prompt line
    try:
        return _ask(streamer)
    finally:
        if bar is not None:
            bar.suspended = False


def _ask(streamer) -> bool:  # type: ignore[no-untyped-def]
    click.echo("\nfeed hold...", err=True)
    terminated = False
    try:
        status = streamer.pause()
    except JobError:
        return False  # the job ended meanwhile
    click.echo(f"held ({status.label if status else '?'})", err=True)
    choices = ["r", "c"] + (["l"] if getattr(streamer, "lift_refusal", "") is None else [])
    choice = "l"
    while choice == "l":
        try:
            with _prompt_signals():
                choice = click.prompt("[r]esume, [c]ancel" + (" or [l]ift the pen" if "l" in choices else ""),
                                      type=click.Choice(choices), default="r", err=True)  # fmt: skip
        except (KeyboardInterrupt, click.Abort):
            choice = "c"
        except _Terminated:  # killed while asking: no one is there to answer
            choice, terminated = "c", True
        if choice == "l":  # GRBL's spindle stop in the hold (see `plotter pause --now`)
            choices.remove("l")
            _quietly(streamer.pause_lift)
            click.echo("pen up; resume puts it down where it lifted", err=True)
    _quietly(streamer.resume if choice == "r" else streamer.cancel)
    return terminated


@click.command()
@click.argument("file", type=INPUT_FILE)
@click.option("--device", "-d", required=True, help="Serial port (/dev/ttyUSB0, COM3, /dev/pts/N) or URL "
              "(grblsim://?rx=128).")
@click.option("--check", is_flag=True, help="Run the whole file through GRBL's check mode ($C) first.")
@click.option("--mode", type=click.Choice(["char-count", "send-response"]), default="char-count",
              show_default=True, help="Flow control.")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Journal file [default: FILE.journal].")
@click.option("--resume", "resume_path", type=INPUT_FILE,
              help="Resume an interrupted job from its journal (from the last pen-up before the failure).")
@click.option("--profile", help="Firmware profile: the bed the program must stay on, pen commands for "
              "cancel/resume, kinematics for estimates [default: $PLOTTER_PROFILE, else grbl-servo's bed].")
@click.option("--unlock", is_flag=True, help="Send $X if GRBL is alarm-locked (only when it is safe).")
@click.option("--reset", is_flag=True, help="Soft-reset GRBL before streaming.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(1),
              help="Baud rate for serial ports.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before resuming.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def stream(file: Path, device: str, check: bool, mode: str, journal_path: Path | None,
           resume_path: Path | None, profile: str | None, unlock: bool, reset: bool, baud: int, yes: bool,
           quiet: bool) -> None:
    """Stream FILE.gcode to a GRBL plotter with character-counting flow control."""
    from plotter.gcode.bed import check_program_bed, check_soft_limits, machine_bed
    from plotter.grbl.control import soft_limit_offset
    from plotter.grbl.flow import Flow, clean_line
    from plotter.grbl.journal import Journal, JsonLinesSink, digest, load_state
    from plotter.grbl.replay import plan_resume
    from plotter.grbl.results import PortLostError, StreamError
    from plotter.grbl.streamer import Streamer
    from plotter.grbl.transport import open_port

    lines = _read_program(file)
    if not any(clean_line(line) for line in lines):
        raise GcodeError(f"{file} has no G-code lines")
    kinematics, pen_up, pens, limit = _profile_bits(profile)
    Flow(lines, line_limit=limit)  # refuses over-long lines with their line number before connecting
    start, preamble, edited_from = 0, (), None
    if resume_path is not None:
        state = load_state(_journal_records(resume_path))
        if not state.accepts(lines):
            raise JobError(f"journal {resume_path} belongs to another program than {file} "
                           f"(or the file changed before line {state.failure_point + 1})")
        if state.digest != digest(lines):
            edited_from = state.digest
            click.echo(f"{file} changed at or after line {state.failure_point + 1}: resuming with the edits")
        plan = plan_resume(lines, state, pens)
        if plan.start_index >= len(lines) and not plan.preamble:
            click.echo(f"{file}: the journal says this job is complete; nothing to do")
            return
        where = f"line {plan.start_index + 1}" if plan.start_index < len(lines) else "the end"
        click.echo(f"resuming at {where} of {len(lines)} lines (last run: "
                   f"{state.status or 'interrupted'}, first line not done: {state.failure_point + 1})")
        for note in plan.notes:
            click.echo(f"note: {note}")
        if not yes:
            click.confirm("continue?", default=True, abort=True)
        start, preamble = plan.start_index, plan.preamble
    bed_hint = "re-plan it with `plotter export --clip` to cut it at the bed edge"
    bed_hint = bed_hint if profile else f"pass --profile for this machine's bed, or {bed_hint}"
    bed_profile = profile or os.environ.get("PLOTTER_PROFILE", "grbl-servo")
    check_program_bed(lines, machine_bed(bed_profile), bed_hint)  # before connecting: nothing moves
    journal_path = journal_path or resume_path or file.with_name(file.name + ".journal")
    port = open_port(device, baudrate=baud)
    streamer = Streamer(port, pen_up=pen_up)
    streamer.lift_refusal, streamer.pen_down_dwell = _lift_bits(bed_profile)
    try:
        info = streamer.connect(reset=reset, unlock=unlock)
        click.echo(f"connected: {info.banner.raw if info.banner else 'GRBL'} on {device} "
                   f"(RX {info.rx_size} bytes, {info.planner_blocks} planner blocks)"
                   + (" [unlocked with $X]" if info.unlocked else ""), err=True)
        check_program_bed(lines, machine_bed(bed_profile, info.settings), bed_hint)  # and GRBL's own travel
        wco = soft_limit_offset(streamer.link, info.settings, info.status)  # and where soft limits allow
        check_soft_limits([*preamble, *lines[start:]], machine_bed(bed_profile), info.settings, wco)
        enabled = not quiet
        if check:
            bar = _Bar("check", None, enabled)
            try:
                streamer.check(lines, on_progress=bar)
            finally:
                bar.close()
            click.echo("check: GRBL accepted every line", err=True)
        kinematics = kinematics or _machine_kinematics(info.settings)
        estimate = _estimate(lines[start:], kinematics, info.planner_blocks)
        bar = _Bar("stream", estimate, enabled)
        journal = Journal(JsonLinesSink(journal_path), edited_from=edited_from)
        try:
            result, terminated = _run_interruptible(streamer, lambda: streamer.stream(
                lines, start, mode=mode, preamble=preamble, journal=journal, on_progress=bar), bar)
        except (StreamError, PortLostError) as exc:
            bar.close()
            raise click.ClickException(f"{exc} (resume with --resume {journal_path})") from None
        bar.close()
    finally:
        streamer.close()
    sent = result.acked - result.start  # type: ignore[attr-defined]
    est = f" (estimate {_fmt_time(estimate)})" if estimate else ""
    click.echo(f"{result.status}: {sent} lines, 0 errors, machine time "  # type: ignore[attr-defined]
               f"{_fmt_time(result.elapsed_s)}{est}"  # type: ignore[attr-defined]
               + (f"; {result.detail}" if result.detail and result.detail != result.status else ""))
    if result.status == "cancelled":  # type: ignore[attr-defined]
        click.echo(f"cancelled: resume with --resume {journal_path}", err=True)
        raise SystemExit(EXIT_TERMINATED if terminated else EXIT_CANCELLED)


@click.command()
def devices() -> None:
    """List serial ports a GRBL plotter could be on."""
    from plotter.grbl.transport import list_devices

    ports = list_devices()
    if not ports:
        click.echo("no serial ports found")
    for port in ports:
        mark = f"  <- {port.likely_grbl} (likely a GRBL board)" if port.likely_grbl else ""
        click.echo(f"{port.device}\t{port.description}\t{port.hwid}{mark}")
    click.echo("simulator: --device 'grblsim://?rx=128&clock=realtime' (no hardware), or `plotter sim --pty` "
               "for a /dev/pts/N any sender can open")
