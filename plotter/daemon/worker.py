"""One thread per plotter: connect (with backoff), take the next job, stream it, record the outcome.

Failures map onto job states in `_run` and nowhere else:
- the device vanishes (`DeviceError`): the job is parked `paused` at its journal position (`device-lost`), the
  worker reconnects with bounded exponential backoff (interruptible by stop) and, if the device is configured
  with `auto_resume` (the default), requeues the job on the same plotter to continue exactly where it stopped;
- GRBL reset / ALARM / error (`GrblError`): `failed` with the decoded reason, resumable from the journal;
- stop (SIGTERM): the stream is held and cancelled, the pen lifted, the job `interrupted` (resumable);
- a user cancel: pen up, `cancelled`.

A job is the worker's from the moment it is claimed (`_claim`, one step under `_claim_lock`): a cancel that
sees it `running` always finds its worker owning it, whether it is still being prepared, its link is about to
stream, or it streams. The cancel sets the job's `cancelled` event first, then (once the worker has handed the
job to its link) asks the link to cancel; the link's streamer checks the event when it takes the port, so
neither order can let the job start after the cancel or leave it `running`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from plotter.daemon.config import DeviceConfig
from plotter.daemon.pens import hold_and_lift, pause_at_next_lift
from plotter.daemon.store_base import Job
from plotter.daemon.store_base import StoreBase as JobStore
from plotter.errors import DeviceError, GrblError, JobError, LayoutError, PlotterError

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised by a link's `stream` when `cancel()` ended it (not an error: the user asked)."""


class Link(Protocol):
    """What a worker needs from a connected plotter (see `plotter.daemon.device.GrblLink`)."""

    def stream(self, job: Job, lines: list[str], on_ack: Callable[[int], None],
               cancelled: threading.Event | None = None) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def cancel(self) -> None: ...

    def pen_up(self) -> None: ...

    def status(self) -> dict: ...

    def close(self) -> None: ...


@dataclass
class Backoff:
    """Exponential reconnect delays: initial, x2 each failure, capped; reset on success."""

    initial: float = 0.5
    maximum: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.current * 2, self.maximum)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class _Killed(BaseException):
    """Test hook: the process died; nothing more may be written anywhere."""


