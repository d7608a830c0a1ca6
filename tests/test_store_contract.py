"""The job store's contract, run on both databases: SQLite (a file) and PostgreSQL (a real server).

`backend.open(host)` opens another store on the same database, as another daemon process (or the same
daemon restarted) would. PostgreSQL-only: concurrent claims from two hosts and lease expiry.
"""

from __future__ import annotations

import threading

import pg_server as pg
import pytest

from plotter.daemon.store import JobStore
from plotter.daemon.store_base import StoreBase
from plotter.errors import JobError

pg_server, pg_dsn = pg.pg_server, pg.pg_dsn  # fixtures, by name


class Backend:
    def __init__(self, kind: str, where: str) -> None:
        self.kind, self.where = kind, where
        self.opened: list[StoreBase] = []

    def open(self, host: str = "h1", lease_s: float = 15.0) -> StoreBase:
        if self.kind == "sqlite":
            store = JobStore(self.where)
        else:
            from plotter.daemon.store_pg import PgJobStore

            store = PgJobStore(self.where, host=host, lease_s=lease_s)
        self.opened.append(store.open())
        return store

    def close_all(self) -> None:
        for s in reversed(self.opened):
            s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "jobs.sqlite3"))
    else:
        dsn = request.getfixturevalue("pg_dsn")
        pg.reset(dsn)
        b = Backend("postgresql", dsn)
    yield b
    b.close_all()


@pytest.fixture
def store(backend: Backend) -> StoreBase:
    return backend.open()


def test_submit_and_lifecycle(store: StoreBase) -> None:
    job = store.submit("gcode", {"file": "a.gcode"}, gcode="G21\nG90\nG1 X1\n")
    assert (job.state, job.lines_total, job.device) == ("queued", 3, "any")
    job = store.claim_next("p1")
    assert (job.state, job.assigned) == ("running", "p1") and job.started is not None
    store.record_ack(job.id, 2)
    store.record_ack(job.id, 1)  # an older ack never moves the journal back
    assert store.get(job.id).acked == 2
    job = store.transition(job.id, "done")
    assert job.finished is not None and job.progress == pytest.approx(2 / 3)
    with pytest.raises(JobError, match="is done; it cannot become queued"):
        store.transition(job.id, "queued")
    assert [e[1] for e in store.events(job.id)] == ["queued", "running", "done"]


def test_malformed_submissions_are_refused_and_nothing_is_lost(store: StoreBase) -> None:
    store.submit("gcode", {}, gcode="G0 X0")
    with pytest.raises(JobError, match="unknown job kind"):
        store.submit("laser", {})
    with pytest.raises(JobError, match="needs G-code"):
        store.submit("gcode", {})
    with pytest.raises(JobError, match="not JSON"):
        store.submit("draw", {"x": object()})
    with pytest.raises(JobError, match="no job 42"):
        store.get(42)
    with pytest.raises(JobError, match="no job 42"):
        store.transition(42, "running")
    assert [j.state for j in store.list()] == ["queued"]


def test_claim_respects_target_and_pinning(store: StoreBase) -> None:
    a = store.submit("gcode", {}, gcode="G0 X1", device="p2")
    b = store.submit("gcode", {}, gcode="G0 X2")
    assert store.claim_next("p1").id == b.id
    assert store.claim_next("p1") is None
    assert store.claim_next("p2").id == a.id
    # a half-drawn job requeued from its journal stays on the plotter that holds its paper
    store.transition(b.id, "failed", error="ALARM:1")
    store.transition(b.id, "queued", resume_from=1)
    assert store.claim_next("p2") is None
    assert store.claim_next("p1").id == b.id


def test_recover_turns_running_into_interrupted(backend: Backend) -> None:
    s1 = backend.open()
    running = s1.submit("gcode", {}, gcode="G0 X1\nG0 X2")
    held = s1.submit("gcode", {}, gcode="G0 X1")
    queued = s1.submit("gcode", {}, gcode="G0 X3")
    s1.claim_next("p1")
    s1.record_ack(running.id, 1)
    s1.claim_next("p1")
    s1.transition(held.id, "paused", pause_reason="user")
    # the daemon dies here: no close, no cleanup; the restarted daemon opens the same store
    s2 = backend.open()
    recovered = s2.recover()
    assert sorted(j.id for j in recovered) == [running.id, held.id]
    assert s2.get(running.id).state == "interrupted" and s2.get(running.id).acked == 1
    assert s2.get(running.id).resumable
    assert s2.get(queued.id).state == "queued"


def test_wait_for_work_wakes_on_submit_and_on_stop(store: StoreBase) -> None:
    stop = threading.Event()
    got: list = []
    t = threading.Thread(target=lambda: got.append(store.wait_for_work("p1", stop)))
    t.start()
    store.submit("gcode", {}, gcode="G0 X1")
    t.join(10)
    assert not t.is_alive() and got[0].state == "running"
    t = threading.Thread(target=lambda: got.append(store.wait_for_work("p1", stop)))
    t.start()
    stop.set()
    store.wake()
    t.join(10)
    assert not t.is_alive() and got[1] is None


