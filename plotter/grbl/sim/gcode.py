"""The G-code interpreter of the simulated GRBL: gcode.c's parse and error-check steps, in Python.

`interpret(line, gc, tables, laser)` reads one stripped, upper-cased line (what protocol.c hands to
gc_execute_line), checks it the way GRBL does (same checks, same order, same error codes), commits the
modal state and returns the `Op`s the machine must run in GRBL's execution order (spindle syncs, dwells,
lines). Nothing here knows about time; the machine decides when each op may run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from plotter.grbl.sim import status as st
from plotter.grbl.sim.status import GrblStatus

MM_PER_INCH = 25.4
MAX_LINE_NUMBER = 10_000_000
MAX_TOOL_NUMBER = 255
VALUE_LETTERS = "FIJKLNPRSTXYZ"
AXES = "XYZ"


@dataclass
class Modal:
    """GRBL's gc_state.modal, with G/M numbers as printed by `$G`."""

    motion: str = "G0"
    coord: int = 0  # 0..5 -> G54..G59
    plane: str = "G17"
    units: str = "G21"
    distance: str = "G90"
    feed_mode: str = "G94"
    program_flow: str = ""  # "", "M0", "M1", "M2", "M30"
    spindle: str = "M5"
    coolant: str = "M9"


@dataclass
class GcState:
    """Parser state (gc_state): modal groups, F, S, T, N and the parser's idea of the position (mm)."""

    modal: Modal = field(default_factory=Modal)
    feed: float = 0.0  # mm/min
    spindle_speed: float = 0.0
    tool: int = 0
    line_number: int = 0
    position: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # machine coords
    g92: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def report(self) -> str:
        """`$G` body: [GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]."""
        m = self.modal
        parts = [m.motion, f"G{54 + m.coord}", m.plane, m.units, m.distance, m.feed_mode]
        if m.program_flow:
            parts.append(m.program_flow)
        parts += [m.spindle, m.coolant, f"T{self.tool}"]
        feed = self.feed / MM_PER_INCH if m.units == "G20" else self.feed
        parts += [f"F{feed:.0f}", f"S{self.spindle_speed:.0f}"]
        return "[GC:" + " ".join(parts) + "]"


@dataclass
class Tables:
    """EEPROM coordinate data: G54-G59 work offsets and the G28/G30 stored positions (machine mm)."""

    wcs: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0, 0.0] for _ in range(6)])
    g28: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    g30: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Op:
    """One thing the machine runs for a line: kind in sync, spindle, dwell, line, arc, eeprom, flow."""

    kind: str
    target: tuple[float, float, float] | None = None
    feed: float = 0.0  # mm/min; for inverse time already converted
    rapid: bool = False
    value: float = 0.0  # dwell seconds, spindle speed, ...
    text: str = ""  # spindle mode / program flow word
    arc: tuple | None = None  # (center_xy_in_plane, axis indices, clockwise) for "arc"


def read_float(line: str, i: int) -> tuple[float, int] | None:
    """nuts_bolts.c read_float: optional sign, digits with at most one '.', at least one digit."""
    n = len(line)
    j = i
    if j < n and line[j] in "+-":
        j += 1
    digits = 0
    dot = False
    start = j
    while j < n:
        c = line[j]
        if "0" <= c <= "9":
            digits += 1
        elif c == "." and not dot:
            dot = True
        else:
            break
        j += 1
    if not digits:
        return None
    return float(line[i:j]) if j > start else 0.0, j


def split_words(line: str) -> list[tuple[str, float]]:
    """Step 2's scan: letter then number, or error:1 (no letter) / error:2 (no number)."""
    words = []
    i, n = 0, len(line)
    while i < n:
        letter = line[i]
        if not ("A" <= letter <= "Z"):
            raise GrblStatus(st.EXPECTED_COMMAND_LETTER)
        got = read_float(line, i + 1)
        if got is None:
            raise GrblStatus(st.BAD_NUMBER_FORMAT)
        value, i = got
        words.append((letter, value))
    return words


_G_GROUPS = {
    0: "motion", 1: "motion", 2: "motion", 3: "motion", 38: "motion", 80: "motion",
    4: "non_modal", 10: "non_modal", 28: "non_modal", 30: "non_modal", 53: "non_modal", 92: "non_modal",
    17: "plane", 18: "plane", 19: "plane", 90: "distance", 91: "distance", 93: "feed_mode", 94: "feed_mode",
    20: "units", 21: "units", 40: "cutter", 43: "tlo", 49: "tlo", 54: "coord", 55: "coord", 56: "coord",
    57: "coord", 58: "coord", 59: "coord", 61: "control",
}  # fmt: skip
_M_GROUPS = {0: "flow", 1: "flow", 2: "flow", 30: "flow", 3: "spindle", 4: "spindle", 5: "spindle",
             8: "coolant", 9: "coolant"}  # fmt: skip
_ALLOWED_MANTISSA = {28: (10,), 30: (10,), 92: (10,), 38: (20, 30, 40, 50), 43: (10,), 91: (10,)}


@dataclass
class Block:
    """What step 2 collected from one line."""

    g: dict[str, str] = field(default_factory=dict)  # modal group -> word, e.g. "motion" -> "G1"
    m: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    axis_command: str = ""  # "", "motion", "non_modal"


def collect(words: list[tuple[str, float]]) -> Block:
    """Step 2: sort words into modal groups and value words, with GRBL's per-word errors."""
    b = Block()
    for letter, value in words:
        if letter in "GM":
            int_value = math.trunc(value)
            mantissa = round(100 * (value - int_value))
            table = _G_GROUPS if letter == "G" else _M_GROUPS
            if letter == "M" and mantissa > 0:
                raise GrblStatus(st.COMMAND_VALUE_NOT_INTEGER)
            if int_value not in table:
                raise GrblStatus(st.UNSUPPORTED_COMMAND)
            group = table[int_value]
            word = f"{letter}{int_value}"
            if letter == "G":
                if int_value in (0, 1, 2, 3, 38):
                    if b.axis_command:
                        raise GrblStatus(st.AXIS_COMMAND_CONFLICT)
                    b.axis_command = "motion"
                if int_value in (10, 28, 30, 92) and mantissa == 0:
                    if b.axis_command:
                        raise GrblStatus(st.AXIS_COMMAND_CONFLICT)
                    b.axis_command = "non_modal"
                if mantissa:
                    if mantissa not in _ALLOWED_MANTISSA.get(int_value, ()):
                        raise GrblStatus(st.COMMAND_VALUE_NOT_INTEGER if int_value not in _ALLOWED_MANTISSA
                                         else st.UNSUPPORTED_COMMAND)  # fmt: skip
                    word = f"G{int_value}.{mantissa // 10}"
                if word.startswith("G38") or word == "G43":
                    raise GrblStatus(st.UNSUPPORTED_COMMAND)  # a pen plotter has no probe; G43 needs .1
                if word == "G91.1":
                    group = "arc_ijk"
            groups = b.g if letter == "G" else b.m
            if group in groups:
                raise GrblStatus(st.MODAL_GROUP_VIOLATION)
            groups[group] = word
        elif letter in VALUE_LETTERS:
            if letter in b.values:
                raise GrblStatus(st.WORD_REPEATED)
            if letter in "FNPTS" and value < 0.0:
                raise GrblStatus(st.NEGATIVE_VALUE)
            if letter == "T" and value > MAX_TOOL_NUMBER:
                raise GrblStatus(st.MAX_VALUE_EXCEEDED)
            b.values[letter] = value
        else:
            raise GrblStatus(st.UNSUPPORTED_COMMAND)
    return b
