"""The simulated machine's timing and state: RX buffer, planner back-pressure, hold, reset, limits, trace.

Driven directly in simulated time (`receive` bytes at t, `advance_to`), so every instant is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from plotter.grbl.sim.dryrun import dry_run
from plotter.grbl.sim.machine import MachineConfig, SimulatedGrbl
from plotter.plan.estimate import estimate_gcode

BANNER = "Grbl 1.1h ['$' for help]"


def lines_out(m: SimulatedGrbl) -> list[tuple[float, str]]:
    """(time, line) of everything the machine said since the last call, blank lines dropped."""
    out = []
    for t, data in m.take_output():
        out += [(t, text) for text in data.decode().split("\r\n") if text]
    return out


def texts(m: SimulatedGrbl) -> list[str]:
    return [text for _, text in lines_out(m)]


def machine(**settings: float) -> SimulatedGrbl:
    m = SimulatedGrbl(MachineConfig(settings={int(k[1:]): v for k, v in settings.items()}))
    m.take_output()  # banner
    return m


def send(m: SimulatedGrbl, data: str | bytes, at: float | None = None) -> None:
    m.receive(m.now if at is None else at, data.encode() if isinstance(data, str) else data)
    m.advance_to(m.now if at is None else at)


def status(m: SimulatedGrbl) -> str:
    send(m, "?")
    return [t for t in texts(m) if t.startswith("<")][-1]


def test_rx_buffer_drops_what_does_not_fit_and_counts_it() -> None:
    m = machine()
    line = "G1 X100.000 Y100.000 F500\n"  # 26 bytes, a 2-second move each
    flood = [line.replace("100.000", f"{100 + i:07.3f}") for i in range(40)]
    data = "".join(flood)
    send(m, data, at=0.0)  # a sender ignoring flow control: everything at once, zero latency
    assert len(m.queue) == 15  # planner full
    assert len(m.rx) == 127  # a 128-byte ring buffer holds 127
    consumed = 16 * len(line)  # 15 lines in the planner, the 16th parsed and waiting for a slot
    assert m.rx_overflow_bytes == len(data) - consumed - 127
    assert m.trace.rx_overflow_bytes == m.rx_overflow_bytes
    assert texts(m).count("ok") == 15


def test_no_overflow_when_counting_characters() -> None:
    moves = [f"G1 X{10 + i % 7}.5 Y{10 + i % 5}.25 F4000" for i in range(300)]
    program = ["G21 G90", "M3 S1000", *moves, "M5"]
    run = dry_run(program)
    assert run.failure is None
    assert run.trace.rx_overflow_bytes == 0
    assert run.responses.count("ok") == len(program)


def test_planner_backpressure_holds_the_ok_until_a_block_completes() -> None:
    m = machine()
    send(m, "".join(f"G1 X{i * 10} F3000\n" for i in range(1, 18)), at=0.0)
    got = lines_out(m)
    assert [t for t, text in got if text == "ok"] == [0.0] * 15
    assert status(m).split("|")[2] == f"Bf:0,{128 - len('G1 X170 F3000') - 1}"  # the 17th line waits in RX
    m.advance_to(5.0)
    oks = [t for t, text in lines_out(m) if text == "ok"]
    first_done = m.trace.segments[0].t1
    assert oks[0] == pytest.approx(first_done)  # line 16 acknowledged when block 1 freed its slot
    assert oks[1] == pytest.approx(m.trace.segments[1].t1)


def test_realtime_bytes_act_at_once_and_never_enter_the_line() -> None:
    m = machine()
    send(m, "G0 X?1", at=0.0)
    assert texts(m)[0].startswith("<Idle|")
    send(m, "0\n")
    assert texts(m) == ["ok"] and m.gc.position[0] == 10.0


def test_cr_lf_gives_two_oks_as_grbl_does() -> None:
    m = machine()
    send(m, "G21\r\n")
    assert texts(m) == ["ok", "ok"]


def test_feed_hold_decelerates_then_stops_and_resumes() -> None:
    m = machine()
    send(m, "G1 X200 F3000\n", at=0.0)
    m.advance_to(1.0)
    assert status(m).startswith("<Run|")
    send(m, "!")
    assert status(m).startswith("<Hold:1|")
    m.advance_to(1.0 + 50.0 / 800.0 + 1e-6)  # v / a: 50 mm/s at 800 mm/s^2
    held = status(m)
    assert held.startswith("<Hold:0|")
    m.advance_to(3.0)
    assert status(m) == held.replace("WCO", "WCO")  # stopped: nothing moves while held
    send(m, "~")
    assert status(m).startswith("<Run|")
    m.advance_to(10.0)
    assert status(m).startswith("<Idle|MPos:200.000,")


def test_soft_reset_in_motion_alarms_and_locks() -> None:
    m = machine()
    send(m, "M3 S1000\nG1 X100 F3000\n", at=0.0)
    m.advance_to(0.5)
    texts(m)
    send(m, b"\x18")
    assert texts(m) == ["ALARM:3", BANNER, "[MSG:'$H'|'$X' to unlock]"]
    assert status(m).startswith("<Alarm|")
    x = m.queue.position[0]
    assert 0 < x < 100 and m.trace.segments[-1].end[0] == pytest.approx(x)  # drawn up to where it stopped
    send(m, "G0 X0\n")
    assert texts(m) == ["error:9"]
    send(m, "$X\nG0 X0\n")
    assert texts(m) == ["[MSG:Caution: Unlocked]", "ok", "ok"]


def test_soft_reset_in_hold_keeps_position_without_alarm() -> None:
    m = machine()
    send(m, "G1 X100 F3000\n", at=0.0)
    m.advance_to(0.5)
    send(m, "!")
    m.advance_to(1.0)
    x = m.queue.position[0]
    texts(m)
    send(m, b"\x18")
    assert texts(m) == [BANNER]
    assert status(m).startswith(f"<Idle|MPos:{x:.3f},")


def test_soft_limit_alarm_2_before_the_move() -> None:
    m = machine(s22=1, s20=1)  # soft limits need homing enabled; power-up is then locked
    send(m, "$X\nG0 X-50\nG4 P0\n")  # stock GRBL: machine space is [-max_travel, 0]
    m.advance_to(5.0)
    texts(m)
    send(m, "G0 X-301\nG0 X-10\n?")  # beyond $130 = 300 mm
    assert texts(m) == ["ALARM:2", "[MSG:Reset to continue]"]
    m.advance_to(10.0)
    assert texts(m) == []  # nothing else is processed until a reset, not even `?`
    assert m.queue.position[0] == -50.0  # the bad move never started
    send(m, b"\x18")
    assert texts(m) == ["ok", BANNER, "[MSG:'$H'|'$X' to unlock]"]  # the alarmed line ends as GRBL resets


def test_soft_limit_while_moving_holds_first_so_position_is_kept() -> None:
    m = machine(s22=1, s20=1)
    send(m, "$X\nG1 X-100 F3000\n", at=0.0)
    m.advance_to(1.0)
    texts(m)
    send(m, "G0 X10\n")
    assert texts(m) == []  # first the machine decelerates (a feed hold) ...
    m.advance_to(1.0 + 50.0 / 800.0 + 1e-6)
    assert texts(m) == ["ALARM:2", "[MSG:Reset to continue]"]  # ... then alarms, stopped
    assert -100.0 < m.queue.position[0] < -40.0  # short of the target, position still known
    assert m.queue.speed == 0.0


def test_spindle_sync_waits_for_the_planner_without_laser_mode() -> None:
    m = machine()
    send(m, "M3 S1000\nG1 X30 F3000\nM5\n", at=0.0)
    m.advance_to(5.0)
    oks = [t for t, text in lines_out(m) if text == "ok"]
    assert oks[:2] == [0.0, 0.0]
    assert oks[2] == pytest.approx(m.trace.segments[-1].t1)  # M5 waited for the line to finish
    assert m.trace.pen_events[-2:][0][1] and not m.trace.pen_events[-1][1]


def test_laser_mode_lifts_the_pen_on_rapids() -> None:
    m = machine(s32=1)
    send(m, "M3 S1000\nG1 X10 F3000\nG0 X20\nG1 X30\nG4 P0\n", at=0.0)
    m.advance_to(5.0)
    assert [s.pen_down for s in m.trace.segments] == [True, False, True]


def test_z_pen_mode_draws_below_the_threshold() -> None:
    m = SimulatedGrbl(MachineConfig(pen="z", pen_z=0.0))
    send(m, "G0 Z3\nG0 X10\nG1 Z0 F600\nG1 X20 F3000\nG0 Z3\nG0 X0\nG4 P0\n", at=0.0)
    m.advance_to(10.0)
    assert [s.pen_down for s in m.trace.segments] == [False, False, False, True, False, False]
    assert m.trace.pen_lifts == 1 and m.trace.drawn_length == pytest.approx(10.0)


def test_overrides_change_speed() -> None:
    def duration(realtime: bytes, line: str) -> float:
        m = machine()
        send(m, realtime, at=0.0)
        send(m, line + "\nG4 P0\n", at=0.0)
        m.advance_to(60.0)
        return m.trace.segments[0].t1

    base = duration(b"", "G1 X200 F1200")
    faster = duration(bytes([0x91]) * 5, "G1 X200 F1200")  # +50 %
    assert faster == pytest.approx(base / 1.5, rel=0.02)
    assert duration(bytes([0x97]), "G0 X200") > 3.5 * duration(b"", "G0 X200")  # rapids at 25 %


def test_dwell_answers_after_its_time() -> None:
    m = machine()
    send(m, "G4 P1.5\n", at=2.0)
    m.advance_to(10.0)
    assert [t for t, text in lines_out(m) if text == "ok"] == [pytest.approx(3.5)]


SQUARE = ["G21 G90", "M5", "G4 P0.15", "G0 X10 Y10", "M3 S1000", "G4 P0.2", "G1 X60 Y10 F3000",
          "G1 X60 Y60", "G1 X10 Y60", "G1 X10 Y10", "M5", "G4 P0.15", "G0 X0 Y0", "M2"]  # fmt: skip


def test_square_draws_its_four_sides_in_the_estimated_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = dry_run(SQUARE)
    trace = run.trace
    assert run.failure is None and run.responses[-2:] == ["[MSG:Pgm End]", "ok"]
    down = [(s.start[:2], s.end[:2]) for s in trace.segments if s.pen_down]
    assert down == [((10, 10), (60, 10)), ((60, 10), (60, 60)), ((60, 60), (10, 60)), ((10, 60), (10, 10))]
    assert trace.drawn_length == pytest.approx(200.0) and trace.pen_lifts == 1
    assert all(a.t1 <= b.t0 for a, b in zip(trace.segments, trace.segments[1:]))
    machine_ = SimulatedGrbl()
    estimate = estimate_gcode(SQUARE, machine_.queue.kinematics, planner_blocks=15)
    assert trace.machine_time == pytest.approx(estimate.total_s, abs=1e-6)
    assert trace.summary()["starved_s"] == pytest.approx(0.0, abs=1e-6)
    sketch = trace.to_sketch()
    assert sketch.unit == "mm" and len(sketch.strokes) == 1
    np.testing.assert_allclose(sketch.strokes[0], [[10, 10], [60, 10], [60, 60], [10, 60], [10, 10]])
    svg, png = trace.write(tmp_path / "t.svg"), trace.write(tmp_path / "t.png")
    assert "<path" in svg.read_text() or "<polyline" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_program_end_resets_modal_state() -> None:
    m = machine()
    send(m, "G91 G1 X1 F100 M3 S10\nM2\n", at=0.0)
    m.advance_to(5.0)
    send(m, "$G\n")
    assert texts(m)[-2] == "[GC:G1 G54 G17 G21 G90 G94 M5 M9 T0 F100 S10]"


def test_jog_queues_locks_gcode_and_cancels_with_0x85() -> None:
    m = machine()
    send(m, "$J=G91 X10 F1000\n$J=X5\n$J=G91 G1 X1 F100\n$J=G91 X10 F1000\nG0 X1\n", at=0.0)
    assert texts(m) == ["ok", "error:22", "error:16", "ok", "error:9"]  # F missing, G1 not allowed, locked
    m.advance_to(0.3)
    assert status(m).startswith("<Jog|")
    send(m, bytes([0x85]))
    m.advance_to(5.0)
    report = status(m)
    assert report.startswith("<Idle|") and m.queue.idle
    assert 0.0 < m.queue.position[0] < 20.0  # stopped short: the rest of the jog was dropped


def test_send_response_starves_where_char_counting_does_not() -> None:
    from plotter.grbl.protocol_grblsim import SimOptions

    arc = [f"G1 X{100 + 50 * np.cos(a):.3f} Y{100 + 50 * np.sin(a):.3f}" for a in np.linspace(0, 3, 600)]
    program = ["G21 G90", "G0 X150 Y100", "M3 S1000", "G1 F3000", *arc, "M5"]
    fast = dry_run(program, SimOptions(latency_ms=5)).trace.summary()
    slow = dry_run(program, SimOptions(latency_ms=5), send_response=True).trace.summary()
    assert fast["ideal_time_s"] == pytest.approx(slow["ideal_time_s"])  # same moves
    assert fast["starved_pct"] < 1.0
    assert slow["starved_pct"] > 20.0 and slow["machine_time_s"] > 1.2 * fast["machine_time_s"]


def test_pen_settle_time_shows_missing_servo_dwells() -> None:
    assert dry_run(SQUARE).trace.summary()["pen_settle_min_s"] == pytest.approx(0.15)  # G4 P0.15 after M5
    bare = [line for line in SQUARE if not line.startswith("G4")]
    assert dry_run(bare).trace.summary()["pen_settle_min_s"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("vanish@line:5", "the port vanished"),
        ("reset@line:2", "the machine reset"),  # idle: no ALARM:3, only the banner
        ("reset@line:8", "ALARM:3"),  # drawing: reset in motion
        ("error:20@line:5", "line 5 (M3 S1000): error:20"),
    ],
)
def test_dry_run_stops_at_faults_with_a_reason(fault: str, message: str) -> None:
    from plotter.grbl.protocol_grblsim import SimOptions

    run = dry_run(SQUARE, SimOptions(faults=[fault]))
    assert run.failure is not None and message in run.failure


@pytest.mark.parametrize("move", ["G93 G1 X20 F6", "G93 G2 X20 Y0 I10 J0 F6"])
def test_inverse_time_feed_takes_one_over_f_minutes(move: str) -> None:
    run = dry_run([move, "G94"])
    assert run.failure is None
    assert run.trace.machine_time == pytest.approx(10.0, abs=0.01)  # F6: a sixth of a minute
