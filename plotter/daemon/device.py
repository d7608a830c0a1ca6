"""The daemon's side of a real (or simulated) GRBL: open the port, run one job through `plotter.grbl`.

`GrblLink` adapts `plotter.grbl.streamer.Streamer` to what a worker needs: stream a job from its journal
(resume exactly where the machine stopped, see `plotter.daemon.resume`; from the last pen-up when its position
was lost), controls from other threads, pen-up, status. The journal lives in the jobs file and is written
ahead of every line sent, so a killed daemon knows exactly which lines GRBL may have received; where the
machine came to rest is pinned in it on reconnect, before any other job can move the pen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from plotter.daemon.config import DeviceConfig
from plotter.daemon.pens import watch_pen_changes
from plotter.daemon.store_base import Job
from plotter.daemon.store_base import StoreBase as JobStore
from plotter.daemon.worker import Cancelled
from plotter.errors import DeviceError, PlotterError
from plotter.gcode import pen_commands
from plotter.grbl.journal import JournalState
from plotter.grbl.transport import open_port

log = logging.getLogger(__name__)
_BUSY = ("Run", "Jog", "Home")
_UNTRUSTED = ("alarm", "reset", "error", "lost")  # a run that ended so: the machine's position says nothing
SETTLE_S = 3600.0  # a plotter finishing its planner after a USB drop never needs more than this
SETTLE_QUIET_S = 0.5  # at rest this long (plus any dwell it may still hold) before the soft reset


class GrblLink:
    """A connected GRBL for one worker; `stream` runs on the worker thread, the rest on any thread."""

    def __init__(
        self,
        port: Any,
        store: JobStore,
        profile: str = "grbl-servo",
        owns_port: bool = True,
        unlock: bool = False,
        device: str | None = None,
        hub: Any = None,
    ) -> None:
        from plotter.daemon.resume import pen_spec
        from plotter.gcode.bed import machine_bed
        from plotter.grbl.streamer import Streamer

        self.bed = machine_bed(profile)

        self.port = port
        self.store = store
        self.pen = pen_spec(profile)
        self.streamer = Streamer(port, pen_up=pen_commands(profile))
        self.streamer.pen_down_dwell = self.pen.dwell_down
        self._owns_port = owns_port
        self._port_lock = threading.Lock()  # one conversation at a time: a stream, or an idle status query
        self.device = device  # the config name: which jobs may have left lines in this machine's buffers
        self.tap = None
        if hub is not None:  # every status report read on this port goes to the dashboard as it arrives
            from plotter.daemon.live import StatusTap

            self.tap = self.streamer.link.on_line = StatusTap(hub, device or "?", self.pen)
        self.info = self._wake(unlock)

    def _wake(self, unlock: bool) -> Any:
        """Connect without trusting what the line held: a machine still running lines it got before a USB
        drop (or before the daemon died) is left to finish them, then soft-reset (position kept when idle)
        so no half-received line can execute; a fresh board simply sends its banner."""
        from plotter.grbl.protocol import Banner, Status

        link = self.streamer.link
        first = link.wait_for(lambda r: isinstance(r, (Banner, Status)), 2.5, poll=0.25)
        if isinstance(first, Banner):  # it just booted: whatever it was drawing, its position is gone
            over = (None, "vanished", "cancelled", "done")
            for job_id in mark_journals(self.store, self.device, "reset", "GRBL restarted", over):
                log.warning("job %d: GRBL restarted (%s): resuming from a pen-up", job_id, first.raw)
        st = first if isinstance(first, Status) else link.status(timeout=2.0)
        if st is not None and st.state in ("Hold", "Door"):
            for job_id in mark_journals(self.store, self.device, "cancelled", "held", (None, "vanished")):
                log.info("job %d: GRBL was held: its buffers are flushed, the cut segment is redrawn", job_id)
        if st is not None:
            quiet = SETTLE_QUIET_S + pending_dwell(self.store, self.device)
            if st.state in _BUSY or (st.state == "Hold" and st.substate != 0) or quiet > SETTLE_QUIET_S:
                log.info("GRBL is %s: waiting for it to finish what it holds", st.label)
            _settle(link, quiet)
        info = self.streamer.connect(reset=st is not None, unlock=unlock)
        if not info.unlocked:  # at rest where the interrupted runs left it: pin that before anything moves it
            from plotter.daemon.resume import recorded_rest

            self._pin_rest([job.id for job, state, records in _open_journals(self.store, self.device)
                            if state.status not in _UNTRUSTED and recorded_rest(records) is None])
        return info

    def stream(self, job: Job, lines: list[str], on_ack: Callable[[int], None],
               cancelled: threading.Event | None = None) -> None:
        """Run `job` from its journal; `cancelled` (set by the worker before it calls `cancel()`) stops it
        even when the cancel comes before the streamer has taken the port."""
        from plotter.gcode.bed import bed_from_settings, check_program_bed
        from plotter.grbl.journal import Journal

        if self.info is not None and self.info.settings:  # GRBL's own travel, when it enforces it
            check_program_bed(lines, bed_from_settings(self.bed, self.info.settings), f"device {self.device}")
        sink = self.store.journal_sink(job.id)
        records = sink.records()
        with self._port_lock:
            start, preamble = self._resume_point(job, lines, records) if records else (0, ())
        with self._port_lock:
            journal = Journal(sink, write_ahead=True)  # the exact resume needs the sent mark
            on_progress = self.tap.running(job.id, start, on_ack) if self.tap else lambda p: on_ack(p.acked)
            on_progress = watch_pen_changes(self.store, job.id, lines, on_progress)
            try:
                result = self.streamer.stream(
                    lines, start, preamble=preamble, journal=journal, on_progress=on_progress,
                    cancelled=cancelled,
                )
            finally:
                if self.tap:
                    self.tap.running(None)
        if result.status == "cancelled":  # held, soft-reset, pen up: at rest where a resume will need it
            if result.sent:  # (a stream cancelled before its first line left the machine as it was)
                with self._port_lock:
                    self._pin_rest([job.id])
            raise Cancelled(result.detail or "cancelled")

    def _pin_rest(self, job_ids: list[int]) -> None:
        """Write where the machine stands (at rest) into these jobs' journals before anything else is sent:
        their resume needs where *their* run stopped, and other jobs may run on this plotter first."""
        from plotter.daemon.resume import rest_record

        if not job_ids:
            return
        link = self.streamer.link
        try:
            st = link.status()
            pos = _work_position(link, st) if st is not None and st.state == "Idle" else None
        except PlotterError as exc:  # no pin: the resume asks the machine itself
            log.warning("could not read where the machine stopped: %s", exc)
            return
        for job_id in job_ids if pos is not None else ():
            log.debug("job %d: the machine came to rest at %s", job_id, pos)
            self.store.journal_append(job_id, rest_record(pos))

    def _resume_point(self, job: Job, lines: list[str], records: list[dict]) -> tuple[int, tuple[str, ...]]:
        """Exactly where the machine stopped if it kept its position, else the journal's last pen-up.

        Kill or USB drop: GRBL ran every line it received (`exact_resume`). Hold then soft reset (SIGTERM,
        cancel): it stopped on a line, whose segment is redrawn from its start (`segment_resume`). Alarm,
        reset: the position is not to be trusted, so the last pen-up (`resume_plan`); error:N, GRBL at rest
        after it: the refused line and what it shifted are sent again, nothing it ran (`plan_resume`)."""
        from plotter.daemon.resume import exact_resume, position_tolerance, recorded_rest, segment_resume
        from plotter.grbl.journal import PenCommands, load_state
        from plotter.grbl.replay import plan_resume

        state = load_state(records)
        if state.status not in _UNTRUSTED:
            pos = recorded_rest(records)  # pinned on reconnect or cancel; other jobs may have run since
            if pos is None:  # nothing pinned (an older journal, a status read that failed): ask it now
                link = self.streamer.link
                link.command("G4P0", timeout=3600.0)  # let GRBL finish what it holds, then ask where it is
                st = link.status()
                pos = _work_position(link, st) if st is not None and st.state == "Idle" else None
            rx = self.info.rx_size if self.info else 128
            tol = position_tolerance(self.info.settings if self.info else {})
            log.debug("job %d: run from line %d, acked %d, sent %s; machine at %s",
                      job.id, state.run_start + 1, state.run_acked, state.run_sent, pos)
            found = None
            if pos is not None and state.status != "cancelled":
                found = exact_resume(
                    lines, pos, state.run_acked, self.pen, rx, sent=state.run_sent, tolerance=tol
                )
            if pos is not None and found is None:
                found = segment_resume(lines, pos, state.run_synced, state.run_sent, self.pen, tol)
            if found is not None:
                how = "stopped partway through" if found.cut else "finished"
                log.info("job %d: the machine %s line %d; continuing with line %d",
                         job.id, how, found.start if not found.cut else found.start + 1, found.start + 1)
                return found.start, found.preamble
            log.warning("job %d: the machine's position %s is on no line it may have run", job.id, pos)
        pens = PenCommands() if self.pen.mode == "z" else PenCommands(up=self.pen.up, down=self.pen.down)
        plan = plan_resume(lines, state, pens)  # z: the pen moves are Z lines, found in the program itself
        for note in plan.notes:
            log.info("job %d: %s", job.id, note)
        log.info("job %d: resuming with line %d", job.id, plan.start_index + 1)
        return plan.start_index, plan.preamble

    def pause(self) -> None:
        self.streamer.pause()

    def resume(self) -> None:
        self.streamer.resume()

    def cancel(self) -> None:
        """Cancel the running stream; before it has started, nothing here: the worker's `cancelled` event
        (set first) makes `stream` end before its first line."""
        try:
            self.streamer.cancel(idle=False)
        except PlotterError as exc:
            log.warning("cancel: %s", exc)

    def pen_up(self) -> None:
        pass  # Streamer.cancel already lifted the pen after its soft reset

    def status(self) -> dict:
        """GRBL state, position, buffers: asked fresh when idle, the stream's last 5 Hz report when busy.

        A port lost while idle is offline with its error, not the last report it gave before the cable went
        (the worker finds out for itself when it next streams, and reconnects)."""
        st = self.streamer.last_status
        if self._port_lock.acquire(blocking=False):
            try:
                st = self.streamer.link.status(timeout=1.0) or st
            except DeviceError as exc:
                return {"connected": False, "error": str(exc)}
            except PlotterError as exc:
                log.debug("status: %s", exc)
            finally:
                self._port_lock.release()
        info = self.info
        out: dict[str, Any] = {
            "firmware": info.version if info else None,
            "rx_buffer": info.rx_size if info else None,
            "planner_blocks": info.planner_blocks if info else None,
        }
        if st is not None:
            out.update(state=st.label, position=st.work_position() or st.mpos, buffer=_buffer(st))
            out["alarm"] = st.label if st.state == "Alarm" else None
        return out

    def close(self) -> None:
        if self._owns_port:
            try:
                self.port.close()
            except Exception as exc:  # a vanished port may fail to close; nothing else to do
                log.debug("close: %s", exc)


def _work_position(link: Any, st: Any) -> tuple[float, ...] | None:
    """Work coordinates: WPos if reported, else MPos minus the offsets `$#` reports (G54 after a reset)."""
    if st.wpos is not None:
        return st.wpos
    if st.mpos is None:
        return None
    from plotter.grbl.protocol import Parameter

    params = {r.name: r.values for r in link.command("$#") if isinstance(r, Parameter)}
    g54, g92 = params.get("G54", (0.0, 0.0, 0.0)), params.get("G92", (0.0, 0.0, 0.0))
    tlo = params.get("TLO", (0.0,))[0]
    wco = (g54[0] + g92[0], g54[1] + g92[1], g54[2] + g92[2] + tlo)
    return tuple(m - o for m, o in zip(st.mpos, wco))


def _settle(link: Any, quiet: float) -> None:
    """Wait until GRBL stays at rest for `quiet` seconds. "Idle" alone is not enough: GRBL reports Idle
    during a G4 dwell while the lines after it wait in its RX buffer, and the soft reset that follows would
    throw them away (the machine would stop short of the lines the journal says it received)."""
    deadline = link.clock() + SETTLE_S
    since: float | None = None
    while link.clock() < deadline:
        st = link.status(timeout=2.0)
        if st is None:
            return  # it stopped answering: connect will say so
        if st.state in _BUSY or (st.state == "Hold" and st.substate != 0):
            since = None
            continue
        now = link.clock()
        since = now if since is None else since
        if now - since >= quiet:
            return
    raise DeviceError(f"GRBL did not come to rest within {SETTLE_S:g} s")


def _open_journals(store: JobStore, device: str | None) -> Iterator[tuple[Job, JournalState, list[dict]]]:
    """Jobs on `device` whose journal is open (with its state and records): a resume will need to know what
    the machine did."""
    from plotter.grbl.journal import load_state

    if device is None:
        return
    for job in store.list(states=["running", "paused", "interrupted", "queued"], limit=1000):
        records = store.journal_records(job.id) if job.assigned == device and job.gcode else []
        if not records:
            continue
        try:
            yield job, load_state(records), records
        except PlotterError:
            continue


def pending_dwell(store: JobStore, device: str | None) -> float:
    """Seconds of G4 among the lines a job on `device` may have left unrun in GRBL's buffers: those between
    its journal's acknowledged and sent marks (a G4 is acknowledged only once it has run)."""
    from plotter.grbl.flow import clean_line, dwell_seconds

    total = 0.0
    for job, state, _records in _open_journals(store, device):
        lines = (job.gcode or "").splitlines()
        hi = len(lines) if state.run_sent is None else state.run_sent
        total += sum(dwell_seconds(clean_line(line)) for line in lines[state.run_acked : hi])
    return total


