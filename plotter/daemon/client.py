"""Talk to a running daemon over its Unix socket; the CLI works in-process only when no daemon holds the jobs.

"No answer" is not "no daemon": a daemon starting up (torch takes seconds), busy, or with a full backlog may
not answer at once. The job file's lock (`plotter.daemon.lock`) says whether one runs; while it does, the CLI
waits for it (bounded) and never edits the file itself.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from plotter import errors
from plotter.daemon.config import default_socket
from plotter.daemon.sockdir import check_client_socket
from plotter.errors import DaemonError


class DaemonClient:
    """One connection, newline-delimited JSON; a daemon-side error is re-raised as the same error class."""

    def __init__(self, path: str | Path | None = None, timeout: float = 120.0) -> None:
        self.path = Path(path) if path else default_socket()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(self.path))
        except OSError as exc:
            self._sock.close()
            raise DaemonError(f"no daemon answers on {self.path} ({exc.strerror or exc})") from None
        self._file = self._sock.makefile("rwb")

    def call(self, op: str, **args: Any) -> Any:
        try:
            self._file.write(json.dumps({"op": op, **args}).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except OSError as exc:
            raise DaemonError(f"daemon connection broke: {exc}") from None
        if not line:
            raise DaemonError("the daemon closed the connection (did it stop?)")
        try:
            reply = json.loads(line)
        except ValueError:
            raise DaemonError("the daemon sent a reply that is not JSON") from None
        if not isinstance(reply, dict):
            raise DaemonError("the daemon sent a reply that is not a JSON object")
        if reply.get("ok"):
            return reply.get("result")
        cls = getattr(errors, str(reply.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.PlotterError)):
            cls = errors.PlotterError
        raise cls(reply.get("error", "daemon error"))

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


WAIT_FOR_DAEMON_S = 60.0  # a daemon that holds the job file but does not answer yet: wait this long


def _ping(path: Path) -> DaemonClient | None:
    if not path.exists():
        return None
    check_client_socket(path)  # never a socket or directory another user could have planted
    try:
        client = DaemonClient(path, timeout=10.0)
    except DaemonError:
        return None
    try:
        info = client.call("ping")
    except (DaemonError, OSError):
        client.close()
        return None
    if isinstance(info, dict) and info.get("starting"):
        print(f"the plotter daemon (pid {info.get('pid')}) is starting; waiting for it", file=sys.stderr)
    client._sock.settimeout(None)
    return client


def find_daemon(
    path: str | Path | None = None, lock: str | Path | None = None, wait_s: float | None = None
) -> DaemonClient | None:
    """A connected client when a daemon answers on the socket; None only when none holds the job-file
    `lock` (`plotter.daemon.lock.config_lock_path`), so in-process work is safe. A daemon that holds it
    but does not answer within `wait_s` is a `DaemonError`, never a silent fallback."""
    from plotter.daemon.lock import daemon_holds, describe

    p = Path(path) if path else default_socket()
    deadline = time.monotonic() + (WAIT_FOR_DAEMON_S if wait_s is None else wait_s)
    while True:
        client = _ping(p)
        if client is not None:
            return client
        holder = daemon_holds(Path(lock)) if lock is not None else None
        if holder is None:
            return None
        if time.monotonic() >= deadline:
            raise DaemonError(
                f"{describe(holder)} holds the job file but does not answer on {p}; not editing the job "
                f"file behind its back (is --socket right?)"
            )
        time.sleep(0.2)  # bounded by wait_s: a daemon between taking its lock and listening


class LocalClient:
    """The same calls answered in this process from the jobs file (no daemon running): queue edits only."""

    def __init__(self, config: Any) -> None:
        from plotter.daemon.service import Service

        self.service = Service(config, serve=False, run_workers=False).start()  # takes the job-file lock

    def call(self, op: str, **args: Any) -> Any:
        reply = self.service.handle({"op": op, **args})
        if reply.get("ok"):
            return reply.get("result")
        cls = getattr(errors, str(reply.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.PlotterError)):
            cls = errors.PlotterError
        raise cls(reply.get("error", "error"))

    def close(self) -> None:
        self.service.stop()

    def __enter__(self) -> LocalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
