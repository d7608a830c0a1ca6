"""The streamer against the simulated GRBL 1.1 in virtual time: throughput, connect, controls."""

from __future__ import annotations

import threading

import pytest
from streamsim import machine_lines, short_segments, sim, strokes_job

from plotter.errors import DeviceError, JobError
from plotter.grbl.flow import SEND_RESPONSE, clean_line
from plotter.grbl.journal import Journal, MemorySink
from plotter.grbl.results import AlarmLockError, LineError
from plotter.grbl.streamer import Streamer

pytest.importorskip("plotter.grbl.protocol_grblsim")


def _run(lines: list[str], mode: str = "char-count", query: str = "") -> tuple[object, dict, object]:
    """Stream on a fresh simulator; stats: the trace summary plus the planner fill seen in `Bf:`."""
    port = sim(query)
    streamer = Streamer(port)
    info = streamer.connect()
    fills: list[int] = []

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        st = p.status
        if st is not None and st.state == "Run" and st.planner_free is not None:
            fills.append(info.planner_blocks - st.planner_free)

    result = streamer.stream(lines, mode=mode, on_progress=progress)
    stats = dict(port.machine.trace.summary())
    stats["planner_fill"] = sum(fills) / max(1, len(fills))
    return result, stats, port


@pytest.mark.slow
def test_10000_short_segments_char_counting_keeps_the_planner_fed() -> None:
    lines = short_segments(10_000, step=0.25)
    fast, fast_stats, port = _run(lines)
    assert fast.status == "done" and fast.acked == len(lines)
    assert fast_stats["segments"] == 10_000
    assert fast_stats["rx_overflow_bytes"] == 0
    assert fast_stats["starved_pct"] <= 2.0
    assert fast_stats["planner_fill"] >= 12  # of 15 blocks: the look-ahead stays full
    # every line reached GRBL exactly once, in order
    sent = [line for line in machine_lines(port.written) if line and not line.startswith("$")]
    assert sent == [clean_line(line) for line in lines]
    slow, slow_stats, _ = _run(lines, SEND_RESPONSE)
    assert slow.status == "done" and slow_stats["rx_overflow_bytes"] == 0
    # send-response waits a 10 ms round trip per line: the planner holds a block or two, so GRBL must plan
    # to stop at the end of each and crawls; the same motion takes far longer
    assert slow_stats["planner_fill"] <= 3
    assert slow_stats["starved_pct"] >= fast_stats["starved_pct"] + 20
    assert slow_stats["machine_time_s"] >= 1.3 * fast_stats["machine_time_s"]


def test_short_job_char_count_beats_send_response() -> None:
    lines = short_segments(500, seed=4, step=0.25)
    fast, fast_stats, _ = _run(lines)
    slow, slow_stats, _ = _run(lines, SEND_RESPONSE)
    assert fast_stats["rx_overflow_bytes"] == slow_stats["rx_overflow_bytes"] == 0
    assert fast_stats["planner_fill"] > 3 * slow_stats["planner_fill"]
    assert fast.elapsed_s * 1.3 < slow.elapsed_s


def test_status_is_polled_at_5_hz_at_most_and_never_overflows_rx() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    result = streamer.stream(short_segments(400, step=0.25))
    polls = bytes(port.written).count(b"?")
    assert polls >= result.elapsed_s / 0.25  # polled all along...
    assert polls <= (port.link.clock.now() + 0.2) / 0.2  # ...but never above 5 Hz, connect included
    assert port.machine.trace.summary()["rx_overflow_bytes"] == 0


def test_small_rx_buffer_from_dollar_i_is_respected() -> None:
    port = sim("rx=48&blocks=6")
    streamer = Streamer(port)
    info = streamer.connect()
    assert (info.rx_size, info.planner_blocks) == (48, 6)
    streamer.stream(short_segments(300))
    assert port.machine.trace.summary()["rx_overflow_bytes"] == 0


def test_connect_reads_banner_settings_and_refuses_alarm_lock() -> None:
    port = sim("homing=1")
    with pytest.raises(AlarmLockError, match=r"\$H.*--unlock"):
        Streamer(port).connect()
    port = sim("homing=1")
    info = Streamer(port).connect(unlock=True)
    assert info.unlocked and info.status is not None
    assert info.banner is not None and info.banner.version == "1.1h"
    assert 110 in info.settings and not info.laser_mode


def test_settings_lines_go_send_response_and_are_stored() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    streamer.stream(["$110=4000", "G21", "$111=4000", "G0X1"])
    assert port.machine.settings[110] == 4000.0 and port.machine.settings[111] == 4000.0


