"""Request limits for every transport of the control API (Unix socket, HTTP, whatever serves HTTP next).

What a hostile or broken client can do to a server, and the rule here that stops it:

- a huge body or line: `MAX_REQUEST_BYTES` (`plotter.limits`), checked before reading it (HTTP
  `Content-Length`, `content_length()`) or while reading it (socket line, `LineReader`);
- a deep `[[[[...` or a 5000-digit number: `decode_request()` -> `plotter.limits.parse_json` (linear depth
  scan before the recursive parser, number length, no NaN/Infinity): an error reply, never a traceback;
- `Content-Length: -1`, `abc`, chunked bodies: `content_length()` refuses them (400), never reads forever;
- slowloris (a request sent a byte at a time, or headers never finished): a request must arrive whole within
  `REQUEST_TIMEOUT_S` of its first byte (`LineReader` on the socket; `Watchdog` around HTTP headers + body),
  an idle connection is closed after `IDLE_TIMEOUT_S`;
- thousands of connections: at most `MAX_CONNECTIONS` served at once (`ConnectionSlots`); beyond that a
  one-line "busy" reply, and the listen backlog is `LISTEN_BACKLOG` (was 5: clients found no daemon and the
  CLI edited the job file under a running daemon).

An HTTP framework (Starlette/uvicorn) applies the same numbers: `decode_request` on the body, `content_length`
on the header, `REQUEST_TIMEOUT_S` as its header/body timeout and `MAX_CONNECTIONS` as its concurrency limit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from plotter.errors import InputLimitError
from plotter.limits import MAX_REQUEST_BYTES, parse_json

LISTEN_BACKLOG = 128
MAX_CONNECTIONS = 256
REQUEST_TIMEOUT_S = 20.0  # from a request's first byte to its last (headers + body, or one socket line)
IDLE_TIMEOUT_S = 900.0  # between requests on a kept-open socket connection (`plotter draw` asks "Draw it?")


def decode_request(raw: bytes | str) -> object:
    """One request body -> JSON object; `InputLimitError` (one line) for anything over the limits."""
    return parse_json(raw, "request")


def content_length(value: str | None, transfer_encoding: str | None = None) -> int:
    """A validated `Content-Length` (0 when absent); negative, non-numeric or oversized ones are refused."""
    if transfer_encoding and transfer_encoding.strip().lower() != "identity":
        raise InputLimitError(
            f"Transfer-Encoding {transfer_encoding[:20]!r} is not supported; send Content-Length"
        )
    if value is None or value.strip() == "":
        return 0
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        raise InputLimitError(f"bad Content-Length {text[:20]!r}")
    size = int(text)
    if size > MAX_REQUEST_BYTES:
        raise InputLimitError(f"request too large: {size} bytes (at most {MAX_REQUEST_BYTES})")
    return size


class RequestTooSlow(InputLimitError):
    """A request did not arrive whole within `REQUEST_TIMEOUT_S` of its first byte."""


class LineReader:
    """Newline-delimited requests from a socket, each bounded in size and in time (slowloris-proof).

    `clock` is injectable so that the deadline logic is tested without waiting."""

    def __init__(
        self,
        sock: socket.socket,
        max_bytes: int = MAX_REQUEST_BYTES,
        request_timeout: float = REQUEST_TIMEOUT_S,
        idle_timeout: float = IDLE_TIMEOUT_S,
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
                raise InputLimitError(f"request too large (more than {self.max_bytes} bytes)")
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


class Watchdog:
    """Shuts a connection down unless `cancel()`ed within `seconds`: bounds a whole HTTP request's headers and
    body, which a per-recv timeout cannot (a client sending one byte every few seconds never trips that)."""

    def __init__(self, sock: socket.socket, seconds: float = REQUEST_TIMEOUT_S) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def start(self) -> Watchdog:
        self._timer.start()
        return self

    def _fire(self) -> None:
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()


class ConnectionSlots:
    """At most `limit` connections served at once; `acquire()` never blocks (a full server says busy)."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self._sem = threading.BoundedSemaphore(limit)
        self.limit = limit

    def acquire(self) -> bool:
        return self._sem.acquire(blocking=False)

    def release(self) -> None:
        self._sem.release()
