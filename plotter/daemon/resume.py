"""Resume exactly where the machine stopped, when it kept its position (USB drop, daemon killed).

GRBL's `ok` means "planned", not "drawn", and a journal of acknowledgements lags the machine, so a
journal-only resume goes back to a pen-up and redraws part of a stroke. But when the link died while GRBL
kept power, GRBL finishes every line it received and then stands still at the end of the last one. The
daemon's journal is written ahead (`plotter.grbl.journal`, `write_ahead`): before each line goes out, one line
per write, it records `sent`; so the line the machine stopped after lies in `[acked - 1, sent - 1]` of the
latest run, and its reported position names it. That position is read once, when the daemon reconnects (or
a cancel ends the stream) and the machine is at rest, and pinned in the journal (`rest_record`): other jobs
may run on the plotter before the resume and leave the pen elsewhere.

The rule: take the *latest* line in that window that ends at the reported position. Every written line
reached GRBL (a kill lands between writes, and the one line whose record was written but not its bytes
cannot move the machine unnoticed: a line that moves ends elsewhere; our G-code has no full-circle arcs);
a later line at the same position that did not run is a pen, dwell or zero-length line, whose effect the
preamble restores. We restore the modal state and the pen as they were after that line and continue
mid-stroke: nothing drawn twice, nothing missing. (A real USB adapter may lose bytes in transit when the
cable goes: lines written that never ran. Only if they formed a closed pen-down loop would the rule skip it.)
When the position is unknown (alarm, reset, power cycle) or matches no line in the window, the caller falls
back to `plotter.grbl.journal.resume_plan`: from the last pen-up, the interrupted stroke redrawn once.
Journals without the `sent` mark use a guessed window (one RX buffer past `acked`) and its *first* match,
which may retrace but never skips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
    cut: bool = False  # it stopped partway through line `start`, which runs again from its start


def exact_resume(
    lines: Sequence[str],
    position: Sequence[float],
    acked: int,
    pen: PenSpec,
    rx_size: int = 128,
    sent: int | None = None,
    tolerance: float = TOLERANCE_MM,
) -> ExactResume | None:
    """Where to continue given the settled machine's `position` (work mm) and the latest run's marks.

    `acked`: every line before it got its ok (so it ran); `sent`: no line at or after it was written. The
    latest line in the window ending at `position` is the answer (see the module docstring); None means
    "position unknown". Without `sent`, the window is guessed from the RX buffer and the first match wins.
    """
    states = states_after(lines, pen)
    lo = max(0, acked - 1)
    if sent is not None:
        order: Sequence[int] = range(min(sent, len(lines)) - 1, lo - 1, -1)
    else:
        hi, room = acked, rx_size - 1
        while hi < len(lines) and room >= len(clean_line(lines[hi])) + 1:
            room -= len(clean_line(lines[hi])) + 1
            hi += 1
        order = range(lo, min(hi, len(lines)))
    for j in order:
        p = states[j].pos
        if abs(p[0] - position[0]) > tolerance or abs(p[1] - position[1]) > tolerance:
            continue
        if pen.mode == "z" and abs(p[2] - position[2]) > tolerance:
            continue
        return ExactResume(j + 1, _preamble(states[j], pen), j)
    return None


def segment_resume(
    lines: Sequence[str],
    position: Sequence[float],
    synced: int,
    sent: int | None,
    pen: PenSpec,
    tolerance: float = TOLERANCE_MM,
) -> ExactResume | None:
    """Where to continue when the machine was stopped mid-motion but kept its position (feed hold then soft
    reset: SIGTERM, cancel, a held job whose daemon died). GRBL flushed what it had planned, so the machine
    stands at the end of a line or on one, somewhere after `synced` (known run) and before `sent`.

    The rule: the *first* line in that window whose end is `position` (continue after it), or whose
    segment passes through it (run that line again from its start: the piece already drawn is retraced
    once, on top of itself). First, not latest: a path that crosses the point twice is redrawn, never
    skipped. None when the position lies on no line of the window.
    """
    states = states_after(lines, pen)
    hi = len(lines) if sent is None else min(sent, len(lines))
    prev = states[synced - 1] if synced > 0 else _State()
    if synced > 0 and _near(prev.pos, position, pen, tolerance):  # held before it moved past `synced`
        return ExactResume(synced, _preamble(prev, pen), synced - 1)
    for j in range(max(0, synced), hi):
        a, b = prev.pos, states[j].pos
        if _near(b, position, pen, tolerance):
            return ExactResume(j + 1, _preamble(states[j], pen), j)
        if j > 0 and _on_segment(a, b, position, pen, tolerance):
            return ExactResume(j, _preamble(prev, pen), j - 1, cut=True)
        prev = states[j]
    return None


def _near(p: Sequence[float], q: Sequence[float], pen: PenSpec, tolerance: float) -> bool:
    axes = 3 if pen.mode == "z" else 2
    return all(abs(p[i] - q[i]) <= tolerance for i in range(axes))


def _on_segment(a: Sequence[float], b: Sequence[float], q: Sequence[float], pen: PenSpec, tol: float) -> bool:
    """`q` within `tol` of the straight move a -> b (not at a: that is the previous line's end)."""
    axes = 3 if pen.mode == "z" else 2
    d = [b[i] - a[i] for i in range(axes)]
    length2 = sum(x * x for x in d)
    if length2 <= tol * tol or _near(a, q, pen, tol):
        return False
    t = sum((q[i] - a[i]) * d[i] for i in range(axes)) / length2
    if not 0.0 <= t <= 1.0:
        return False
    return _near([a[i] + t * d[i] for i in range(axes)], q, pen, tol)


def rest_record(position: Sequence[float]) -> dict:
    """The journal record that pins where the machine came to rest after a run (work mm)."""
    return {"t": "rest", "pos": [float(v) for v in position]}


def recorded_rest(records: Sequence[Mapping]) -> tuple[float, ...] | None:
    """Where the machine came to rest after the latest run, if a reconnect or a cancel pinned it (the first
    pin after the run's `begin`: anything later may have moved it). None when nothing (readable) was pinned.

    Why a pin and not a fresh `?` at resume time: between the stop and the resume the daemon may run other
    jobs on the same plotter, and the machine then stands where *they* ended."""
    pos: tuple[float, ...] | None = None
    pinned = False
    for rec in records:
        kind = rec.get("t")
        if kind == "begin":
            pos, pinned = None, False
        elif kind == "rest" and not pinned:
            pinned = True
            try:
                pos = tuple(float(v) for v in rec["pos"])[:3]
            except (KeyError, TypeError, ValueError):
                pos = None
            if pos is not None and len(pos) != 3:
                pos = None
    return pos


def position_tolerance(settings: Mapping[int, object]) -> float:
    """Half a step of the coarsest XY axis ($100/$101 steps/mm), never below `TOLERANCE_MM`: a real GRBL
    stops on whole steps, so a line ending between two steps reports the nearer one."""
    steps = []
    for number in (100, 101):
        try:
            steps.append(float(settings[number]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue
    coarse = min((s for s in steps if s > 0), default=None)
    return TOLERANCE_MM if coarse is None else max(TOLERANCE_MM, 0.5 / coarse + 1e-6)


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
