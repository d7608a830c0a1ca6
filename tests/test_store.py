"""Job store: schema, the state machine as a table, claiming, recovery after a kill."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from plotter.daemon.store import STATES, TRANSITIONS, JobStore, check_transition
from plotter.errors import JobError

LEGAL = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def store(tmp_path):
    with JobStore(tmp_path / "jobs.sqlite3", clock=FakeClock()) as s:
        yield s


@pytest.mark.parametrize("old", STATES)
@pytest.mark.parametrize("new", STATES)
def test_transition_table(old: str, new: str) -> None:
    if (old, new) in LEGAL:
        check_transition(old, new)
    else:
        with pytest.raises(JobError, match=f"is {old}; it cannot become {new}"):
            check_transition(old, new)


def test_expected_rules_hold() -> None:
    """The few rules users rely on: finished is final, failures and interruptions are resumable."""
    assert TRANSITIONS["done"] == frozenset()
    for s in ("failed", "interrupted", "cancelled", "paused"):
        assert "queued" in TRANSITIONS[s]
    assert "running" not in TRANSITIONS["failed"]


def test_file_is_wal_and_versioned(store: JobStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(JobError, match="schema v99"):
        JobStore(path).open()


def test_garbage_file_is_refused(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JobError, match="not a usable SQLite file"):
        JobStore(path).open()


def test_submit_and_lifecycle(store: JobStore) -> None:
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


def test_malformed_submissions_are_refused_and_nothing_is_lost(store: JobStore) -> None:
    store.submit("gcode", {}, gcode="G0 X0")
    with pytest.raises(JobError, match="unknown job kind"):
        store.submit("laser", {})
    with pytest.raises(JobError, match="needs G-code"):
        store.submit("gcode", {})
    with pytest.raises(JobError, match="not JSON"):
        store.submit("draw", {"x": object()})
    with pytest.raises(JobError, match="no job 42"):
        store.get(42)
    assert [j.state for j in store.list()] == ["queued"]


def test_claim_respects_target_and_pinning(store: JobStore) -> None:
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


def test_recover_turns_running_into_interrupted(tmp_path) -> None:
    path = tmp_path / "jobs.sqlite3"
    s1 = JobStore(path).open()
    running = s1.submit("gcode", {}, gcode="G0 X1\nG0 X2")
    held = s1.submit("gcode", {}, gcode="G0 X1")
    queued = s1.submit("gcode", {}, gcode="G0 X3")
    s1.claim_next("p1")
    s1.record_ack(running.id, 1)
    s1.claim_next("p1")
    s1.transition(held.id, "paused", pause_reason="user")
    # the daemon dies here: no close, no cleanup; a new process opens the same file
    s2 = JobStore(path).open()
    recovered = s2.recover()
    assert sorted(j.id for j in recovered) == [running.id, held.id]
    assert s2.get(running.id).state == "interrupted" and s2.get(running.id).acked == 1
    assert s2.get(running.id).resumable
    assert s2.get(queued.id).state == "queued"
    s2.close()
    s1.close()


def test_wait_for_work_wakes_on_submit_and_on_stop(store: JobStore) -> None:
    stop = threading.Event()
    got: list = []
    t = threading.Thread(target=lambda: got.append(store.wait_for_work("p1", stop)))
    t.start()
    store.submit("gcode", {}, gcode="G0 X1")
    t.join(5)
    assert not t.is_alive() and got[0].state == "running"
    t = threading.Thread(target=lambda: got.append(store.wait_for_work("p1", stop)))
    t.start()
    stop.set()
    store.wake()
    t.join(5)
    assert not t.is_alive() and got[1] is None


def test_set_fields_cannot_change_state(store: JobStore) -> None:
    job = store.submit("draw", {"class": "cat"})
    with pytest.raises(JobError, match="transition"):
        store.set_fields(job.id, state="done")
    store.set_fields(job.id, gcode="G0 X1\nG0 X2", lines_total=2, stats={"estimate_s": 3.0})
    job = store.get(job.id)
    assert job.stats == {"estimate_s": 3.0} and job.lines_total == 2


def test_journal_sink_survives_reopen(tmp_path) -> None:
    path = tmp_path / "jobs.sqlite3"
    s1 = JobStore(path).open()
    job = s1.submit("gcode", {}, gcode="G0 X1\nG0 X2")
    sink = s1.journal_sink(job.id)
    sink.append({"t": "begin", "lines": 2})
    sink.append({"t": "ack", "acked": 1, "synced": 0})
    other = s1.submit("gcode", {}, gcode="G0 X1")
    s1.journal_sink(other.id).append({"t": "begin", "lines": 1})
    s2 = JobStore(path).open()
    assert s2.journal_sink(job.id).records() == [
        {"t": "begin", "lines": 2},
        {"t": "ack", "acked": 1, "synced": 0},
    ]
    s2.journal_clear(job.id)
    assert s2.journal_records(job.id) == [] and len(s2.journal_records(other.id)) == 1
    s2.close()
    s1.close()
