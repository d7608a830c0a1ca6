"""Control API transports: a Unix socket (mode 0600, newline-delimited JSON) and optional localhost HTTP.

Both hand each request to the same `handler(dict) -> dict` (the `Service`). HTTP is guarded by a bearer token
compared in constant time; a missing or wrong token gets 401 and never reaches the handler.

HTTP routes: GET /v1/jobs[?state=queued,running], GET /v1/jobs/<id>, POST /v1/jobs (submit body),
POST /v1/jobs/<id>/{pause,resume,cancel,retry}, GET /v1/devices, GET /v1/ping, POST /v1/rpc (any request).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from plotter.daemon.config import HttpConfig
from plotter.daemon.limits import (
    LISTEN_BACKLOG,
    REQUEST_TIMEOUT_S,
    ConnectionSlots,
    LineReader,
    Watchdog,
    content_length,
    decode_request,
)
from plotter.daemon.sockdir import clear_stale_socket, prepare_socket_dir
from plotter.errors import DaemonError, InputLimitError
from plotter.limits import MAX_REQUEST_BYTES

log = logging.getLogger(__name__)

Handler = Callable[[object], dict]
MAX_REQUEST = MAX_REQUEST_BYTES  # kept for callers; the limits live in plotter.limits / plotter.daemon.limits


def _error(message: str) -> dict:
    return {"ok": False, "error": message, "type": "InputLimitError"}


def _reply(handler: Handler, raw: bytes) -> dict:
    try:
        request = decode_request(raw)
    except InputLimitError as exc:
        return _error(str(exc))
    return handler(request)


class _UnixHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        slots: ConnectionSlots = self.server.slots  # type: ignore[attr-defined]
        if not slots.acquire():
            self._send(_error(f"daemon busy: {slots.limit} connections open; try again"))
            return
        try:
            reader = LineReader(self.request)
            while True:
                try:
                    line = reader.read_line()
                except InputLimitError as exc:  # too large or too slow: answer once, then hang up
                    self._send(_error(str(exc)))
                    return
                if line is None:
                    return
                self._send(_reply(self.server.handler, line))  # type: ignore[attr-defined]
        except OSError:  # the client went away mid-reply
            return
        finally:
            slots.release()

    def _send(self, out: dict) -> None:
        self.request.settimeout(REQUEST_TIMEOUT_S)  # a client that never reads its reply cannot hold us
        self.request.sendall(json.dumps(out).encode() + b"\n")


class _ThreadingUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG  # socketserver's default is 5


class UnixServer:
    """Serves the API on a Unix socket that only the daemon's user can open (0600 in a 0700 dir it owns)."""

    def __init__(self, path: str | Path, handler: Handler) -> None:
        self.path = Path(path)
        self.handler = handler
        self._server: _ThreadingUnixServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        prepare_socket_dir(self.path.parent)
        clear_stale_socket(self.path)
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            server = _ThreadingUnixServer(str(self.path), _UnixHandler)
        except OSError as exc:
            raise DaemonError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._inode = os.lstat(self.path).st_ino
        server.handler = self.handler  # type: ignore[attr-defined]
        server.slots = ConnectionSlots()  # type: ignore[attr-defined]
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
        try:  # only our own socket: never a file someone put there since
            if os.lstat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass


class _HttpHandler(BaseHTTPRequestHandler):
    server_version = "plotterd"

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("http: " + fmt, *args)

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="plotterd"')
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        token: str = self.server.token  # type: ignore[attr-defined]
        got = self.headers.get("Authorization", "")
        scheme, _, value = got.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
        if not ok:
            self._send(401, {"ok": False, "error": "missing or wrong bearer token", "type": "DaemonError"})
        return ok

    def setup(self) -> None:
        super().setup()
        # the whole request (headers and body) must arrive within REQUEST_TIMEOUT_S: slowloris-proof
        self.watchdog = Watchdog(self.connection, REQUEST_TIMEOUT_S).start()

    def finish(self) -> None:
        self.watchdog.cancel()
        super().finish()

    def _request(self, method: str) -> object:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        body: object = {}
        if method == "POST":
            size = content_length(self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding"))
            raw = self.rfile.read(size) if size else b"{}"
            if len(raw) < size:
                raise InputLimitError("request body ended early")
            body = decode_request(raw)
            if not isinstance(body, dict):
                raise InputLimitError("request body must be a JSON object")
        return _route(method, parts, query, body)

    def _dispatch(self, method: str) -> None:
        if not self._authorised():
            return
        try:
            request = self._request(method)
        except InputLimitError as exc:
            status = 413 if "too large" in str(exc) else 400
            self.watchdog.cancel()
            self._send(status, _error(str(exc)))
            return
        self.watchdog.cancel()  # the request is in; a long poll (`wait`) may take its time now
        if request is None:
            self._send(404, {"ok": False, "error": f"no route {method} {self.path}", "type": "JobError"})
            return
        out = self.server.handler(request)  # type: ignore[attr-defined]
        self._send(200 if out.get("ok") else 400, out)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


class _HttpServer(ThreadingHTTPServer):
    """Backlog, IPv6 loopback (`::1`), and at most `MAX_CONNECTIONS` requests served at once (503 beyond)."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.slots = ConnectionSlots()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire():
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _route(method: str, parts: list[str], query: dict, body: dict) -> object:
    if not parts or parts[0] != "v1":
        return None
    rest = parts[1:]
    if method == "GET" and rest == ["jobs"]:
        states = [s for v in query.get("state", []) for s in v.split(",") if s]
        return {"op": "list", "states": states or None}
    if method == "GET" and len(rest) == 2 and rest[0] == "jobs":
        return {"op": "show", "id": _int(rest[1]), "gcode": "gcode" in query}
    if method == "GET" and rest in (["devices"], ["ping"]):
        return {"op": rest[0]}
    if method == "POST" and rest == ["jobs"]:
        return {**body, "op": "submit"}
    if method == "POST" and len(rest) == 3 and rest[0] == "jobs":
        return {**body, "op": rest[2], "id": _int(rest[1])}
    if method == "POST" and rest == ["rpc"]:
        return body
    return None


def _int(text: str) -> int | str:
    return int(text) if text.isdigit() else text


class HttpServer:
    """Localhost-only HTTP for dashboards and scripts; every request needs `Authorization: Bearer <token>`."""

    def __init__(self, config: HttpConfig, handler: Handler) -> None:
        if not config.token:
            raise DaemonError("HTTP API needs a token")
        self.config = config
        self.handler = handler
        self._server: ThreadingHTTPServer | None = None
        self.port = config.port

    def start(self) -> None:
        try:
            server = _HttpServer((self.config.host, self.config.port), _HttpHandler)
        except (OSError, ValueError) as exc:
            raise DaemonError(
                f"cannot listen on {self.config.host}:{self.config.port}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
        server.handler = self.handler  # type: ignore[attr-defined]
        server.token = self.config.token  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.1,), name="plotter-api-http", daemon=True
        ).start()
        log.info("HTTP API on http://%s:%d/v1/", self.config.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
