"""Resume exactly where the machine stopped, when it kept its position (USB drop, daemon killed).

GRBL's `ok` means "planned", not "drawn", and a journal written every fraction of a second lags the machine,
so a journal-only resume goes back to a pen-up and redraws part of a stroke. But when the link died while
GRBL kept power, GRBL finished every line it had received and now stands still at the end of the last one:
its reported position names that line. Every acknowledged line was planned and so ran; nothing beyond what
fits GRBL's RX buffer after it can have arrived. We take the *first* line in that window that ends at the
position (never later than the true one, so nothing is skipped), restore the modal state and the pen as
they were after it, and continue mid-stroke: nothing is drawn twice and nothing is missing.
When the position is unknown (alarm, reset, power cycle) or matches no line, the caller falls back to
`plotter.grbl.journal.resume_plan` (last pen-up, the interrupted stroke redrawn).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from plotter.grbl.flow import clean_line

_WORD = re.compile(r"([A-Z])([-+]?[0-9]*\.?[0-9]+)")
TOLERANCE_MM = 0.005


@dataclass(frozen=True)
class PenSpec:
    """How the profile moves the pen, as cleaned G-code (servo) or Z heights (z)."""

    mode: str = "servo"
    up: tuple[str, ...] = ("M5",)
    down: tuple[str, ...] = ("M3S1000",)
    dwell_down: float = 0.2
    z_up: float = 5.0
    z_down: float = 0.0


@dataclass
class _State:
    units: str = "G21"
    distance: str = "G90"
    motion: str = "G0"
    feed: float | None = None
    pen_down: bool = False
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _step(text: str, s: _State, pen: PenSpec) -> None:
    """Advance the modal state over one cleaned line."""
    words = [(k, float(v)) for k, v in _WORD.findall(text)]
    scale = 1.0
    for k, v in words:
        if k == "G" and v in (20, 21):
            s.units = f"G{int(v)}"
        elif k == "G" and v in (90, 91):
            s.distance = f"G{int(v)}"
        elif k == "G" and v in (0, 1, 2, 3):
            s.motion = f"G{int(v)}"
        elif k == "F":
            s.feed = v
    scale = 25.4 if s.units == "G20" else 1.0
    if any(k == "G" and v in (4, 10, 28, 30, 53, 92) for k, v in words):
        return
    axes = {k: v * scale for k, v in words if k in "XYZ"}
    if axes:
        cur = list(s.pos)
        for i, axis in enumerate("XYZ"):
            if axis in axes:
                cur[i] = cur[i] + axes[axis] if s.distance == "G91" else axes[axis]
        s.pos = (cur[0], cur[1], cur[2])
    if pen.mode == "servo":
        if text in pen.up:
            s.pen_down = False
        elif text in pen.down:
            s.pen_down = True
    elif "Z" in axes:
        s.pen_down = s.pos[2] <= pen.z_down + 1e-9


def states_after(lines: Sequence[str], pen: PenSpec) -> list[_State]:
    """The modal state after each line (index i = after lines[i])."""
    s = _State()
    out = []
    for line in lines:
        _step(clean_line(line), s, pen)
        out.append(_State(s.units, s.distance, s.motion, s.feed, s.pen_down, s.pos))
    return out


@dataclass(frozen=True)
class ExactResume:
    start: int  # first line to send
    preamble: tuple[str, ...]
    stopped_after: int  # the line the machine finished last


def exact_resume(
    lines: Sequence[str], position: Sequence[float], acked: int, pen: PenSpec, rx_size: int = 128
) -> ExactResume | None:
    """Where to continue given the machine's idle `position` (work mm) and `acked` (lines GRBL said ok to).

    Every acknowledged line was planned, and GRBL runs what it planned, so the machine stopped after line
    `acked - 1` or later; it cannot be past what fits in its RX buffer beyond that (character counting).
    The first line in that window ending at `position` is the answer; none means "position unknown".
    """
    states = states_after(lines, pen)
    lo = max(0, acked - 1)
    hi, room = acked, rx_size - 1
    while hi < len(lines) and room >= len(clean_line(lines[hi])) + 1:
        room -= len(clean_line(lines[hi])) + 1
        hi += 1
    for j in range(lo, min(hi, len(lines))):
        p = states[j].pos
        if abs(p[0] - position[0]) > TOLERANCE_MM or abs(p[1] - position[1]) > TOLERANCE_MM:
            continue
        if pen.mode == "z" and abs(p[2] - position[2]) > TOLERANCE_MM:
            continue
        return ExactResume(j + 1, _preamble(states[j], pen), j)
    return None


def _preamble(s: _State, pen: PenSpec) -> tuple[str, ...]:
    scale = 25.4 if s.units == "G20" else 1.0
    x, y = s.pos[0] / scale, s.pos[1] / scale
    pre = [s.units, "G90"]
    if s.feed is not None:
        pre.append(f"F{s.feed:g}")
    if pen.mode == "servo":
        pre += list(pen.up) + [f"G0X{x:.4f}Y{y:.4f}"]
        if s.pen_down:
            pre += list(pen.down)
            if pen.dwell_down > 0:
                pre.append(f"G4P{pen.dwell_down:g}")
    else:
        z = s.pos[2] / scale
        pre += [f"G0Z{pen.z_up / scale:.4f}", f"G0X{x:.4f}Y{y:.4f}", f"G1Z{z:.4f}"]
    if s.distance == "G91":
        pre.append("G91")
    if s.motion != "G0":
        pre.append(s.motion)
    return tuple(pre)


def pen_spec(profile_name: str) -> PenSpec:
    from plotter.gcode import load_profile

    p = load_profile(profile_name).pen
    return PenSpec(
        mode=p.mode,
        up=(clean_line(p.up_command),),
        down=(clean_line(p.down_command),),
        dwell_down=p.dwell_down,
        z_up=p.z_up,
        z_down=p.z_down,
    )
