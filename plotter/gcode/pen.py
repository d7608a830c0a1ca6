"""The pen's G-code, in one place: the emitter, the streamer's pen-up after a cancel, `plotter pen`.

Why: how a pen moves (a servo command or a Z height, then a dwell) is a profile fact; every part that moves
the pen must send the same lines, or a pen-up after a cancel lands higher than the job's own.
"""

from __future__ import annotations

from plotter.gcode.profile import Pen, load_profile
from plotter.gcode.words import fmt as _num


def pen_up_lines(pen: Pen, decimals: int = 3, dwell: bool = True) -> tuple[str, ...]:
    """The profile's lift: `M5` (servo) or `G0 Z<up>` (z), then `G4 P<dwell_up>` if it has one."""
    move = pen.up_command if pen.mode == "servo" else f"G0 Z{_num(pen.z_up, decimals)}"
    return (move, *dwell_lines(pen.dwell_up if dwell else 0.0))


def pen_down_lines(pen: Pen, decimals: int = 3, dwell: bool = True) -> tuple[str, ...]:
    """The profile's lowering: `M3 S1000` (servo) or `G1 Z<down> F<z_feed>` (z), then its dwell."""
    if pen.mode == "servo":
        move = pen.down_command
    else:
        move = f"G1 Z{_num(pen.z_down, decimals)} F{_num(pen.z_feed, 1)}"
    return (move, *dwell_lines(pen.dwell_down if dwell else 0.0))


def dwell_lines(seconds: float) -> tuple[str, ...]:
    return (f"G4 P{_num(seconds, 3)}",) if seconds > 0 else ()


def pen_commands(profile_name: str) -> tuple[str, ...]:
    """The profile's pen-up line(s) without the dwell, sent after a cancel or on shutdown."""
    return pen_up_lines(load_profile(profile_name).pen, dwell=False)
