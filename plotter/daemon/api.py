"""Control API on a Unix socket (mode 0600, newline-delimited JSON); HTTP lives in `plotter.daemon.web`.

Both hand each request to the same `handler(dict) -> dict` (the `Service`), so they cannot disagree.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

from plotter.errors import DaemonError

log = logging.getLogger(__name__)

Handler = Callable[[object], dict]
MAX_REQUEST = 16 * 1024 * 1024  # a G-code job can be large; anything beyond this is refused


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"op": None, "_bad": f"request is not JSON: {exc}"}


def _reply(handler: Handler, request: object) -> dict:
    if isinstance(request, dict) and "_bad" in request:
        return {"ok": False, "error": request["_bad"], "type": "JobError"}
    return handler(request)


class _UnixHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            self._serve()
        except (ConnectionResetError, BrokenPipeError):  # the client went away (Ctrl-C on `plotter draw`)
            log.debug("API client disconnected mid-request")

    def _serve(self) -> None:
        while True:
            line = self.rfile.readline(MAX_REQUEST + 1)
            if not line:
                return
            if len(line) > MAX_REQUEST:
                out = {"ok": False, "error": "request too large", "type": "JobError"}
            else:
                out = _reply(self.server.handler, _decode(line))  # type: ignore[attr-defined]
            self.wfile.write(json.dumps(out).encode() + b"\n")
            self.wfile.flush()


class _ThreadingUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class UnixServer:
    """Serves the API on a Unix socket that only the daemon's user can open (0600 in a 0700 dir)."""

    def __init__(self, path: str | Path, handler: Handler) -> None:
        self.path = Path(path)
        self.handler = handler
        self._server: _ThreadingUnixServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists() or self.path.is_symlink():
            if _answers(self.path):
                raise DaemonError(f"a daemon is already listening on {self.path}")
            self.path.unlink()  # stale socket of a daemon that was killed
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            server = _ThreadingUnixServer(str(self.path), _UnixHandler)
        except OSError as exc:
            raise DaemonError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        server.handler = self.handler  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="plotter-api-unix", daemon=True
        )
        self._thread.start()
        log.info("control socket %s", self.path)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
