"""Talk to a running daemon over its Unix socket; the CLI falls back to in-process work when none answers."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from plotter import errors
from plotter.daemon.config import default_socket
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
        reply = json.loads(line)
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


def find_daemon(path: str | Path | None = None) -> DaemonClient | None:
    """A connected client when a daemon answers `ping` on the socket, else None (work in-process)."""
    p = Path(path) if path else default_socket()
    if not p.exists():
        return None
    try:
        client = DaemonClient(p, timeout=5.0)
        client.call("ping")
    except (DaemonError, OSError, ValueError):
        return None
    client._sock.settimeout(None)
    return client


class LocalClient:
    """The same calls answered in this process from the jobs file (no daemon running): queue edits only."""

    def __init__(self, config: Any) -> None:
        from plotter.daemon.service import Service

        self.service = Service(config, serve=False, run_workers=False).start()

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
