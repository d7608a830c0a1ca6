"""Exact resume: which line the machine finished, from its idle position and the acknowledged count."""

from __future__ import annotations

import pytest

from plotter.daemon.resume import (
    TOLERANCE_MM,
    PenSpec,
    exact_resume,
    position_tolerance,
    recorded_rest,
    rest_record,
    segment_resume,
    states_after,
)

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


@pytest.mark.parametrize(
    ("position", "acked", "sent", "stopped_after"),
    [
        ((10, 10), 3, 8, 7),  # the revisit: every written line ran, so the latest match (7), not the travel
        ((10, 10), 3, 7, 4),  # line 7 never written: after the travel, pen-down and dwell (they do not move)
        ((20, 20), 3, 9, 6),  # lines 7, 8 unwritten-or-run: 6 is the only one ending there
        ((0, 0), 9, 11, 10),  # M2 at the same place as line 9: the later, non-moving line is as good
        ((0, 0), 0, 2, 1),  # nothing moved yet: the machine still stands at the origin
    ],
)
def test_exact_resume_with_the_sent_mark_takes_the_latest_match(position, acked, sent, stopped_after) -> None:
    r = exact_resume(PROGRAM, (*position, 0.0), acked, PEN, sent=sent)
    assert r is not None and (r.stopped_after, r.start) == (stopped_after, stopped_after + 1)


def test_exact_resume_with_the_sent_mark_never_looks_past_it_or_before_acked() -> None:
    assert exact_resume(PROGRAM, (0.0, 0.0, 0.0), 3, PEN, sent=9) is None  # line 9 was never written
    assert exact_resume(PROGRAM, (10.0, 10.0, 0.0), 6, PEN, sent=7) is None  # 2..4 ran before acked-1


def test_position_tolerance_is_half_a_step() -> None:
    assert position_tolerance({100: "80.000", 101: "80.000"}) == pytest.approx(0.00625, abs=1e-5)
    assert position_tolerance({100: "800", 101: "1600"}) == TOLERANCE_MM  # fine steps: the floor
    assert position_tolerance({}) == TOLERANCE_MM
    # a real GRBL at 80 steps/mm stops 1/160 mm off a 3-decimal end point: still that line
    r = exact_resume(PROGRAM, (20.006, 19.994, 0.0), 6, PEN, sent=7, tolerance=position_tolerance({100: 80}))
    assert r is not None and r.stopped_after == 6


def _sim_port():  # type: ignore[no-untyped-def]
    from plotter.grbl.link import Link
    from plotter.grbl.protocol_grblsim import Serial

    port = Serial.simulated(timeout=0.05)
    link = Link(port)
    link.wait_for(lambda r: True, 1.0)  # the banner
    return port, link


@pytest.mark.parametrize(("quiet", "ran"), [(0.5, False), (2.5, True)])
def test_settle_outwaits_a_dwell_that_grbl_reports_as_idle(quiet: float, ran: bool) -> None:
    """During G4 GRBL says Idle while the lines after it wait in its RX buffer; a soft reset then would
    drop them. `_settle` waits for `quiet` seconds of rest, which must cover the dwell."""
    from plotter.daemon.device import _settle

    port, link = _sim_port()
    link.write(b"G21G90\nG4P2\nG1X10F3000\n")
    _settle(link, quiet)
    assert (port.machine.queue.position[0] == pytest.approx(10.0)) == ran


def test_pending_dwell_counts_the_unacknowledged_written_lines_of_this_plotters_jobs(tmp_path) -> None:
    from plotter.daemon.device import pending_dwell
    from plotter.daemon.store import JobStore
    from plotter.grbl.journal import Journal

    with JobStore(tmp_path / "jobs.sqlite3") as store:
        mine = store.claim_next("p1") if store.submit("gcode", {}, "\n".join(PROGRAM)) else None
        theirs = store.submit("gcode", {}, "\n".join(PROGRAM), device="p2")
        store.transition(theirs.id, "running", assigned="p2")
        assert mine is not None and pending_dwell(store, "p1") == 0.0  # no journal: nothing written
        for job in (mine, theirs):
            journal = Journal(store.journal_sink(job.id), write_ahead=True)
            journal.begin(PROGRAM)
            journal.sending(9, 2, 2)  # lines 2..8 may be in GRBL's buffers: one G4 P0.2 among them
        assert pending_dwell(store, "p1") == pytest.approx(0.2)
        journal.ack(5, 5)
        assert pending_dwell(store, "p2") == 0.0  # acknowledged: the dwell has run
        assert pending_dwell(store, None) == 0.0


@pytest.mark.parametrize(
    ("position", "synced", "start", "cut", "pen_down"),
    [
        ((20, 15), 5, 6, True, True),  # held halfway along line 6: redraw it from its start, pen lowered
        ((20, 10), 5, 6, False, True),  # held exactly at line 5's end: continue with line 6
        ((10, 10), 5, 5, False, True),  # not moved since `synced` (line 7 also ends here: not that one)
        ((5, 5), 5, 9, True, False),  # held on the travel home: pen up, travel again
        ((15, 15), 3, 7, True, True),  # on line 7 (20,20 -> 10,10): the first segment through it
        ((15, 10), 3, 5, True, True),  # early in the window: line 5, the first line of the stroke
    ],
)
def test_segment_resume_redraws_the_cut_segment(position, synced, start, cut, pen_down) -> None:
    r = segment_resume(PROGRAM, (*position, 0.0), synced, 11, PEN)
    assert r is not None and (r.start, r.cut) == (start, cut)
    assert ("M3S1000" in r.preamble) == pen_down


def test_segment_resume_off_the_path_or_outside_the_window_is_none() -> None:
    assert segment_resume(PROGRAM, (30.0, 5.0, 0.0), 0, 11, PEN) is None
    assert segment_resume(PROGRAM, (20.0, 15.0, 0.0), 7, 11, PEN) is None  # line 6 ran before `synced`
    assert segment_resume(PROGRAM, (5.0, 5.0, 0.0), 5, 9, PEN) is None  # line 9 was never written


BEGIN = {"t": "begin", "lines": 11, "digest": "x", "start": 0, "wa": True}


@pytest.mark.parametrize(
    "records, expected",
    [
        ([BEGIN, {"t": "send", "sent": 5, "acked": 3, "synced": 3}], None),  # nothing pinned: ask the machine
        ([BEGIN, rest_record((20.0, 10.0, 0.0))], (20.0, 10.0, 0.0)),
        ([BEGIN, rest_record((20.0, 10.0, 0.0)), rest_record((0.0, 0.0, 0.0))], (20.0, 10.0, 0.0)),  # first
        ([BEGIN, rest_record((20.0, 10.0, 0.0)), {**BEGIN, "start": 7}], None),  # a later run: its own pin
        ([BEGIN, {"t": "rest", "pos": "here"}], None),  # unreadable: ask the machine
        ([BEGIN, {"t": "rest", "pos": [1.0]}], None),
        ([BEGIN, {"t": "rest"}], None),
    ],
)
def test_recorded_rest_is_the_first_pin_of_the_latest_run(records, expected) -> None:
    assert recorded_rest(records) == expected
