"""GRBL 1.1's documented rules for one G-code line, as a pure checker.

Why: the emitter, `plotter profiles validate`, the streamer and the daemon all need to know *before
sending* whether the firmware would answer `error:N` (a line that errors mid-job leaves the pen wherever it
was). The rules follow gnea/grbl `gcode.c`/`protocol.c` and `doc/csv/error_codes_en_US.csv`: line length
(error 11), letters and numbers (1, 2), supported commands (20), one command per modal group (21), axis
command conflicts (24), repeated words (25), integer values (23), missing/unused value words (28, 36)
and negative values (4). `check_program` adds the rules that need modal state across lines
(feed rate undefined, error 22; axis words after G80, error 31).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

# firmware -> longest line *including* the newline (GRBL: LINE_BUFFER_SIZE 80).
LINE_LIMITS = {"grbl": 80, "grblhal": 257, "fluidnc": 256}

# G codes GRBL 1.1 supports, mapped to their modal group (gcode.c).
G_GROUPS: dict[str, str] = {
    **dict.fromkeys(["4", "10", "28", "28.1", "30", "30.1", "53", "92", "92.1"], "non-modal"),
    **dict.fromkeys(["0", "1", "2", "3", "38.2", "38.3", "38.4", "38.5", "80"], "motion"),
    **dict.fromkeys(["17", "18", "19"], "plane"),
    **dict.fromkeys(["90", "91"], "distance"),
    "91.1": "arc-distance",
    **dict.fromkeys(["93", "94"], "feed-mode"),
    **dict.fromkeys(["20", "21"], "units"),
    "40": "cutter-comp",
    **dict.fromkeys(["43.1", "49"], "tool-length"),
    **dict.fromkeys(["54", "55", "56", "57", "58", "59"], "coordinate-system"),
    "61": "control-mode",
}
M_GROUPS: dict[str, str] = {
    **dict.fromkeys(["0", "1", "2", "30"], "stopping"),
    **dict.fromkeys(["3", "4", "5"], "spindle"),
    **dict.fromkeys(["7", "8", "9"], "coolant"),
}
# grblHAL and FluidNC accept more; we allow only the extras a plotter might see (extra axes, digital outputs).
EXTRA_M = {"grblhal": {"62", "63", "64", "65"}, "fluidnc": {"62", "63", "64", "65", "67", "68"}}
VALUE_WORDS = set("FIJKLNPRSTXYZ")
EXTRA_AXES = {"grbl": set(), "grblhal": set("ABC"), "fluidnc": set("ABC")}
AXIS_COMMANDS = {"10", "28", "30", "92"}  # non-modal commands that take axis words
MOTION_WITH_AXES = {"0", "1", "2", "3", "38.2", "38.3", "38.4", "38.5"}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_WORD = re.compile(rf"([A-Z])({_NUMBER})")


class _ProfileLike(Protocol):
    firmware: str

    @property
    def max_line_length(self) -> int: ...


def strip_line(line: str) -> tuple[str, list[str]]:
    """Drop comments and whitespace and upper-case, as GRBL's protocol layer does; report comment faults."""
    out, problems, depth = [], [], False
    for ch in line:
        if depth:
            if ch == ")":
                depth = False
            continue
        if ch == "(":
            depth = True
        elif ch == ";":
            break
        elif ch == ")":
            problems.append("')' without an opening '(' (error:1)")
        elif not ch.isspace():
            out.append(ch.upper())
    if depth:
        problems.append("comment '(' is not closed on this line")
    return "".join(out), problems


def _limits(profile: _ProfileLike | None) -> tuple[str, int]:
    if profile is None:
        return "grbl", LINE_LIMITS["grbl"]
    return profile.firmware, int(profile.max_line_length)


