"""The simulator as a serial port: URL handler, virtual clock and latency, faults, pty, `plotter sim`."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

import plotter.grbl
from plotter.cli import main
from plotter.errors import DeviceError
from plotter.grbl.protocol_grblsim import Serial, SimURLError
from plotter.grbl.sim.faults import parse_fault

BANNER = b"Grbl 1.1h ['$' for help]\r\n"


def open_url(query: str = "", timeout: float = 5.0) -> Serial:
    port = serial.serial_for_url(f"grblsim://?{query}", timeout=timeout)
    assert port.readline() == b"\r\n" and port.readline() == BANNER
    return port


def replies(port: Serial, n: int) -> list[bytes]:
    return [port.readline() for _ in range(n)]


def test_url_handler_registration_is_idempotent() -> None:
    importlib.reload(plotter.grbl)
    importlib.reload(plotter.grbl)
    assert serial.protocol_handler_packages.count("plotter.grbl") == 1
    port = open_url("rx=64&blocks=7")
    port.write(b"$I\n")
    assert replies(port, 3) == [b"[VER:1.1h.20190830:]\r\n", b"[OPT:V,7,64]\r\n", b"ok\r\n"]
    assert isinstance(port, serial.SerialBase) and port.machine.config.rx_size == 64


@pytest.mark.parametrize(
    "query", ["rx=abc", "colour=red", "clock=sundial", "fault=explode@line:3", "speed=0", "s999=1", "s20=1"]
)
def test_bad_urls_raise_a_serial_and_plotter_error(query: str) -> None:
    with pytest.raises(SimURLError) as info:
        serial.serial_for_url(f"grblsim://?{query}")
    assert isinstance(info.value, serial.SerialException) and isinstance(info.value, DeviceError)


def test_read_timeout_advances_virtual_time_exactly() -> None:
    port = open_url(timeout=0.25)
    t0 = port.link.clock.now()
    assert port.read(1) == b""
    assert port.link.clock.now() == pytest.approx(t0 + 0.25)
    port.timeout = 0
    assert port.read(10) == b""
    assert port.link.clock.now() == pytest.approx(t0 + 0.25)


def test_latency_and_baud_set_when_bytes_arrive() -> None:
    port = open_url("latency_ms=5&baud=115200")
    byte = 10 / 115200
    t0 = port.link.clock.now()
    port.write(b"?")
    assert port.in_waiting == 0  # nothing can have come back yet, and in_waiting does not move time
    assert port.read(1) == b"<"
    # '?' crosses (5 ms + 1 byte), the report's first byte comes back (1 byte + 5 ms)
    assert port.link.clock.now() == pytest.approx(t0 + 0.010 + 2 * byte)
    rest = port.readline()
    assert rest.startswith(b"Idle|") and port.link.clock.now() == pytest.approx(
        t0 + 0.010 + (2 + len(rest)) * byte
    )


def test_in_waiting_reset_input_buffer_and_close() -> None:
    port = open_url(timeout=1.0)
    port.write(b"$I\n")
    port.read(1)
    port.timeout = 0.5
    port.read(0)
    port.link.clock.advance_to(port.link.clock.now() + 0.1)
    assert port.in_waiting > 10
    port.reset_input_buffer()
    assert port.in_waiting == 0
    port.close()
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)


def test_plain_constructor_and_machine_access() -> None:
    port = Serial.simulated(timeout=2.0, homing=True, settings={32: 1})
    assert port.readline() == b"\r\n" and port.readline() == BANNER
    assert port.readline() == b"[MSG:'$H'|'$X' to unlock]\r\n"
    assert port.machine.settings.flag(32) and port.machine.state == "Alarm"


def test_realtime_clock_answers() -> None:
    port = open_url("speed=50", timeout=2.0)
    port.write(b"G4 P1\n")  # one machine second is 20 ms of wall time at 50x
    assert port.readline() == b"ok\r\n"
    assert port.link.clock.now() >= 1.0


# ---------------------------------------------------------------------- faults
def test_fault_specs_parse_and_reject() -> None:
    assert str(parse_fault("error:20@line:5")) == "error:20@line:5"
    assert parse_fault("alarm@t:2.5").arg == 1
    for bad in ("error@line:5", "drop@line:3", "reset", "vanish@t:-1", "garble:999@byte:2"):
        with pytest.raises(DeviceError):
            parse_fault(bad)


def test_dropped_newline_merges_two_lines() -> None:
    port = open_url("fault=drop@byte:6")
    port.write(b"G0 X1\nG0 X2\n")  # byte 6 is the first '\n'
    assert port.readline() == b"error:24\r\n"  # GRBL saw "G0X1G0X2": two motion commands
    assert port.read(1) == b""  # and only one answer for two lines
    assert port.machine.gc.position[0] == 0.0


def test_garbled_byte_is_a_different_byte() -> None:
    port = open_url("fault=garble@byte:1")
    port.write(b"G0 X1\nG0 X2\n")  # 'G' ^ 0x04 = 'C', not a word GRBL knows
    assert replies(port, 2) == [b"error:20\r\n", b"ok\r\n"]


def test_error_at_line_k_skips_that_line_only() -> None:
    port = open_url("fault=error:33@line:2")
    port.write(b"G0 X1\nG0 X2\nG0 X3\nG4 P0\n")
    assert replies(port, 4) == [b"ok\r\n", b"error:33\r\n", b"ok\r\n", b"ok\r\n"]
    assert port.machine.queue.position[0] == 3.0
    assert [s.end[0] for s in port.machine.trace.segments] == [1.0, 3.0]


def test_alarm_mid_job_stops_everything_until_reset() -> None:
    port = open_url("fault=alarm:1@line:3")
    port.write(b"G1 X50 F3000\nG1 X100\nG1 X150\nG1 X200\n")
    assert replies(port, 4) == [b"ok\r\n", b"ok\r\n", b"ALARM:1\r\n", b"[MSG:Reset to continue]\r\n"]
    assert port.read(1) == b""  # line 4 is never answered
    assert port.machine.queue.idle  # hard limit: stopped dead, planner flushed
    port.write(b"\x18")
    assert replies(port, 3) == [b"\r\n", BANNER, b"[MSG:'$H'|'$X' to unlock]\r\n"]


def test_reset_mid_job_shows_the_banner_again() -> None:
    port = open_url("fault=reset@line:3")
    port.write(b"G1 X50 F3000\nG1 X100\nG1 X150\n")
    got = replies(port, 6)
    assert got == [b"ok\r\n", b"ok\r\n", b"ALARM:3\r\n", b"\r\n", BANNER, b"[MSG:'$H'|'$X' to unlock]\r\n"]


def test_reset_fault_at_a_time_while_idle_is_only_a_banner() -> None:
    port = open_url("fault=reset@t:1.0", timeout=2.0)
    assert replies(port, 2) == [b"\r\n", BANNER]
    assert port.link.clock.now() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("query", ["fault=vanish@line:2", "fault=vanish@t:0.5"])
def test_port_vanishes_like_a_yanked_usb_adapter(query: str) -> None:
    port = open_url(query, timeout=1.0)
    port.write(b"G0 X1\n")
    assert port.readline() == b"ok\r\n"
    port.write(b"G0 X2\n")
    with pytest.raises(serial.SerialException):
        while True:
            port.readline()
    with pytest.raises(serial.SerialException):
        port.write(b"?")
    with pytest.raises(serial.SerialException):
        port.in_waiting  # noqa: B018


# ---------------------------------------------------------------------- pty and CLI
def test_pty_serves_a_real_serial_device(tmp_path: Path) -> None:
    trace = tmp_path / "pty.svg"
    cmd = [sys.executable, "-m", "plotter", "sim", "--pty", "--speed", "50", "--trace", str(trace)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/") and os.path.exists(path)
        dev = serial.Serial(path, 115200, timeout=10)
        dev.write(b"$I\n")
        got = []
        while not got or got[-1] != b"ok\r\n":
            line = dev.readline()
            assert line, f"no answer from {path}; got {got}"
            got.append(line)
        assert b"[OPT:V,15,128]\r\n" in got
        dev.write(b"M3 S1000\nG1 X20 Y10 F3000\nM5\n")
        assert [dev.readline() for _ in range(3)] == [b"ok\r\n"] * 3  # M5 answers after the move
        dev.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "drawn 22.4 mm" in out and "pen lifts 1" in out
    assert trace.exists()


def test_cli_dry_run_reports_and_writes_the_trace(tmp_path: Path) -> None:
    gcode = tmp_path / "square.gcode"
    gcode.write_text("G21 G90\nG0 X10 Y10\nM3 S1000\nG1 X20 F3000\nY20\nX10\nY10\nM5\nM2\n")
    png = tmp_path / "square.png"
    result = CliRunner().invoke(main, ["sim", str(gcode), "--trace", str(png)])
    assert result.exit_code == 0, result.output
    assert "drawn 40.0 mm" in result.output and "pen lifts 1" in result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_dry_run_refuses_a_binary_file(tmp_path: Path) -> None:
    blob = tmp_path / "blob.gcode"
    blob.write_bytes(b"G0 X1\n\xff\xfe\x00junk\n")
    result = CliRunner().invoke(main, ["sim", str(blob)])
    assert result.exit_code == 1 and "is not a text G-code file" in result.output
    assert "Traceback" not in result.output and "\ufffd" not in result.output


def test_cli_dry_run_fails_with_the_line_and_the_reason(tmp_path: Path) -> None:
    gcode = tmp_path / "bad.gcode"
    gcode.write_text("G21\nG1 X10 F100\nG1 X20 Q5\nG1 X30\n")
    result = CliRunner().invoke(main, ["sim", str(gcode)])
    assert result.exit_code == 1
    assert "Error: line 3 (G1 X20 Q5): error:20" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args", [["sim"], ["sim", "--pty", "x.gcode"], ["sim", "--pty", "--speed", "fast"], ["sim", "--set", "x"]]
)
def test_cli_usage_errors(args: list[str], tmp_path: Path) -> None:
    if "x.gcode" in args:
        (tmp_path / "x.gcode").write_text("G0 X1\n")
        args = [a if a != "x.gcode" else str(tmp_path / "x.gcode") for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_read_without_timeout_waits_for_motion_but_never_hangs() -> None:
    port = open_url(timeout=None)
    port.write(b"G1 X100 F3000\nM3 S1\n")  # M3 waits for the 2-second move before its ok
    assert port.read(8) == b"ok\r\nok\r\n"
    assert port.link.clock.now() > 2.0
    assert port.read(10) == b""  # nothing will ever come: virtual time returns instead of hanging


def test_fault_api_alarm_at_a_time_during_motion() -> None:
    port = open_url(timeout=2.0)
    port.machine.faults.add("alarm:1@t:0.5")
    port.write(b"G1 X200 F3000\n")
    assert port.readline() == b"ok\r\n"
    assert replies(port, 2) == [b"ALARM:1\r\n", b"[MSG:Reset to continue]\r\n"]
    assert port.link.clock.now() == pytest.approx(0.5, abs=0.01)
    port.write(b"?")  # as on the firmware, not even a status report answers until a reset
    assert port.readline() == b""
    assert 0.0 < port.machine.queue.position[0] < 200.0
    port.write(b"\x18")
    assert replies(port, 2)[-1].startswith(b"Grbl 1.1h")
