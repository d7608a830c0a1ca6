"""Issue 19's cancel race: a cancel that arrives after a worker claimed a job but before its stream started.

The job is `running` from the claim on, so the service hands the cancel to the worker; before the fix the
worker did not know the job yet (it was still preparing it) or its link was not streaming yet (the streamer
acted on the idle machine, then the stream began): the job was drawn to the end, or stayed `running` when the
cancel's idle reset collided with the stream. Each test forces one interleaving with a hook at that point
(no sleeps, no timing): the job ends `cancelled`, nothing of it is drawn, and the plotter takes the next job.
"""

from __future__ import annotations

import threading

from daemon_fakes import FakePlotter, SimBench, config, fake_connect, passthrough, program

from plotter.daemon.device import connect_factory
from plotter.daemon.service import Service
from plotter.daemon.store import JobStore
from plotter.daemon.worker import DeviceWorker
from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port


def _service_cancel(svc_or_worker, store, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """`Service.cancel` without its wait (the worker is inside the hook): the worker takes the cancel if it
    owns the job, else the store records it."""
    if not svc_or_worker.cancel(job_id):
        store.transition(job_id, "cancelled", "cancelled by user")


def test_cancel_while_the_worker_prepares_the_job(tmp_path) -> None:
    """Claimed (`running`), being planned for this plotter (`prepare`): the cancel lands there."""
    plotters = {"p1": FakePlotter("p1")}
    hooked: list[int] = []
    svc_box: list[Service] = []

    def prepare(job, device):  # type: ignore[no-untyped-def]
        if not hooked:
            hooked.append(job.id)
            svc = svc_box[0]
            assert svc.store.get(job.id).state == "running"
            _service_cancel(svc.workers["p1"], svc.store, job.id)
        return passthrough(job, device)

    svc = Service(config(tmp_path, names=("p1",)), connect=fake_connect(plotters), prepare=prepare,
                  serve=False)  # fmt: skip
    svc_box.append(svc)
    svc.start()
    try:
        first = svc.submit("gcode", gcode=program(5), device="p1")["id"]
        assert svc.store.wait_until(first, ("cancelled", "done", "failed"), 10).state == "cancelled"
        assert plotters["p1"].lines_of(first) == [], "a cancelled job was drawn"
        second = svc.submit("gcode", gcode=program(3), device="p1")["id"]
        assert svc.store.wait_until(second, ("done", "failed"), 10).state == "done"  # the plotter goes on
        assert len(plotters["p1"].lines_of(second)) == 3
    finally:
        svc.stop()


class _HookedStore(JobStore):
    """The jobs file, with a hook where the link opens the job's journal: the worker has decided to stream
    and the link is computing where to start, but the streamer does not run the job yet."""

    hook = None

    def journal_sink(self, job_id: int):  # type: ignore[no-untyped-def]
        hook, self.hook = self.hook, None
        if hook is not None:
            hook(job_id)
        return super().journal_sink(job_id)


def test_cancel_as_the_link_starts_the_stream(tmp_path) -> None:
    """On the simulated GRBL through the real `GrblLink` and `Streamer`: the cancel reaches the link
    before its streamer runs the job. Before the fix the streamer soft-reset the idle machine, then drew
    the whole job."""
    bench = SimBench([])
    cfg = config(tmp_path, names=("p1",))
    with _HookedStore(tmp_path / "jobs.sqlite3") as store:
        worker = DeviceWorker(cfg.device("p1"), store, connect_factory(store, opener=bench.open), passthrough)
        store.hook = lambda job_id: _service_cancel(worker, store, job_id)
        job = store.submit("gcode", {}, "\n".join(["G21 G90", "M3 S1000", "G1 X20 Y10 F3000", "G1 X30 Y30",
                                                   "M5", "G0 X0 Y0"]), "p1")  # fmt: skip
        worker.start()
        try:
            assert store.wait_until(job.id, ("cancelled", "done", "failed"), 30).state == "cancelled"
            drawn = [s for s in bench.machine.trace.segments if s.length > 1e-9]
            assert drawn == [], "the cancelled job moved the machine"
            again = store.submit("gcode", {}, "G21 G90\nG1 X5 Y5 F3000\nG0 X0 Y0", "p1")
            assert store.wait_until(again.id, ("done", "failed"), 30).state == "done"
        finally:
            worker.stop()


def test_streamer_refuses_to_start_a_cancelled_stream() -> None:
    """The streamer's half: a stream whose cancel came first sends nothing; a cancel meant for a stream
    (`idle=False`) does not act on an idle machine."""
    port = open_port("grblsim://?clock=virtual", 115200)
    streamer = Streamer(port)
    streamer.connect()
    cancelled = threading.Event()
    assert streamer.cancel(idle=False) is None  # no stream yet: nothing happens, nothing waits
    cancelled.set()
    result = streamer.stream(["G21 G90", "G1 X10 Y10 F3000"], cancelled=cancelled)
    assert result.status == "cancelled" and result.sent == 0 and result.acked == 0
    assert port.machine.queue.position[:2] == (0.0, 0.0)
    assert streamer.stream(["G21 G90", "G1 X10 Y10 F3000"]).status == "done"  # the next one runs
