"""Lost-byte detection by position (issue 15): a garbled digit that moves the pen stops the job resumably."""

from __future__ import annotations

import math

import pytest
from streamsim import byte_index, drawn, sim

from plotter.grbl.journal import Journal, MemorySink, resume_plan
from plotter.grbl.position import PositionCheck, planned_positions
from plotter.grbl.results import PositionError
from plotter.grbl.streamer import Streamer

NAN = float("nan")
# two strokes; line 8 is mid-stroke: its '5' garbled (bit 2 flipped) reads '1': X25.5 -> X21.5, still valid
LINES = ["G21 G90", "M5", "G4 P0.1", "G0 X10 Y10", "M3 S1000", "G4 P0.1", "G1 X20 Y10 F1500", "G1 X25.5 Y15",
         "G1 X30 Y20", "G1 X40 Y20", "M5", "G4 P0.1", "G0 X50 Y50", "M3 S1000", "G4 P0.1", "G1 X60 Y50",
         "M5", "G4 P0.1", "G0 X0 Y0", "M2"]  # fmt: skip


def test_planned_positions_follow_absolute_moves_and_give_up_on_what_they_cannot_follow() -> None:
    got = planned_positions(["G21G90", "G0X1Y2", "G1Z-1F100", "G91", "G0X1", "G90", "G0X5Y5Z0"])
    assert math.isnan(got[0][0]) and got[1][:2] == (1.0, 2.0) and math.isnan(got[1][2])
    assert got[2] == (1.0, 2.0, -1.0)
    assert got[3] is None and got[4] is None and got[5] is None  # relative mode: unknown...
    assert got[6] == (5.0, 5.0, 0.0)  # ...until every axis is named again


def test_check_accepts_the_path_and_names_a_point_off_it() -> None:
    check = PositionCheck(["G0X0Y0Z0", "G1X10Y0F100", "G1X10Y10"], 0, (0.0, 0.0, 0.0))
    check.note_wco((0.0, 0.0, 0.0))
    assert check.check((5.0, 0.0, 0.0), 1, 3) is None  # mid-way along line 2
    assert check.check((10.0, 4.0, 0.0), 1, 3) is None  # along line 3
    why = check.check((5.0, 5.0, 0.0), 1, 3)
    assert why is not None and "off the planned path of lines 2-3" in why
    fresh = PositionCheck(["G0X1"], 0, None)
    assert fresh.check((9.0, 9.0, 9.0), 0, 1) is None  # no WCO yet: nothing is judged


def test_garbled_digit_mid_stroke_stops_with_the_pen_up_and_resumes_the_stroke() -> None:
    clean = sim()
    Streamer(clean).connect()
    streamer = Streamer(clean)
    assert streamer.stream(LINES).status == "done"
    where = byte_index(clean.written, LINES[7], 4)  # 'G1X25.5Y15': byte 4 is the '5' of 25
    port = sim(f"fault=garble@byte:{where}")
    streamer = Streamer(port, pen_up=("M5",))
    streamer.connect()
    journal = Journal(MemorySink())
    with pytest.raises(PositionError) as err:
        streamer.stream(LINES, journal=journal)
    assert "off the planned path" in str(err.value) and "resumable" in str(err.value)
    assert port.machine.spindle_out[0] == "M5"  # held, reset, pen lifted
    state = journal.state()
    assert state.status == "error" and state.failure_point <= 9  # the garbled stroke is not marked done
    plan = resume_plan(LINES, state.failure_point, None)
    assert plan.start_index <= 4  # from the pen-up before the stroke: it is drawn again, whole
    again = sim()
    streamer = Streamer(again, pen_up=("M5",))
    streamer.connect()
    assert streamer.stream(LINES, plan.start_index, preamble=plan.preamble, journal=journal).status == "done"
    assert drawn(clean.machine.trace) <= drawn(port.machine.trace) | drawn(again.machine.trace)
