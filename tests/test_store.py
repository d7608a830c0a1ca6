"""Job store: the state machine as a table, the SQLite file (WAL, schema version, garbage refused).

The contract both stores keep (claiming, recovery after a kill, journals) is `test_store_contract.py`.
"""

from __future__ import annotations

import sqlite3

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
