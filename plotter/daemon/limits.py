"""Request limits for every transport of the control API: the one place their numbers live.

The Unix socket (`plotter.daemon.api`) and the HTTP/ASGI layer (`plotter.daemon.web`: Starlette on uvicorn)
both take a `Limits` (default `LIMITS`), so they refuse the same things with the same line. The JSON numbers
(size, depth, number length) are `plotter.limits`' own, shared with everything else read from outside.

What a hostile or broken client can do to a server, and the rule here that stops it:

- a huge body or line: `max_request` bytes, checked before reading it (HTTP `Content-Length`) or while
  reading it (socket line, `LineReader`; a chunked HTTP body as it streams in): `RequestTooLarge` (413);
- a deep `[[[[...` or a 5000-digit number: `decode_request()` -> `plotter.limits.parse_json` (linear depth
  scan before the recursive parser, number length, no NaN/Infinity): an error reply, never a traceback;
- slowloris (a request sent a byte at a time, or headers never finished): a socket line must arrive whole
  within `request_timeout_s` of its first byte (`LineReader`); over HTTP the headers, and then the body, each
  within it. An idle socket connection is closed after `idle_timeout_s`, an idle HTTP keep-alive one after
  `keep_alive_s`;
- thousands of connections: at most `max_connections` served at once (`ConnectionSlots` on the socket,
  uvicorn's concurrency limit over HTTP); beyond that a one-line "busy" reply (HTTP 503), and the listen
  backlog is `listen_backlog` (was 5: clients found no daemon and the CLI edited the job file under a running
  daemon).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from plotter.errors import InputLimitError
from plotter.limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, MAX_REQUEST_BYTES, parse_json


@dataclass(frozen=True)
class Limits:
    """What one client may send and hold, for both transports; tests pass smaller ones."""

    max_request: int = MAX_REQUEST_BYTES  # bytes in a request (socket line, HTTP body): G-code jobs are big
    max_depth: int = MAX_JSON_DEPTH  # JSON nesting (a draw job's sketches are 6 deep)
    max_number: int = MAX_NUMBER_CHARS  # characters in one JSON number literal
    request_timeout_s: float = 20.0  # a socket line from its first byte to its last; HTTP headers; HTTP body
    idle_timeout_s: float = 900.0  # between requests on a kept-open socket (`plotter draw` asks "Draw it?")
    keep_alive_s: int = 5  # an idle HTTP keep-alive connection is closed after this
    max_connections: int = 256  # served at once per transport (event streams included)
    listen_backlog: int = 128  # pending connects the kernel queues (socketserver's default is 5)


LIMITS = Limits()


class RequestTooLarge(InputLimitError):
    """The request is over `Limits.max_request` bytes (HTTP 413)."""


def decode_request(raw: bytes | str, limits: Limits = LIMITS) -> object:
    """One request body -> JSON; `InputLimitError` (one line) for anything over the limits."""
    if len(raw) > limits.max_request:
        raise RequestTooLarge(f"request too large: {len(raw)} bytes (at most {limits.max_request})")
    return parse_json(raw, "request", max_depth=limits.max_depth, max_number=limits.max_number)


class RequestTooSlow(InputLimitError):
    """A request did not arrive whole within `Limits.request_timeout_s` of its first byte."""


class LineReader:
    """Newline-delimited requests from a socket, each bounded in size and in time (slowloris-proof).

    `clock` is injectable so that the deadline logic is tested without waiting."""

    def __init__(
        self,
        sock: socket.socket,
        max_bytes: int = LIMITS.max_request,
        request_timeout: float = LIMITS.request_timeout_s,
        idle_timeout: float = LIMITS.idle_timeout_s,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sock = sock
        self.max_bytes = max_bytes
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._buf = bytearray()

    def read_line(self) -> bytes | None:
        """The next line (without its newline); None at EOF or after `idle_timeout` with nothing sent.

        Raises `InputLimitError` for a line over `max_bytes` and `RequestTooSlow` past the deadline."""
        deadline: float | None = self.clock() + self.request_timeout if self._buf else None
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > self.max_bytes:
                raise RequestTooLarge(f"request too large (more than {self.max_bytes} bytes)")
            if deadline is None:
                wait = self.idle_timeout
            else:
                wait = deadline - self.clock()
                if wait <= 0:
                    raise RequestTooSlow(f"request not complete within {self.request_timeout:g} s")
            self.sock.settimeout(wait)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if deadline is None:
                    return None  # idle too long: close quietly
                continue  # loop: the deadline check raises
            if not chunk:
                return None
            if deadline is None:
                deadline = self.clock() + self.request_timeout
            self._buf += chunk


class ConnectionSlots:
    """At most `limit` connections served at once; `acquire()` never blocks (a full server says busy)."""

    def __init__(self, limit: int = LIMITS.max_connections) -> None:
        self._sem = threading.BoundedSemaphore(limit)
        self.limit = limit

    def acquire(self) -> bool:
        return self._sem.acquire(blocking=False)

    def release(self) -> None:
        self._sem.release()
