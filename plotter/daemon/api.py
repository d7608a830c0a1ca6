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
from urllib.parse import parse_qs, urlsplit

from plotter.daemon.config import HttpConfig
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

    def _request(self, method: str) -> object:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        body: object = {}
        if method == "POST":
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_REQUEST:
                return {"_bad": "request too large"}
            body = _decode(self.rfile.read(size)) if size else {}
            if not isinstance(body, dict):
                return {"_bad": "request body must be a JSON object"}
            if "_bad" in body:
                return body
        return _route(method, parts, query, body)

    def _dispatch(self, method: str) -> None:
        if not self._authorised():
            return
        request = self._request(method)
        if request is None:
            self._send(404, {"ok": False, "error": f"no route {method} {self.path}", "type": "JobError"})
            return
        out = _reply(self.server.handler, request)  # type: ignore[attr-defined]
        self._send(200 if out.get("ok") else 400, out)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


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
            server = ThreadingHTTPServer((self.config.host, self.config.port), _HttpHandler)
        except OSError as exc:
            raise DaemonError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}"
            ) from None
        server.daemon_threads = True
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
