"""The job-file lock: a running daemon holds it for its whole life, an in-process CLI edit while it edits.

Why a lock and not "no answer on the socket": a daemon that is busy, slow to start (torch takes seconds to
import) or has a full listen backlog does not answer in time, and a CLI that then edited the job file itself
printed "cancelled" while the daemon drew on. `flock` ends with its process, so a killed daemon never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from plotter.errors import DaemonError


def lock_path(store: Path | str) -> Path:
    """`jobs.sqlite3` -> `jobs.sqlite3.lock` (next to the file both sides already agree on)."""
    store = Path(store)
    return store.with_name(store.name + ".lock")


def config_lock_path(config: Any) -> Path:
    """The lock a daemon with this config holds: beside its SQLite file, or beside its socket when the store
    is a PostgreSQL URL (a farm shares the database; each daemon owns its own socket and queue edits)."""
    store = config.store
    if isinstance(store, str) and "://" in store:
        return Path(str(config.socket) + ".lock")
    return lock_path(store)


class JobFileLock:
    """An exclusive `flock` on `path`; the holder writes `ROLE PID` into it so a waiter can say who it is."""

    def __init__(self, path: Path, role: str) -> None:
        self.path = Path(path)
        self.role = role
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if self.role != "probe":  # a probe only asks; it must not overwrite who the holder is
            os.ftruncate(fd, 0)
            os.write(fd, f"{self.role} {os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self, timeout: float = 10.0) -> None:
        """Take it, waiting up to `timeout` s for a short holder (a CLI edit); a daemon holder fails now."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            holder = read_holder(self.path)
            if holder[0] == "daemon" or time.monotonic() >= deadline:
                raise DaemonError(f"the job file is locked by {describe(holder)} ({self.path})")
            time.sleep(0.05)  # a CLI edit lasts milliseconds; this wait is bounded by `timeout`

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def read_holder(path: Path) -> tuple[str, int | None]:
    """(role, pid) written by whoever holds the lock; ("?", None) if unreadable."""
    try:
        role, _, pid = Path(path).read_text(encoding="ascii", errors="replace").strip().partition(" ")
        return role or "?", int(pid) if pid.isdigit() else None
    except OSError:
        return "?", None


def describe(holder: tuple[str, int | None]) -> str:
    role, pid = holder
    names = {"daemon": "a running plotter daemon", "cli": "another plotter command"}
    who = names.get(role, "another process")
    return f"{who} (pid {pid})" if pid else who


def daemon_holds(path: Path) -> tuple[str, int | None] | None:
    """The holder if a daemon (or anyone) holds the lock now, else None (nobody: safe to edit in-process)."""
    probe = JobFileLock(path, "probe")
    try:
        if probe.try_acquire():
            probe.release()
            return None
    except OSError:
        return None
    return read_holder(path)