def mark_journals(store: JobStore, device: str | None, status: str, detail: str, over: tuple) -> list[int]:
    """End the open journals of `device`'s jobs whose last status is in `over` with `status`: what the
    reconnect learnt about the machine decides how they resume. Returns the job ids.

    - "reset" when GRBL booted (power cycle, or the reset an Arduino does when its port opens): it reports
      0,0,0 wherever the pen is, so a pen-up resume, never a line that happens to end at the origin;
    - "cancelled" when it was in a feed hold (a user pause when the daemon died or the cable went): the
      soft reset flushes what it held, so it did not run every line it received; the cut segment rule."""
    marked = []
    for job, state, _records in _open_journals(store, device):
        if state.status in over:
            store.journal_append(job.id, {"t": "end", "status": status, "detail": detail})
            marked.append(job.id)
    return marked


def _buffer(status: Any) -> dict | None:
    if status.planner_free is None and status.rx_free is None:
        return None
    return {"planner_free": status.planner_free, "rx_free": status.rx_free}


def connect_factory(
    store: JobStore, opener: Callable[[str, int], Any] | None = None, hub: Any = None
) -> Callable[[DeviceConfig], GrblLink]:
    """What the service hands its workers: open the port (`opener`, default `open_port`), wake GRBL; with a
    live `hub`, every status report read on the port is published to it."""

    def connect(device: DeviceConfig, unlock: bool = False) -> GrblLink:
        port = (opener or open_port)(device.port, device.baudrate)
        try:
            return GrblLink(port, store, device.profile, unlock=unlock, device=device.name, hub=hub)
        except BaseException:
            try:
                port.close()
            except Exception:  # already gone
                pass
            raise

    return connect


