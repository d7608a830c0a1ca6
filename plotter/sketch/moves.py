"""Pen moves in drawing order: what an animation replays, from a sketch, a G-code file or a simulator trace.

Why a separate type: a `Sketch` keeps only pen-down strokes, but watching a plot before it happens means
seeing the pen-up travel too, in the order the machine does it. A `Move` is one polyline with the pen up or
down; `moves_from_*` turn each source into that list so the animation code has one input.

The G-code reader understands what our emitter and common senders write (G0/G1, G90/G91, G20/G21, G92,
M3/M4 S, M5, Z moves, comments, N words); pen state follows the same rule as `plotter.plan.estimate`: the
first pen command (an M3/M4/M5 with its S, or a Z-only move) is "up", any other is "down"; a program
without pen commands draws with G1 and travels with G0. Coordinates stay in machine mm, Y up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plotter.errors import GcodeError
from plotter.sketch.core import Sketch

_WORD = re.compile(r"([A-Z])([+-]?(?:\d+\.?\d*|\.\d+))")
_COMMENT = re.compile(r"\([^)]*\)|;.*$")


def parse_words(raw: str, number: int) -> tuple[list[float], list[float], dict[str, float]] | None:
    """Split one G-code line into (G numbers, M numbers, other words) the way GRBL reads it.

    None for a blank, comment-only, `$` or `%` line. The estimator and the animation reader share this so that
    they agree on what a line says. N words are dropped; a line with anything unreadable is a GcodeError.
    """
    text = _COMMENT.sub("", raw).replace(" ", "").replace("\t", "").upper()
    if not text or text[0] in "$%":
        return None
    words = _WORD.findall(text)
    if "".join(a + b for a, b in words) != text:
        raise GcodeError(f"line {number}: cannot read {raw.strip()!r}")
    gs = [float(v) for k, v in words if k == "G"]
    ms = [float(v) for k, v in words if k == "M"]
    vals = {k: float(v) for k, v in words if k not in "GMN"}
    return gs, ms, vals


@dataclass(frozen=True)
class Move:
    """A polyline (N, 2) drawn with the pen down, or travelled with it up; `tag` marks e.g. prefix strokes.

    `seconds`: machine time the move took (a simulator trace knows it; a one-point move with seconds is a
    wait, e.g. a pen lift); None = the animation's clock is path length.
    """

    points: np.ndarray
    down: bool
    tag: str = ""
    seconds: float | None = None

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())


def moves_from_sketch(
    sketch: Sketch, start: Sequence[float] | None = None, tags: Sequence[str] | None = None
) -> list[Move]:
    """Strokes with the pen-up travel between them (and from `start`, if given) in drawing order.

    `tags` gives each stroke a tag; default: "prefix" for the first `sketch.meta["prefix_strokes"]` strokes
    of a completion and "new" for the rest (colours in `plotter.sketch.animate`), else "".
    """
    n_prefix = int(sketch.meta.get("prefix_strokes", 0) or 0)
    moves: list[Move] = []
    prev = None if start is None else np.asarray(start, dtype=np.float64)
    for i, stroke in enumerate(sketch.strokes):
        tag = tags[i] if tags is not None else ("prefix" if i < n_prefix else "new" if n_prefix else "")
        if prev is not None and not np.allclose(prev, stroke[0]):
            moves.append(Move(np.vstack([prev, stroke[0]]), False))
        moves.append(Move(stroke, True, tag))
        prev = stroke[-1]
    return moves


class _GcodeReader:
    """Modal state of a G-code program, enough to know where the pen goes and whether it draws."""

    def __init__(self) -> None:
        self.pos = np.zeros(3)
        self.offset = np.zeros(3)  # G92: machine = work + offset
        self.absolute, self.scale, self.motion = True, 1.0, 0
        self.spindle, self.speed = 5, 0.0
        self.up_sig: tuple | None = None
        self.down = False
        self.moves: list[tuple[np.ndarray, np.ndarray, bool]] = []  # (from, to, pen down)

    def _pen(self, sig: tuple) -> None:
        if self.up_sig is None:
            self.up_sig = sig
        self.down = sig != self.up_sig

    def line(self, raw: str, number: int) -> bool:
        parsed = parse_words(raw, number)
        if parsed is None:
            return True
        gs, ms, vals = parsed
        for g in gs:
            if g in (20.0, 21.0):
                self.scale = 25.4 if g == 20.0 else 1.0
            elif g in (90.0, 91.0):
                self.absolute = g == 90.0
            elif g in (0.0, 1.0):
                self.motion = int(g)
        spindle = next((int(m) for m in ms if m in (3.0, 4.0, 5.0)), self.spindle)
        speed = vals.get("S", self.speed)
        if any(m in (3.0, 4.0, 5.0) for m in ms) or (speed != self.speed and spindle != 5):
            self._pen(("M", spindle, speed if spindle != 5 else None))
        self.spindle, self.speed = spindle, speed
        if any(m in (2.0, 30.0) for m in ms):
            return False
        axes = [vals.get(a) for a in "XYZ"]
        if 4.0 in gs or not any(v is not None for v in axes):
            return True
        if 92.0 in gs:  # the current position gets these work coordinates
            for i, v in enumerate(axes):
                if v is not None:
                    self.offset[i] = self.pos[i] - v * self.scale
            return True
        target = self.pos.copy()
        for i, v in enumerate(axes):
            if v is not None:
                target[i] = v * self.scale + (self.offset[i] if self.absolute else target[i])
        if target[0] == self.pos[0] and target[1] == self.pos[1]:
            if target[2] != self.pos[2]:
                self._pen(("Z", round(float(target[2]), 6)))
        else:
            down = self.down if self.up_sig is not None else self.motion == 1
            self.moves.append((self.pos[:2].copy(), target[:2].copy(), down))
        self.pos = target
        return True


def _join(segments: Iterable[tuple]) -> list[Move]:
    """Consecutive segments (a, b, down[, seconds]) with the same pen state that touch become one polyline;
    a segment with b None is a wait of `seconds` at a (kept on its own)."""
    out: list[list] = []  # [points, down, seconds or None, joinable]
    for a, b, down, *dt in segments:
        t = dt[0] if dt else None
        if b is None:
            out.append([[a], down, t, False])
        elif out and out[-1][3] and out[-1][1] == down and np.allclose(out[-1][0][-1], a):
            out[-1][0].append(b)
            out[-1][2] = None if t is None else out[-1][2] + t
        else:
            out.append([[a, b], down, t, True])
    return [Move(np.asarray(pts, dtype=np.float64), down, seconds=t) for pts, down, t, _ in out]


def moves_from_gcode(lines: Iterable[str]) -> list[Move]:
    """Pen-down and pen-up XY moves of a G-code program (machine mm, Y up), in program order."""
    reader = _GcodeReader()
    for number, raw in enumerate(lines, start=1):
        if not reader.line(raw, number):
            break
    return _join(reader.moves)


def moves_from_trace(trace: object) -> list[Move]:
    """What a simulated machine actually did (`plotter.grbl.sim.trace.PenTrace`), machine mm, Y up, with
    machine time: every move carries its seconds, and standstills (pen lifts, dwells) become waits."""
    segs: list[tuple] = []
    last_t = None
    for s in getattr(trace, "segments", []):
        a = np.asarray(s.start[:2], float)
        if last_t is not None and s.t0 - last_t > 1e-9:
            segs.append((a, None, False, s.t0 - last_t))
        if s.length > 0:
            segs.append((a, np.asarray(s.end[:2], float), bool(s.pen_down), s.t1 - s.t0))
        elif s.t1 > s.t0:  # a Z-only pen move: time passes, the pen stays put
            segs.append((a, None, False, s.t1 - s.t0))
        last_t = s.t1
    return _join(segs)


def flip_y(moves: Sequence[Move]) -> list[Move]:
    """Machine Y-up -> picture Y-down (mirror about the x axis; the renderers fit the bounds anyway)."""
    return [Move(np.column_stack([m.points[:, 0], -m.points[:, 1]]), m.down, m.tag, m.seconds) for m in moves]


GCODE_SUFFIXES = (".gcode", ".nc", ".ngc", ".gc", ".g", ".tap")


def read_gcode(path: str | Path) -> list[str]:
    """The lines of a G-code file; a missing or unreadable file is a `GcodeError` naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as exc:
        raise GcodeError(f"{p}: cannot read: {exc.strerror or exc}") from None