class DeviceWorker:
    """Owns one device: its link, its thread, the job it is running."""

    def __init__(
        self,
        device: DeviceConfig,
        store: JobStore,
        connect: Callable[[DeviceConfig], Link],
        prepare: Callable[[Job, DeviceConfig], Job],
        backoff: Backoff | None = None,
    ) -> None:
        self.device = device
        self.store = store
        self._connect = connect
        self._prepare = prepare
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._interrupt = threading.Event()  # wakes the idle wait: stop, or unlock (reconnect)
        self._killed = threading.Event()
        self._lock = threading.Lock()
        self._link: Link | None = None
        self._claim_lock = threading.Lock()  # the job's ownership: `_job_id`, `_cancel`, `_streaming`
        self._job_id: int | None = None
        self._cancel = threading.Event()  # this job's cancel (or stop) was asked for
        self._streaming = False  # the job was handed to the link: a cancel must reach the link too
        self._stop_reason = "interrupted"
        self.last_error: str | None = None
        self._unlock = False
        self._events = threading.Condition()  # connect / disconnect / error: `wait` for them, never poll
        self.connected = threading.Event()  # set while a link is open: tests and `status` wait on it
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"plotter-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Hold and cancel the stream, lift the pen, mark the job interrupted; then close the port."""
        self._stop.set()
        self._interrupt.set()
        with self._claim_lock:
            job_id = self._job_id
        if job_id is not None:
            self._request_cancel(job_id)
        self.store.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def kill(self, timeout: float = 30.0) -> None:
        """Tests only: behave like SIGKILL. Nothing is sent to the machine, nothing more written to the
        store; the thread ends at its next acknowledgement and abandons the port where it stands."""
        self._killed.set()
        self._stop.set()
        self._interrupt.set()
        self.store.wake()
        if self._thread is not None and timeout > 0 and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait(self, predicate: Callable[[DeviceWorker], bool], timeout: float | None = None) -> bool:
        """Block until `predicate(self)` holds after a connect, disconnect or connection error."""
        with self._events:
            return self._events.wait_for(lambda: predicate(self), timeout)

    def _changed(self) -> None:
        with self._events:
            self._events.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ control from the API
    def running_job(self) -> int | None:
        return self._job_id

    def pause(self, job_id: int, at: str | None = None) -> bool:
        """Feed hold (`at` None), hold now and lift the pen ("now"), or hold at the next pen lift ("lift")."""
        return self._control(job_id, {None: "pause", "now": "now", "lift": "lift"}[at])

    def resume(self, job_id: int) -> bool:
        return self._control(job_id, "resume")

    def cancel(self, job_id: int) -> bool:
        return self._control(job_id, "cancel")

    def _control(self, job_id: int, what: str) -> bool:
        with self._lock:
            if what == "cancel":
                return self._request_cancel(job_id)
            if self._job_id != job_id or self._link is None:
                return False
            link = self._link
            if what == "pause":
                self.store.transition(job_id, "paused", "feed hold", pause_reason="user")
                link.pause()
            elif what in ("now", "lift") and not hasattr(link, "streamer"):
                raise JobError(f"{self.device.name} cannot lift the pen in a pause")
            elif what == "now":
                hold_and_lift(link)
                self.store.transition(job_id, "paused", "feed hold, pen lifted", pause_reason="user")
            elif what == "lift":
                pause_at_next_lift(link, lambda: self._held_at_lift(job_id))
            else:
                self.store.transition(job_id, "running", "cycle start")
                link.resume()
            return True

    def _held_at_lift(self, job_id: int) -> None:
        try:
            self.store.transition(job_id, "paused", "paused at a pen lift (pen up)", pause_reason="lift")
        except JobError as exc:  # it ended or was cancelled first
            log.info("%s: job %d: %s", self.device.name, job_id, exc)

    def _request_cancel(self, job_id: int) -> bool:
        """False when this worker does not own `job_id`. The event first: a link that has not taken the port
        yet sees it there; one that has gets `cancel()`. Never the store or a wait under `_claim_lock`."""
        with self._claim_lock:
            if self._job_id != job_id:
                return False
            self._cancel.set()
            link = self._link if self._streaming else None
        if link is not None:
            link.cancel()
        return True

    def _claim(self, device: str) -> Job | None:
        """Claim the next job and own it in one step (see the module docstring)."""
        with self._claim_lock:
            job = self.store.claim_next(device)
            if job is not None:
                self._job_id, self._cancel, self._streaming = job.id, threading.Event(), False
            return job

    def status(self) -> dict[str, Any]:
        with self._lock:
            link, job_id = self._link, self._job_id
        info: dict[str, Any] = {
            "name": self.device.name,
            "port": self.device.port,
            "profile": self.device.profile,
            "connected": link is not None,
            "job": job_id,
            "error": self.last_error,
        }
        if link is not None:
            try:
                info.update(link.status())
            except PlotterError as exc:
                info["error"] = str(exc)
        return info

    # ------------------------------------------------------------------ the thread
    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if self._link is None and not self._open():
                        continue
                    job = self.store.wait_for_work(self.device.name, self._interrupt, claim=self._claim)
                    if job is not None:
                        self._run(job)
                    elif not self._stop.is_set():
                        # Woken by an unlock request. Always clear it: an unlock that `_open` already
                        # consumed (its connect raced the request) leaves the event set, and a set event
                        # makes `wait_for_work` return at once without claiming: the queue would stall.
                        self._interrupt.clear()
                        if self._unlock:
                            self._close()  # reconnect now, with $X
                except Exception:  # a bug must not silently take a plotter offline: log, reconnect
                    log.exception("%s: worker error; reconnecting", self.device.name)
                    self._close()
                    self._stop.wait(self.backoff.next())
        except _Killed:
            return
        finally:
            if not self._killed.is_set():
                self._close()

    def unlock(self) -> None:
        """The user checked the machine after an alarm: reconnect, sending `$X` if it is alarm-locked."""
        if self._job_id is not None:
            raise JobError(f"{self.device.name} is running job {self._job_id}; unlock is for an idle plotter")
        self._unlock = True
        self._interrupt.set()
        self.store.wake()

    def _open(self) -> bool:
        try:
            unlock, self._unlock = self._unlock, False
            link = self._connect(self.device, unlock) if unlock else self._connect(self.device)
        except PlotterError as exc:
            first = self.last_error != str(exc)
            self.last_error = str(exc)
            self._changed()
            delay = self.backoff.next()
            (log.warning if first else log.debug)("%s: %s; retrying in %.2f s", self.device.name, exc, delay)
            if self._interrupt.wait(delay) and not self._stop.is_set():
                self._interrupt.clear()  # unlock asked for a retry now
            return False
        with self._lock:
            self._link = link
        self.backoff.reset()
        self.last_error = None
        self.connected.set()
        self._changed()
        log.info("%s: connected on %s", self.device.name, self.device.port)
        if self.device.auto_resume:
            self._auto_resume()
        return True

    def _close(self) -> None:
        with self._lock:
            link, self._link = self._link, None
        self.connected.clear()
        self._changed()
        if link is not None:
            try:
                link.close()
            except PlotterError as exc:
                log.warning("%s: closing: %s", self.device.name, exc)

    def _auto_resume(self) -> None:
        """The plotter came back: jobs parked on it by a lost connection continue from their journal."""
        for job in self.store.list(states=["paused"], limit=1000):
            if job.assigned == self.device.name and job.pause_reason == "device-lost":
                log.info("%s: resuming job %d from line %d", self.device.name, job.id, job.acked)
                self.store.transition(job.id, "queued", "device back: auto-resume", resume_from=job.acked)

    def _run(self, job: Job) -> None:
        try:
            self._run_claimed(job)
        finally:
            with self._claim_lock:
                self._job_id, self._streaming = None, False

    def _run_claimed(self, job: Job) -> None:
        name = self.device.name
        try:
            job = self._prepare(job, self.device)
        except PlotterError as exc:
            self.store.transition(job.id, "failed", "planning failed", error=str(exc))
            return
        lines = (job.gcode or "").splitlines()
        with self._claim_lock:
            link, cancelled = self._link, self._cancel
            self._streaming = True
        log.info("%s: job %d (%d lines, from line %d)", name, job.id, len(lines), job.resume_from)
        try:
            if cancelled.is_set() or self._stop.is_set():  # asked before the link had it: nothing sent
                raise Cancelled("cancelled before the first line")
            link.stream(job, lines, self._on_ack(job.id), cancelled)
            self.store.transition(job.id, "done", acked=len(lines))
            self.store.journal_clear(job.id)  # drawn: nothing left to resume
        except Cancelled:
            if self._killed.is_set():
                raise _Killed() from None
            self._lift(link)
            new = "interrupted" if self._stop.is_set() else "cancelled"
            self.store.transition(job.id, new, "stopped by daemon shutdown" if new == "interrupted" else None)
        except LayoutError as exc:  # off this machine's bed (GRBL's travel): refused before the first byte
            log.error("%s: job %d refused: %s", name, job.id, exc)
            self.store.transition(job.id, "failed", "off the bed", error=str(exc))
        except GrblError as exc:
            log.error("%s: job %d failed: %s", name, job.id, exc)
            self._after_fault(job.id, "failed", str(exc))
            self._close()  # reconnect decides whether the machine can take the next job (alarm lock)
        except DeviceError as exc:
            log.error("%s: job %d lost the device: %s", name, job.id, exc)
            self.last_error = str(exc)
            self._close()
            self._after_fault(job.id, "paused", str(exc), pause_reason="device-lost")
            self._release_if_untouched(job.id)

    def _on_ack(self, job_id: int) -> Callable[[int], None]:
        def on_ack(acked: int) -> None:
            if self._killed.is_set():
                raise _Killed()
            self.store.record_ack(job_id, acked)

        return on_ack

    def _after_fault(self, job_id: int, state: str, error: str, **fields: object) -> None:
        job = self.store.get(job_id)
        if job.state == "paused" and state == "paused":  # a user hold when the cable went: now it is parked
            self.store.set_fields(job_id, pause_reason="device-lost", error=error)
            return
        try:
            self.store.transition(job_id, state, error, error=error, **fields)
        except JobError as exc:  # e.g. cancelled meanwhile: keep that verdict
            log.warning("%s: job %d: %s", self.device.name, job_id, exc)

    def _release_if_untouched(self, job_id: int) -> None:
        """A job that lost its plotter before a single line was written drew nothing: rather than wait for
        this plotter, put it back in the queue for any plotter it may run on. (Lines written but not yet
        acknowledged still run when the cable comes back: such a job stays with its half-drawn page.)"""
        job = self.store.get(job_id)
        if job.state == "paused" and job.pause_reason == "device-lost" and job.acked == 0:
            if _lines_written(self.store.journal_records(job_id)):
                return
            self.store.journal_clear(job_id)
            self.store.transition(job_id, "queued", "nothing drawn: back in the queue", assigned=None)

    def _lift(self, link: Link) -> None:
        try:
            link.pen_up()
        except PlotterError as exc:
            log.warning("%s: could not lift the pen: %s", self.device.name, exc)


def _lines_written(records: list[dict]) -> bool:
    """True unless the journal proves no line reached the wire (write-ahead `sent` still at the start)."""
    if not records:
        return False
    from plotter.grbl.journal import load_state

    try:
        state = load_state(records)
    except PlotterError:
        return True  # unreadable: assume the worst, keep the job with its plotter
    return state.run_sent is None or state.run_sent > state.run_start
