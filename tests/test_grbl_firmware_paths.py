"""The paths a real plotter takes, against the real GRBL 1.1h firmware on a pty (tests/grbl_firmware.py).

Assertions are about protocol outcomes (states, replies, exit codes), never durations: the harness is only
roughly real-time on a busy machine.
"""

from __future__ import annotations

import time

import serial
from click.testing import CliRunner

from plotter.cli import main

LIMITS = {22: 1, 20: 1, 110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}


def _say(port: serial.Serial, data: bytes, until: bytes, timeout: float = 10.0) -> bytes:
    port.write(data)
    out = b""
    deadline = time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        out += port.read(256)
    assert until in out, out
    return out


def _poll(port: serial.Serial, state: bytes, timeout: float = 20.0) -> bytes:
    """`?` until the report shows `state` (GRBL answers a `?` that arrives with `!` before holding)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = _say(port, b"?", b">")
        if state in reply:
            return reply
    raise AssertionError(f"never saw {state!r}; last {reply!r}")


def _first_reply_is_status(path: str) -> None:
    """Nothing late is left on the line: the first thing a new sender reads is the answer to its `?`."""
    with serial.Serial(path, 115200, timeout=0.1) as port:
        port.write(b"?")
        first = port.read_until(b"\n", 64)
        assert first.startswith(b"<"), first


def test_status_of_a_held_machine_shows_the_hold_and_leaves_no_late_reply(grbl_firmware) -> None:
    path = grbl_firmware()
    with serial.Serial(path, 115200, timeout=0.1) as port:
        port.write(b"!")
        _poll(port, b"Hold:0")
    result = CliRunner().invoke(main, ["status", "--device", path])
    assert result.exit_code == 0, result.output
    assert "Hold:0" in result.output and "wrong port" not in result.output
    _first_reply_is_status(path)


def test_status_of_a_machine_silent_after_alarm_2(grbl_firmware) -> None:
    path = grbl_firmware(LIMITS)
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _say(port, b"$X\n", b"ok")
        _say(port, b"G0 X5\n", b"ALARM:2")  # soft limit: machine space is [-max_travel, 0]
    result = CliRunner().invoke(main, ["status", "--device", path])
    assert result.exit_code == 0, result.output
    assert "Alarm" in result.output and "wrong port" not in result.output
    _first_reply_is_status(path)
