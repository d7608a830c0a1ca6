"""Pure flow-control state machine for streaming G-code to GRBL: events in, actions out, no I/O.

Character counting as GRBL documents it (`doc/script/stream.py`, without its `|` precedence bug): the bytes
of lines GRBL has not yet acknowledged must fit its serial RX buffer, `sum(len(line) + 1) <= rx_size - 1`, and
every `ok`/`error:N` acknowledges the oldest line. GRBL *drops* bytes that overflow the buffer, so this bound
is a correctness rule, not a tuning knob. `$` lines (EEPROM writes, `$H`, `$X`...) always go send-response.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from plotter.errors import GcodeError
from plotter.grbl.protocol import Alarm, Banner, Error, Ok, Response, Status

CHAR_COUNT = "char-count"
SEND_RESPONSE = "send-response"
MODES = (CHAR_COUNT, SEND_RESPONSE)
DEFAULT_RX = 128
DEFAULT_LINE_LIMIT = 79  # GRBL 1.1 LINE_BUFFER_SIZE is 80 with the terminator: 79 characters, then error:11

_COMMENT = re.compile(r"\([^)]*\)")
_SPACE = re.compile(r"\s+")
_SYNC = re.compile(r"^(?:N\d+)?.*?(?:G0*4(?!\d)|M0*[2](?!\d)|M30)")
_SPINDLE = re.compile(r"M0*[345](?!\d)")
_DWELL = re.compile(r"G0*4(?!\d).*?P([0-9.]+)")


def clean_line(text: str) -> str:
    """The line as GRBL will count it: no comments, no whitespace, upper case (protocol.c does the same)."""
    text = text.split(";", 1)[0]
    if "(" in text:
        text = _COMMENT.sub("", text)
    text = _SPACE.sub("", text)
    if text == "%":  # program delimiter some CAM writes; GRBL would reject it
        return ""
    return text if text.startswith("$") else text.upper()


def is_system(cleaned: str) -> bool:
    """`$` commands and EEPROM-writing G10: must be sent alone and acknowledged before anything else."""
    return cleaned.startswith("$") or (cleaned.startswith("G10") and "L2" in cleaned)


def is_sync(cleaned: str, spindle_sync: bool = True) -> bool:
    """True when GRBL empties its planner before acknowledging the line (G4, M2/M30, M3/M5 unless laser mode).

    The `ok` of such a line proves that every earlier line has physically run, which the journal needs.
    """
    if _SYNC.match(cleaned):
        return True
    return spindle_sync and bool(_SPINDLE.search(cleaned))


def sync_flags(cleaned: Sequence[str], start: int = 0, spindle_sync: bool = True) -> list[bool]:
    """`is_sync` for each line, knowing GRBL syncs at M3/M4/M5 only when the spindle state *changes*
    (gcode.c: `if (gc_state.modal.spindle != gc_block.modal.spindle) spindle_sync(...)`): a second M5 is
    acknowledged at once while the planner still runs. Taking it for a sync would make the journal claim
    lines done that have not run. From `start` the spindle is assumed off (GRBL's state after a reset, and
    what a resume preamble leaves)."""
    state = "M5"
    out = [False] * len(cleaned)
    for i in range(start, len(cleaned)):
        text = cleaned[i]
        if _SYNC.match(text):
            out[i] = True
        m = _SPINDLE.search(text)
        if m is not None:
            mode = "M" + m.group(0).lstrip("M").lstrip("0")
            out[i] = out[i] or (spindle_sync and mode != state)
            state = mode
        if re.search(r"M0*(?:2|30)(?!\d)", text):
            state = "M5"  # program end stops the spindle
    return out


def dwell_seconds(cleaned: str) -> float:
    """Seconds a `G4 P..` line keeps GRBL silent (0 for anything else)."""
    m = _DWELL.search(cleaned)
    return float(m.group(1)) if m else 0.0


@dataclass(frozen=True)
class Send:
    """Write these bytes (one G-code line and its newline)."""

    index: int
    data: bytes


@dataclass(frozen=True)
class Acked:
    """GRBL acknowledged line `index` (`ok` when `code` is None, else `error:code`)."""

    index: int
    code: int | None = None


@dataclass(frozen=True)
class Synced:
    """Every line before `upto` has physically run (the planner emptied after it)."""

    upto: int


@dataclass(frozen=True)
class Stop:
    """The stream ended: `reason` is done, error, alarm, reset or aborted."""

    reason: str
    index: int | None = None
    code: int | None = None


Action = Send | Acked | Synced | Stop


class Flow:
    """The sender's bookkeeping for one job; feed it responses, ask it what to send.

    Indices are positions in `lines` (0-based). Lines that clean to nothing are never sent and count as
    acknowledged when the stream passes them.
    """

    def __init__(self, lines: Sequence[str], *, rx_size: int = DEFAULT_RX, mode: str = CHAR_COUNT,
                 start: int = 0, line_limit: int = DEFAULT_LINE_LIMIT, spindle_sync: bool = True) -> None:
        if mode not in MODES:
            raise GcodeError(f"unknown streaming mode {mode!r} (choose {' or '.join(MODES)})")
        if rx_size < 2:
            raise GcodeError(f"RX buffer of {rx_size} bytes is too small to stream")
        if not 0 <= start <= len(lines):
            raise GcodeError(f"start line {start + 1} is outside the program (1..{len(lines)})")
        self.cleaned = [clean_line(line) for line in lines]
        for i, text in enumerate(self.cleaned[start:], start):
            if len(text) > line_limit:
                raise GcodeError(f"line {i + 1} has {len(text)} characters after stripping, "
                                 f"GRBL accepts {line_limit} (error:11): {text[:30]}...")
            if len(text) + 1 > rx_size - 1:
                raise GcodeError(f"line {i + 1} does not fit GRBL's {rx_size}-byte RX buffer")
        self.raw = lines
        self.rx_size, self.mode, self.start = rx_size, mode, start
        self.spindle_sync = spindle_sync
        self.syncs = sync_flags(self.cleaned, start, spindle_sync)
        self.next = start  # next index to consider sending
        self.in_flight: deque[tuple[int, int]] = deque()  # (index, bytes) awaiting ok/error, oldest first
        self.in_flight_bytes = 0
        self.acked = start  # every line before this index is acknowledged (or empty)
        self.synced = start
        self.sent = 0
        self.stopping: Stop | None = None  # set when we stop sending but still await acks (after error:N)
        self.finished: Stop | None = None
        self.last_status: Status | None = None
        self._idle_reports = 0
        self.gate: int | None = None  # pause at a pen lift: send nothing from here on (grbl/penchange.py)

    # -- queries ------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.cleaned)

    @property
    def pending_dwell(self) -> float:
        """Seconds of G4 dwell among unacknowledged lines: silence that is not a lost `ok`."""
        return sum(dwell_seconds(self.cleaned[i]) for i, _ in self.in_flight)

    def _fits(self, size: int) -> bool:
        if self.mode == SEND_RESPONSE:
            return not self.in_flight
        return self.in_flight_bytes + size <= self.rx_size - 1

    # -- events -------------------------------------------------------------------------------
    def pump(self) -> list[Action]:
        """Lines that may be sent now; call after every event."""
        actions: list[Action] = []
        if self.finished or self.stopping:
            return actions
        cleaned = self.cleaned
        while self.next < len(cleaned) and (self.gate is None or self.next < self.gate):
            i = self.next
            text = cleaned[i]
            if not text:
                self.next += 1
                if not self.in_flight:
                    self.acked = self.next
                continue
            system = is_system(text)
            if system and self.in_flight:
                break  # EEPROM writes and $ commands go alone
            if self.in_flight and is_system(cleaned[self.in_flight[-1][0]]):
                break
            size = len(text) + 1
            if not self._fits(size):
                break
            self.in_flight.append((i, size))
            self.in_flight_bytes += size
            self.next += 1
            self.sent += 1
            actions.append(Send(i, text.encode("ascii", errors="replace") + b"\n"))
        if self.next >= len(cleaned) and not self.in_flight:
            self.acked = len(cleaned)
            actions.extend(self._finish(Stop("done")))
        return actions

    def feed(self, response: Response) -> list[Action]:
        """One parsed line from GRBL."""
        if self.finished:
            return []
        if isinstance(response, (Ok, Error)):
            return self._ack(response)
        if isinstance(response, Status):
            return self._status(response)
        if isinstance(response, Alarm):
            return self._finish(Stop("alarm", self._current(), response.code))
        if isinstance(response, Banner):
            return self._finish(Stop("reset", self._current()))
        return []

    def give_up(self) -> list[Action]:
        """GRBL went quiet with lines unacknowledged: end with the error being drained, else as `lost`."""
        return self._finish(self.stopping or Stop("lost", self._current()))

    def abort(self, reason: str = "aborted") -> list[Action]:
        """Stop sending for an outside reason (cancel, lost port); in-flight lines stay unacknowledged."""
        return self._finish(Stop(reason, self._current()))

    # -- internals ----------------------------------------------------------------------------
    def _current(self) -> int | None:
        return self.in_flight[0][0] if self.in_flight else None

    def _ack(self, response: Ok | Error) -> list[Action]:
        if not self.in_flight:
            return []  # an ok we never asked for (e.g. a stray one after wake-up): ignore it
        index, size = self.in_flight.popleft()
        self.in_flight_bytes -= size
        self._idle_reports = 0
        actions: list[Action] = []
        code = response.code if isinstance(response, Error) else None
        actions.append(Acked(index, code))
        if code is not None and self.stopping is None:
            self.stopping = Stop("error", index, code)
        self.acked = self.in_flight[0][0] if self.in_flight else self.next
        if code is None and self.syncs[index] and self.stopping is None:
            self.synced = index + 1
            actions.append(Synced(self.synced))
        if self.stopping and not self.in_flight:
            actions.extend(self._finish(self.stopping))
        return actions

    def _status(self, status: Status) -> list[Action]:
        self.last_status = status
        if status.state != "Idle" or self.in_flight or self.stopping:
            self._idle_reports = 0
            return []
        # Idle twice in a row with nothing unacknowledged: the planner is empty, all acked lines ran
        self._idle_reports += 1
        if self._idle_reports >= 2 and self.acked > self.synced:
            self.synced = self.acked
            return [Synced(self.synced)]
        return []

    def _finish(self, stop: Stop) -> list[Action]:
        if self.finished:
            return []
        self.finished = stop
        return [stop]