def prepare_job(store: JobStore) -> Callable[[Job, DeviceConfig], Job]:
    """Plan a draw job for the device that took it: a job queued for 'any' was planned for the first device;
    if this one has another profile or paper and nothing was drawn yet, plan again. G-code jobs pass."""

    def prepare(job: Job, device: DeviceConfig) -> Job:
        job = _replan(job, device)
        from plotter.gcode.bed import check_program_bed, machine_bed

        lines = (job.gcode or "").splitlines()
        check_program_bed(lines, machine_bed(device.profile), f"device {device.name}")
        return job

    def _replan(job: Job, device: DeviceConfig) -> Job:
        if job.kind != "draw":
            return job
        want = {
            "profile": job.params.get("profile") or device.profile,
            "paper": job.params.get("paper") or device.paper,
        }
        have = {k: job.stats.get(f"planned_{k}") for k in want}
        if job.gcode and (have == want or job.acked > 0 or job.resume_from > 0):
            return job
        from plotter.job.pipeline import plan_job_params

        planned = plan_job_params(job.params, device.profile, device.paper)
        store.set_fields(
            job.id, gcode="\n".join(planned.lines), lines_total=len(planned.lines), stats=planned.stats
        )
        return store.get(job.id)

    return prepare


def probe(name: str, port: str, baudrate: int = 115200) -> dict:
    """One-shot status of a plotter nobody is streaming to (`plotter status` without a daemon).

    Connected means GRBL answered: a port that opens and then vanishes, or never answers (`DeviceError`),
    is offline with its error, as a port that does not open is; only GRBL's own refusal (an alarm lock,
    `error:N`) is a connected machine in a state worth showing.
    """
    from plotter.grbl.results import HeldError
    from plotter.grbl.streamer import Streamer

    row: dict[str, Any] = {"name": name, "port": port, "connected": False, "job": None}
    try:
        handle = open_port(port, baudrate)
    except PlotterError as exc:
        return {**row, "error": str(exc)}
    try:
        streamer = Streamer(handle)
        info = streamer.connect(unlock=False)
        st = streamer.link.status() or info.status
        row.update(
            connected=True, firmware=info.version, rx_buffer=info.rx_size, planner_blocks=info.planner_blocks
        )
        if st is not None:
            row.update(state=st.label, position=st.work_position() or st.mpos, buffer=_buffer(st))
            row["alarm"] = st.label if st.state == "Alarm" else None
    except HeldError as exc:  # held: GRBL answers `?` but reads no line, so no $I/$$ (and no late ok left)
        st = exc.status
        row.update(connected=True, state=st.label, position=st.work_position() or st.mpos, buffer=_buffer(st),
                   error=str(exc))
    except DeviceError as exc:  # opened, then lost or silent: nothing answered
        row = {**row, "connected": False, "error": str(exc)}
    except PlotterError as exc:
        row.update(connected=True, state="?", error=str(exc))
        if "alarm" in str(exc).lower():
            row.update(state="Alarm", alarm=str(exc))
    finally:
        try:
            handle.close()
        except Exception:  # noqa: BLE001 - closing a vanished port
            pass
    return row
