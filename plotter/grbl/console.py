"""A terminal onto GRBL: what you type goes to the machine, everything it says comes back, annotated.

Why not a plain serial monitor: GRBL's real-time bytes (`?` status, `!` hold, `~` resume, Ctrl-X reset) act
the moment they arrive and must not be followed by a newline, and its `error:N`/`ALARM:N` are numbers. Here a
line that is just `?`, `!` or `~` (or a key press of one, on a terminal) is sent as the bare byte, Ctrl-X
(the byte 0x18, or `^X` typed as text) is a soft reset, and every `error:N`/`ALARM:N` gets GRBL's own words.

Two ways to drive it: `run_lines` (a script or a pipe: each line waits for its reply, so a transcript is
deterministic) and `send_key`/`reader` (a terminal: keys act at once, a thread prints replies as they come).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from plotter.grbl.codes import describe_alarm, describe_error
from plotter.grbl.link import HOLD, RESET, RESUME, STATUS, Link
from plotter.grbl.protocol import Alarm, Banner, Error, Ok, Status, parse_line
from plotter.grbl.results import PortLostError

REALTIME = {"?": STATUS, "!": HOLD, "~": RESUME}
RESET_WORDS = ("\x18", "^x", "ctrl-x", "ctrl+x")
_ENDS = (Ok, Error, Alarm, Banner)


def annotate(text: str) -> str:
    """GRBL's line, with the meaning of an error or alarm number after it."""
    response = parse_line(text)
    if isinstance(response, Error):
        return f"{text}  ({describe_error(response.code).split(' ', 1)[1]})"
    if isinstance(response, Alarm):
        return f"{text}  ({describe_alarm(response.code).split(' ', 1)[1]})"
    return text


class Console:
    """One open GRBL link (`plotter.grbl.link.Link`) and where its replies go (`out`, one line per call)."""

    def __init__(self, link: Link, out: Callable[[str], None], reply_timeout: float = 30.0) -> None:
        self.link = link
        self.out = out
        self.reply_timeout = reply_timeout

    # -- line mode (pipes, scripts, tests) ---------------------------------------------------------
    def run_lines(self, lines: Iterable[str], echo: bool = True) -> int:
        """Send each line, print GRBL's replies until its answer; return how many lines GRBL refused."""
        self.show_pending(0.3)  # the banner of a board that reset as the port opened
        refused = 0
        for raw in lines:
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if echo:
                self.out(f"> {_printable(line)}")
            end = self.send(line)
            refused += isinstance(end, (Error, Alarm))
        return refused

    def send(self, line: str) -> object:
        """One line or real-time key; wait for what answers it and print everything read meanwhile."""
        stripped = line.strip()
        if stripped.lower() in RESET_WORDS or "\x18" in line:
            self.link.write(RESET)
            banner = self._until(lambda r: isinstance(r, Banner))
            self.show_pending(0.3)  # what follows the banner ([MSG:'$H'|'$X' to unlock] on a homing machine)
            return banner
        if stripped in REALTIME:
            self.link.write(REALTIME[stripped])
            if stripped == "?":
                return self._until(lambda r: isinstance(r, Status))
            return self._until(lambda r: False, timeout=0.3)  # a hold or resume has no reply
        self.link.write(stripped.encode("ascii", errors="replace") + b"\n")
        return self._until(lambda r: isinstance(r, _ENDS))

    def _until(self, done: Callable[[object], bool], timeout: float | None = None) -> object:
        deadline = self.link.clock() + (self.reply_timeout if timeout is None else timeout)
        while self.link.clock() < deadline:
            text = self.link.readline()
            if text is None:
                continue
            self.out(annotate(text))
            response = parse_line(text)
            if done(response):
                return response
        return None

    def show_pending(self, quiet: float) -> None:
        """Print whatever GRBL says until it has been quiet for `quiet` seconds."""
        self._until(lambda r: False, timeout=quiet)

    # -- key mode (a terminal) ---------------------------------------------------------------------
    def send_key(self, key: str, line: str) -> str:
        """A key typed on a terminal; returns the line being typed. Real-time keys act at once."""
        if key in REALTIME:
            self.link.write(REALTIME[key])
            return line
        if key == "\x18":
            self.link.write(RESET)
            return ""
        if key in ("\r", "\n"):
            if line.strip():
                self.link.write(line.strip().encode("ascii", errors="replace") + b"\n")
            return ""
        if key in ("\x7f", "\b"):
            return line[:-1]
        return line + key if key.isprintable() else line

    def reader(self, stop: threading.Event) -> None:
        """Print replies until `stop` is set or the port vanishes (run on its own thread)."""
        while not stop.is_set():
            try:
                text = self.link.readline()
            except PortLostError as exc:
                self.out(f"[port lost: {exc}]")
                stop.set()
                return
            if text is not None:
                self.out(annotate(text))


def _printable(line: str) -> str:
    return line.replace("\x18", "^X")
