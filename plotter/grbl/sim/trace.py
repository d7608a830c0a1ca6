"""What the simulated machine did: pen-down segments with times, travel, pen lifts, starvation.

A dry run compares this with what was planned (`to_sketch`), renders it (`write_svg`, `write_png`) and
reports honest numbers (`summary`). Starvation is defined precisely: time in which the machine had started
the job (first motion), was not held or alarmed, had an empty planner, and had not yet acknowledged the last
line it was going to get (the final `ok`): the machine stood still waiting for data that was still to come.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
    idle_gaps: list[tuple[float, float]] = field(default_factory=list)  # closed planner-empty intervals
    first_motion: float | None = None
    last_motion_end: float | None = None
    last_ok: float | None = None
    rx_overflow_bytes: int = 0
    bed: tuple[float, float] = (300.0, 200.0)
    _idle_since: float | None = None

    # ------------------------------------------------------------------ recording (machine side)
    def motion_started(self, t: float) -> None:
        if self.first_motion is None:
            self.first_motion = t
        if self._idle_since is not None:
            if t > self._idle_since:
                self.idle_gaps.append((self._idle_since, t))
            self._idle_since = None

    def planner_empty(self, t: float) -> None:
        if self.first_motion is not None and self._idle_since is None:
            self._idle_since = t

    def paused(self) -> None:
        """Hold, alarm or reset: time from here is not starvation."""
        self._idle_since = None

    def add(self, seg: Segment) -> None:
        self.segments.append(seg)
        self.last_motion_end = seg.t1

    def pen(self, t: float, down: bool) -> None:
        if not self.pen_events or self.pen_events[-1][1] != down:
            self.pen_events.append((t, down))

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

    def starved_time(self, now: float | None = None) -> float:
        """Seconds the planner sat empty, mid-job, before the last `ok` (see module docstring)."""
        end = self.last_ok
        if end is None:
            return 0.0
        gaps = list(self.idle_gaps)
        if self._idle_since is not None:
            gaps.append((self._idle_since, max(now if now is not None else end, self._idle_since)))
        return sum(max(0.0, min(b, end) - a) for a, b in gaps if a < end)

    def summary(self) -> dict[str, float | int]:
        mt = self.machine_time
        starved = self.starved_time()
        return {
            "machine_time_s": round(mt, 4),
            "drawn_mm": round(self.drawn_length, 3),
            "travel_mm": round(self.travel_length, 3),
            "pen_lifts": self.pen_lifts,
            "segments": len(self.segments),
            "starved_s": round(starved, 4),
            "starved_pct": round(100.0 * starved / mt, 3) if mt > 0 else 0.0,
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
