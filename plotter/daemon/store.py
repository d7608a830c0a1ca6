"""The persistent job queue: one SQLite file (WAL, a versioned schema) for one daemon, or, with
`store: postgresql://...` in the daemon config, a PostgreSQL database that a farm of daemons shares
(`plotter.daemon.store_pg`). The state machine and the SQL both share live in `plotter.daemon.store_base`.

SQLite: every write is one `BEGIN IMMEDIATE` transaction on one connection, so a claim is atomic; the file is
the truth after a kill, and `recover()` turns whatever was running into `interrupted` on the next start.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plotter.daemon.store_base import (  # noqa: F401 - the store's public names, for callers
    ACTIVE,
    KINDS,
    STATES,
    TRANSITIONS,
    Job,
    JournalSink,
    StoreBase,
    check_transition,
)
from plotter.errors import JobError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('draw', 'gcode')),
    params      TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL,
    device      TEXT NOT NULL DEFAULT 'any',
    assigned    TEXT,
    created     REAL NOT NULL,
    started     REAL,
    finished    REAL,
    updated     REAL NOT NULL,
    lines_total INTEGER NOT NULL DEFAULT 0,
    acked       INTEGER NOT NULL DEFAULT 0,
    resume_from INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    error       TEXT,
    gcode       TEXT,
    stats       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS journal (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_job ON journal (job_id, seq);
CREATE TABLE IF NOT EXISTS events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    ts     REAL NOT NULL,
    state  TEXT NOT NULL,
    note   TEXT
);
"""


class JobStore(StoreBase):
    """The jobs file; thread-safe, `changed` is notified whenever a job becomes claimable."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.path = Path(path)
        self.label = f"job store {self.path}"
        self._db: sqlite3.Connection | None = None

    def _open(self) -> None:
        """Open (creating if needed) the file; refuses a file written by a newer schema."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise JobError(f"job store {self.path} is not a usable SQLite file: {exc}") from None
        if version > SCHEMA_VERSION:
            db.close()
            raise JobError(
                f"job store {self.path} has schema v{version}; this plotter knows v{SCHEMA_VERSION}"
            )
        with db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db = db

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise JobError("job store is closed")
        return self._db

    def _q(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.execute(sql, list(args))
            return [dict(r) for r in cur.fetchall()] if cur.description else []

    def _rowcount(self, sql: str, args: Sequence[object] = ()) -> int:
        with self._lock:
            return self.db.execute(sql, list(args)).rowcount

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction (re-entrant: nested calls join the outer one)."""
        with self._lock:
            if self.db.in_transaction:
                yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")


def open_store(
    spec: str | Path, host: str | None = None, lease_s: float = 15.0, keep_leases: bool = True
) -> StoreBase:
    """The store a daemon config names: a `postgresql://` URL (a farm: this daemon is `host`, its running
    jobs are leased for `lease_s`; `keep_leases=False` for a process that runs no plotters), else a SQLite
    file path. Not opened yet."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        from plotter.daemon.store_pg import PgJobStore

        return PgJobStore(text, host=host, lease_s=lease_s, keep_leases=keep_leases)
    return JobStore(spec)


def describe_store(spec: str | Path) -> str:
    """The store for messages and logs: a URL without its password."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        from plotter.daemon.store_pg import safe_dsn

        return safe_dsn(text)
    return text
