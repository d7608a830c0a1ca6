"""Line I/O with GRBL over any serial-like object: read whole lines with a deadline, send one command.

The streamer's loop and `connect` share this layer. Time comes from the port when it has a clock (the
simulator's virtual clock, where a blocking read advances time), else from `time.monotonic`, so the same
code runs a 10,000-line job in virtual time in tests and in real time on a USB port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from plotter.grbl.protocol import Alarm, Banner, Error, Ok, Response, Status, parse_line
from plotter.grbl.results import AlarmError, CommandError, PortLostError, ResetError

log = logging.getLogger(__name__)

RESET = b"\x18"
HOLD = b"!"
RESUME = b"~"
STATUS = b"?"
MIN_POLL = 0.2  # seconds between `?`: 5 Hz at most
IO_ERRORS = (serial.SerialException, OSError)


def port_clock(port: object) -> Callable[[], float]:
    """The port's own time source (`port.clock`, the simulator's `port.link.clock`), else monotonic."""
    for owner in (port, getattr(port, "link", None), getattr(port, "machine", None)):
        clock = getattr(owner, "clock", None) if owner is not None else None
        if callable(clock):
            return clock
        now = getattr(clock, "now", None)
        if callable(now):
            return now
    return time.monotonic


class Link:
    """One open port: write bytes, read parsed lines with a timeout, remember the last status report."""

    def __init__(self, port: object, *, read_timeout: float = 0.05, clock: Callable[[], float] | None = None):
        self.port = port
        self.clock = clock or port_clock(port)
        self.read_timeout = read_timeout
        self.last_status: Status | None = None
        self.last_rx = self.clock()
        self._last_poll = -1e18
        self._buf = bytearray()
        self._write_lock = threading.Lock()
        try:
            port.timeout = read_timeout  # type: ignore[attr-defined]
        except (AttributeError, ValueError):
            pass
        self.on_line: Callable[[str], None] | None = None  # raw-line tap for logs and tests

    def write(self, data: bytes) -> None:
        """Write and flush; a vanished port becomes `PortLostError`."""
        try:
            with self._write_lock:
                self.port.write(data)  # type: ignore[attr-defined]
        except IO_ERRORS as exc:
            raise PortLostError(f"serial port lost while writing: {exc}") from exc

    def poll(self, interval: float = MIN_POLL) -> bool:
        """Send `?` unless one went out less than `interval` ago: GRBL is never asked faster than 5 Hz."""
        now = self.clock()
        if now - self._last_poll < max(interval, MIN_POLL):
            return False
        self._last_poll = now
        self.write(STATUS)
        return True

    def readline(self) -> str | None:
        """One complete line (without its ending), or None after about `read_timeout` without one."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[:nl + 1]
                text = raw.decode("ascii", errors="replace")
                if text.strip():
                    self.last_rx = self.clock()
                    if self.on_line:
                        self.on_line(text)
                    return text
                continue
            try:
                waiting = self.port.in_waiting  # type: ignore[attr-defined]
                chunk = self.port.read(waiting or 1)  # type: ignore[attr-defined]
            except IO_ERRORS as exc:
                raise PortLostError(f"serial port lost while reading: {exc}") from exc
            except TypeError as exc:  # pyserial on a closed fd raises TypeError in select()
                raise PortLostError(f"serial port lost while reading: {exc}") from exc
            if not chunk:
                return None
            self._buf.extend(chunk)

    def read_response(self) -> Response | None:
        """Like `readline`, parsed; status reports are remembered as `last_status`."""
        text = self.readline()
        if text is None:
            return None
        response = parse_line(text)
        if isinstance(response, Status):
            self.last_status = response
        return response

    def wait_for(self, predicate: Callable[[Response], bool], timeout: float,
                 poll: float | None = None) -> Response | None:
        """Read until a response satisfies `predicate` or `timeout` seconds of port time pass.

        With `poll` set, sends `?` every `poll` seconds meanwhile (≤ 5 Hz keeps GRBL's serial quiet).
        """
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if poll is not None:
                self.poll(poll)
            response = self.read_response()
            if response is not None and predicate(response):
                return response
        return None

    def status(self, timeout: float = 1.0) -> Status | None:
        """Ask `?` and wait for the report."""
        got = self.wait_for(lambda r: isinstance(r, Status), timeout, poll=0.25)
        return got if isinstance(got, Status) else None

    def command(self, line: str, timeout: float = 5.0, moving: bool = False) -> list[Response]:
        """Send one line send-response style; return what came before its `ok`.

        `moving`: the line may follow motion (a resume preamble): GRBL answers a line that empties its planner
        (G4, M3/M5) only once the moves before it have run, so `?` is asked meanwhile and the `timeout`
        counts from the last report of a busy machine, not from the write.
        Raises `CommandError` on `error:N`, `AlarmError` on `ALARM:N`, `ResetError` on a banner.
        """
        self.write(line.encode("ascii") + b"\n")
        collected: list[Response] = []
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if moving:
                self.poll()
            response = self.read_response()
            if moving and isinstance(response, Status) and response.state in ("Run", "Jog", "Hold", "Home"):
                deadline = self.clock() + timeout
            if response is None or isinstance(response, Status):
                continue
            if isinstance(response, Ok):
                return collected
            if isinstance(response, Error):
                raise CommandError(f"GRBL refused {line!r}: {response.text}")
            if isinstance(response, Alarm):
                raise AlarmError(f"GRBL raised {response.text} after {line!r}", response.code)
            if isinstance(response, Banner):
                raise ResetError(f"GRBL reset while running {line!r}")
            collected.append(response)
        raise CommandError(f"no answer from GRBL to {line!r} within {timeout:g} s")

    def drain(self) -> None:
        """Forget unread input (after a reset, before a fresh start)."""
        self._buf.clear()
        try:
            self.port.reset_input_buffer()  # type: ignore[attr-defined]
        except (AttributeError, *IO_ERRORS):
            pass
