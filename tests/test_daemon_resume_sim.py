"""Exact resume on a simulated GRBL, without threads: the daemon's link is killed (the port abandoned as it
stands) or the cable is pulled at many points of one job, then a fresh link on the same machine finishes
it. Whatever the point, the pen-down segments the machine drew are the planned ones, each exactly once.
"""

from __future__ import annotations

import pytest
from daemon_fakes import FakeModel, SimBench, drawn_segments, planned_segments, unmatched

from plotter.daemon.device import GrblLink
from plotter.daemon.store import Job, JobStore
from plotter.errors import DeviceError
from plotter.grbl.journal import load_state
from plotter.job.models import ModelCache
from plotter.job.params import DrawParams
from plotter.job.pipeline import plan_job_params, sample, sketches_to_json

pytestmark = pytest.mark.slow


class Died(BaseException):
    """The daemon process died at this acknowledgement (BaseException: progress callbacks catch Exception)."""


def _gcode() -> str:
    model = FakeModel()
    draw = DrawParams.from_dict({"class": "cat", "n": 3, "seed": 2, "checkpoint": __file__})
    sketches = sample(draw, ModelCache(loader=lambda p: model))
    stored = {**draw.to_dict(), "sketches": sketches_to_json(sketches)}
    return "\n".join(plan_job_params(stored, "grbl-servo", "a4").lines)


GCODE = _gcode()
LINES = GCODE.splitlines()


def _job(store: JobStore) -> Job:
    store.submit("gcode", {}, GCODE)
    job = store.claim_next("p1")
    assert job is not None
    return job


def _finish(bench: SimBench, store: JobStore, job: Job) -> None:
    """What the restarted daemon (or the worker after the cable is back) does: connect, resume, run."""
    link = GrblLink(bench.open("p1", 115200), store, device="p1")
    link.stream(store.get(job.id), LINES, lambda acked: None)


def _kill_at(bench: SimBench, store: JobStore, job: Job, kill_at: int) -> None:
    """The daemon dies (nothing more written) once `kill_at` lines are acknowledged."""

    def die(acked: int) -> None:
        if acked >= kill_at:
            raise Died()

    with pytest.raises(Died):
        GrblLink(bench.open("p1", 115200), store, device="p1").stream(job, LINES, die)


@pytest.mark.parametrize("kill_at", [2, 6, 9, 13, 16, 19, 23, 27, 31])
def test_killed_anywhere_the_page_ends_exactly_as_planned(tmp_path, kill_at: int) -> None:
    bench = SimBench([])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        _kill_at(bench, store, job, kill_at)
        state = load_state(store.journal_records(job.id))
        assert state.run_acked < len(LINES) and state.run_sent is not None
        _finish(bench, store, job)
    assert unmatched(drawn_segments(bench.machine), planned_segments(GCODE)) == (0, 0)


@pytest.mark.parametrize("t", [1.5, 2.5, 4.0, 6.0, 9.5, 13.85, 17.0, 24.0, 30.0])
def test_cable_pulled_anywhere_the_page_ends_exactly_as_planned(tmp_path, t: float) -> None:
    """Machine seconds `t` cover travel, pen dwells (GRBL reports Idle in them) and strokes."""
    bench = SimBench([f"vanish@t:{t}"])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        with pytest.raises(DeviceError):
            GrblLink(bench.open("p1", 115200), store, device="p1").stream(job, LINES, lambda acked: None)
        assert load_state(store.journal_records(job.id)).status == "vanished"
        bench.machine.vanished = False  # plugged back: the same machine, still powered
        _finish(bench, store, job)
    assert unmatched(drawn_segments(bench.machine), planned_segments(GCODE)) == (0, 0)


