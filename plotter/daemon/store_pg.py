"""The job store on PostgreSQL: one queue for a farm of daemons on several hosts, each owning its plotters.

Why these mechanisms:
- Claims: `SELECT ... FOR UPDATE SKIP LOCKED` inside the claiming transaction, so two hosts never take the
  same job and neither waits for the other's row lock.
- Leases: a claimed job records its `host` and a `lease_until` in the database's own clock (no trust in host
  clocks). A heartbeat renews this host's leases every `lease_s / 3`; any host turns a job whose lease ran
  out into `interrupted` (its daemon is gone: killed, power lost, network cut). The restarted daemon resumes
  it from its journal, which is in the database too, by the same exact-resume rule as with SQLite.
- Notices: every change sends `NOTIFY plotter_jobs`; a listener connection wakes this process's waiters, so
  a job submitted on one host starts on another at once. Waiters also re-check every `lease_s` in case a
  notice is lost while the listener reconnects.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from plotter.daemon.store_base import ON_MACHINE, StoreBase
from plotter.errors import JobError

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
CHANNEL = "plotter_jobs"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS plotter_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('draw', 'gcode')),
    params      TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL,
    device      TEXT NOT NULL DEFAULT 'any',
    assigned    TEXT,
    created     DOUBLE PRECISION NOT NULL,
    started     DOUBLE PRECISION,
    finished    DOUBLE PRECISION,
    updated     DOUBLE PRECISION NOT NULL,
    lines_total INTEGER NOT NULL DEFAULT 0,
    acked       INTEGER NOT NULL DEFAULT 0,
    resume_from INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    error       TEXT,
    gcode       TEXT,
    stats       TEXT NOT NULL DEFAULT '{}',
    host        TEXT,
    lease_until DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS journal (
    seq    BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_job ON journal (job_id, seq);
CREATE TABLE IF NOT EXISTS events (
    id     BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    ts     DOUBLE PRECISION NOT NULL,
    state  TEXT NOT NULL,
    note   TEXT
);
"""
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::double precision"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise JobError("a postgresql:// store needs psycopg: pip install 'psycopg[binary]'") from None
    return psycopg


def safe_dsn(dsn: str) -> str:
    """The URL without its password, for messages and logs."""
    dsn = re.sub(r"(password=)[^&]*", r"\1***", dsn)
    head, sep, tail = dsn.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return dsn
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"


