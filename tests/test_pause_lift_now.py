"""`pause --now` on a servo pen: feed hold mid-stroke, the pen lifts (GRBL's spindle-stop override), and the
resume lowers it exactly where it lifted, waits the pen-down dwell, and finishes the stroke.

The same program on the simulator and on the real GRBL 1.1h firmware (tests/grbl_firmware.py): one long
pen-down stroke, so the hold always lands on it. Protocol outcomes only, never durations.
"""

from __future__ import annotations

import threading
import time

import pytest

from plotter.gcode import pen_commands
from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port

LONG_STROKE = ["G21 G90", "G0 X5 Y5", "M3 S1000", "G4 P0.2", "G1 X35 Y5 F600", "M5", "G4 P0.15", "G0 X0 Y0"]
FAST = {110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}


def _hold_mid_stroke(url: str) -> tuple[dict, object]:
    """Stream LONG_STROKE; once GRBL has planned the stroke, `pause_lift()` from another thread, note what
    GRBL says, `resume()`. Returns the box of outcomes and the port."""
    port = open_port(url)
    streamer = Streamer(port, pen_up=pen_commands("grbl-servo"))
    streamer.pen_down_dwell = 0.2
    streamer.connect()
    box: dict = {}

    def pauser() -> None:
        box["held"] = streamer.pause_lift()
        box["lifted"] = streamer.hold_lift is not None and streamer.hold_lift.lifted
        box["resumed"] = streamer.resume()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.acked >= 5 and "thread" not in box:  # the G1 is planned; its M5 waits for it (a sync)
            box["thread"] = threading.Thread(target=pauser)
            box["thread"].start()
            while not streamer._requests:  # hand the request over before the virtual clock runs on
                time.sleep(0.001)

    box["result"] = streamer.stream(LONG_STROKE, on_progress=on_progress)
    box["thread"].join(60)
    return box, port


def _assert_lifted_and_finished(box: dict) -> None:
    held = box["held"]
    assert held.state == "Hold" and held.substate == 0 and held.spindle == 0  # pen up, in the hold
    assert 5.0 < held.mpos[0] < 35.0 and held.mpos[1] == pytest.approx(5.0)  # stopped mid-stroke
    assert box["lifted"]
    assert box["resumed"].state != "Hold"
    assert box["result"].status == "done" and box["result"].acked == len(LONG_STROKE)


def test_pause_now_lifts_the_servo_pen_and_resume_lowers_it_where_it_lifted_sim() -> None:
    box, port = _hold_mid_stroke("grblsim://")
    _assert_lifted_and_finished(box)
    trace = port.machine.trace
    ups = [t for (t, down) in trace.pen_events if not down]
    assert len(ups) == 3  # power-up, the hold's lift, the program's M5: the hold lifted the pen once more
    ink = [s for s in trace.segments if s.pen_down]
    assert ink[0].start[:2] == (5.0, 5.0) and ink[-1].end[:2] == (35.0, 5.0)  # the whole stroke, no gap
    assert sum(s.length for s in ink) == pytest.approx(30.0)  # nothing twice
    assert trace.pen_settle_min() >= 0.15 - 1e-9  # the pen touched down before the stroke went on


def test_pause_now_on_the_real_firmware(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    box, port = _hold_mid_stroke(grbl_firmware(FAST, speed=0.5))
    _assert_lifted_and_finished(box)
    port.close()


def test_without_a_job_pause_lift_is_a_plain_hold() -> None:
    port = open_port("grblsim://")
    streamer = Streamer(port, pen_up=pen_commands("grbl-servo"))
    streamer.connect()
    assert streamer.pause_lift().state in ("Hold", "Idle")
    port.close()