def test_a_board_that_rebooted_resumes_from_a_pen_up(tmp_path) -> None:
    """An Arduino resets when its port is opened (and a USB-powered one when the cable comes back): it says
    its banner and reports 0,0,0 wherever the pen stands. The open journal is marked reset, so the resume
    goes back to a pen-up instead of trusting a position that a line near the end (the travel home) has."""
    from plotter.daemon.resume import exact_resume
    from plotter.grbl.journal import PenCommands, resume_plan
    from plotter.grbl.protocol_grblsim import Serial

    bench = SimBench([])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)

        def die(acked: int) -> None:
            if acked >= 26:
                raise Died()

        first = GrblLink(bench.open("p1", 115200), store, device="p1")
        with pytest.raises(Died):
            first.stream(job, LINES, die)
        before = load_state(store.journal_records(job.id))
        trap = exact_resume(LINES, (0.0, 0.0, 0.0), before.run_acked, first.pen, sent=before.run_sent)
        assert trap is not None and trap.start > before.run_acked + 4  # what 0,0,0 would have skipped

        rebooted = GrblLink(Serial.simulated(timeout=0.05), store, device="p1")  # a fresh board at 0,0,0
        records = store.journal_records(job.id)
        state = load_state(records)
        assert state.status == "reset"
        start, _ = rebooted._resume_point(store.get(job.id), LINES, records)
        pens = PenCommands(up=first.pen.up, down=first.pen.down)
        assert start == resume_plan(LINES, state.failure_point, pens).start_index <= before.run_acked


@pytest.mark.parametrize("hold_at", [8, 17, 28])
def test_held_when_the_daemon_died_redraws_only_the_cut_segment(tmp_path, hold_at: int) -> None:
    """A user pause (feed hold) and then the daemon dies: GRBL stays in Hold:0 with lines in its buffers.
    The reconnect sees the hold, so the soft reset flushed those lines and the pen stopped partway along a
    segment: that segment is redrawn from its start; nothing else twice, nothing missing."""
    import threading

    from daemon_fakes import off_path

    from plotter.errors import PlotterError

    bench = SimBench([])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        link = GrblLink(bench.open("p1", 115200), store, device="p1")

        def pause() -> None:
            try:
                link.pause()
            except PlotterError:
                pass  # the stream died before confirming: nobody is listening any more

        pauser = threading.Thread(target=pause)

        def die_when_held(acked: int) -> None:
            if acked >= hold_at and not pauser.is_alive() and pauser.ident is None:
                pauser.start()
            st = link.streamer.last_status
            if pauser.ident is not None and st is not None and st.state == "Hold" and st.substate == 0:
                raise Died()

        with pytest.raises(Died):
            link.stream(job, LINES, die_when_held)
        pauser.join(30)
        _finish(bench, store, job)
        assert load_state(store.journal_records(job.id)).status == "done"
    drawn, planned = drawn_segments(bench.machine), planned_segments(GCODE)
    extra, missing = unmatched(drawn, planned)
    assert missing == 0 and extra <= 1 and off_path(drawn, planned) == 0


@pytest.mark.parametrize("kill_at", [9, 19])
def test_another_job_between_the_kill_and_the_resume_leaves_the_resume_exact(tmp_path, kill_at: int) -> None:
    """The restarted daemon may run other queued jobs on the plotter before the user resumes the one the
    kill interrupted. The machine then stands where *they* ended (this program ends at the origin), which
    says nothing about where the interrupted run stopped: the reconnect pins the position the machine came
    to rest at in the job's journal, before anything else is sent, and the resume reads it from there. The
    page ends with both programs drawn exactly once."""
    bench = SimBench([])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        _kill_at(bench, store, job, kill_at)
        link = GrblLink(bench.open("p1", 115200), store, device="p1")  # the restarted daemon connects
        other = _job(store)
        link.stream(other, LINES, lambda acked: None)
        assert bench.machine.queue.position[:2] == (0.0, 0.0)
        link.stream(store.get(job.id), LINES, lambda acked: None)
    assert unmatched(drawn_segments(bench.machine), planned_segments(GCODE) * 2) == (0, 0)


def test_a_cancelled_run_pins_where_it_stopped_for_a_later_resume(tmp_path) -> None:
    """A cancel (hold, soft reset, pen up) and other jobs before the resume: the cut segment is found from
    the position pinned when the cancel ended, not from where the later job left the machine."""
    import threading

    from daemon_fakes import off_path

    from plotter.daemon.resume import recorded_rest
    from plotter.daemon.worker import Cancelled

    bench = SimBench([])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        link = GrblLink(bench.open("p1", 115200), store, device="p1")
        canceller = threading.Thread(target=link.cancel)

        def cancel_midway(acked: int) -> None:
            x, y, _ = bench.machine.queue.position
            if abs(y - 107.5) < 1e-6 and 40 < x < 110 and canceller.ident is None:  # deep in a stroke
                canceller.start()

        with pytest.raises(Cancelled):
            link.stream(job, LINES, cancel_midway)
        canceller.join(30)
        pinned = recorded_rest(store.journal_records(job.id))
        assert pinned is not None and pinned[:2] == pytest.approx(bench.machine.queue.position[:2], abs=1e-3)

        link.stream(_job(store), LINES, lambda acked: None)  # another job ends at the origin
        link.stream(store.get(job.id), LINES, lambda acked: None)
    drawn, planned = drawn_segments(bench.machine), planned_segments(GCODE) * 2
    extra, missing = unmatched(drawn, planned)
    assert missing == 0 and extra <= 1 and off_path(drawn, planned) == 0