class PgJobStore(StoreBase):
    """A farm's shared queue; this daemon is `host` (unique in the farm, stable across restarts)."""

    skip_locked = " FOR UPDATE SKIP LOCKED"
    lock_row = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        host: str | None = None,
        lease_s: float = 15.0,
        clock: Callable[[], float] | None = None,
        keep_leases: bool = True,
    ) -> None:
        """`keep_leases=False`: an observer (a tool, a test) that neither renews nor expires leases."""
        super().__init__(clock or time.time)
        if not 0 < lease_s < 86400:
            raise JobError(f"lease_s must be between 0 and 86400 seconds, got {lease_s}")
        self.dsn = dsn
        self.host = host or socket.gethostname()
        self.lease_s = float(lease_s)
        self.recheck_s = self.lease_s
        self.label = f"job store {safe_dsn(dsn)}"
        self._db: Any = None
        self._depth = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._keep_leases = keep_leases

    # ------------------------------------------------------------------ lifecycle
    def _connect(self) -> Any:
        psycopg = _psycopg()
        from psycopg.rows import dict_row

        try:
            return psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise JobError(f"{self.label}: cannot connect: {first}") from None

    def _open(self) -> None:
        db = self._connect()
        with db.transaction():  # two daemons starting together: one creates the schema, the other waits
            db.execute("SELECT pg_advisory_xact_lock(7270111)")
            db.execute(_SCHEMA)
            row = db.execute("SELECT value FROM plotter_meta WHERE key = 'schema'").fetchone()
            version = int(row["value"]) if row else SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                db.close()
                raise JobError(f"{self.label} has schema v{version}; this plotter knows v{SCHEMA_VERSION}")
            db.execute("INSERT INTO plotter_meta VALUES ('schema', %s) ON CONFLICT (key) DO NOTHING",
                       (str(SCHEMA_VERSION),))  # fmt: skip
        self._db = db
        self._stop.clear()
        self._threads = [threading.Thread(target=self._listen, name="plotter-store-listen", daemon=True)]
        if self._keep_leases:
            beat = threading.Thread(target=self._heartbeat, name="plotter-store-lease", daemon=True)
            self._threads.append(beat)
        for t in self._threads:
            t.start()

    def _close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.lease_s + 2)
        self._threads = []
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------ SQL
    def _q(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        with self._lock:
            if self._db is None:
                raise JobError(f"{self.label} is closed")
            cur = self._db.execute(sql.replace("?", "%s"), list(args))
            return cur.fetchall() if cur.description else []

    def _rowcount(self, sql: str, args: Sequence[object] = ()) -> int:
        with self._lock:
            if self._db is None:
                raise JobError(f"{self.label} is closed")
            return self._db.execute(sql.replace("?", "%s"), list(args)).rowcount

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction (re-entrant: nested calls join the outer one)."""
        with self._lock:
            if self._db is None:
                raise JobError(f"{self.label} is closed")
            if self._depth:
                yield
                return
            self._depth += 1
            try:
                with self._db.transaction():
                    yield
            finally:
                self._depth -= 1

    def _now(self) -> float:
        return float(self._q(f"SELECT {_NOW} AS now")[0]["now"])

    def _claim_fields(self) -> dict[str, object]:
        return {"host": self.host, "lease_until": self._now() + self.lease_s}

    def _recover_scope(self) -> tuple[str, list[object]]:
        return " AND host = ?", [self.host]  # other hosts' jobs are theirs until their lease runs out

    def _notify(self, what: str) -> None:
        self._q(f"SELECT pg_notify('{CHANNEL}', ?)", (what,))

    # ------------------------------------------------------------------ leases
    def renew_leases(self) -> int:
        """Extend the lease of every job this host has on a machine; returns how many."""
        with self._lock:
            return self._rowcount(
                f"UPDATE jobs SET lease_until = {_NOW} + ? WHERE host = ? AND state IN ('running', 'paused')",
                (self.lease_s, self.host),
            )

    def expire_leases(self) -> list[int]:
        """Jobs on a machine whose host stopped renewing become `interrupted`; returns their ids."""
        out = []
        with self._tx():
            rows = self._q(
                f"SELECT id, host FROM jobs WHERE {ON_MACHINE} AND lease_until < {_NOW} ORDER BY id"
                + self.skip_locked
            )
            for r in rows:
                note = f"lease of host {r['host']} expired: its daemon is gone (seen by {self.host})"
                self.transition(r["id"], "interrupted", note)
                out.append(int(r["id"]))
        return out

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew_leases()
                for job_id in self.expire_leases():
                    log.warning("job %d: its host stopped renewing its lease: now interrupted", job_id)
            except Exception as exc:  # noqa: BLE001 - a lost connection: the next beat tries again
                log.warning("job store lease heartbeat: %s", exc)

    def _listen(self) -> None:
        """Wake this process's waiters on every change any host makes."""
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake_all()  # whatever happened while we were not listening
                for note in conn.notifies(timeout=0.2):
                    self._wake_all(note.payload)
            except Exception as exc:  # noqa: BLE001 - reconnect after a lost connection
                log.debug("job store listener: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(min(1.0, self.lease_s))
        if conn is not None:
            conn.close()

    def _wake_all(self, what: str = "state") -> None:
        with self._lock:
            if what == "state":
                self.changed.notify_all()
            self.progress.notify_all()
