"""Table tests for the pure flow-control state machine (no I/O): events in, actions out."""

from __future__ import annotations

import pytest

from plotter.errors import GcodeError
from plotter.grbl.flow import (
    SEND_RESPONSE,
    Acked,
    Flow,
    Send,
    Stop,
    Synced,
    clean_line,
    dwell_seconds,
    is_sync,
    is_system,
)
from plotter.grbl.protocol import Alarm, Banner, Error, Ok, Status, parse_line


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("G1 X10 Y20 F1500", "G1X10Y20F1500"),
    ("g1 x1 (comment) y2 ; trailing", "G1X1Y2"),
    ("(only a comment)", ""),
    ("   ", ""),
    ("%", ""),
    ("$110=5000", "$110=5000"),
    ("$N0=G54 G21", "$N0=G54G21"),
    ("\tM3 S1000\r\n", "M3S1000"),
])
def test_clean_line(raw: str, cleaned: str) -> None:
    assert clean_line(raw) == cleaned


@pytest.mark.parametrize(("line", "system", "sync", "dwell"), [
    ("G1X1Y1", False, False, 0.0),
    ("$110=5000", True, False, 0.0),
    ("G10L2P1X0", True, False, 0.0),
    ("G4P0.25", False, True, 0.25),
    ("M5", False, True, 0.0),
    ("M3S1000", False, True, 0.0),
    ("M30", False, True, 0.0),
    ("G40", False, False, 0.0),
    ("G1X1M25", False, False, 0.0),
])
def test_line_classes(line: str, system: bool, sync: bool, dwell: float) -> None:
    assert is_system(line) is system
    assert is_sync(line) is sync
    assert dwell_seconds(line) == dwell


def test_laser_mode_spindle_is_not_sync() -> None:
    assert not is_sync("M3S1000", spindle_sync=False)
    assert is_sync("G4P0", spindle_sync=False)


def _sent(actions: list) -> list[int]:
    return [a.index for a in actions if isinstance(a, Send)]


def test_char_counting_fills_buffer_to_rx_minus_one() -> None:
    lines = ["G1X1.000Y1.000"] * 20  # 14 chars + newline = 15 bytes
    flow = Flow(lines, rx_size=128)
    first = flow.pump()
    assert _sent(first) == list(range(8))  # 8 * 15 = 120 <= 127, a ninth would be 135
    assert flow.in_flight_bytes == 120
    assert all(a.data == b"G1X1.000Y1.000\n" for a in first)
    acts = flow.feed(Ok())
    assert acts == [Acked(0)]
    assert _sent(flow.pump()) == [8]
    assert flow.in_flight_bytes == 120 and flow.acked == 1


def test_exact_fit_uses_the_whole_budget() -> None:
    # 127 bytes in flight exactly is allowed, one more is not (keeps GRBL from dropping bytes)
    flow = Flow(["G1X" + "1" * 60, "G1Y" + "2" * 59, "G1"], rx_size=128)
    assert _sent(flow.pump()) == [0, 1]
    assert flow.in_flight_bytes == 64 + 63


def test_send_response_one_at_a_time() -> None:
    flow = Flow(["G0X1", "G0X2", "G0X3"], mode=SEND_RESPONSE)
    assert _sent(flow.pump()) == [0]
    assert _sent(flow.pump()) == []
    flow.feed(Ok())
    assert _sent(flow.pump()) == [1]


def test_system_lines_go_alone() -> None:
    flow = Flow(["G0X1", "$110=5000", "G0X2", "G0X3"])
    assert _sent(flow.pump()) == [0]  # the setting waits until the buffer is empty
    flow.feed(Ok())
    assert _sent(flow.pump()) == [1]  # ... and nothing follows it until it is acknowledged
    flow.feed(Ok())
    assert _sent(flow.pump()) == [2, 3]


def test_empty_lines_are_not_sent_but_counted() -> None:
    flow = Flow(["(header)", "G0X1", "", "; note", "G0X2"])
    assert _sent(flow.pump()) == [1, 4]
    flow.feed(Ok())
    assert flow.acked == 4
    flow.feed(Ok())
    assert flow.pump() == [Stop("done")]
    assert flow.acked == 5


def test_done_stop_after_last_ack() -> None:
    flow = Flow(["G0X1"])
    flow.pump()
    assert flow.feed(Ok()) == [Acked(0)]
    assert flow.pump() == [Stop("done")]
    assert flow.pump() == []


def test_error_stops_sending_and_drains_in_flight() -> None:
    flow = Flow(["G0X1", "G1X2", "G0X3", "G0X4", "G0X5"])
    flow.pump()
    assert flow.feed(Error(22)) == [Acked(0, 22)]
    assert flow.pump() == []  # no new lines after an error
    flow.feed(Ok())
    flow.feed(Ok())
    flow.feed(Ok())
    assert flow.feed(Ok())[-1] == Stop("error", 0, 22)
    assert flow.finished == Stop("error", 0, 22)


@pytest.mark.parametrize(("event", "stop"), [
    (Alarm(2), Stop("alarm", 1, 2)),
    (Banner("Grbl", "1.1h", "Grbl 1.1h ['$' for help]"), Stop("reset", 1)),
])
def test_alarm_and_reset_stop_at_once(event: object, stop: Stop) -> None:
    flow = Flow(["G0X1", "G0X2", "G0X3"])
    flow.pump()
    flow.feed(Ok())
    assert flow.feed(event) == [stop]  # type: ignore[arg-type]
    assert flow.feed(Ok()) == []


def test_sync_marks_from_pen_moves_and_idle() -> None:
    flow = Flow(["G1X1F100M3S1", "M5", "G0X5", "G0X6"])
    flow.pump()
    flow.feed(Ok())
    assert flow.feed(Ok()) == [Acked(1), Synced(2)]  # M5's ok: the planner emptied before it
    flow.feed(Ok())
    idle = parse_line("<Idle|MPos:6,0,0|FS:0,0>")
    assert flow.feed(idle) == []  # one idle report with a line still unacknowledged is not proof
    flow.feed(Ok())
    assert flow.feed(idle) == []
    assert flow.feed(idle) == [Synced(4)]
    assert isinstance(flow.last_status, Status)


def test_unexpected_ok_is_ignored() -> None:
    flow = Flow(["G0X1"])
    assert flow.feed(Ok()) == []


def test_pending_dwell() -> None:
    flow = Flow(["G4P1.5", "G4P0.5", "G0X1"])
    flow.pump()
    assert flow.pending_dwell == 2.0


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(lines=["G1X" + "1" * 90]), "line 1 has 93 characters"),
    (dict(lines=["G0X1"], mode="fast"), "unknown streaming mode"),
    (dict(lines=["G0X1"], start=5), "outside the program"),
])
def test_bad_input_is_gcode_error(kwargs: dict, message: str) -> None:
    lines = kwargs.pop("lines")
    with pytest.raises(GcodeError, match=message):
        Flow(lines, **kwargs)


def test_start_skips_earlier_lines() -> None:
    flow = Flow(["G0X1", "G0X2", "G0X3"], start=2)
    assert _sent(flow.pump()) == [2]


def test_abort_keeps_in_flight_unacknowledged() -> None:
    flow = Flow(["G0X1", "G0X2"])
    flow.pump()
    flow.feed(Ok())
    assert flow.abort("cancelled") == [Stop("cancelled", 1)]
    assert flow.acked == 1
