"""Honest plot-time estimates: run the G-code through the same GRBL planner model the simulator uses.

Senders that divide distance by feed are off by minutes on sketch plots, where thousands of short segments
and sharp corners keep the machine below its feed rate and every pen move drains the planner to a stop.
Here each line goes into `plotter.plan.motion.PlannerQueue` exactly as GRBL would receive it from a sender
that keeps its 15-block planner full, so the estimate equals the simulated machine's time for that case.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from plotter.errors import GcodeError
from plotter.plan.motion import Kinematics, PlannerQueue, Progress
from plotter.sketch import Sketch
from plotter.sketch.moves import parse_words

_IGNORED_G = {17.0, 40.0, 49.0, 54.0, 61.0, 80.0, 94.0}  # modal settings that do not change timing here
_IGNORED_M = {7.0, 8.0, 9.0}


@dataclass(frozen=True)
class TimeEstimate:
    """Machine seconds and millimetres of a plot; total_s = draw_s + travel_s + dwell_s.

    draw/travel: XY motion with the pen down/up; dwell_s: G4 dwells plus pen motion (Z-only moves).
    """

    total_s: float
    draw_s: float
    travel_s: float
    dwell_s: float
    pen_moves: int
    distance_draw: float
    distance_travel: float


class _Program:
    """Modal G-code state feeding a planner queue; tallies time and distance per kind of motion."""

    def __init__(self, kin: Kinematics, blocks: int, start: Sequence[float]) -> None:
        self.q = PlannerQueue(kin, size=blocks, position=tuple(float(c) for c in start))  # type: ignore[arg-type]
        self.pos = np.array(self.q.position, dtype=np.float64)  # machine position of the last target
        self.offset = np.zeros(3)  # G92: machine = work + offset
        self.motion, self.absolute, self.scale, self.feed = 0, True, 1.0, None
        self.spindle, self.speed = 5, 0.0
        self.pen_up_sig: tuple | None = None
        self.pen_down = False
        self.pen_moves = 0
        self.times = {"draw": 0.0, "travel": 0.0, "dwell": 0.0}
        self.dist = {"draw": 0.0, "travel": 0.0}
        self.last_t = 0.0

    # ------------------------------------------------------------------ queue plumbing
    def _book(self, done: list[Progress]) -> None:
        for p in done:
            self.times[str(p.tag)] += p.time_s - self.last_t
            self.last_t = p.time_s

    def _room(self) -> None:
        while self.q.is_full():
            self._book(self.q.advance(self.q.time_to_next_completion()))

    def finish(self) -> None:
        while not self.q.idle:
            self._book(self.q.advance(self.q.time_to_next_completion()))

    def _pen(self, signature: tuple, moved: bool = True) -> None:
        """A pen command: the program's first one is taken as 'up' (programs start with the pen up)."""
        if self.pen_up_sig is None:
            self.pen_up_sig = signature
        self.pen_down = signature != self.pen_up_sig
        self.pen_moves += int(moved)

    # ------------------------------------------------------------------ one line
    def line(self, raw: str, number: int) -> bool:
        """Execute one line; False after M2/M30 (program end)."""
        parsed = parse_words(raw, number)
        if parsed is None:
            return True
        return self._execute(*parsed, number)

    def _execute(self, gs: list[float], ms: list[float], vals: dict[str, float], number: int) -> bool:
        for g in gs:
            if g in (20.0, 21.0):
                self.scale = 25.4 if g == 20.0 else 1.0
            elif g in (90.0, 91.0):
                self.absolute = g == 90.0
            elif g in (0.0, 1.0):
                self.motion = int(g)
            elif g not in (4.0, 10.0, 28.0, 30.0, 53.0, 92.0) and g not in _IGNORED_G:
                raise GcodeError(f"line {number}: G{g:g} is not supported by the time estimate")
        if "F" in vals:
            self.feed = vals["F"] * self.scale
        spindle = next((int(m) for m in ms if m in (3.0, 4.0, 5.0)), self.spindle)
        s_word = vals.get("S", self.speed)
        moved = spindle != self.spindle or (s_word != self.speed and self.spindle != 5)
        if moved:
            self.q.push_dwell(0.0, tag="dwell")  # GRBL: spindle_sync waits for the planner to empty
        if moved or any(m in (3.0, 4.0, 5.0) for m in ms):
            self._pen(("M", spindle, s_word if spindle != 5 else None), moved)
        self.spindle, self.speed = spindle, s_word
        for m in ms:
            if m in (2.0, 30.0):
                return False
            if m in (0.0, 1.0):
                self.q.push_dwell(0.0, tag="dwell")
            elif m not in (3.0, 4.0, 5.0) and m not in _IGNORED_M:
                raise GcodeError(f"line {number}: M{m:g} is not supported by the time estimate")
        if 4.0 in gs:
            if "P" not in vals or vals["P"] < 0:
                raise GcodeError(f"line {number}: G4 needs a dwell time P >= 0 (seconds)")
            self.q.push_dwell(vals["P"], tag="dwell")
            return True
        axes = [vals.get(a) for a in "XYZ"]
        if 10.0 in gs and vals.get("L") in (2.0, 20.0):  # a work offset (`bed.machine_space: negative`)
            for i, v in enumerate(axes):  # L2: G54 itself (the profile writes P1 and G54); L20: here = v
                if v is not None:
                    self.offset[i] = v * self.scale if vals["L"] == 2.0 else self.pos[i] - v * self.scale
            return True
        if 92.0 in gs:
            for i, v in enumerate(axes):
                if v is not None:
                    self.offset[i] = self.pos[i] - v * self.scale
            return True
        if 28.0 in gs or 30.0 in gs:  # rapid via the optional intermediate point to the stored home
            motion, self.motion = self.motion, 0
            if any(v is not None for v in axes):
                self._move(axes, number)
            self._move([0.0, 0.0, 0.0], number, machine=True)  # stored G28/G30 position: machine zero
            self.motion = motion
        elif any(v is not None for v in axes):
            self._move(axes, number, machine=53.0 in gs)
        return True

    def _move(self, axes: Sequence[float | None], number: int, machine: bool = False) -> None:
        """A line to `axes` (work coordinates, or machine ones with G53); None keeps an axis."""
        target = self.pos.copy()
        for i, v in enumerate(axes):
            if v is None:
                continue
            if machine:
                target[i] = v * self.scale
            else:
                target[i] = v * self.scale + (self.offset[i] if self.absolute else target[i])
        delta = target - self.pos
        xy = float(math.hypot(delta[0], delta[1]))
        if xy == 0.0 and delta[2] != 0.0:
            kind = "dwell"  # a Z-only move is a pen move
            self._pen(("Z", round(float(target[2]), 6)))
        else:
            down = self.pen_down if self.pen_up_sig is not None else self.motion == 1
            kind = "draw" if down else "travel"
            self.dist[kind] += xy
        if self.motion == 1 and self.feed is None:
            raise GcodeError(f"line {number}: G1 without a feed rate (F)")
        self._room()
        self.q.push_line(target, self.feed, rapid=self.motion == 0, tag=kind)
        self.pos = target


