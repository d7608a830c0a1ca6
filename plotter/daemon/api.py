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

from plotter.daemon.limits import LIMITS, ConnectionSlots, Limits, LineReader, decode_request
from plotter.daemon.sockdir import clear_stale_socket, prepare_socket_dir
from plotter.errors import DaemonError, InputLimitError

log = logging.getLogger(__name__)

Handler = Callable[[object], dict]


def _error(message: str) -> dict:
    return {"ok": False, "error": message, "type": "InputLimitError"}


def _reply(handler: Handler, raw: bytes, limits: Limits) -> dict:
    try:
        request = decode_request(raw, limits)
    except InputLimitError as exc:
        return _error(str(exc))
    return handler(request)


class _UnixHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        slots: ConnectionSlots = self.server.slots  # type: ignore[attr-defined]
        if not slots.acquire():
            self._send(_error(f"daemon busy: {slots.limit} connections open; try again"))
            return
        live: set = self.server.live  # type: ignore[attr-defined]
        live.add(self.request)
        try:
            limits: Limits = self.server.limits  # type: ignore[attr-defined]
            reader = LineReader(self.request, limits.max_request, limits.request_timeout_s,
                                limits.idle_timeout_s)  # fmt: skip
            while True:
                try:
                    line = reader.read_line()
                except InputLimitError as exc:  # too large or too slow: answer once, then hang up
                    self._send(_error(str(exc)))
                    return
                if line is None:
                    return
                self._send(_reply(self.server.handler, line, limits))  # type: ignore[attr-defined]
        except OSError:  # the client went away mid-request (Ctrl-C on `plotter draw`): not an error
            log.debug("API client disconnected mid-request")
            return
        finally:
            live.discard(self.request)
            slots.release()

    def _send(self, out: dict) -> None:
        limits: Limits = self.server.limits  # type: ignore[attr-defined]
        self.request.settimeout(limits.request_timeout_s)  # a client that never reads its reply: not held
        self.request.sendall(json.dumps(out).encode() + b"\n")


class _ThreadingUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, limits: Limits) -> None:
        self.request_queue_size = limits.listen_backlog  # socketserver's default is 5
        self.limits = limits
        super().__init__(path, _UnixHandler)


class UnixServer:
    """Serves the API on a Unix socket that only the daemon's user can open (0600 in a 0700 dir it owns)."""

    def __init__(self, path: str | Path, handler: Handler, limits: Limits = LIMITS) -> None:
        self.path = Path(path)
        self.handler = handler
        self.limits = limits
        self._server: _ThreadingUnixServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        prepare_socket_dir(self.path.parent)
        clear_stale_socket(self.path)
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            server = _ThreadingUnixServer(str(self.path), self.limits)
        except OSError as exc:
            raise DaemonError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._inode = os.lstat(self.path).st_ino
        server.handler = self.handler  # type: ignore[attr-defined]
        server.slots = ConnectionSlots(self.limits.max_connections)  # type: ignore[attr-defined]
        server.live = set()  # type: ignore[attr-defined]
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
        for conn in list(self._server.live):  # type: ignore[attr-defined]
            try:  # open connections end with the server, as they would with its process
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None
        try:  # only our own socket: never a file someone put there since
            if os.lstat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass
