"""What a stream reports: progress while it runs, a typed result or a typed error when it ends.

Every ending of `Streamer.stream` is one of these, so the daemon can store it and the CLI can print it
without parsing messages. Errors carry the partial `StreamResult` (how far the job got) in `.result`.
"""

from __future__ import annotations

from dataclasses import dataclass

from plotter.errors import DeviceError, GrblError
from plotter.grbl.protocol import Banner, Options, Status


@dataclass(frozen=True)
class MachineInfo:
    """What `connect` learned: firmware, buffer sizes (`$I`), settings (`$$`) and the state it found."""

    banner: Banner | None
    version: str | None
    options: Options | None
    rx_size: int
    planner_blocks: int
    settings: dict[int, str]
    status: Status | None
    unlocked: bool = False

    @property
    def line_limit(self) -> int:
        """Characters a line may have: GRBL 79 (80 with the terminator), grblHAL 256, FluidNC 255."""
        raw = self.banner.raw if self.banner else ""
        if "FluidNC" in raw:
            return 255
        if self.banner is not None and self.banner.firmware.lower() == "grblhal":
            return 256
        return 79

    @property
    def laser_mode(self) -> bool:
        """`$32=1`: M3/M5 no longer empty the planner, so they are not sync points."""
        return self.settings.get(32, "0").strip() in ("1", "1.0")


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress bars and the daemon. `sent`, `acked`, `synced` are line indices: every line
    before them was sent, acknowledged (`ok`), known to have run."""

    total: int
    start: int
    sent: int
    acked: int
    synced: int
    elapsed_s: float
    status: Status | None

    @property
    def percent(self) -> float:
        todo = self.total - self.start
        return 100.0 if todo <= 0 else 100.0 * (self.acked - self.start) / todo

    @property
    def state(self) -> str:
        return self.status.label if self.status else "?"


@dataclass(frozen=True)
class StreamResult:
    """How a stream ended: `status` is done or cancelled here; failures raise a `StreamError` carrying one."""

    status: str
    total: int
    start: int
    sent: int
    acked: int
    synced: int
    elapsed_s: float
    position: tuple[float, ...] | None = None
    last_status: Status | None = None
    detail: str = ""


class StreamError(GrblError):
    """A stream that stopped before the end; `.result` says how far it got."""

    def __init__(self, message: str, result: StreamResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class LineError(StreamError):
    """GRBL answered `error:N` to a line: the line number, its text and GRBL's message."""

    def __init__(self, message: str, index: int, line: str, code: int, result: StreamResult | None = None):
        super().__init__(message, result)
        self.index, self.line, self.code = index, line, code


class AlarmError(StreamError):
    """GRBL raised `ALARM:N` (limit, reset in motion...); it refuses G-code until `$X`/`$H`."""

    def __init__(self, message: str, code: int, result: StreamResult | None = None):
        super().__init__(message, result)
        self.code = code


class AlarmLockError(GrblError):
    """The machine is alarm-locked at connect (homing enabled, or an earlier alarm)."""


class HeldError(GrblError):
    """The machine is in a feed hold (or door) at connect: GRBL reads no line until `~` resumes it."""

    def __init__(self, message: str, status: object = None):
        super().__init__(message)
        self.status = status


class ResetError(StreamError):
    """The banner appeared mid-job: GRBL reset and everything it had buffered is lost."""


class LostAckError(StreamError):
    """GRBL went idle but some lines never got their `ok`/`error` (a dropped or garbled byte)."""


class PositionError(StreamError):
    """GRBL's reported position left the planned path (a lost or garbled byte): held, pen up, resumable."""

    def __init__(self, message: str, index: int, result: StreamResult | None = None) -> None:
        super().__init__(message, result)
        self.index = index


class CommandError(GrblError):
    """A single command (`$X`, `$C`, a setting) was refused."""


class PortLostError(DeviceError):
    """The serial port vanished mid-job (USB unplugged); the journal holds what was done."""

    def __init__(self, message: str, result: StreamResult | None = None) -> None:
        super().__init__(message)
        self.result = result
