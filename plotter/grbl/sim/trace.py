"""What the simulated machine did: pen-down segments with times, travel, pen lifts, starvation.

A dry run compares this with what was planned (`to_sketch`), renders it (`write_svg`, `write_png`) and
reports honest numbers (`summary`). Waiting for data, defined precisely:

* starved_s = machine_time - ideal_time: how much longer the job took than the same planner items fed with no
  wait at all (`ideal_time`, a replay through the same `PlannerQueue`). GRBL rarely stops outright when a
  sender is slow: with a shallow planner every block is planned to stop at its end, so the machine crawls.
  This is the number the "planner starved <= 2 % of machine time" target is about.
* dry_s: time the planner held at most the block being executed while the firmware waited for data;
  empty_s: the part of it with an empty planner (machine standing still).
  Both count only between the first motion and the last `ok` (after that no more lines were coming), never
  while held, alarmed or homing, and never while the firmware itself waits for the planner to drain
  (M3/M5 spindle sync, G4, M0, EEPROM writes).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plotter.plan.motion import Kinematics, PlannerQueue
from plotter.sketch import Sketch


@dataclass(frozen=True)
class Segment:
    """One executed planner block (or the part of it run before a reset)."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    t0: float
    t1: float
    pen_down: bool
    line: int = 0  # N word of the block, 0 when the line had none

    @property
    def length(self) -> float:
        return math.dist(self.start[:2], self.end[:2])