def test_wait_until_sees_a_change_made_by_another_process(backend: Backend) -> None:
    if backend.kind == "sqlite":
        pytest.skip("one SQLite file serves one daemon")
    s1, s2 = backend.open("h1"), backend.open("h2")
    job = s1.submit("gcode", {}, gcode="G0 X1")
    t = threading.Thread(target=lambda: (s2.claim_next("p1"), s2.transition(job.id, "done")))
    t.start()
    assert s1.wait_until(job.id, ["done"], timeout=30).state == "done"
    t.join(10)


def test_set_fields_cannot_change_state(store: StoreBase) -> None:
    job = store.submit("draw", {"class": "cat"})
    with pytest.raises(JobError, match="transition"):
        store.set_fields(job.id, state="done")
    store.set_fields(job.id, gcode="G0 X1\nG0 X2", lines_total=2, stats={"estimate_s": 3.0})
    job = store.get(job.id)
    assert job.stats == {"estimate_s": 3.0} and job.lines_total == 2


def test_journal_sink_survives_reopen(backend: Backend) -> None:
    s1 = backend.open()
    job = s1.submit("gcode", {}, gcode="G0 X1\nG0 X2")
    sink = s1.journal_sink(job.id)
    sink.append({"t": "begin", "lines": 2})
    sink.append({"t": "ack", "acked": 1, "synced": 0})
    other = s1.submit("gcode", {}, gcode="G0 X1")
    s1.journal_sink(other.id).append({"t": "begin", "lines": 1})
    s2 = backend.open()
    assert s2.journal_sink(job.id).records() == [
        {"t": "begin", "lines": 2},
        {"t": "ack", "acked": 1, "synced": 0},
    ]
    s2.journal_clear(job.id)
    assert s2.journal_records(job.id) == [] and len(s2.journal_records(other.id)) == 1


def test_a_closed_store_refuses_work(backend: Backend) -> None:
    s = backend.open()
    s.close()
    with pytest.raises(JobError, match="closed"):
        s.get(1)


def test_two_hosts_claiming_at_once_take_each_job_once(backend: Backend) -> None:
    if backend.kind == "sqlite":
        pytest.skip("one SQLite file serves one daemon")
    stores = [backend.open(f"h{i}") for i in range(2)]
    for i in range(60):
        stores[0].submit("gcode", {"i": i}, gcode=f"G0 X{i}")
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def drain(store: StoreBase, device: str) -> None:
        while (job := store.claim_next(device)) is not None:
            taken[device].append(job.id)
            store.transition(job.id, "done")

    threads = [threading.Thread(target=drain, args=(s, d)) for s, d in zip(stores, taken)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = taken["a"] + taken["b"]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 60
    assert all(len(stores[0].events(i)) == 3 for i in ids)  # queued, running, done: claimed once
    assert {stores[0].get(i).host for i in taken["a"]} <= {"h0"}


def test_a_dead_hosts_running_job_is_interrupted_when_its_lease_runs_out(backend: Backend) -> None:
    if backend.kind == "sqlite":
        pytest.skip("leases are for a farm sharing PostgreSQL")
    dead, alive = backend.open("dead", lease_s=2.0), backend.open("alive", lease_s=2.0)
    lost = dead.submit("gcode", {}, gcode="G0 X1\nG0 X2")
    kept = alive.submit("gcode", {}, gcode="G0 X3")
    assert dead.claim_next("p1").id == lost.id and alive.claim_next("p2").id == kept.id
    dead.journal_append(lost.id, {"t": "begin", "lines": 2})
    dead.close()  # the host stops renewing, as a killed daemon does; nothing else changes
    job = alive.wait_until(lost.id, ["interrupted"], timeout=30)
    assert job.resumable and job.host == "dead"
    assert "lease of host dead expired" in alive.events(job.id)[-1][2]
    assert alive.get(kept.id).state == "running"  # its own lease is renewed
    assert alive.journal_records(lost.id) == [{"t": "begin", "lines": 2}]  # the journal is in the database


def test_a_daemon_refuses_to_steer_a_job_on_another_hosts_plotter(backend: Backend) -> None:
    if backend.kind == "sqlite":
        pytest.skip("one SQLite file serves one daemon")
    from plotter.daemon.config import parse_config
    from plotter.daemon.service import Service

    other = backend.open("a")
    job = other.submit("gcode", {}, gcode="G0 X1")
    other.claim_next("pa")
    cfg = parse_config({"devices": {"pb": {"port": "grblsim://?clock=virtual"}}, "store": backend.where,
                        "farm": {"host": "b"}})  # fmt: skip
    svc = Service(cfg, serve=False, run_workers=False).start()
    try:
        for op in (svc.pause, svc.cancel):
            with pytest.raises(JobError, match="running on host a .plotter pa.: ask that daemon"):
                op(job.id)
        assert svc.store.get(job.id).state == "running"
    finally:
        svc.stop()
