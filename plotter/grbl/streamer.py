"""The GRBL streamer: drives `flow.Flow` over a serial-like port, with a real-time channel and controls.

One thread owns the port while `stream()` runs; `pause()`, `resume()` and `cancel()` may be called from any
other thread (the daemon's API, the CLI's Ctrl-C handler): they post a request the loop picks up within one
read timeout and wait on an Event for its outcome. Nothing sleeps: the loop blocks in the port's `read()`,
which on the simulator's virtual clock is also what advances time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from plotter.errors import DeviceError, JobError
from plotter.grbl.codes import describe_alarm, describe_error
from plotter.grbl.flow import CHAR_COUNT, DEFAULT_LINE_LIMIT, DEFAULT_RX, Acked, Flow, Send, Stop, Synced
from plotter.grbl.journal import Journal
from plotter.grbl.link import HOLD, RESET, RESUME, STATUS, Link
from plotter.grbl.protocol import Alarm, Banner, Ok, Options, Setting, Status, Version
from plotter.grbl.results import (
    AlarmError,
    AlarmLockError,
    LineError,
    LostAckError,
    MachineInfo,
    PortLostError,
    Progress,
    ResetError,
    StreamResult,
)

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.2  # `?` at 5 Hz, never faster


@dataclass
class _Request:
    kind: str  # pause, resume, cancel
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


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
        self._requests: list[_Request] = []
        self._lock = threading.Lock()
        self._streaming = False

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
        if banner is None:  # already running (no DTR reset): an empty line must get an ok
            link.write(b"\r\n")
            link.wait_for(lambda r: isinstance(r, Ok), min(1.0, wake_timeout))
        status = link.status(timeout=max(0.5, min(2.0, wake_timeout)))
        if status is None:
            raise DeviceError("no answer from GRBL (no banner, no status report): wrong port or baud rate?")
        unlocked = False
        if status.state == "Alarm":
            if not unlock:
                raise AlarmLockError("GRBL is alarm-locked (homing enabled or an earlier alarm): "
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
               line_limit: int = DEFAULT_LINE_LIMIT) -> StreamResult:
        """Send `lines[start:]` and wait until GRBL has run them; returns done/cancelled or raises.

        Raises `LineError`, `AlarmError`, `ResetError`, `LostAckError` (all `GrblError`) or `PortLostError`
        (`DeviceError`); each carries the partial result, and the journal has every acknowledged line.
        """
        info = self.info
        flow = Flow(lines, rx_size=info.rx_size if info else DEFAULT_RX, mode=mode, start=start,
                    line_limit=line_limit, spindle_sync=not (info and info.laser_mode))
        with self._lock:
            if self._streaming:
                raise JobError("this streamer is already running a job")
            self._streaming = True
        run = _Run(self, flow, journal, on_progress)
        try:
            for line in preamble:
                self.link.command(line)
            return run.loop()
        finally:
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

    def resume(self, timeout: float = 30.0) -> Status | None:
        """Cycle start (`~`) and wait until GRBL leaves Hold."""
        return self._control("resume", timeout)

    def cancel(self, timeout: float = 60.0) -> Status | None:
        """Hold, wait Hold:0, soft reset (position kept), pen up, re-read position; the stream returns
        a `cancelled` result."""
        return self._control("cancel", timeout)

    def _control(self, kind: str, timeout: float) -> Status | None:
        request = _Request(kind)
        with self._lock:
            streaming = self._streaming
            if streaming:
                self._requests.append(request)
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

    def take_requests(self) -> list[_Request]:
        with self._lock:
            pending, self._requests = self._requests, []
        return pending

    def check(self, lines: Sequence[str], *, on_progress: Callable[[Progress], None] | None = None,
              line_limit: int = DEFAULT_LINE_LIMIT) -> StreamResult:
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
    if kind == "pause":
        link.write(HOLD)
        got = link.wait_for(_held_idle(), 30.0, poll=streamer.poll_interval)
        return got if isinstance(got, Status) else None
    if kind == "resume":
        link.write(RESUME)
        return link.status()
    link.write(HOLD)
    held = _held_idle()
    link.wait_for(held, 30.0, poll=streamer.poll_interval)
    link.write(RESET)
    link.wait_for(lambda r: isinstance(r, Banner), 3.0)
    _pen_up(streamer)
    return link.status()


def _pen_up(streamer: Streamer) -> None:
    status = streamer.link.status()
    if status is None or status.state == "Alarm":
        return
    for line in streamer.pen_up:
        streamer.link.command(line)


class _Run:
    """The state of one `stream()` call: the loop, the journal batching and the control requests."""

    JOURNAL_EVERY = 0.5  # seconds of port time between journal marks (always written at the end)
    PROGRESS_EVERY = 0.1

    def __init__(self, streamer: Streamer, flow: Flow, journal: Journal | None,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.s, self.flow, self.journal, self.on_progress = streamer, flow, journal, on_progress
        self.link = streamer.link
        self.t0 = self.link.clock()
        self.last_ack = self.t0
        self.last_journal = self.last_progress = -1e9
        self.waiting: list[tuple[_Request, Callable[[Status], bool]]] = []
        self.cancelling: _Request | None = None
        self.cancel_detail = "cancelled"
        self._lost: int | None = None
        if journal:
            journal.begin(flow.raw, flow.start)

    # -- the loop -----------------------------------------------------------------------------
    def loop(self) -> StreamResult:
        flow, link = self.flow, self.link
        next_poll = self.t0
        try:
            while flow.finished is None:
                for request in self.s.take_requests():
                    self._request(request)
                self._apply(flow.pump())
                now = link.clock()
                if now >= next_poll:
                    link.write(STATUS)
                    next_poll = now + self.s.poll_interval
                response = link.read_response()
                if response is None:
                    self._check_stall()
                    continue
                self._apply(flow.feed(response))
                if isinstance(response, Status):
                    self._on_status(response)
                    self._check_stall()
            return self._finish(flow.finished)
        except PortLostError as exc:
            flow.abort("vanished")
            self._journal(force=True)
            self._end("vanished", str(exc))
            raise PortLostError(f"{exc}; {self._summary()}", self._result("vanished")) from exc

    def _apply(self, actions: list) -> None:
        out = [a.data for a in actions if isinstance(a, Send)]
        if out:
            self.link.write(b"".join(out))
        for action in actions:
            if isinstance(action, Acked):
                self.last_ack = self.link.clock()
                if action.code is not None and self.journal:
                    self.journal.error(action.index, action.code)
            elif isinstance(action, Synced) and self.journal:
                self._journal()
        if any(isinstance(a, Acked) for a in actions):
            self._journal()
            self._progress()

    def _journal(self, force: bool = False) -> None:
        now = self.link.clock()
        if self.journal and (force or now - self.last_journal >= self.JOURNAL_EVERY):
            self.journal.ack(self.flow.acked, self.flow.synced)
            self.last_journal = now

    def _progress(self, force: bool = False) -> None:
        now = self.link.clock()
        if self.on_progress and (force or now - self.last_progress >= self.PROGRESS_EVERY):
            self.last_progress = now
            self.on_progress(self._snapshot())

    def _snapshot(self) -> Progress:
        f = self.flow
        return Progress(f.total, f.start, f.next, f.acked, f.synced,
                        self.link.clock() - self.t0, self.link.last_status)

    # -- status, stalls and controls ----------------------------------------------------------
    def _on_status(self, status: Status) -> None:
        for request, done in list(self.waiting):
            if done(status):
                self.waiting.remove((request, done))
                request.result = status
                if request is self.cancelling:
                    self._reset_for_cancel()
                else:
                    request.done.set()
        self._progress()

    def _check_stall(self) -> None:
        """GRBL idle yet lines unacknowledged for too long: an ok was lost or a newline dropped."""
        flow, status = self.flow, self.link.last_status
        if not flow.in_flight or status is None or status.state != "Idle" or self.cancelling:
            return
        quiet = self.link.clock() - self.last_ack
        if quiet > self.s.stall_timeout + flow.pending_dwell and self.link.last_rx > self.last_ack:
            self._lost = flow.in_flight[0][0]
            flow.give_up()

    def _request(self, request: _Request) -> None:
        if request.kind == "pause":
            self.link.write(HOLD)
            self.waiting.append((request, _held(self.flow)))
        elif request.kind == "resume":
            self.link.write(RESUME)
            self.waiting.append((request, lambda st: st.state not in ("Hold", "Door")))
        elif request.kind == "cancel":
            self.cancelling = request
            self.link.write(HOLD)
            self.waiting.append((request, _held(self.flow)))

    def _reset_for_cancel(self) -> None:
        """Hold:0 reached: soft reset keeps the position, drop everything in flight, lift the pen."""
        flow, link = self.flow, self.link
        flow.abort("cancelled")
        link.write(RESET)
        alarm = None
        banner = link.wait_for(lambda r: isinstance(r, (Banner, Alarm)), 3.0)
        if isinstance(banner, Alarm):
            alarm = banner
            link.wait_for(lambda r: isinstance(r, Banner), 3.0)
        _pen_up(self.s)
        status = link.status()
        self.cancelling.result = status
        self.cancel_detail = f"cancelled; GRBL raised {alarm.text}" if alarm else "cancelled"
        self.cancelling.done.set()

    # -- endings ------------------------------------------------------------------------------
    def _finish(self, stop: Stop) -> StreamResult:
        flow = self.flow
        if stop.reason == "done":  # every line acked: wait for the planner to run dry
            end = self.link.wait_for(_drained, 24 * 3600.0, poll=self.s.poll_interval)
            if isinstance(end, Banner):
                stop = Stop("reset")
            elif isinstance(end, Alarm):
                stop = Stop("alarm", None, end.code)
            elif end is not None:
                flow.synced = flow.total
        self._journal(force=True)
        self._progress(force=True)
        result = self._result(stop.reason)
        if stop.reason in ("done", "cancelled"):
            if self.journal:
                self.journal.end(stop.reason)
            if stop.reason == "cancelled":
                return dataclasses.replace(result, detail=self.cancel_detail)
            return result
        raise self._error(stop, result)

    def _error(self, stop: Stop, result: StreamResult) -> Exception:
        flow = self.flow
        if stop.reason == "error":
            index = stop.index or 0
            text = flow.raw[index].strip()
            msg = f"line {index + 1}: {text!r}: {describe_error(stop.code or 0)}"
            self._end("error", msg)
            return LineError(msg, index, text, stop.code or 0, result)
        if stop.reason == "alarm" and self._banner_follows():
            msg = (f"GRBL reset mid-job ({describe_alarm(stop.code or 0)}, then its banner): the "
                   f"{len(flow.in_flight)} lines it had buffered are lost; {self._summary()}")
            self._end("reset", msg)
            return ResetError(msg, result)
        if stop.reason == "alarm":
            where = f" at line {stop.index + 1}" if stop.index is not None else ""
            msg = f"GRBL raised {describe_alarm(stop.code or 0)}{where}; {self._summary()}"
            self._end("alarm", msg)
            return AlarmError(msg, stop.code or 0, result)
        if stop.reason == "reset":
            msg = (f"GRBL reset mid-job (banner seen): the {len(flow.in_flight)} lines it had buffered "
                   f"are lost; {self._summary()}")
            self._end("reset", msg)
            return ResetError(msg, result)
        first = self._lost if self._lost is not None else flow.acked
        msg = (f"GRBL went idle without acknowledging line {first + 1} (a byte was lost on the line); "
               f"{self._summary()}")
        self._end("lost", msg)
        return LostAckError(msg, result)

    def _banner_follows(self) -> bool:
        """ALARM:3 followed by the banner is a reset while moving, not a limit switch."""
        try:
            return isinstance(self.link.wait_for(lambda r: isinstance(r, Banner), 0.5), Banner)
        except PortLostError:
            return False

    def _end(self, status: str, detail: str) -> None:
        if self.journal:
            self.journal.end(status, detail)

    def _summary(self) -> str:
        f = self.flow
        return f"{f.acked - f.start} of {f.total - f.start} lines acknowledged, resumable from the journal"

    def _result(self, status: str) -> StreamResult:
        f, st = self.flow, self.link.last_status
        pos = st.work_position() if st else None
        return StreamResult(status, f.total, f.start, f.sent, f.acked, f.synced, self.link.clock() - self.t0,
                            pos, st)

    def close(self) -> None:
        for request, _ in self.waiting:
            request.error = JobError("the job ended before GRBL confirmed the request")
            request.done.set()
        self.waiting.clear()


def _held(flow: Flow) -> Callable[[Status], bool]:
    """Hold:0 (decelerated), or an idle machine with nothing left to run (a hold then does nothing)."""
    return lambda st: (st.state == "Hold" and st.substate == 0) or (st.state == "Idle" and not flow.in_flight)


def _held_idle() -> Callable[[object], bool]:
    return lambda r: isinstance(r, Status) and r.state in ("Hold", "Idle") and r.substate in (None, 0)


def _drained(r: object) -> bool:
    """The end of a job: the planner ran dry (Idle; Check in check mode), or GRBL reset/alarmed meanwhile."""
    return isinstance(r, (Banner, Alarm)) or (isinstance(r, Status) and r.state in ("Idle", "Check"))
