"""Time estimates: GRBL planner model over parsed G-code, equal to a simulated machine kept full."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plotter.errors import GcodeError
from plotter.plan.estimate import TimeEstimate, estimate_gcode, estimate_moves
from plotter.plan.motion import Kinematics, PlannerQueue
from plotter.sketch import Sketch

KIN = Kinematics(max_rate=(5000.0, 5000.0, 500.0), accel=(500.0, 500.0, 100.0), junction_deviation=0.01)


def test_single_move_and_dwell_by_hand():
    est = estimate_gcode(["G21 G90", "G1 X100 F3000", "G4 P0.5"], KIN)
    assert isinstance(est, TimeEstimate)
    assert est.total_s == pytest.approx(2.1 + 0.5)
    assert est.dwell_s == pytest.approx(0.5) and est.draw_s == pytest.approx(2.1)
    assert est.distance_draw == pytest.approx(100.0) and est.distance_travel == 0.0


def test_pen_moves_are_full_stops_and_classify_draw_and_travel():
    prog = ["M5", "G0 X50", "M3 S1000", "G1 X100 F3000", "M5", "G0 X150"]
    est = estimate_gcode(prog, KIN)
    rapid = 50.0 / (5000 / 60) + (5000 / 60) / 500.0  # 50 mm from rest to rest at the rapid rate
    assert est.pen_moves == 2  # the first M5 changes nothing (spindle already off)
    assert est.travel_s == pytest.approx(2 * rapid)
    assert est.draw_s == pytest.approx(1.1)
    assert est.total_s == pytest.approx(2 * rapid + 1.1)
    assert est.distance_draw == pytest.approx(50.0) and est.distance_travel == pytest.approx(100.0)
    joined = estimate_gcode(["G1 X50 F3000", "G1 X100"], KIN)  # no pen move between: no stop
    assert joined.total_s == pytest.approx(2.1)


def test_servo_s_change_is_a_pen_move_and_z_only_moves_count_as_pen_time():
    est = estimate_gcode(["M3 S30", "G1 X10 F3000", "M3 S90", "G1 X20", "M3 S30"], KIN)
    assert est.pen_moves == 3 and est.distance_draw == pytest.approx(10.0)
    z = estimate_gcode(["G0 Z5", "G0 X10", "G1 Z0 F300", "G1 X20 F3000", "G0 Z5"], KIN)
    assert z.pen_moves == 3
    assert z.distance_draw == pytest.approx(10.0) and z.distance_travel == pytest.approx(10.0)
    assert z.dwell_s > 0 and z.total_s == pytest.approx(z.draw_s + z.travel_s + z.dwell_s)


def test_units_relative_moves_offsets_comments_and_line_numbers():
    inch = estimate_gcode(["G20", "G1 X1 F118.11023622"], KIN)  # 25.4 mm at 3000 mm/min
    mm = estimate_gcode(["G21", "N10 G1 X25.4 F3000 (comment) ; more"], KIN)
    assert inch.total_s == pytest.approx(mm.total_s)
    rel = estimate_gcode(["G91", "G1 X10 F3000", "X10", "X10"], KIN)
    absolute = estimate_gcode(["G90", "G1 X10 F3000", "X20", "X30"], KIN)
    assert rel.total_s == pytest.approx(absolute.total_s) and rel.distance_draw == pytest.approx(30.0)
    g92 = estimate_gcode(["G1 X10 F3000", "G92 X0", "G1 X10"], KIN)
    assert g92.distance_draw == pytest.approx(20.0)
    ended = estimate_gcode(["G1 X10 F3000", "M2", "G1 X500"], KIN)
    assert ended.distance_draw == pytest.approx(10.0)


def test_estimate_equals_a_fixed_step_simulation_kept_full():
    rng = np.random.default_rng(3)
    pts = np.cumsum(rng.normal(0, 3, size=(300, 2)), axis=0)
    prog = ["G21 G90", "F2400"] + [f"G1 X{x:.3f} Y{y:.3f}" for x, y in pts]
    est = estimate_gcode(prog, KIN)
    q = PlannerQueue(KIN, size=15)  # what a simulator does: poll every millisecond, refill when there is room
    todo = [(round(x, 3), round(y, 3), 0.0) for x, y in pts]
    while todo or not q.idle:
        while todo and q.push_line(todo[0], 2400.0):
            todo.pop(0)
        q.advance(0.001)
    assert est.total_s == pytest.approx(q.time, abs=0.0011)
    naive = est.distance_draw / (2400 / 60)
    assert est.total_s > 1.2 * naive  # short jittery segments never reach the feed rate


def test_estimate_moves_matches_written_gcode():
    sk = Sketch(
        [np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]), np.array([[20.0, 20.0], [30.0, 25.0]])], unit="mm"
    )
    est = estimate_moves(sk, KIN, draw_feed=3000.0, pen_up_s=0.2, pen_down_s=0.1)
    assert est.pen_moves == 4
    assert est.dwell_s == pytest.approx(0.2 * 3 + 0.1 * 2)
    assert est.distance_draw == pytest.approx(sk.pen_down_length())
    assert est.distance_travel == pytest.approx(math.hypot(10, 10) + math.hypot(30, 25))
    with pytest.raises(GcodeError, match="mm"):
        estimate_moves(sk.copy(unit="px"), KIN, draw_feed=3000.0)


@pytest.mark.parametrize(
    "line, message",
    [
        ("G2 X10 Y10 I5 J0", "G2"),
        ("G1 X10", "feed"),
        ("G1 X1 F100 @", "cannot read"),
        ("G4", "G4"),
        ("M6", "M6"),
    ],
)
def test_unsupported_or_broken_gcode_names_the_line(line, message):
    with pytest.raises(GcodeError, match=rf"line 2: .*{message}|line 2.*{message}"):
        estimate_gcode(["G21", line], KIN)


def test_g28_goes_home_via_the_intermediate_point_and_g53_uses_machine_coordinates():
    est = estimate_gcode(["G0 X30", "G28 X30 Y40"], KIN)  # to (30, 40), then home to (0, 0)
    assert est.distance_travel == pytest.approx(30.0 + 40.0 + 50.0)
    g53 = estimate_gcode(["G92 X100", "G53 G0 X10", "G0 X110"], KIN)  # work X110 is machine X10
    assert g53.distance_travel == pytest.approx(10.0)


def test_estimate_equals_the_simulated_grbl_machine_time():
    """The selling point: streamed into the GRBL simulator (character counting, 115200 baud, 15 blocks),
    the machine takes exactly the estimated time, dwells and pen moves included."""
    dryrun = pytest.importorskip("plotter.grbl.sim.dryrun")
    from plotter.grbl.protocol_grblsim import SimOptions

    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.normal(0, 8, size=(80, 2)), axis=0) + 100
    xy = [f"X{x:.3f} Y{y:.3f}" for x, y in pts]
    prog = ["G21 G90", "M5", f"G0 {xy[0]}", "M3 S1000", "G4 P0.2", "F3000"]
    prog += [f"G1 {w}" for w in xy[1:40]] + ["M5", "G4 P0.2", f"G0 {xy[40]}", "M3 S1000", "G4 P0.2"]
    prog += [f"G1 {w}" for w in xy[41:]] + ["M5", "G4 P0.2", "G0 X0 Y0", "M2"]
    settings = {110: 5000, 111: 5000, 112: 500, 120: 500, 121: 500, 122: 100, 11: 0.01}
    run = dryrun.dry_run(prog, SimOptions(latency_ms=0.0, settings=settings))
    assert run.failure is None
    est = estimate_gcode(prog, KIN)
    assert run.trace.machine_time == pytest.approx(est.total_s, rel=1e-6)
    assert run.trace.drawn_length == pytest.approx(est.distance_draw, rel=1e-6)
