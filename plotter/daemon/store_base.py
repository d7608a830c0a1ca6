"""The job store's contract, shared by its two databases: SQLite (one file, one daemon) and PostgreSQL
(a farm of daemons).

Every state change goes through `StoreBase.transition`, which checks `TRANSITIONS` so that an illegal request
(resume a finished job, cancel twice) is refused in one place with a `JobError`. The daemon can be killed at
any moment: the database is the truth, and `recover()` turns what the dead daemon left running into
`interrupted`. The SQL here is the portable part (`?` placeholders, rows as dicts); a subclass supplies the
connection, transactions, how a job is claimed (`BEGIN IMMEDIATE` vs `FOR UPDATE SKIP LOCKED` plus a lease)
and how other processes hear about changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from plotter.errors import JobError

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
# A paused job whose stream is still open on its machine: a user's feed hold ("user"), a pause at the next pen
# lift ("lift", the pen up), GRBL waiting at a pen change's M0 ("pen-change"). `resume` is a cycle start.
HELD_ON_MACHINE = ("user", "lift", "pen-change")
# jobs whose stream is (or was, when the daemon died) open on a machine: what recovery makes `interrupted`
ON_MACHINE = ("(state = 'running' OR (state = 'paused' AND pause_reason IN ('user', 'lift', 'pen-change')"
              " AND started IS NOT NULL))")


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
    host: str | None = None  # the daemon that claimed it (a PostgreSQL farm); None in a SQLite file

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


def job_from_row(row: dict[str, Any]) -> Job:
    d = {k: v for k, v in row.items() if k in Job.__dataclass_fields__}
    d["params"] = json.loads(d["params"] or "{}")
    d["stats"] = json.loads(d["stats"] or "{}")
    return Job(**d)


class StoreBase:
    """Thread-safe access to the queue; `changed` is notified whenever a job becomes claimable.

    Subclasses implement `_open`, `_close`, `_q` (run SQL with `?` placeholders: rows as dicts for a query,
    [] otherwise), `_rowcount` and `_tx` (one transaction; nested calls join the outer one).
    """

    label = "job store"
    skip_locked = ""  # appended to the claim's SELECT (PostgreSQL: FOR UPDATE SKIP LOCKED)
    lock_row = ""  # appended to a transition's SELECT (PostgreSQL: FOR UPDATE)
    recheck_s: float | None = None  # wake waiters this often even without a notice (other hosts)

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)  # a job changed state (workers wait on this)
        self.progress = threading.Condition(self._lock)  # any change, acks included (progress watchers)
        self._is_open = False

    # ------------------------------------------------------------------ for subclasses
    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _q(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _rowcount(self, sql: str, args: Sequence[object] = ()) -> int:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _insert_job(self, values: dict[str, object]) -> int:
        cols = ", ".join(values)
        rows = self._q(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * len(values))}) RETURNING id",
                       list(values.values()))  # fmt: skip
        return int(rows[0]["id"])

    def _claim_fields(self) -> dict[str, object]:
        """Columns a claim sets besides the state (PostgreSQL: the host and its lease)."""
        return {}

    def _recover_scope(self) -> tuple[str, list[object]]:
        """Which of the jobs left on a machine are this daemon's to recover (SQL, args)."""
        return "", []

    def _notify(self, what: str) -> None:
        """Tell other processes sharing the database ("state" or "progress"); local waiters are notified."""

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> StoreBase:
        with self._lock:
            if not self._is_open:
                self._open()
                self._is_open = True
        return self

    def close(self) -> None:
        """Close; `_close` runs without the lock held, so helper threads that need it can finish."""
        with self._lock:
            if not self._is_open:
                return
            self._is_open = False
        self._close()

    def __enter__(self) -> StoreBase:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if not self._is_open:
            raise JobError(f"{self.label} is closed")

    # ------------------------------------------------------------------ reads
    def get(self, job_id: int) -> Job:
        with self._lock:
            self._check_open()
            rows = self._q("SELECT * FROM jobs WHERE id = ?", (int(job_id),))
        if not rows:
            raise JobError(f"no job {job_id}")
        return job_from_row(rows[0])

    def list(self, states: Iterable[str] | None = None, limit: int = 100) -> list[Job]:
        sql, args = "SELECT * FROM jobs", []
        if states:
            args = list(states)
            sql += f" WHERE state IN ({','.join('?' * len(args))})"
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            self._check_open()
            rows = self._q(sql, [*args, int(limit)])
        return [job_from_row(r) for r in reversed(rows)]

    def events(self, job_id: int) -> list[tuple[float, str, str | None]]:
        with self._lock:
            rows = self._q("SELECT ts, state, note FROM events WHERE job_id = ? ORDER BY id", (job_id,))
        return [(r["ts"], r["state"], r["note"]) for r in rows]

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
        state = "paused" if held else "queued"
        with self._tx():
            job_id = self._insert_job({
                "kind": kind, "params": params_json, "state": state, "pause_reason": "user" if held else None,
                "device": device or "any", "created": now, "updated": now, "gcode": gcode,
                "lines_total": len(gcode.splitlines()) if gcode else 0, "stats": json.dumps(stats or {}),
            })  # fmt: skip
            self._event(job_id, state, "submitted" + (" (held)" if held else ""))
            self._notify("state")
            self.changed.notify_all()
            self.progress.notify_all()  # progress watchers (the dashboard) see new jobs too
        return self.get(job_id)

    def transition(self, job_id: int, new: str, note: str | None = None, **fields: object) -> Job:
        """Move a job to `new` (checked against `TRANSITIONS`) and set `fields` in the same transaction."""
        with self._tx():
            rows = self._q("SELECT state, started FROM jobs WHERE id = ?" + self.lock_row, (int(job_id),))
            if not rows:
                raise JobError(f"no job {job_id}")
            old_state, started = rows[0]["state"], rows[0]["started"]
            check_transition(old_state, new, job_id)
            now = self._clock()
            values = {"state": new, "updated": now, **fields}
            if new == "running" and started is None:
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
            self._notify("state")
            self.changed.notify_all()
            self.progress.notify_all()
            return self.get(job_id)

    def set_fields(self, job_id: int, **fields: object) -> None:
        """Update non-state fields (progress, G-code once planned); never the state."""
        if "state" in fields:
            raise JobError("use transition() to change a job's state")
        with self._lock:
            self._update(job_id, {**fields, "updated": self._clock()})
            self._notify("progress")
            self.progress.notify_all()  # `updated` moved: a long poll (`wait_changed`) must see it now

    def record_ack(self, job_id: int, acked: int) -> None:
        """Progress: lines GRBL acknowledged (the resume point itself comes from the journal table)."""
        with self._lock:
            n = self._rowcount(
                "UPDATE jobs SET acked = ?, updated = ? WHERE id = ? AND acked < ?",
                (acked, self._clock(), job_id, acked),
            )
            if n:
                self._notify("progress")
                self.progress.notify_all()

    def claim_next(self, device: str) -> Job | None:
        """Atomically take the oldest queued job this device may run (its own, pinned, or 'any')."""
        with self._tx():
            rows = self._q(
                "SELECT id FROM jobs WHERE state = 'queued' AND (device = ? OR (device = 'any' AND"
                " (assigned IS NULL OR assigned = ?))) ORDER BY id LIMIT 1" + self.skip_locked,
                (device, device),
            )
            if not rows:
                return None
            return self.transition(
                rows[0]["id"], "running", f"claimed by {device}", assigned=device, **self._claim_fields()
            )

    def recover(self) -> list[Job]:
        """On startup: jobs left running (or held in a live feed hold) by a dead daemon become interrupted."""
        scope, args = self._recover_scope()
        with self._tx():
            rows = self._q(f"SELECT id FROM jobs WHERE {ON_MACHINE}{scope} ORDER BY id", args)
            return [
                self.transition(r["id"], "interrupted", "daemon stopped while the job was on the machine")
                for r in rows
            ]

    # ------------------------------------------------------------------ waiting
    def wait_changed(self, job_id: int, since: float, timeout: float) -> Job:
        """The job as soon as its `updated` stamp passes `since` (or when `timeout` runs out)."""
        with self.progress:
            self._wait(self.progress, lambda: self.get(job_id).updated > since, timeout)
            return self.get(job_id)

    def wait_for_work(self, device: str, stop: threading.Event, timeout: float | None = None,
                      claim: Callable[[str], Job | None] | None = None) -> Job | None:
        """Block until a job is claimable by `device` or `stop` is set (the service notifies on stop).
        `claim` (default `claim_next`) lets a worker own the job in the same step it claims it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            while not stop.is_set():
                job = (claim or self.claim_next)(device)
                if job is not None:
                    return job
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                waits = [w for w in (left, self.recheck_s) if w is not None]
                self.changed.wait(min(waits) if waits else None)
        return None

    def wait_until(self, job_id: int, states: Iterable[str], timeout: float | None = None) -> Job:
        """Block until the job is in one of `states` (every transition notifies); JobError on timeout."""
        wanted = frozenset(states)
        with self.changed:
            ok = self._wait(self.changed, lambda: self.get(job_id).state in wanted, timeout)
            job = self.get(job_id)
        if not ok:
            raise JobError(f"job {job_id} is {job.state}, not {'/'.join(sorted(wanted))}, after {timeout} s")
        return job

    def _wait(self, cond: threading.Condition, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """`cond.wait_for`, re-checking every `recheck_s` (a notice from another host may be lost)."""
        if self.recheck_s is None:
            return cond.wait_for(predicate, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not predicate():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            cond.wait(self.recheck_s if left is None else min(left, self.recheck_s))
        return True

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # ------------------------------------------------------------------ journal (plotter.grbl.journal sink)
    def journal_append(self, job_id: int, record: dict) -> None:
        """One streamer record (begin/ack/error/end), committed at once: a kill loses nothing GRBL ran."""
        with self._lock:
            self._q("INSERT INTO journal (job_id, record) VALUES (?, ?)", (job_id, json.dumps(record)))

    def journal_records(self, job_id: int) -> list[dict]:
        with self._lock:
            rows = self._q("SELECT record FROM journal WHERE job_id = ? ORDER BY seq", (job_id,))
        return [json.loads(r["record"]) for r in rows]

    def journal_clear(self, job_id: int) -> None:
        """Forget a job's journal (retry from the top)."""
        with self._lock:
            self._q("DELETE FROM journal WHERE job_id = ?", (job_id,))

    def journal_sink(self, job_id: int) -> JournalSink:
        return JournalSink(self, job_id)

    # ------------------------------------------------------------------ internals
    def _update(self, job_id: int, values: dict[str, object]) -> None:
        for key in ("params", "stats"):
            if key in values and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], sort_keys=True)
        cols = ", ".join(f"{k} = ?" for k in values)
        self._q(f"UPDATE jobs SET {cols} WHERE id = ?", [*values.values(), job_id])

    def _event(self, job_id: int, state: str, note: str | None) -> None:
        self._q(
            "INSERT INTO events (job_id, ts, state, note) VALUES (?, ?, ?, ?)",
            (job_id, self._clock(), state, note),
        )


class JournalSink:
    """`plotter.grbl.journal.Sink` backed by the job store, so the journal survives with the queue."""

    def __init__(self, store: StoreBase, job_id: int) -> None:
        self.store, self.job_id = store, job_id

    def append(self, record: dict) -> None:
        self.store.journal_append(self.job_id, record)

    def records(self) -> list[dict]:
        return self.store.journal_records(self.job_id)