@pytest.mark.parametrize("fault_line", [7, 10, 18, 20])
def test_after_error_n_the_resume_draws_nothing_grbl_ran(tmp_path, fault_line: int) -> None:
    """GRBL refuses a line (`error:N`: here its pen-down, a stroke's dwell or a segment) and runs the lines
    behind it in its buffer; the stream waits until it has, then lifts the pen. `plotter resume` sends the
    refused line again (with the move whose start it shifted) and goes on after the last line GRBL took:
    every planned segment drawn, none twice. The one extra segment allowed is what GRBL drew while the
    refused line was missing (a chord from where a skipped move began), which no resume can undo."""
    from plotter.grbl.results import LineError

    bench = SimBench([f"error:20@line:{fault_line}"])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = _job(store)
        with pytest.raises(LineError) as info:
            GrblLink(bench.open("p1", 115200), store, device="p1").stream(job, LINES, lambda acked: None)
        state = load_state(store.journal_records(job.id))
        assert state.status == "error" and state.errors == (info.value.index,)
        assert state.ran is not None and state.ran > info.value.index + 1  # lines behind it ran
        _finish(bench, store, job)
        assert load_state(store.journal_records(job.id)).status == "done"
    extra, missing = unmatched(drawn_segments(bench.machine), planned_segments(GCODE))
    assert missing == 0 and extra <= 1, (extra, missing)



def _z_lines() -> list[str]:
    """Four wiggly strokes emitted for a Z-axis pen (grbl-z)."""
    import numpy as np

    from plotter.gcode import emit, load_profile
    from plotter.sketch import Sketch

    rng = np.random.default_rng(3)
    paths = [np.array([30.0 + 25 * i, 60.0]) + np.cumsum(rng.uniform(-2, 2, size=(12, 2)), axis=0)
             for i in range(4)]  # fmt: skip
    return emit(Sketch(paths, unit="mm"), load_profile("grbl-z"))


def _z_run(bench: SimBench, store: JobStore, lines: list[str], on_ack=lambda acked: None) -> None:  # noqa: ANN001
    job = store.get(store.list()[0].id) if store.list() else None
    if job is None or job.state != "running":
        store.submit("gcode", {}, "\n".join(lines))
        job = store.claim_next("p1")
    GrblLink(bench.open("p1", 115200), store, profile="grbl-z", device="p1").stream(job, lines, on_ack)


def test_after_error_n_a_z_pen_job_resumes_with_its_own_z_moves(tmp_path) -> None:
    """A Z-axis pen (grbl-z): the daemon's resume lifts and lowers the pen with the program's own Z lines (the
    profile's M3/M5 mean nothing there). Refused mid-stroke: every segment of an uninterrupted run is drawn,
    none twice; GRBL's chord is the one extra."""
    from plotter.grbl.results import LineError

    lines = _z_lines()
    target = next(i for i, line in enumerate(lines) if i > len(lines) // 2 and line.startswith("G1 X")
                  and lines[i + 1].startswith("G1 X"))  # fmt: skip
    sent = [i for i, line in enumerate(lines) if line.strip() and not line.startswith("(")]
    ref = SimBench([])
    with JobStore(tmp_path / "ref.sqlite3") as store:
        _z_run(ref, store, lines)
    bench = SimBench([f"error:20@line:{2 + sent.index(target) + 1}"])
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        with pytest.raises(LineError):
            _z_run(bench, store, lines)
        assert load_state(store.journal_records(1)).ran > target + 1
        _z_run(bench, store, lines)  # the resume: the same claimed job, as `plotter resume` runs it
    planned = drawn_segments(ref.machine)
    extra, missing = unmatched(drawn_segments(bench.machine), planned)
    assert missing == 0 and extra <= 1, (extra, missing)
