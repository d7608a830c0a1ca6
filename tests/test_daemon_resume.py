"""Exact resume: which line the machine finished, from its idle position and the acknowledged count."""

from __future__ import annotations

import pytest

from plotter.daemon.resume import PenSpec, exact_resume, states_after

PROGRAM = [
    "G21 G90",  # 0
    "M5",  # 1
    "G0 X10 Y10",  # 2
    "M3 S1000",  # 3
    "G4 P0.2",  # 4
    "G1 X20 Y10 F3000",  # 5
    "G1 X20 Y20",  # 6
    "G1 X10 Y10",  # 7  back at the stroke's start (a revisit)
    "M5",  # 8
    "G0 X0 Y0",  # 9
    "M2",  # 10
]
PEN = PenSpec()


def test_states_track_position_pen_and_feed() -> None:
    s = states_after(PROGRAM, PEN)
    assert s[2].pos[:2] == (10, 10) and not s[2].pen_down
    assert s[5].pen_down and s[5].feed == 3000 and s[5].motion == "G1"
    assert not s[8].pen_down and s[9].pos[:2] == (0, 0)


@pytest.mark.parametrize(
    ("position", "acked", "stopped_after", "pen_down"),
    [
        ((20, 10), 5, 5, True),  # mid-stroke: continue with the pen lowered again, no retrace
        ((20, 20), 6, 6, True),
        ((10, 10), 7, 7, True),  # only line 7 ends at 10,10 at or after acked-1
        ((10, 10), 3, 2, False),  # earlier acks: the first match (the travel) wins, never a later one
        ((0, 0), 10, 9, False),
    ],
)
def test_exact_resume_table(position, acked, stopped_after, pen_down) -> None:
    r = exact_resume(PROGRAM, (*position, 0.0), acked, PEN)
    assert r is not None and r.stopped_after == stopped_after and r.start == stopped_after + 1
    assert ("M3S1000" in r.preamble) == pen_down
    assert r.preamble[0] == "G21" and any(x.startswith("G0X") for x in r.preamble)
    assert r.preamble.index("M5") < next(i for i, x in enumerate(r.preamble) if x.startswith("G0X"))


def test_unknown_position_or_outside_the_rx_window_is_none() -> None:
    assert exact_resume(PROGRAM, (99.0, 99.0, 0.0), 5, PEN) is None
    assert exact_resume(PROGRAM, (0.0, 0.0, 0.0), 4, PEN, rx_size=16) is None  # line 9 cannot have arrived
    assert exact_resume(PROGRAM, (0.0, 0.0, 0.0), 4, PEN).stopped_after == 9  # it can with 128 bytes


def test_z_pen_compares_height() -> None:
    pen = PenSpec(mode="z", up=(), down=(), z_up=5.0, z_down=0.0)
    prog = ["G21 G90", "G0 Z5", "G0 X1 Y1", "G1 Z0 F500", "G1 X2 Y1", "G0 Z5"]
    r = exact_resume(prog, (2.0, 1.0, 0.0), 4, pen)
    assert r is not None and r.stopped_after == 4 and "G1Z0.0000" in r.preamble
    r = exact_resume(prog, (2.0, 1.0, 5.0), 4, pen)
    assert r is not None and r.stopped_after == 5
