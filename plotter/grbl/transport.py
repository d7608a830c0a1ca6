"""Open a GRBL port by device path or pyserial URL, and list the serial ports a plotter could be on.

Paths open exclusively (a second sender on the same GRBL corrupts both streams); URLs such as
`grblsim://?rx=128` go through `serial.serial_for_url` once `plotter.grbl` registered its handler.
Every failure is a `DeviceError` with one line that says what to do.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import serial
import serial.tools.list_ports

from plotter.errors import DeviceError

BAUD = 115200
# USB-serial chips found on GRBL boards (Arduino Uno/Nano clones, CNC shields, MKS/Woodpecker boards)
_GRBL_CHIPS = {(0x2341, None): "Arduino", (0x2A03, None): "Arduino", (0x1A86, 0x7523): "CH340",
               (0x0403, 0x6001): "FTDI FT232", (0x10C4, 0xEA60): "CP210x", (0x1A86, 0x55D4): "CH9102"}


def _register() -> None:
    import plotter.grbl  # noqa: F401  (the package registers the grblsim:// handler when it can)

    if "plotter.grbl" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("plotter.grbl")


def open_port(spec: str, baudrate: int = BAUD, *, timeout: float = 0.05) -> serial.SerialBase:
    """Open `/dev/ttyUSB0`, `COM3`, `/dev/pts/4` or a URL like `grblsim://?rx=128`."""
    if not spec:
        raise DeviceError("no device given: pass --device PATH or a URL (see `plotter devices`)")
    _register()
    try:
        if "://" in spec:
            return serial.serial_for_url(spec, baudrate=baudrate, timeout=timeout)
        return serial.Serial(spec, baudrate=baudrate, timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(_reason(spec, exc)) from None


def _reason(spec: str, exc: Exception) -> str:
    if isinstance(exc, DeviceError):  # the simulator's own reason ("rx >= 2 ..."): already one clear line
        return f"cannot open {spec}: {exc}"
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text or "could not open port" in text and "2]" in text:
        return f"no device at {spec}: is the plotter plugged in? (`plotter devices` lists ports)"
    if code == errno.EACCES or "Permission denied" in text:
        return f"permission denied on {spec}: add yourself to the 'dialout' group (then log in again)"
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "busy" in text.lower():
        return f"{spec} is busy: another program (a sender, a serial monitor, the daemon) has it open"
    if "protocol" in text and "not known" in text:
        return f"unknown URL scheme in {spec} (supported: grblsim://, socket://, rfc2217://, loop://)"
    if code == errno.EISDIR or "Is a directory" in text:
        return f"cannot open {spec}: it is a directory, not a serial port"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"cannot open {spec}: {first}"


@dataclass(frozen=True)
class PortInfo:
    """One serial port as `plotter devices` shows it."""

    device: str
    description: str
    hwid: str
    likely_grbl: str | None


def list_devices() -> list[PortInfo]:
    """Serial ports from pyserial, marking USB chips that GRBL boards use."""
    out = []
    for port in sorted(serial.tools.list_ports.comports(), key=lambda p: p.device):
        chip = None
        if port.vid is not None:
            chip = _GRBL_CHIPS.get((port.vid, port.pid)) or _GRBL_CHIPS.get((port.vid, None))
        out.append(PortInfo(port.device, port.description or "", port.hwid or "", chip))
    return out
