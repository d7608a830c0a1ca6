"""The persistent job queue: one SQLite file (WAL), a versioned schema, and the job state machine.

Every state change goes through `JobStore.transition`, which checks `TRANSITIONS` so that an illegal
request (resume a finished job, cancel twice) is refused in one place with a `JobError`. The daemon can be
killed at any moment: the file is the truth, and `recover()` turns whatever was running into `interrupted`
on the next start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from plotter.errors import JobError

SCHEMA_VERSION = 1
KINDS = ("draw", "gcode")
STATES = ("queued", "running", "paused", "done", "failed", "cancelled", "interrupted")
ACTIVE = frozenset({"queued", "running", "paused"})

# state -> states it may move to. `paused` covers a user feed hold (stream still open, `pause_reason="user"`)
# and a job parked at its last pen-up after the device vanished (`pause_reason="device-lost"`).
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "paused", "cancelled"}),
    "running": frozenset({"paused", "done", "failed", "cancelled", "interrupted"}),
    "paused": frozenset({"running", "queued", "done", "cancelled", "interrupted", "failed"}),
    "failed": frozenset({"queued", "cancelled"}),
    "interrupted": frozenset({"queued", "cancelled"}),
    "cancelled": frozenset({"queued"}),
    "done": frozenset(),
}

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


@dataclass(frozen=True)
class Job:
    """One row of the queue, as the API and CLI see it."""

    id: int
    kind: str
    params: dict
    state: str
    device: str
    assigned: str | None
    created: float
    started: float | None
    finished: float | None
    updated: float
    lines_total: int
    acked: int
    resume_from: int
    pause_reason: str | None
    error: str | None
    gcode: str | None = field(repr=False)
    stats: dict = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Fraction of G-code lines GRBL has acknowledged (0..1)."""
        return self.acked / self.lines_total if self.lines_total else 0.0

    @property
    def resumable(self) -> bool:
        return self.state in ("paused", "failed", "interrupted", "cancelled") and bool(self.gcode)

    def to_dict(self, with_gcode: bool = False) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "gcode"}
        d["progress"] = round(self.progress, 4)
        d["resumable"] = self.resumable
        if with_gcode:
            d["gcode"] = self.gcode
        return d


def check_transition(old: str, new: str, job_id: int | None = None) -> None:
    """Raise `JobError` unless `old -> new` is legal; the one place the state machine lives."""
    if old not in TRANSITIONS or new not in TRANSITIONS:
        raise JobError(f"unknown job state {old if old not in TRANSITIONS else new!r}")
    if new not in TRANSITIONS[old]:
        who = f"job {job_id}" if job_id is not None else "job"
        raise JobError(f"{who} is {old}; it cannot become {new}")


