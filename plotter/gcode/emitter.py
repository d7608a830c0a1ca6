"""Sketch (mm, bed frame) -> G-code lines that GRBL 1.1 accepts.

Why: the G-code is the contract with the machine. Everything here is shaped by GRBL's limits: absolute mm
(G21 G90), plane and feed mode stated once (G17 G94), travel with G0 (or G1 at a profile feed), F only when it
changes, the pen lifted first and last, a G4 dwell after every pen move so a servo has time to move before
the next motion, short numbers without trailing zeros, few and short comments (they count against the 80
characters and the RX buffer), and `M2` at the end. Every emitted line is run through `rules.check_line`.

Frames: sketches arrive in the *bed frame*: mm, x to the right, y *down*, origin at the top-left corner of the
bed seen from above. A machine whose origin is bottom-left (Y up, the usual GRBL plotter) gets y = height - y.
"""

from __future__ import annotations

import re

import numpy as np

from plotter import __version__
from plotter.errors import GcodeError, LayoutError
from plotter.gcode.pen import pen_down_lines, pen_up_lines
from plotter.gcode.profile import Profile
from plotter.gcode.rules import check_line
from plotter.gcode.words import fmt
from plotter.sketch import Sketch

EPS = 1e-6


def comment(text: str, room: int) -> str:
    """A GRBL-safe comment: parentheses content limited to plain characters and `room` characters in all."""
    clean = re.sub(r"[^A-Za-z0-9 ._:,/+=-]", "", text).strip()
    return f"({clean[: max(0, room - 3)]})" if room > 3 and clean else ""


def to_machine(sketch_mm: Sketch, profile: Profile) -> list[np.ndarray]:
    """Bed-frame strokes -> machine XY strokes; refuses anything outside the bed (by how much)."""
    if sketch_mm.unit != "mm":
        raise GcodeError(f"the emitter needs a sketch in mm (lay it out first), got unit {sketch_mm.unit!r}")
    bed = profile.bed
    if sketch_mm.strokes:
        x0, y0, x1, y1 = sketch_mm.bounds()
        over = max(-x0, -y0, x1 - bed.width, y1 - bed.height)
        if over > EPS:
            raise LayoutError(
                f"drawing leaves the {bed.width:g} x {bed.height:g} mm bed of profile {profile.name!r} by "
                f"{over:.2f} mm (x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f})"
            )
    if not bed.y_up:
        return [s.copy() for s in sketch_mm.strokes]
    return [np.column_stack([s[:, 0], bed.height - s[:, 1]]) for s in sketch_mm.strokes]


class _Writer:
    """Tracks modal state (feed, position) so that words are written only when they change."""

    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.d = profile.output.decimals
        self.lines: list[str] = []
        self.feed: str | None = None
        self.pos: tuple[str, str] | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)

    def pen_up(self) -> None:
        self.lines.extend(pen_up_lines(self.p.pen, self.d))

    def pen_down(self) -> None:
        if self.p.pen.mode == "z":  # G1 Z... F<z_feed> changes the modal feed
            self.feed = fmt(self.p.pen.z_feed, 1)
        self.lines.extend(pen_down_lines(self.p.pen, self.d))

    def xy(self, point: np.ndarray) -> tuple[str, str]:
        return fmt(float(point[0]), self.d), fmt(float(point[1]), self.d)

    def move(self, point: np.ndarray, draw: bool) -> None:
        target = self.xy(point)
        if target == self.pos:
            return
        words = f"X{target[0]} Y{target[1]}"
        if draw or self.p.motion.travel_feed is not None:
            feed = fmt(self.p.motion.draw_feed if draw else self.p.motion.travel_feed, 1)
            f_word = "" if feed == self.feed else f" F{feed}"
            self.feed = feed
            self.add(f"G1 {words}{f_word}")
        else:
            self.add(f"G0 {words}")
        self.pos = target


def emit(sketch_mm: Sketch, profile: Profile, *, job_name: str | None = None) -> list[str]:
    """G-code lines (no newlines) drawing the strokes in order; raises if any line would be refused."""
    return emit_pens([("", sketch_mm)], profile, job_name=job_name)


PEN_CHANGE = "PEN "  # a pen change reads `M0 (PEN 2/3 red)`: the sender shows the line it stopped at


def emit_pens(pens: list[tuple[str, Sketch]], profile: Profile, *, job_name: str | None = None) -> list[str]:
    """One program drawing each pen's strokes in turn. Between pens: lift, park at X0 Y0, a comment naming
    the next pen on the `M0` (GRBL's program pause: a feed hold until cycle start `~`). Why a comment and not
    `(MSG,...)`: GRBL 1.1h does not print MSG comments; the sender reads the line from its own file."""
    w = _Writer(profile)
    out = profile.output
    if out.comments:
        label = f"plotter {__version__} {profile.name}" + (f" {job_name}" if job_name else "")
        text = comment(label, min(out.max_line_length - 1, 60))
        if text:
            w.add(text)
    w.add("G21 G90 G17 G94")
    w.lines.extend(work_offset_lines(profile))
    for line in out.header:
        w.add(line)
    w.pen_up()
    for number, (name, sketch_mm) in enumerate(pens, start=1):
        if number > 1:  # the pen is up after every stroke: park where the pen is easy to reach, then wait
            w.move(np.zeros(2), draw=False)
            label = comment(f"{PEN_CHANGE}{number}/{len(pens)} {name}", out.max_line_length - 4)
            w.add(f"M0 {label}".strip())
        for stroke in to_machine(sketch_mm, profile):
            w.move(stroke[0], draw=False)
            w.pen_down()
            if len(stroke) == 1:  # a dot: pen down and up in place
                w.pos = w.xy(stroke[0])
            for point in stroke[1:]:
                w.move(point, draw=True)
            w.pen_up()
    for line in out.footer:
        w.add(line)
    if out.return_home:
        w.move(np.zeros(2), draw=False)
    w.add("M2")
    validate_lines(w.lines, profile)
    return w.lines


def work_offset_lines(profile: Profile) -> list[str]:
    """`bed.machine_space: negative`: put G54's zero on the bed's origin corner of a homed stock GRBL.

    Stock GRBL (no HOMING_FORCE_SET_ORIGIN) keeps machine coordinates in [-max_travel, 0] after homing, and
    soft limits ($20=1) raise ALARM:2 on any target outside; our G-code draws in [0, bed], so it offsets
    G54 by -bed (the far corner from the switches is -travel). In z mode the pen heights sit below the
    switch at the top: work Z 0 is machine Z -(z_up + 1). G10 L2 writes EEPROM: the streamer sends it alone.
    """
    bed, d = profile.bed, profile.output.decimals
    if bed.machine_space != "negative":
        return []
    words = f"X{fmt(-bed.width, d)} Y{fmt(-bed.height, d)}"
    if profile.pen.mode == "z":
        words += f" Z{fmt(-(max(profile.pen.z_up, profile.pen.z_down) + 1.0), d)}"
    return [f"G10 L2 P1 {words}", "G54"]


def validate_lines(lines: list[str], profile: Profile) -> None:
    """Raise `GcodeError` naming the first line the firmware would refuse."""
    for number, line in enumerate(lines, start=1):
        problems = check_line(line, profile)
        if problems:
            raise GcodeError(f"line {number} {line!r}: {problems[0]}")
