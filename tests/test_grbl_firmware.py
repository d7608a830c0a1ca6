"""The real-firmware fixture itself: a fresh machine answers on its pty; settings survive a power cycle."""

from __future__ import annotations

import time

import serial


def _ask(port: serial.Serial, data: bytes, until: bytes, timeout: float = 10.0) -> bytes:
    port.write(data)
    out = b""
    deadline = time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        out += port.read(256)
    return out


def test_fresh_machine_answers_on_its_pty(grbl_firmware):
    with serial.Serial(grbl_firmware(), 115200, timeout=0.1) as port:
        assert b"ok" in _ask(port, b"G21 G90\n", b"ok")
        assert b"<Idle|MPos:0.000,0.000,0.000|" in _ask(port, b"?", b">")


def test_settings_survive_the_power_cycle(grbl_firmware):
    with serial.Serial(grbl_firmware({22: 1, 130: 123}), 115200, timeout=0.1) as port:
        reply = _ask(port, b"$$\n", b"ok")
        assert b"$22=1" in reply and b"$130=123.000" in reply
        assert b"<Alarm|" in _ask(port, b"?", b">")  # homing enabled: boots alarm-locked
        assert b"[MSG:Caution: Unlocked]" in _ask(port, b"$X\n", b"ok")