class JobStore:
    """Thread-safe access to the jobs file; `changed` is notified whenever a job becomes claimable."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)  # a job changed state (workers wait on this)
        self.progress = threading.Condition(self._lock)  # any change, acks included (progress watchers)
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> JobStore:
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
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> JobStore:
        return self.open() if self._db is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise JobError("job store is closed")
        return self._db

    # ------------------------------------------------------------------ reads
    def get(self, job_id: int) -> Job:
        with self._lock:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise JobError(f"no job {job_id}")
        return _job(row)

    def list(self, states: Iterable[str] | None = None, limit: int = 100) -> list[Job]:
        sql, args = "SELECT * FROM jobs", []
        if states:
            states = list(states)
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = states
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self.db.execute(sql, [*args, int(limit)]).fetchall()
        return [_job(r) for r in reversed(rows)]

    def events(self, job_id: int) -> list[tuple[float, str, str | None]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT ts, state, note FROM events WHERE job_id = ? ORDER BY id", (job_id,)
            )
            return [(r["ts"], r["state"], r["note"]) for r in rows.fetchall()]

    # ------------------------------------------------------------------ writes
    def submit(
        self,
        kind: str,
        params: dict,
        gcode: str | None = None,
        device: str = "any",
        stats: dict | None = None,
        held: bool = False,
    ) -> Job:
        """Queue a job (or, `held`, park it paused until released: no worker can take it meanwhile)."""
        if kind not in KINDS:
            raise JobError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")
        if kind == "gcode" and not gcode:
            raise JobError("a gcode job needs G-code")
        try:
            params_json = json.dumps(params, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise JobError(f"job parameters are not JSON: {exc}") from None
        now = self._clock()
        total = len(gcode.splitlines()) if gcode else 0
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO jobs (kind, params, state, pause_reason, device, created, updated, gcode,"
                " lines_total, stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, params_json, "paused" if held else "queued", "user" if held else None, device or "any",
                 now, now, gcode, total, json.dumps(stats or {})),
            )  # fmt: skip
            job_id = int(cur.lastrowid)
            self._event(job_id, "paused" if held else "queued", "submitted" + (" (held)" if held else ""))
            self.changed.notify_all()
            self.progress.notify_all()  # progress watchers (the dashboard) see new jobs too
        return self.get(job_id)

    def transition(self, job_id: int, new: str, note: str | None = None, **fields: object) -> Job:
        """Move a job to `new` (checked against `TRANSITIONS`) and set `fields` in the same transaction."""
        with self._tx():
            old = self.get(job_id)
            check_transition(old.state, new, job_id)
            now = self._clock()
            values = {"state": new, "updated": now, **fields}
            if new == "running" and old.started is None:
                values.setdefault("started", now)
            if new in ("done", "failed", "cancelled", "interrupted"):
                values.setdefault("finished", now)
            if new == "queued":
                values.setdefault("finished", None)
                values.setdefault("error", None)
            if new != "paused":
                values.setdefault("pause_reason", None)
            self._update(job_id, values)
            self._event(job_id, new, note)
            self.changed.notify_all()
            self.progress.notify_all()
            return self.get(job_id)

    def set_fields(self, job_id: int, **fields: object) -> None:
        """Update non-state fields (progress, G-code once planned); never the state."""
        if "state" in fields:
            raise JobError("use transition() to change a job's state")
        with self._lock:
            self._update(job_id, {**fields, "updated": self._clock()})
            self.progress.notify_all()  # `updated` moved: a long poll (`wait_changed`) must see it now

    def record_ack(self, job_id: int, acked: int) -> None:
        """Progress: lines GRBL acknowledged (the resume point itself comes from the journal table)."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE jobs SET acked = ?, updated = ? WHERE id = ? AND acked < ?",
                (acked, self._clock(), job_id, acked),
            )
            if cur.rowcount:
                self.progress.notify_all()

    def wait_changed(self, job_id: int, since: float, timeout: float) -> Job:
        """The job as soon as its `updated` stamp passes `since` (or when `timeout` runs out)."""
        with self.progress:
            self.progress.wait_for(lambda: self.get(job_id).updated > since, timeout)
            return self.get(job_id)

    def claim_next(self, device: str) -> Job | None:
        """Atomically take the oldest queued job this device may run (its own, pinned, or 'any')."""
        with self._tx():
            row = self.db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' AND (device = ? OR (device = 'any' AND"
                " (assigned IS NULL OR assigned = ?))) ORDER BY id LIMIT 1",
                (device, device),
            ).fetchone()
            if row is None:
                return None
            return self.transition(row["id"], "running", f"claimed by {device}", assigned=device)

    def wait_for_work(self, device: str, stop: threading.Event, timeout: float | None = None) -> Job | None:
        """Block until a job is claimable by `device` or `stop` is set (the service notifies on stop)."""
        with self.changed:
            while not stop.is_set():
                job = self.claim_next(device)
                if job is not None:
                    return job
                if not self.changed.wait(timeout):
                    return None
        return None

    def wait_until(self, job_id: int, states: Iterable[str], timeout: float | None = None) -> Job:
        """Block until the job is in one of `states` (every transition notifies); JobError on timeout."""
        wanted = frozenset(states)
        with self.changed:
            ok = self.changed.wait_for(lambda: self.get(job_id).state in wanted, timeout)
            job = self.get(job_id)
        if not ok:
            raise JobError(f"job {job_id} is {job.state}, not {'/'.join(sorted(wanted))}, after {timeout} s")
        return job

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def recover(self) -> list[Job]:
        """On startup: jobs left running (or held in a live feed hold) by a dead daemon become interrupted."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id FROM jobs WHERE state = 'running' OR (state = 'paused' AND pause_reason = 'user'"
                " AND started IS NOT NULL)"
            ).fetchall()
            return [
                self.transition(r["id"], "interrupted", "daemon stopped while the job was on the machine")
                for r in rows
            ]

    # ------------------------------------------------------------------ journal (plotter.grbl.journal sink)
    def journal_append(self, job_id: int, record: dict) -> None:
        """One streamer record (begin/ack/error/end), committed at once: a kill loses nothing GRBL ran."""
        with self._lock:
            self.db.execute(
                "INSERT INTO journal (job_id, record) VALUES (?, ?)", (job_id, json.dumps(record))
            )

    def journal_records(self, job_id: int) -> list[dict]:
        with self._lock:
            rows = self.db.execute("SELECT record FROM journal WHERE job_id = ? ORDER BY seq", (job_id,))
            return [json.loads(r[0]) for r in rows.fetchall()]

    def journal_clear(self, job_id: int) -> None:
        """Forget a job's journal (retry from the top)."""
        with self._lock:
            self.db.execute("DELETE FROM journal WHERE job_id = ?", (job_id,))

    def journal_sink(self, job_id: int) -> JournalSink:
        return JournalSink(self, job_id)

    # ------------------------------------------------------------------ internals
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

    def _update(self, job_id: int, values: dict[str, object]) -> None:
        for key in ("params", "stats"):
            if key in values and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], sort_keys=True)
        cols = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET {cols} WHERE id = ?", [*values.values(), job_id])

    def _event(self, job_id: int, state: str, note: str | None) -> None:
        self.db.execute(
            "INSERT INTO events (job_id, ts, state, note) VALUES (?, ?, ?, ?)",
            (job_id, self._clock(), state, note),
        )


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["params"] = json.loads(d["params"] or "{}")
    d["stats"] = json.loads(d["stats"] or "{}")
    return Job(**d)


class JournalSink:
    """`plotter.grbl.journal.Sink` backed by the jobs file, so the journal survives with the queue."""

    def __init__(self, store: JobStore, job_id: int) -> None:
        self.store, self.job_id = store, job_id

    def append(self, record: dict) -> None:
        self.store.journal_append(self.job_id, record)

    def records(self) -> list[dict]:
        return self.store.journal_records(self.job_id)
