"""One `Streamer.stream()` call: the loop that owns the port, journal batching, controls and endings.

Split from `streamer.py` so the public class stays short; nothing here is public API.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from plotter.errors import JobError
from plotter.grbl.codes import describe_alarm, describe_error
from plotter.grbl.flow import Acked, Flow, Send, Stop, Synced, clean_line
from plotter.grbl.journal import Journal
from plotter.grbl.link import HOLD, RESET, RESUME
from plotter.grbl.position import PositionCheck, changes_offsets, planned_positions
from plotter.grbl.protocol import Alarm, Banner, Status
from plotter.grbl.results import (
    AlarmError,
    LineError,
    LostAckError,
    PortLostError,
    PositionError,
    Progress,
    ResetError,
    StreamResult,
)

log = logging.getLogger(__name__)


@dataclass
class Request:
    """A control from another thread; the loop fills `result`/`error` and sets `done`."""

    kind: str  # pause, resume, cancel
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


def pen_up(streamer) -> None:  # type: ignore[no-untyped-def]
    """The profile's pen-up lines, unless GRBL is alarm-locked (it would refuse them)."""
    status = streamer.link.status()
    if status is None or status.state == "Alarm":
        return
    for line in streamer.pen_up:
        streamer.link.command(line)


_PROGRAM_PAUSE = re.compile(r"M0*0(?![0-9.])")  # M0 / M00: GRBL ignores M1 (no optional-stop switch)


