"""Pen changes in a stream: the job's `M0` holds GRBL; the sender knows which pen comes next from its file.

Why from the file: GRBL 1.1h prints no `(MSG,...)` comments, and an `M0` looks to the host like any feed hold
(`Hold:0`, its `ok` comes only after cycle start). The emitter writes each pen change as `M0 (PEN 2/3 red)`
(`plotter.gcode.emitter.emit_pens`); a hold whose first unacknowledged line is that `M0` is a pen change, and
its comment names the pen. `plotter stream` shows that line when GRBL stops there; this module serves the
daemon and tests. Continuing is the ordinary resume (`~`, `Streamer.resume`)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plotter.grbl.flow import clean_line
from plotter.grbl.protocol import Status

_PEN = re.compile(r"\(PEN\s+([^)]*)\)", re.IGNORECASE)


@dataclass(frozen=True)
class PenChange:
    """GRBL waits at line `index` (0-based, an `M0`) for the pen named in `message`."""

    index: int
    message: str

    @property
    def line(self) -> int:
        return self.index + 1


def pen_change_at(lines: Sequence[str], index: int) -> PenChange | None:
    """The pen change at `lines[index]` if that line is an `M0`; its message from its `(PEN ...)` comment."""
    if not 0 <= index < len(lines) or clean_line(lines[index]) not in ("M0", "M00"):
        return None
    m = _PEN.search(lines[index])
    return PenChange(index, f"pen {m.group(1).strip()}" if m else "the next pen (M0 program pause)")


def pen_changes(lines: Sequence[str]) -> list[PenChange]:
    return [c for i in range(len(lines)) if (c := pen_change_at(lines, i)) is not None]


class PenChangeWatch:
    """An `on_progress` tap: notes each pen change once, when GRBL reports the hold at its `M0`."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self._seen: set[int] = set()
        self._pending: PenChange | None = None
        self._lock = threading.Lock()

    def __call__(self, progress: object) -> None:
        status = getattr(progress, "status", None)
        if status is None or status.state != "Hold":
            return
        change = pen_change_at(self.lines, getattr(progress, "acked", -1))
        with self._lock:
            if change is not None and change.index not in self._seen:
                self._seen.add(change.index)
                self._pending = change

    def take(self) -> PenChange | None:
        """The pen change GRBL is waiting at, once (None if none is new)."""
        with self._lock:
            change, self._pending = self._pending, None
            return change


def lift_gate(cleaned: Sequence[str], pen_up: Sequence[str], acked: int, sent: int) -> int:
    """Where to stop sending for a pause at the next pen lift: just after the first pen-up line (and its `G4`
    dwells) that GRBL has not acknowledged yet and whose end is not already sent; the end of the job if none.

    Lines already sent run anyway, so the gate can only fall at or after `sent`."""
    ups = {clean_line(line) for line in pen_up}
    for i in range(acked, len(cleaned)):
        if cleaned[i] not in ups:
            continue
        end = i + 1
        while end < len(cleaned) and cleaned[end].startswith("G4"):
            end += 1
        if end >= sent:
            return end
    return len(cleaned)


SPINDLE_STOP = b"\x9e"  # GRBL 1.1 real-time "toggle spindle stop": honoured only in a feed hold


def lift_in_hold_refusal(mode: str, up: Sequence[str], down: Sequence[str],
                         laser_mode: bool = False) -> str | None:  # fmt: skip
    """Why this pen cannot be lifted in a feed hold (None: it can, with `HoldThenLift`).

    Only a pen on the spindle whose pen-up is M5: the spindle-stop override de-energizes the spindle exactly
    as M5 does. A pen-up of `M3 S<n>` needs a PWM value the override cannot set; a Z pen needs a move, and
    GRBL 1.1 runs no motion in a hold (`$J` only from Idle); laser mode ($32=1) restores the spindle only
    with the cycle start, so the pen would touch down while already moving."""
    ups, downs = [clean_line(x) for x in up], [clean_line(x) for x in down]
    if mode != "servo":
        return ("a Z pen cannot move in a feed hold (GRBL 1.1 runs no motion while held): pause --at-lift, "
                "or cancel (hold, reset, pen up) and resume (redraws the cut segment)")
    if ups != ["M5"] or not downs or not downs[0].startswith(("M3", "M4")):
        return (f"the pen lifts with {' '.join(up)!s}, which GRBL cannot run in a feed hold (only M5 has a "
                "real-time equivalent, the spindle stop): pause --at-lift instead")
    if laser_mode:
        return "GRBL is in laser mode ($32=1): the pen would go down only as it moves on; use --at-lift"
    return None


class HoldThenLift:
    """`pause --now` on a pen driven by the spindle (servo on the PWM pin, pen-up = M5): feed hold, and once
    GRBL reports Hold:0, the spindle-stop override (0x9E) turns the spindle off exactly as M5 does, so the
    pen lifts where it stopped. GRBL 1.1 runs no G-code line in a hold (M5 would wait behind the held
    motion) and refuses `$J` outside Idle: this byte is the one way to lift in a hold.

    A predicate for the streamer's control loop (called with each status report): True once the pen is up.
    `lifted` says whether the override took (the spindle was on); `LowerThenResume` undoes it."""

    def __init__(self, write: Callable[[bytes], None], held: Callable[[Status], bool]) -> None:
        self.write, self.held = write, held
        self.sent = False
        self.lifted = False

    def __call__(self, st: Status) -> bool:
        if not self.sent:
            if not self.held(st):
                return False
            if st.state != "Hold":  # idle with nothing to run: nothing held, the pen as the program left it
                return True
            self.sent = True
            self.lifted = st.spindle is None or st.spindle > 0
            if self.lifted:
                self.write(SPINDLE_STOP)
            return not self.lifted
        return st.spindle is None or st.spindle == 0


class LowerThenResume:
    """Resume after `HoldThenLift`: 0x9E again restores the spindle (the pen goes down exactly where it
    lifted), then `dwell` seconds of port time for the ink to touch, then cycle start (`~`). A `~` alone
    would restore and move at once (GRBL 1.1h gives a restored spindle no spin-up delay outside a door)."""

    def __init__(self, write: Callable[[bytes], None], clock: Callable[[], float], dwell: float) -> None:
        self.write, self.clock, self.dwell = write, clock, dwell
        self.down_at: float | None = None
        self.started = False
        write(SPINDLE_STOP)

    def __call__(self, st: Status) -> bool:
        if self.started:
            return st.state not in ("Hold", "Door")
        if self.down_at is None and (st.spindle is None or st.spindle > 0):
            self.down_at = self.clock()
        if self.down_at is not None and self.clock() - self.down_at >= self.dwell:
            self.started = True
            self.write(b"~")
        return False