def estimate_gcode(
    lines: Iterable[str], kinematics: Kinematics, planner_blocks: int = 15, start: Sequence[float] = (0, 0, 0)
) -> TimeEstimate:
    """Machine time of a G-code program (G0/G1/G4/G20/G21/G90/G91/G92, M3/M4/M5 S, F, comments, N).

    Pen state comes from the pen commands themselves: the first M3/M4/M5 (with its S) or Z-only move in
    the program is taken as pen up, any other as pen down. A program with no pen commands counts G1 as
    drawing and G0 as travel.
    """
    prog = _Program(kinematics, planner_blocks, start)
    for number, raw in enumerate(lines, start=1):
        if not prog.line(raw, number):
            break
    prog.finish()
    t = prog.times
    return TimeEstimate(
        total_s=prog.q.time,
        draw_s=t["draw"],
        travel_s=t["travel"],
        dwell_s=t["dwell"],
        pen_moves=prog.pen_moves,
        distance_draw=prog.dist["draw"],
        distance_travel=prog.dist["travel"],
    )


def estimate_moves(
    sketch_mm: Sketch,
    kinematics: Kinematics,
    draw_feed: float,
    travel_feed: float | None = None,
    pen_up_s: float = 0.2,
    pen_down_s: float = 0.2,
    planner_blocks: int = 15,
    start: Sequence[float] = (0.0, 0.0),
    return_home: bool = True,
) -> TimeEstimate:
    """Machine time of plotting a sketch (in mm) without writing G-code first: pen up, travel, pen down,
    draw each stroke, pen up, and home; pen moves are full stops plus their servo time, as in GRBL.
    `travel_feed=None` travels with G0 at the machine's max rates.
    """
    if sketch_mm.unit != "mm":
        raise GcodeError(f"the time estimate needs a sketch in mm, got unit {sketch_mm.unit!r}")
    if not draw_feed > 0 or (travel_feed is not None and not travel_feed > 0):
        raise GcodeError(f"feeds must be positive (draw {draw_feed!r}, travel {travel_feed!r})")
    out = [f"G1 F{draw_feed:.6f}", "M5", f"G4 P{pen_up_s:.6f}"]
    travel = "G0" if travel_feed is None else f"G1 F{travel_feed:.6f}"
    draw = f"G1 F{draw_feed:.6f}"
    for s in sketch_mm.strokes:
        out.append(f"{travel} X{s[0, 0]:.6f} Y{s[0, 1]:.6f}")
        out += ["M3 S1000", f"G4 P{pen_down_s:.6f}"]
        out += [f"{draw} X{x:.6f} Y{y:.6f}" for x, y in s[1:].tolist()]
        out += ["M5", f"G4 P{pen_up_s:.6f}"]
    if return_home:
        out.append(f"{travel} X{float(start[0]):.6f} Y{float(start[1]):.6f}")
    return estimate_gcode(out, kinematics, planner_blocks, start=(float(start[0]), float(start[1]), 0.0))