class Run:
    """The state of one `stream()` call: the loop, the journal batching and the control requests."""

    JOURNAL_EVERY = 0.5  # seconds of port time between journal marks (always written at the end)
    PROGRESS_EVERY = 0.1

    def __init__(self, streamer, flow: Flow, journal: Journal | None,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.s, self.flow, self.journal, self.on_progress = streamer, flow, journal, on_progress
        self.link = streamer.link
        self.t0 = self.link.clock()
        self.idle_since: float | None = None  # port time of the first Idle report read after the last ok
        self.polls: deque[float] = deque()  # write times of `?`s not yet answered (GRBL answers in order)
        self.last_journal = self.last_progress = -1e9
        self.waiting: list[tuple[Request, Callable[[Status], bool]]] = []
        self.cancelling: Request | None = None
        self.cancel_detail = "cancelled"
        self._lost: int | None = None
        self.fault: tuple[int, str] | None = None  # (first line not known done, why): the path check fired
        self.position: PositionCheck | None = None  # set by the streamer once the preamble has run
        self.ran: int | None = None  # after error:N, GRBL at rest having run every line it took before this
        if journal:
            journal.begin(flow.raw, flow.start)

    # -- the loop -----------------------------------------------------------------------------
    def loop(self) -> StreamResult:
        flow, link = self.flow, self.link
        try:
            while flow.finished is None:
                for request in self.s.take_requests():
                    self._request(request)
                self._apply(flow.pump())
                if link.poll(self.s.poll_interval):
                    self.polls.append(link.clock())
                response = link.read_response()
                if response is None:  # all GRBL said is read: no ok can be waiting behind an Idle report
                    self.polls.clear()
                    self._check_stall(link.clock())
                    continue
                done_before = flow.synced  # a report can move `synced` (idle): judge it by what was known
                self._apply(flow.feed(response))
                if isinstance(response, Status):
                    self._check_path(response, done_before)
                    asked = self.polls.popleft() if self.polls else None
                    self._on_status(response)
                    self._note_idle(response)
                    if asked is not None and response.state == "Idle":
                        self._check_stall(asked)
            return self._finish(flow.finished)
        except PortLostError as exc:
            flow.abort("vanished")
            self._journal(force=True)
            self._end("vanished", str(exc))
            raise PortLostError(f"{exc}; {self._summary()}", self._result("vanished")) from exc

    def _apply(self, actions: list) -> None:
        sends = [a for a in actions if isinstance(a, Send)]
        if sends and self.journal and self.journal.write_ahead:
            for send in sends:  # one line per write, each after its record: a crash leaves one line unsure
                self.journal.sending(send.index + 1, self.flow.acked, self.flow.synced)
                self.link.write(send.data)
        elif sends:
            self.link.write(b"".join(s.data for s in sends))
        for action in actions:
            if isinstance(action, Acked):
                self.idle_since = None
                if self.position is not None and changes_offsets(self.flow.cleaned[action.index]):
                    self.position.offsets_may_change(action.index)
                if action.code is not None:
                    self.position = None  # GRBL skipped that line: the error stops the job, the path is moot
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
            try:
                self.on_progress(self._snapshot())
            except Exception:  # a broken progress display must not strand a half-sent job
                log.exception("progress callback failed; streaming on")

    def _snapshot(self) -> Progress:
        f = self.flow
        return Progress(f.total, f.start, f.next, f.acked, f.synced,
                        self.link.clock() - self.t0, self.link.last_status)

    # -- status, stalls and controls ----------------------------------------------------------
    def _on_status(self, status: Status) -> None:
        self._note_program_pause(status)
        for request, done in list(self.waiting):
            if done(status):
                self.waiting.remove((request, done))
                request.result = status
                if request is self.cancelling:
                    self._reset_for_cancel()
                else:
                    request.done.set()
        self._progress()

    def _check_path(self, status: Status, done: int) -> None:
        """Lost-byte detection: the reported position must lie on the path of lines done..acked."""
        if self.position is None or self.fault is not None or self.cancelling:
            return
        self.position.note_wco(status.wco)
        why = self.position.check(status.mpos, done, self.flow.next)  # sent: an ok may still be on its way
        if why is not None:  # stop as a cancel does (hold, reset in Hold:0, pen up), then fail resumably
            self.fault = (done, why)
            self._request(Request("cancel"))

    def _ends_off_plan(self, end: object) -> bool:
        """The end check: idle after the last line, the machine must stand exactly where the plan ends."""
        if self.position is None or not isinstance(end, Status) or end.state != "Idle":
            return False
        self.position.note_wco(end.wco)
        total = self.flow.total
        why = self.position.check(end.mpos, total, total)
        if why is not None:
            self.fault = (self.flow.synced, why)
        return why is not None

    def _note_program_pause(self, status: Status) -> None:
        """Hold:0 that nobody asked for, with an M0 the oldest line in flight: GRBL stopped for the user
        (change the pen) and answers that line's ok only after a cycle start. Say so; never resume here."""
        s, flow = self.s, self.flow
        if status.state == "Hold" and status.substate == 0 and not self.waiting and flow.in_flight:
            index = flow.in_flight[0][0]
            if s.program_pause is None and _PROGRAM_PAUSE.search(flow.cleaned[index]):
                s.program_pause = (index, flow.raw[index].strip())
                s.paused_event.set()
        elif status.state != "Hold" and s.program_pause is not None:
            s.program_pause = None
            s.paused_event.clear()

    def _note_idle(self, status: Status) -> None:
        """Start the stall clock at the first Idle report *read* after the last ok; any other state stops it.

        Read time, not the time of the last ok: after a host pause (an fsync at speed=1000 is seconds of port
        time) the buffer can hold Idle reports made before the pause with the missing ok right behind them.
        Set after `_on_status`, so a slow progress callback does not count as GRBL's silence either.
        """
        if status.state != "Idle":
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = self.link.clock()

    def _check_stall(self, seen_at: float) -> None:
        """GRBL idle yet lines unacknowledged for too long: an ok was lost or a newline dropped.

        `seen_at` is a moment GRBL is known to have been idle with no ok sent since `idle_since`: now, when a
        read found nothing left to read; or when the `?` was written whose Idle answer was just read (replies
        come in order, so no ok was behind it). A buffered report answering an older `?` proves nothing.
        """
        flow = self.flow
        if not flow.in_flight or self.idle_since is None or self.cancelling:
            return
        if seen_at - self.idle_since > self.s.stall_timeout + flow.pending_dwell:
            self._lost = flow.in_flight[0][0]
            flow.give_up()

    def _request(self, request: Request) -> None:
        if request.kind == "pause":
            self.link.write(HOLD)
            self.waiting.append((request, _held(self.flow)))
        elif request.kind == "pause_at_lift":  # stop sending after the next pen lift; GRBL runs dry, pen up
            from plotter.grbl.penchange import lift_gate

            flow = self.flow
            flow.gate = lift_gate(flow.cleaned, self.s.pen_up, flow.acked, flow.next)
            self.waiting.append((request, lambda st: st.state == "Idle" and not flow.in_flight
                                 and flow.next >= (flow.gate if flow.gate is not None else flow.total)))
        elif request.kind == "pause_lift":  # hold now, then lift a spindle-driven pen (penchange.py)
            from plotter.grbl.penchange import HoldThenLift

            self.link.write(HOLD)
            self.s.hold_lift = HoldThenLift(self.link.write, _held(self.flow))
            self.waiting.append((request, self.s.hold_lift))
        elif request.kind == "resume":
            self.flow.gate = None  # after a pause at a lift: the next stroke's pen-down is the next line
            for waiting in [w for w in self.waiting if w[0].kind == "pause_at_lift"]:  # resumed before it
                self.waiting.remove(waiting)
                waiting[0].error = JobError("resumed before the pen lift it was to pause at")
                waiting[0].done.set()
            lift, self.s.hold_lift = self.s.hold_lift, None
            if lift is not None and lift.lifted:  # the pen goes down where it lifted, then cycle start
                from plotter.grbl.penchange import LowerThenResume

                self.waiting.append((request, LowerThenResume(self.link.write, self.link.clock,
                                                              self.s.pen_down_dwell)))
            else:
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
        self.s.hold_lift = None  # the reset ends the spindle-stop override too
        link.write(RESET)
        alarm = None
        banner = link.wait_for(lambda r: isinstance(r, (Banner, Alarm)), 3.0)
        if isinstance(banner, Alarm):
            alarm = banner
            link.wait_for(lambda r: isinstance(r, Banner), 3.0)
        pen_up(self.s)
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
            elif end is not None and self._ends_off_plan(end):  # at rest, but not where the plan ends
                pen_up(self.s)
                stop = Stop("cancelled")
            elif end is not None:
                flow.synced = flow.total
        elif stop.reason == "error":
            stop = self._drain_after_error(stop)
        self._journal(force=True)
        self._progress(force=True)
        result = self._result(stop.reason)
        if stop.reason == "cancelled" and self.fault is not None:
            index, why = self.fault
            msg = f"{why}; stopped (feed hold, pen up); {self._summary()}"
            if self.journal:
                self.journal.error(index, 0)  # resume redraws from the pen-up before the first unsure line
            self._end("error", msg)
            raise PositionError(msg, index, result)
        if stop.reason in ("done", "cancelled"):
            if self.journal:
                self.journal.end(stop.reason)
            if stop.reason == "cancelled":
                return dataclasses.replace(result, detail=self.cancel_detail)
            return result
        raise self._error(stop, result)

    def _drain_after_error(self, stop: Stop) -> Stop:
        """GRBL skips an `error:N` line but runs every line behind it that it took: wait until it has (so
        the journal can say so, and a resume draws none of them again), then lift the pen left down."""
        held = lambda r: isinstance(r, Status) and r.state in ("Hold", "Door")  # noqa: E731
        end = self.link.wait_for(lambda r: _drained(r) or held(r), 24 * 3600.0, poll=self.s.poll_interval)
        if isinstance(end, Banner):
            return Stop("reset", stop.index)
        if isinstance(end, Alarm):
            return Stop("alarm", stop.index, end.code)
        if end is not None and not held(end):  # (held by the user meanwhile: what ran is not known)
            self.ran = self.flow.acked
            pen_up(self.s)
        return stop

    def _error(self, stop: Stop, result: StreamResult) -> Exception:
        flow = self.flow
        if stop.reason == "error":
            index = stop.index or 0
            text = flow.raw[index].strip()
            msg = f"line {index + 1}: {text!r}: {describe_error(stop.code or 0)}"
            self._end("error", msg, self.ran)
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

    def _end(self, status: str, detail: str, ran: int | None = None) -> None:
        if self.journal:
            self.journal.end(status, detail, ran)

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


def position_check(streamer, flow: Flow, preamble=()) -> PositionCheck | None:  # type: ignore[no-untyped-def]
    """The lost-byte check for this run, or None when the streamer's `check_position` is off."""
    if not getattr(streamer, "check_position", False):
        return None
    st = streamer.link.last_status
    origin = st.work_position() if st is not None else None
    lead_in = [origin]
    if preamble:
        lead_in += planned_positions([clean_line(p) for p in preamble], origin or (math.nan,) * 3)
    check = PositionCheck(flow.cleaned, flow.start, lead_in[-1], lead_in=lead_in)
    check.note_wco(st.wco if st is not None else None)
    return check


def _held(flow: Flow) -> Callable[[Status], bool]:
    """Hold:0 (decelerated), or an idle machine with nothing left to run (a hold then does nothing)."""
    return lambda st: (st.state == "Hold" and st.substate == 0) or (st.state == "Idle" and not flow.in_flight)


def held_idle() -> Callable[[object], bool]:
    return lambda r: isinstance(r, Status) and r.state in ("Hold", "Idle") and r.substate in (None, 0)


def _drained(r: object) -> bool:
    """The end of a job: the planner ran dry (Idle; Check in check mode), or GRBL reset/alarmed meanwhile."""
    return isinstance(r, (Banner, Alarm)) or (isinstance(r, Status) and r.state in ("Idle", "Check"))