def test_error_reports_line_text_and_message() -> None:
    lines = ["G21", "G90", "G1 X10 Y10", "G0 X0"]  # no feed rate: error:22 on line 3
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    journal = Journal(MemorySink())
    with pytest.raises(LineError) as info:
        streamer.stream(lines, journal=journal)
    err = info.value
    assert (err.index, err.code, err.line) == (2, 22, "G1 X10 Y10")
    assert str(err).startswith("line 3: 'G1 X10 Y10': error:22 Undefined feed rate")
    assert journal.state().error_index == 2 and journal.state().status == "error"


def test_check_mode_pass_finds_the_error_and_leaves_check_mode() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    with pytest.raises(LineError, match="line 2"):
        streamer.check(["G21", "G1 X5 Y5", "G0 X0"])
    assert port.machine.trace.segments == []  # check mode moved nothing
    assert not port.machine.check_mode
    result = streamer.check(strokes_job(2, 4))
    assert result.status == "done" and not port.machine.check_mode
    assert streamer.stream(strokes_job(2, 4)).status == "done"
    assert port.machine.trace.segments


def _controlled(lines: list[str], action):  # type: ignore[no-untyped-def]
    """Stream in a worker; when 30 % is acknowledged, hold the loop, run `action(streamer)` in a third
    thread, let the loop go on. Returns (result or exception, action's return, port)."""
    port = sim()
    streamer = Streamer(port, pen_up=("M5",))
    streamer.connect()
    reached, go, out = threading.Event(), threading.Event(), {}

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.percent >= 30 and not reached.is_set():
            reached.set()
            go.wait(10)

    def work() -> None:
        try:
            out["result"] = streamer.stream(lines, on_progress=progress)
        except Exception as exc:  # noqa: BLE001
            out["result"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    assert reached.wait(30)
    controller = threading.Thread(target=lambda: out.setdefault("action", action(streamer)))
    controller.start()
    go.set()
    controller.join(60)
    worker.join(60)
    assert not worker.is_alive() and not controller.is_alive()
    return out["result"], out.get("action"), port


def test_pause_reaches_hold_then_resume_finishes_the_job() -> None:
    def pause_resume(streamer: Streamer):  # type: ignore[no-untyped-def]
        held = streamer.pause()
        position = streamer.last_status.mpos if streamer.last_status else None
        resumed = streamer.resume()
        return held, position, resumed

    lines = strokes_job()
    result, (held, _, resumed), port = _controlled(lines, pause_resume)
    assert held.label == "Hold:0"
    assert resumed.state != "Hold"
    assert result.status == "done" and result.acked == len(lines)
    assert port.machine.trace.summary()["rx_overflow_bytes"] == 0


def test_cancel_holds_resets_lifts_pen_and_rereads_position() -> None:
    lines = strokes_job()
    result, status, port = _controlled(lines, lambda s: s.cancel())
    assert result.status == "cancelled"
    assert result.acked < len(lines)
    assert status is not None and status.state == "Idle"  # Hold:0 then reset: no ALARM:3, no lock
    assert port.machine.spindle_out[0] == "M5"  # pen lifted by the profile's pen-up command
    assert status.mpos == pytest.approx(port.machine.queue.position, abs=1e-3)


def test_controls_without_a_job_act_directly_and_second_stream_is_refused() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    assert streamer.pause().label == "Hold:0"
    assert streamer.resume().state == "Idle"
    streamer._streaming = True  # as if another thread were streaming
    with pytest.raises(JobError, match="already running"):
        streamer.stream(["G0X1"])


def test_no_answer_is_a_device_error() -> None:
    from plotter.grbl.transport import open_port

    port = open_port("loop://")
    with pytest.raises(DeviceError, match="no answer from GRBL"):
        Streamer(port).connect(wake_timeout=0.2)


def test_connect_with_soft_reset_sees_the_banner_again() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    info = streamer.connect(reset=True)
    assert info.banner is not None and info.status is not None and info.status.state == "Idle"
    assert bytes(port.written).count(b"\x18") == 1


def test_a_failed_start_leaves_the_streamer_usable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from plotter.grbl.journal import JsonLinesSink

    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    with pytest.raises(JobError, match="cannot write journal"):
        streamer.stream(["G0X1"], journal=Journal(JsonLinesSink(tmp_path / "missing" / "j")))
    assert streamer.stream(["G0X1"]).status == "done"


def test_a_failing_progress_callback_does_not_stop_the_job() -> None:
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    calls = []

    def broken(p) -> None:  # type: ignore[no-untyped-def]
        calls.append(p)
        raise RuntimeError("display crashed")

    assert streamer.stream(short_segments(50), on_progress=broken).status == "done"
    assert len(calls) > 1 and calls[-1].percent == 100.0