@dataclass
class PenTrace:
    """Recorder the machine writes to; read it after (or during) a run."""

    segments: list[Segment] = field(default_factory=list)
    pen_events: list[tuple[float, bool]] = field(default_factory=list)  # (time, pen down?)
    gaps: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {"dry": [], "empty": []})
    first_motion: float | None = None
    last_motion_end: float | None = None
    last_ok: float | None = None
    rx_overflow_bytes: int = 0
    bed: tuple[float, float] = (300.0, 200.0)
    program: list[tuple] = field(default_factory=list)  # what entered the planner, in order
    servo_moves: list[float] = field(default_factory=list)
    kinematics: Kinematics | None = None
    blocks: int = 15
    _since: dict[str, float | None] = field(default_factory=lambda: {"dry": None, "empty": None})

    # ------------------------------------------------------------------ recording (machine side)
    def motion_started(self, t: float) -> None:
        if self.first_motion is None:
            self.first_motion = t

    def waiting(self, t: float, dry: bool, empty: bool) -> None:
        """The machine's flags at time t (it calls this whenever they may change)."""
        for kind, on in (("dry", dry), ("empty", empty)):
            since = self._since[kind]
            if on and since is None and self.first_motion is not None:
                self._since[kind] = t
            elif not on and since is not None:
                if t > since:
                    self.gaps[kind].append((since, t))
                self._since[kind] = None

    def add(self, seg: Segment) -> None:
        self.segments.append(seg)
        self.last_motion_end = seg.t1

    def pen(self, t: float, down: bool, servo: bool = False) -> None:
        """Pen state at t; `servo`: a spindle-pin servo moved now (it needs time before motion goes on)."""
        if not self.pen_events or self.pen_events[-1][1] != down:
            self.pen_events.append((t, down))
            if servo:
                self.servo_moves.append(t)

    def pen_settle_min(self) -> float | None:
        """Shortest time between a servo pen move and the next motion (None: no servo move was followed).

        GRBL gives a servo on the spindle pin no time at all: without a G4 after M3/M5 the pen is still
        moving when the travel starts (smeared starts, dragged lifts). Dry runs show it here.
        """
        starts = [s.t0 for s in self.segments]
        gaps = []
        for t in self.servo_moves:
            i = bisect.bisect_left(starts, t - 1e-12)
            if i < len(starts):
                gaps.append(starts[i] - t)
        return min(gaps) if gaps else None

    def acked(self, t: float) -> None:
        self.last_ok = t

    # ------------------------------------------------------------------ facts
    @property
    def pen_lifts(self) -> int:
        return sum(1 for a, b in zip(self.pen_events, self.pen_events[1:]) if a[1] and not b[1])

    @property
    def drawn_length(self) -> float:
        return sum(s.length for s in self.segments if s.pen_down)

    @property
    def travel_length(self) -> float:
        return sum(s.length for s in self.segments if not s.pen_down)

    @property
    def machine_time(self) -> float:
        """Seconds from the first motion to the end of the last one."""
        if self.first_motion is None or self.last_motion_end is None:
            return 0.0
        return self.last_motion_end - self.first_motion

    def waiting_time(self, kind: str = "dry") -> float:
        """Seconds with a dry (or, kind="empty", an empty) planner waiting for data before the last `ok`."""
        end = self.last_ok
        if end is None:
            return 0.0
        gaps = list(self.gaps[kind])
        since = self._since[kind]
        if since is not None:
            gaps.append((since, end))
        return sum(max(0.0, min(b, end) - a) for a, b in gaps if a < end)

    def ideal_time(self) -> float:
        """Machine time of the same planner items fed with no wait at all (the planner never short of lines).

        `machine_time - ideal_time` is what waiting for data cost: with GRBL a shallow planner does not stop
        the machine, it makes every block decelerate for a stop that never comes.
        """
        if not self.program or self.kinematics is None:
            return 0.0
        q = PlannerQueue(self.kinematics, size=self.blocks, position=self.program[0][1])
        items = iter(self.program)
        pending = next(items, None)
        while pending is not None or not q.idle:
            while pending is not None and not q.is_full():
                if pending[0] == "line":
                    q.push_line(pending[2], pending[3], pending[4])
                else:
                    q.push_dwell(pending[2])
                pending = next(items, None)
            if q.idle:
                continue
            q.advance(max(q.time_to_next_completion(), 1e-9))
        return q.time

    def summary(self) -> dict[str, float | int]:
        mt = self.machine_time
        ideal = self.ideal_time()
        starved = max(0.0, mt - ideal)
        return {
            "machine_time_s": round(mt, 4),
            "ideal_time_s": round(ideal, 4),
            "drawn_mm": round(self.drawn_length, 3),
            "travel_mm": round(self.travel_length, 3),
            "pen_lifts": self.pen_lifts,
            "pen_settle_min_s": None if (settle := self.pen_settle_min()) is None else round(settle, 4),
            "segments": len(self.segments),
            "starved_s": round(starved, 4),
            "starved_pct": round(100.0 * starved / mt, 3) if mt > 0 else 0.0,
            "dry_s": round(self.waiting_time("dry"), 4),
            "empty_s": round(self.waiting_time("empty"), 4),
            "rx_overflow_bytes": self.rx_overflow_bytes,
        }

    # ------------------------------------------------------------------ geometry and pictures
    def strokes(self) -> list[np.ndarray]:
        """Pen-down segments joined into polylines (machine X, Y in mm; Y up as on the machine)."""
        out: list[list[tuple[float, float]]] = []
        last = None
        for s in self.segments:
            if not s.pen_down or s.length == 0.0:
                continue
            a, b = (s.start[0], s.start[1]), (s.end[0], s.end[1])
            if last is None or math.dist(last, a) > 1e-6:
                out.append([a])
            out[-1].append(b)
            last = b
        return [np.asarray(p, dtype=np.float64) for p in out]

    def to_sketch(self, flip_y: bool = False) -> Sketch:
        """The drawing as a `Sketch` in mm; `flip_y` maps machine Y-up to the page's Y-down (bed_h - y)."""
        strokes = self.strokes()
        if flip_y:
            strokes = [np.column_stack([s[:, 0], self.bed[1] - s[:, 1]]) for s in strokes]
        meta = {"source": "grblsim", "y": "down" if flip_y else "machine (up)", **self.summary()}
        return Sketch(strokes, unit="mm", meta=meta)

    def write_svg(self, path: str | Path, travel: bool = True) -> Path:
        """The bed as seen from above (origin bottom-left), pen-down in black, travel in pink."""
        from plotter.sketch.svg import write_svg

        return write_svg(self.to_sketch(flip_y=True), path, page=(0.0, 0.0, *self.bed), travel=travel,
                         start=(0.0, self.bed[1]))  # fmt: skip

    def write_png(self, path: str | Path, px_per_mm: float = 3.0, travel: bool = True) -> Path:
        from plotter.sketch.render import render_png

        w, h = self.bed
        cell = (max(16, int(w * px_per_mm)), max(16, int(h * px_per_mm)))
        return render_png(self.to_sketch(flip_y=True), path, cell=cell, padding=0.0, frame=(0.0, 0.0, w, h),
                          show_travel=travel, start=(0.0, h))  # fmt: skip

    def write(self, path: str | Path) -> Path:
        """SVG or PNG by suffix."""
        path = Path(path)
        if path.suffix.lower() == ".png":
            return self.write_png(path)
        return self.write_svg(path)