def parse_words(stripped: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Split a stripped line into (letter, number-text) words; report text that is neither."""
    words, problems, pos = [], [], 0
    while pos < len(stripped):
        m = _WORD.match(stripped, pos)
        if m:
            words.append((m.group(1), m.group(2)))
            pos = m.end()
            continue
        if stripped[pos].isalpha():
            problems.append(f"'{stripped[pos]}' has no valid number after it (error:2)")
        else:
            problems.append(f"expected a command letter at {stripped[pos : pos + 8]!r} (error:1)")
        break
    return words, problems


def _code(value: str) -> str | None:
    """Canonical code text ('01' -> '1', '38.20' -> '38.2'); None if it is not a plain code number."""
    if value.startswith(("+", "-")):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    text = f"{number:.1f}"
    return text[:-2] if text.endswith(".0") else text


def check_line(line: str, profile: _ProfileLike | None = None) -> list[str]:
    """Every way the firmware would refuse this single line; an empty list means GRBL answers `ok`."""
    firmware, limit = _limits(profile)
    problems: list[str] = []
    if "\n" in line or "\r" in line:
        return ["a line must not contain a newline or carriage return"]
    if len(line) + 1 > limit:
        problems.append(
            f"line is {len(line) + 1} characters with its newline; {firmware} accepts {limit} (error:11)"
        )
    if not line.isascii():
        problems.append("line contains non-ASCII characters")
    stripped, faults = strip_line(line)
    problems += faults
    if not stripped:
        return problems
    if stripped[0] in "$%":
        return problems + [f"'{stripped[0]}' lines are system commands, not G-code"]
    words, faults = parse_words(stripped)
    problems += faults
    return problems + _check_words(words, firmware)


def _check_words(words: list[tuple[str, str]], firmware: str) -> list[str]:
    problems: list[str] = []
    groups: dict[str, str] = {}
    seen: set[str] = set()
    g_codes: set[str] = set()
    allowed = VALUE_WORDS | EXTRA_AXES.get(firmware, set())
    m_extra = EXTRA_M.get(firmware, set())
    axis_cmds = 0
    for letter, value in words:
        if letter in "GM":
            code = _code(value)
            table = G_GROUPS if letter == "G" else M_GROUPS
            if code is None or (code not in table and not (letter == "M" and code in m_extra)):
                problems.append(f"{letter}{value} is not a supported command (error:20)")
                continue
            group = f"{letter}:{table.get(code, 'io')}"
            if group in groups and table.get(code) is not None:
                problems.append(f"{groups[group]} and {letter}{value} are in the same modal group (error:21)")
            groups[group] = f"{letter}{value}"
            if letter == "G":
                g_codes.add(code)
                axis_cmds += (code in AXIS_COMMANDS) + (code in MOTION_WITH_AXES)
        elif letter not in allowed:
            problems.append(f"word {letter}{value} is not supported by {firmware} (error:20)")
        elif letter in seen:
            problems.append(f"word {letter} appears twice (error:25)")
        else:
            seen.add(letter)
            problems += _check_value(letter, value)
    motions = {g for g in g_codes if G_GROUPS[g] == "motion"}
    if "53" in g_codes and motions - {"0", "1"}:
        problems.append("G53 only works with G0 or G1 (error:30)")
    if axis_cmds > 1:
        problems.append("two commands that use axis words on one line (error:24)")
    if "4" in g_codes and "P" not in seen:
        problems.append("G4 needs a P word (dwell seconds) (error:28)")
    if "P" in seen and not g_codes & {"4", "10"}:
        problems.append("P word without G4 or G10 (error:36)")
    if "L" in seen and "10" not in g_codes:
        problems.append("L word without G10 (error:36)")
    return problems


def _check_value(letter: str, value: str) -> list[str]:
    number = float(value)
    if letter in "FSP" and number < 0:
        return [f"{letter}{value}: value must not be negative (error:4)"]
    if letter == "N" and (number != int(number) or not 0 <= number <= 9999999):
        return [f"N{value}: line numbers are integers 0..9999999 (error:27)"]
    if letter in "LT" and number != int(number):
        return [f"{letter}{value}: needs an integer value (error:23)"]
    return []


def check_program(lines: Iterable[str], profile: _ProfileLike | None = None) -> list[tuple[int, str]]:
    """Check each line and the modal state across lines; returns (1-based line number, problem) pairs."""
    out: list[tuple[int, str]] = []
    motion: str | None = "0"  # GRBL powers up in G0
    feed_set = False
    for number, line in enumerate(lines, start=1):
        problems = check_line(line, profile)
        out += [(number, p) for p in problems]
        if problems:
            continue
        words, _ = parse_words(strip_line(line)[0])
        letters = {w[0] for w in words}
        gs = {_code(v) for k, v in words if k == "G"}
        feed_set = feed_set or "F" in letters
        new_motion = next((g for g in gs if G_GROUPS.get(g or "") == "motion"), None)
        motion = new_motion or motion
        has_axes = bool(letters & set("XYZABC"))
        if not has_axes or gs & AXIS_COMMANDS:
            continue
        if motion == "80":
            out.append((number, "axis words with no motion mode in effect (error:31)"))
        elif motion in {"1", "2", "3"} and not feed_set:
            out.append((number, f"G{motion} move before any feed rate F was set (error:22)"))
    return out
