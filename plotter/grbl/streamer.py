"""The GRBL streamer: drives `flow.Flow` over a serial-like port, with a real-time channel and controls.

One thread owns the port while `stream()` runs; `pause()`, `resume()` and `cancel()` may be called from any
other thread (the daemon's API, the CLI's Ctrl-C handler): they post a request the loop picks up within one
read timeout and wait on an Event for its outcome. Nothing sleeps: the loop blocks in the port's `read()`,
which on the simulator's virtual clock is also what advances time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from plotter.errors import DeviceError, JobError
from plotter.grbl.flow import CHAR_COUNT, DEFAULT_LINE_LIMIT, DEFAULT_RX, Flow
from plotter.grbl.journal import Journal
from plotter.grbl.link import HOLD, RESET, RESUME, Link
from plotter.grbl.protocol import Banner, Ok, Options, Setting, Status, Version
from plotter.grbl.results import (
    AlarmLockError,
    HeldError,
    MachineInfo,
    Progress,
    ResetError,
    StreamResult,
)
from plotter.grbl.run import Request, Run, held_idle, pen_up, position_check

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.2  # `?` at 5 Hz, never faster


class Streamer:
    """Streams G-code to one GRBL machine. `connect()` first, then `stream()` as often as needed."""

    def __init__(self, port: object, *, pen_up: Sequence[str] = (), poll_interval: float = POLL_INTERVAL,
                 read_timeout: float = 0.05, stall_timeout: float = 3.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.link = Link(port, read_timeout=read_timeout, clock=clock)
        self.pen_up = tuple(pen_up)
        self.poll_interval = max(poll_interval, POLL_INTERVAL)
        self.stall_timeout = stall_timeout
        self.info: MachineInfo | None = None
        self.silent_alarm = False  # connect() found GRBL silent (after ALARM:1/2) and soft-reset it
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._streaming = False
        # set by the stream thread when GRBL holds at a program pause (M0): (line index, the line as written);
        # cleared when the machine runs again. The caller shows it and resumes (`resume()`) when told to.
        self.program_pause: tuple[int, str] | None = None
        self.check_position = True  # lost-byte detection: every `?` must lie on the planned path
        self.pen_down_dwell = 0.0  # seconds the pen needs to touch down (the profile's dwell_down)
        self.hold_lift: object = None  # a pause_lift in effect (penchange.HoldThenLift): resume lowers first
        self.paused_event = threading.Event()

    @property
    def clock(self) -> Callable[[], float]:
        return self.link.clock

    @property
    def last_status(self) -> Status | None:
        return self.link.last_status

    # -- connection ---------------------------------------------------------------------------
    def connect(self, *, reset: bool = False, unlock: bool = False, wake_timeout: float = 2.5) -> MachineInfo:
        """Wake GRBL, read its banner and buffer sizes; refuse an alarm-locked machine unless `unlock`."""
        link = self.link
        if reset:
            link.write(RESET)
        banner = link.wait_for(lambda r: isinstance(r, Banner), wake_timeout)
        status_wait = max(0.5, min(2.0, wake_timeout))
        status = link.status(timeout=status_wait)  # `?` first: a held machine would answer a line late
        self.silent_alarm = False
        if status is None and not reset:  # after ALARM:1/2 GRBL answers nothing, not even `?`, until Ctrl-X
            link.write(RESET)
            banner = link.wait_for(lambda r: isinstance(r, Banner), max(wake_timeout, 5.0))
            status = link.status(timeout=max(status_wait, 3.0)) if banner is not None else None
            self.silent_alarm = status is not None
        if status is None:
            raise DeviceError("no answer from GRBL (no banner, no status report, not even after a soft"
                              " reset): wrong port or baud rate?")
        if status.state in ("Hold", "Door"):
            raise HeldError(f"GRBL is in a feed hold ({status.label}): it reads no command until resumed;"
                            " resume it (`~`, `plotter resume`) or stop it with --reset", status)
        if banner is None:  # already running (no DTR reset): an empty line flushes a half line, gets an ok
            link.write(b"\n")  # not \r\n: GRBL ends a line at each, and a second ok would ack line 1 early
            link.wait_for(lambda r: isinstance(r, Ok), min(1.0, wake_timeout))
        unlocked = False
        if status.state == "Alarm":
            if not unlock:
                why = ("it was silent after a limit alarm (ALARM:1/2) and took a soft reset"
                       if self.silent_alarm else "homing enabled or an earlier alarm")
                raise AlarmLockError(f"GRBL is alarm-locked ({why}): "
                                     "home it with $H, or pass --unlock to send $X")
            link.command("$X")
            unlocked = True
            status = link.status() or status
        version = options = None
        for response in link.command("$I"):
            if isinstance(response, Version):
                version = response.version
            elif isinstance(response, Options):
                options = response
        settings = {r.number: r.value for r in link.command("$$") if isinstance(r, Setting)}
        rx = options.rx_bytes if options and options.rx_bytes else DEFAULT_RX
        blocks = options.blocks if options and options.blocks else 15
        self.info = MachineInfo(banner if isinstance(banner, Banner) else None, version, options, rx, blocks,
                                settings, status, unlocked)
        return self.info

    # -- streaming ----------------------------------------------------------------------------
    def stream(self, lines: Sequence[str], start: int = 0, *, mode: str = CHAR_COUNT,
               preamble: Sequence[str] = (), journal: Journal | None = None,
               on_progress: Callable[[Progress], None] | None = None,
               line_limit: int | None = None, cancelled: threading.Event | None = None) -> StreamResult:
        """Send `lines[start:]` and wait until GRBL has run them; returns done/cancelled or raises.

        `cancelled`: set by whoever cancels this job before calling `cancel(idle=False)`; a stream that finds
        it set when it takes the port sends nothing (the cancel came before the stream: see the daemon's
        worker). Raises `LineError`, `AlarmError`, `ResetError`, `LostAckError` (all `GrblError`) or
        `PortLostError` (`DeviceError`); each carries the partial result, and the journal has every
        acknowledged line.
        """
        info = self.info
        flow = Flow(lines, rx_size=info.rx_size if info else DEFAULT_RX, mode=mode, start=start,
                    line_limit=line_limit or (info.line_limit if info else DEFAULT_LINE_LIMIT),
                    spindle_sync=not (info and info.laser_mode))
        with self._lock:  # a cancel checks `_streaming` under this lock after setting `cancelled`
            if cancelled is not None and cancelled.is_set():
                return StreamResult("cancelled", flow.total, start, 0, start, start, 0.0,
                                    detail="cancelled before the first line")
            if self._streaming:
                raise JobError("this streamer is already running a job")
            self._streaming = True
        run: Run | None = None
        try:
            self.hold_lift = None
            run = Run(self, flow, journal, on_progress)
            for line in preamble:  # a resume's travel, pen moves, the lines it sends again: motion
                self.link.command(line, moving=True)
            run.position = position_check(self, flow, preamble)  # the path starts where the preamble ends
            return run.loop()
        finally:
            if run is not None:
                run.close()
            with self._lock:
                self._streaming = False
                pending, self._requests = self._requests, []
            for request in pending:
                request.error = JobError("the job ended before the request was handled")
                request.done.set()

    # -- controls (any thread) ----------------------------------------------------------------
    def pause(self, timeout: float = 30.0) -> Status | None:
        """Feed hold (`!`) and wait until GRBL reports Hold:0 (decelerated, resumable)."""
        return self._control("pause", timeout)

    def pause_at_lift(self, timeout: float = 600.0) -> Status | None:
        """Hold at the next pen lift: send nothing after it, wait until GRBL has run it (Idle, pen up).
        `resume()` continues with the travel to the next stroke, where the job puts the pen down itself."""
        return self._control("pause_at_lift", timeout)

    def request(self, kind: str) -> Request:
        """Post a control to the running stream without waiting for it: `request.done` is set once GRBL
        confirmed it (`result`) or the job ended first (`error`). The daemon posts a pause at the next lift
        so, waiting on it from a thread of its own, no API call blocks for a whole stroke."""
        request = Request(kind)
        with self._lock:
            if not self._streaming:
                raise JobError("no job is streaming")
            self._requests.append(request)
        return request

    def pause_lift(self, timeout: float = 30.0) -> Status | None:
        """Feed hold now, then lift the pen with GRBL's spindle-stop override (only for a pen on the spindle
        whose pen-up is M5: see `penchange.HoldThenLift`); `resume()` lowers it where it lifted, waits
        `pen_down_dwell`, then cycle start."""
        return self._control("pause_lift", timeout)

    def resume(self, timeout: float = 30.0) -> Status | None:
        """Cycle start (`~`) and wait until GRBL leaves Hold."""
        return self._control("resume", timeout)

    def cancel(self, timeout: float = 60.0, idle: bool = True) -> Status | None:
        """Hold, wait Hold:0, soft reset (position kept), pen up, re-read position; the stream returns
        a `cancelled` result. With no stream running: the same on the idle machine, or with `idle=False`
        nothing at all (a cancel meant for a stream about to start, told by `stream(cancelled=)`)."""
        return self._control("cancel", timeout, idle)

    def _control(self, kind: str, timeout: float, idle: bool = True) -> Status | None:
        request = Request(kind)
        with self._lock:
            streaming = self._streaming
            if streaming:
                self._requests.append(request)
            elif not idle:
                return None
            else:
                self._streaming = True  # the port is ours while we act on it; a stream() now is refused
        if not streaming:
            try:
                return _idle_control(self, kind)
            finally:
                with self._lock:
                    self._streaming = False
        if not request.done.wait(timeout):
            raise JobError(f"{kind} was not confirmed by GRBL within {timeout:g} s")
        if request.error:
            raise request.error
        return request.result  # type: ignore[return-value]

    def take_requests(self) -> list[Request]:
        with self._lock:
            pending, self._requests = self._requests, []
        return pending

    def check(self, lines: Sequence[str], *, on_progress: Callable[[Progress], None] | None = None,
              line_limit: int | None = None) -> StreamResult:
        """GRBL check mode (`$C`): parse every line without moving; raise `LineError` at the first error.

        Leaving check mode makes GRBL reset itself, so the banner is awaited before returning.
        """
        self.link.command("$C")
        try:
            return self.stream(lines, on_progress=on_progress, line_limit=line_limit)
        finally:
            try:
                self.link.command("$C")
            except ResetError:
                pass  # the reset that leaving check mode triggers, if it came before the ok
            self.link.wait_for(lambda r: isinstance(r, Banner), 3.0)

    def close(self) -> None:
        close = getattr(self.link.port, "close", None)
        if callable(close):
            close()


def _idle_control(streamer: Streamer, kind: str) -> Status | None:
    """pause/resume/cancel with no job running: act on the machine directly."""
    link = streamer.link
    if kind == "pause_at_lift":  # no job: nothing is sent, nothing to wait for
        return link.status()
    if kind in ("pause", "pause_lift"):  # no job: the pen stays as it is
        link.write(HOLD)
        got = link.wait_for(held_idle(), 30.0, poll=streamer.poll_interval)
        return got if isinstance(got, Status) else None
    if kind == "resume":
        link.write(RESUME)
        return link.status()
    link.write(HOLD)
    held = held_idle()
    link.wait_for(held, 30.0, poll=streamer.poll_interval)
    link.write(RESET)
    link.wait_for(lambda r: isinstance(r, Banner), 3.0)
    pen_up(streamer)
    return link.status()


