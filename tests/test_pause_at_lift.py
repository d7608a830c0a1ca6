"""Pause at the next pen lift: the pen ends up lifted (no ink bleeding in a hold); resume loses nothing."""

from __future__ import annotations

import threading
import time

import pytest

from plotter.gcode import load_profile, pen_commands
from plotter.grbl.flow import clean_line
from plotter.grbl.penchange import lift_gate
from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port
from tests.streamsim import drawn, strokes_job


@pytest.mark.parametrize("acked, sent, expected", [
    (0, 0, 4),   # M5 + its G4: the first lift, nothing sent yet
    (0, 5, 9),   # that lift is already sent past: the next one (index 7) and its dwell
    (6, 8, 9),   # its dwell not sent yet: stop right after it
    (9, 12, 12),  # no lift left: the end of the job
])
def test_lift_gate(acked: int, sent: int, expected: int) -> None:
    lines = ["G21", "G0 X1", "M5", "G4 P0.15", "M3 S1000", "G1 X5 F100", "G1 X6", "M5", "G4 P0.15",
             "G0 X9", "M3 S1000", "G1 X10"]
    assert lift_gate([clean_line(x) for x in lines], ["M5"], acked, sent) == expected


def _stream_with_pause(url: str, lines: list[str], profile: str, after: int):  # type: ignore[no-untyped-def]
    """Stream; once `after` lines are acknowledged, pause at the next lift (from another thread, as the daemon
    and the CLI do), record what the machine says, resume. Returns (result, status at pause, port)."""
    port = open_port(url)
    streamer = Streamer(port, pen_up=pen_commands(profile))
    streamer.connect()
    box: dict = {}

    def pauser() -> None:
        box["held"] = streamer.pause_at_lift()
        box["acked_at_pause"] = box["progress"].acked
        box["resumed"] = streamer.resume()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        box["progress"] = p
        if p.acked >= after and "thread" not in box:
            box["thread"] = threading.Thread(target=pauser)
            box["thread"].start()
            while not streamer._requests:  # hand the request over before the virtual clock runs on
                time.sleep(0.001)

    box["result"] = streamer.stream(lines, on_progress=on_progress)
    box["thread"].join(30)
    return box, port


@pytest.mark.parametrize("profile, url", [("grbl-servo", "grblsim://"), ("grbl-z", "grblsim://?pen=z")])
def test_pause_at_lift_leaves_the_pen_up_and_resume_draws_the_rest(profile: str, url: str) -> None:
    lines = strokes_job()
    if profile == "grbl-z":
        from plotter.gcode import emit
        from plotter.sketch import Sketch

        lines = emit(Sketch([__import__("numpy").array([[10.0 + i * 8, 20.0], [15.0 + i * 8, 40.0]])
                             for i in range(8)], unit="mm"), load_profile("grbl-z"))
    box, port = _stream_with_pause(url, lines, profile, after=len(lines) // 3)
    held = box["held"]
    assert held.state == "Idle"
    if profile == "grbl-servo":
        assert held.spindle == 0  # the servo is at its pen-up value
    else:
        assert held.mpos[2] == pytest.approx(3.0)  # grbl-z: z_up (no work offset set)
    stop = box["acked_at_pause"]
    assert clean_line(lines[stop - 1]).startswith("G4") or clean_line(lines[stop - 1]) in ("M5", "G0Z3")
    assert box["result"].status == "done" and box["result"].acked == len(lines)
    ref = open_port(url)
    ref_streamer = Streamer(ref, pen_up=pen_commands(profile))
    ref_streamer.connect()
    ref_streamer.stream(lines)
    assert drawn(port.machine.trace) == drawn(ref.machine.trace)  # nothing skipped, nothing drawn twice
