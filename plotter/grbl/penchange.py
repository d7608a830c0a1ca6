"""Pen changes in a stream: the job's `M0` holds GRBL; the sender knows which pen comes next from its file.

Why from the file: GRBL 1.1h prints no `(MSG,...)` comments, and an `M0` looks to the host like any feed hold
(`Hold:0`, its `ok` comes only after cycle start). The emitter writes each pen change as `M0 (PEN 2/3 red)`
(`plotter.gcode.emitter.emit_pens`); a hold whose first unacknowledged line is that `M0` is a pen change, and
its comment names the pen. `plotter stream` shows that line when GRBL stops there; this module serves the
daemon and tests. Continuing is the ordinary resume (`~`, `Streamer.resume`)."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from plotter.grbl.flow import clean_line

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
