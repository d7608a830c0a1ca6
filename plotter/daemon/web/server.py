"""uvicorn on a thread of the daemon, with the socket bound up front (errors at start, port 0 works).

Why a thread and not uvicorn's own process model: the daemon owns the serial ports, the job file and the
loaded models; the web side is one more transport onto the same `Service`, started and stopped with it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from typing import Any

from plotter.daemon.config import HttpConfig
from plotter.daemon.limits import LIMITS, Limits
from plotter.daemon.live import LiveHub
from plotter.errors import DaemonError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _protocol(limits: Limits) -> type:
    """uvicorn's h11 protocol plus a header timeout: a connection that does not finish a request's headers
    within `limits.request_timeout_s` (first request, or the next on a kept-alive connection) is closed."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            cycle = self.cycle
            self.loop.call_later(limits.request_timeout_s, self._expire, cycle)

        def _expire(self, cycle: Any) -> None:
            waiting = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return Protocol


class WebServer:
    """The JSON API, live events and dashboard on `http.host:http.port`; every API call needs the token."""

    def __init__(self, config: HttpConfig, handler: Any, hub: LiveHub | None = None,
                 limits: Limits = LIMITS) -> None:
        if not config.token:
            raise DaemonError("HTTP API needs a token")
        self.config = config
        self.handler = handler
        self.hub = hub or LiveHub()
        self.limits = limits
        self.port = config.port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def start(self) -> None:
        import uvicorn

        from plotter.daemon.web.app import build_app

        host = self.config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, self.config.port))
            sock.listen(self.limits.listen_backlog)
        except OSError as exc:
            sock.close()
            raise DaemonError(f"cannot listen on {host}:{self.config.port}: {exc.strerror or exc}") from None
        self.port = sock.getsockname()[1]
        app = build_app(self.handler, self.config.token or "", self.hub, self.limits)
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", http=_protocol(self.limits), access_log=False,
            timeout_keep_alive=self.limits.keep_alive_s, timeout_graceful_shutdown=2,
            limit_concurrency=self.limits.max_connections + 1,  # uvicorn counts the one asking too
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="plotter-api-http", daemon=True
        )
        self._thread.start()
        if not is_loopback(host):
            log.warning(
                "http.host %s is not a loopback address: anyone on that network who has the token can "
                "drive the plotters, over plain HTTP (put a TLS proxy in front on an untrusted network)", host
            )
        log.info("dashboard and HTTP API on %s", self.url)

    def _run(self, sock: socket.socket) -> None:
        asyncio.run(self._server.serve(sockets=[sock]))
        sock.close()

    def stop(self) -> None:
        if self._server is None:
            return
        self.hub.close()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = None
