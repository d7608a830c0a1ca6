"""pyserial URL handler: `serial.serial_for_url("grblsim://?rx=128&blocks=15&clock=virtual")`.

The simulated GRBL plotter behind a real pyserial `SerialBase`, so the streamer, the CLI and tests use the
same code path as for /dev/ttyUSB0. Parameters (all optional):

    rx=128 blocks=15          RX buffer bytes and planner blocks ($I reports them)
    clock=virtual|realtime    virtual (default, deterministic: a blocking read jumps time) or wall clock
    speed=20                  real-time clock running N times faster (implies clock=realtime)
    latency_ms=1 baud=115200  per-byte latency each way, plus 10 bits per byte at the baud rate
    homing=0|1                $22 (alarm lock at power-up until $H or $X)
    pen=servo|z pen_s=0 pen_z=0   how the trace decides the pen is down
    s32=1 s110=3000 ...       any $ setting at power-up
    fault=error:20@line:5     fault injection (see plotter.grbl.sim.faults), repeatable, comma-separated
                              (`faults=` is accepted too)

`port.machine` is the `SimulatedGrbl` (its `.trace` is what it drew), `port.link.clock` its clock.
Writes never block (the host's OS buffer is modelled as unbounded, as a USB adapter's nearly is), so
`write_timeout` never fires; `timeout` is honoured in simulated seconds.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass, field

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, to_bytes

from plotter.errors import DeviceError
from plotter.grbl.sim.clock import RealClock, VirtualClock
from plotter.grbl.sim.faults import parse_faults
from plotter.grbl.sim.link import SimLink
from plotter.grbl.sim.machine import MachineConfig, SimulatedGrbl

URL_KEYS = ("rx", "blocks", "clock", "speed", "latency_ms", "baud", "homing", "pen", "pen_s", "pen_z",
            "fault")


class SimURLError(DeviceError, SerialException):
    """A grblsim:// URL that cannot be understood (both a pyserial and a plotter error)."""


@dataclass
class SimOptions:
    """Everything a grblsim:// URL can say, as a plain constructor for tests."""

    rx: int = 128
    blocks: int = 15
    clock: str = "virtual"
    speed: float = 1.0
    latency_ms: float = 1.0
    baud: int = 115200
    homing: bool = False
    pen: str = "servo"
    pen_s: float = 0.0
    pen_z: float = 0.0
    settings: dict[int, float] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    @classmethod
    def from_url(cls, url: str) -> SimOptions:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "grblsim":
            raise SimURLError(f"expected a grblsim:// URL, got {url!r}")
        opts = cls()
        for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
            try:
                opts._set(key, values)
            except ValueError:
                raise SimURLError(f"grblsim URL: bad value for {key!r}: {values[-1]!r}") from None
        return opts

    def _set(self, key: str, values: list[str]) -> None:
        value = values[-1]
        if key in ("rx", "blocks", "baud"):
            setattr(self, key, int(value))
        elif key in ("latency_ms", "pen_s", "pen_z"):
            setattr(self, key, float(value))
        elif key == "speed":
            self.speed = float(value)
            if self.clock == "virtual":
                self.clock = "realtime"
        elif key == "clock":
            if value not in ("virtual", "realtime"):
                raise SimURLError(f"grblsim URL: clock must be virtual or realtime, got {value!r}")
            self.clock = value
        elif key == "homing":
            self.homing = value.lower() in ("1", "true", "yes", "on")
        elif key == "pen":
            self.pen = value
        elif key in ("fault", "faults"):
            self.faults.extend(values)
        elif key.startswith("s") and key[1:].isdigit():
            self.settings[int(key[1:])] = float(value)
        else:
            raise SimURLError(f"grblsim URL: unknown parameter {key!r} (known: {', '.join(URL_KEYS)}, sN)")

    def build(self) -> SimLink:
        """A fresh machine on a fresh wire; bad values raise SimURLError with the reason."""
        if self.rx < 2 or self.blocks < 1 or self.baud < 0 or self.latency_ms < 0:
            raise SimURLError("grblsim: rx >= 2, blocks >= 1, baud >= 0 and latency_ms >= 0 are required")
        if not 0 < self.speed < math.inf:
            raise SimURLError(f"grblsim: speed must be a finite number > 0, got {self.speed}")
        if not math.isfinite(self.latency_ms):
            raise SimURLError(f"grblsim: latency_ms must be finite, got {self.latency_ms}")
        try:
            faults = parse_faults(self.faults)
            config = MachineConfig(rx_size=self.rx, blocks=self.blocks, homing=self.homing, pen=self.pen,
                                   pen_s=self.pen_s, pen_z=self.pen_z,
                                   settings=dict(self.settings))  # fmt: skip
            machine = SimulatedGrbl(config, faults)
        except DeviceError as exc:
            raise SimURLError(str(exc)) from None
        clock = VirtualClock() if self.clock == "virtual" else RealClock(self.speed)
        return SimLink(machine, clock, self.latency_ms / 1000.0, self.baud or None)


class Serial(SerialBase):
    """pyserial port onto a simulated GRBL; `Serial.simulated(timeout=1, rx=64)` builds one without a URL."""

    def __init__(self, *args, **kwargs) -> None:
        self.link: SimLink | None = None
        self.machine: SimulatedGrbl | None = None
        self._options: SimOptions | None = None
        super().__init__(*args, **kwargs)

    @classmethod
    def simulated(cls, timeout: float | None = 1.0, write_timeout: float | None = None, **options) -> Serial:
        """Open a simulated port from keyword options (those of `SimOptions`)."""
        port = cls(None, timeout=timeout, write_timeout=write_timeout)
        port._options = SimOptions(**options)
        port.port = "grblsim://"
        port.open()
        return port

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        opts = self._options or SimOptions.from_url(self.portstr)
        self.link = opts.build()
        self.machine = self.link.machine
        self.is_open = True

    def _reconfigure_port(self) -> None:
        """Baud rate and framing come from the URL; pyserial's settings do not change the simulation."""

    def close(self) -> None:
        self.is_open = False

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return self.link.available()

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        return self.link.read(size, self._timeout)

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return self.link.write(to_bytes(data))

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        self.link.discard_input()

    def reset_output_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
