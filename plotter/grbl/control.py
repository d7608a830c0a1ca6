"""Setting up a machine by hand: pen up/down/toggle/test, homing, jogging, reading and writing `$` settings.

Why a class of its own and not the streamer: these are one-off conversations (send a line, wait for its `ok`,
read the machine's state back), and they must work on a machine the streamer would refuse: an alarm-locked
GRBL is exactly the one you home. Every command waits until GRBL has *run* it (a `G4 P0` sync or an Idle
report), so `plotter pen down` returns with the pen on the paper, not with a line in GRBL's planner.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from plotter.errors import DeviceError, GrblError
from plotter.gcode.pen import pen_down_lines, pen_up_lines
from plotter.gcode.profile import Profile
from plotter.grbl.link import RESET, Link
from plotter.grbl.protocol import Alarm, Banner, Setting, Status
from plotter.grbl.results import AlarmError, AlarmLockError, CommandError

log = logging.getLogger(__name__)
HOME_TIMEOUT_S = 120.0  # a slow seek over a large bed; GRBL answers `ok` only when homing is done
MOVE_TIMEOUT_S = 600.0
_AXIS = re.compile(r"^([XYZxyz])([-+]?(?:\d+\.?\d*|\.\d+))$")


@dataclass(frozen=True)
class PenReport:
    """Where the pen is, read back from the machine (not assumed from what was sent)."""

    down: bool
    detail: str  # e.g. "spindle S1000" or "Z 0"


class Machine:
    """One open GRBL for set-up commands. `Machine.open(device, profile)`, then commands, then `close()`."""

    def __init__(self, port: Any, profile: Profile, *, wake_timeout: float = 2.5) -> None:
        self.port = port
        self.profile = profile
        self.link = Link(port)
        self.banner: Banner | None = None
        self.state = self._wake(wake_timeout)

    @classmethod
    def open(cls, device: str, profile: Profile, baudrate: int | None = None) -> Machine:
        from plotter.grbl.transport import open_port

        port = open_port(device, baudrate=baudrate or profile.controller.baudrate)
        try:
            return cls(port, profile)
        except BaseException:
            port.close()
            raise

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------------------
    def _wake(self, timeout: float) -> Status:
        """A banner (a board that reset as the port opened) or a status report (one that was running:
        asked with `?` at 4 Hz, so a running board answers at once), then a fresh `?`."""
        link = self.link
        got = link.wait_for(lambda r: isinstance(r, (Banner, Status)), timeout, poll=0.25)
        self.banner = got if isinstance(got, Banner) else None
        status = link.status(timeout=2.0)
        if status is None:  # after a limit alarm GRBL answers nothing until a soft reset
            raise DeviceError("no answer from GRBL (no banner, no status report): wrong port or baud rate, "
                              "or a limit alarm that needs a reset (plotter console, Ctrl-X)")
        return status

    def status(self) -> Status:
        st = self.link.status(timeout=2.0)
        if st is None:
            raise DeviceError("GRBL stopped answering status requests")
        self.state = st
        return st

    def position(self) -> tuple[float, ...]:
        """Work position (MPos - WCO), as the G-code sees it."""
        st = self.status()
        pos = st.work_position(self._wco())
        return pos if pos is not None else (st.mpos or (0.0, 0.0, 0.0))

    def _wco(self) -> tuple[float, ...] | None:
        from plotter.grbl.protocol import Parameter

        for r in self.link.command("$#"):
            if isinstance(r, Parameter) and r.name == "G54":
                return r.values
        return None

    def require_ready(self, unlock: bool = False) -> None:
        """Refuse an alarm-locked machine (or unlock it with `$X` when asked)."""
        if self.status().state != "Alarm":
            return
        if not unlock:
            raise AlarmLockError("GRBL is alarm-locked: home it with `plotter home`, "
                                 "or pass --unlock to send $X")
        self.command("$X")

    def command(self, line: str, timeout: float = 10.0) -> list[Any]:
        return self.link.command(line, timeout=timeout)

    def sync(self, timeout: float = MOVE_TIMEOUT_S) -> None:
        """Return once GRBL has run everything sent: `G4 P0` is acknowledged only with the planner empty,
        and a status report then says Idle (the readback after it must not catch the last steps)."""
        self.command("G4 P0", timeout=timeout)
        idle = self.link.wait_for(lambda r: isinstance(r, Status) and r.state == "Idle", timeout, poll=0.2)
        if idle is None:
            raise DeviceError(f"GRBL did not come to rest within {timeout:g} s after its moves")
        self.state = idle  # type: ignore[assignment]

    # -- pen --------------------------------------------------------------------------------------
    def pen(self, down: bool) -> list[str]:
        """Move the pen with the profile's own lines (command, dwell); return the lines sent."""
        pen, decimals = self.profile.pen, self.profile.output.decimals
        lines = list(pen_down_lines(pen, decimals) if down else pen_up_lines(pen, decimals))
        for line in lines:
            self.command(line, timeout=MOVE_TIMEOUT_S)
        self.sync()
        return lines

    def pen_report(self) -> PenReport:
        """Servo: the spindle value GRBL drives the PWM with (`FS:` of `?`); z: the Z height."""
        pen = self.profile.pen
        st = self.status()
        if pen.mode == "z":
            z = (self.position() + (0.0, 0.0, 0.0))[2]
            down = abs(z - pen.z_down) < abs(z - pen.z_up)
            return PenReport(down, f"Z {z:g}")
        spindle = st.spindle or 0.0
        down_s, up_s = _s_word(pen.down_command, 1.0), _s_word(pen.up_command, 0.0)
        if pen.up_command.upper().startswith("M5"):
            up_s = 0.0
        return PenReport(abs(spindle - down_s) < abs(spindle - up_s), f"spindle S{spindle:g}")

    def toggle(self) -> tuple[bool, list[str]]:
        """Put the pen the other way from where the machine says it is; returns (now down?, lines)."""
        down = not self.pen_report().down
        return down, self.pen(down)

    def test(self, cycles: int) -> list[PenReport]:
        """Down and up `cycles` times (axicli's `--mode cycle`), reading the pen back after every move."""
        reports = []
        for _ in range(cycles):
            for down in (True, False):
                self.pen(down)
                reports.append(self.pen_report())
        return reports

    # -- homing and jogging -----------------------------------------------------------------------
    def home(self, timeout: float = HOME_TIMEOUT_S) -> tuple[float, ...]:
        """`$H`; GRBL acknowledges when done. Returns the machine position it set."""
        try:
            self.command("$H", timeout=timeout)
        except CommandError as exc:
            if "error:5" in str(exc):
                raise CommandError("homing is not enabled on this machine ($22=0): it needs limit switches; "
                                   "enable with `plotter settings --set 22=1`") from None
            raise
        except AlarmError as exc:
            self.link.write(RESET)  # a failed homing leaves GRBL silent until a reset: leave it answering
            self.link.wait_for(lambda r: isinstance(r, Banner), 3.0)
            raise AlarmError(f"homing failed: {exc}", exc.code) from None
        st = self.status()
        return st.mpos or (0.0, 0.0, 0.0)

    def jog(self, moves: dict[str, float], feed: float, absolute: bool = False,
            timeout: float = MOVE_TIMEOUT_S) -> tuple[float, ...]:
        """`$J=G91 X.. F..` (or G90 with `absolute`); waits until the jog ends; returns the work position.

        Soft limits refuse a target beyond the travel with error:15 before anything moves."""
        if not moves:
            raise GrblError("nothing to jog: give at least one axis, e.g. X10 or Y-5")
        words = " ".join(f"{axis}{value:g}" for axis, value in moves.items())
        self.command(f"$J={'G90' if absolute else 'G91'} G21 {words} F{feed:g}")
        done = self.link.wait_for(
            lambda r: isinstance(r, Alarm) or (isinstance(r, Status) and r.state != "Jog"), timeout, poll=0.2)
        if isinstance(done, Alarm):
            raise AlarmError(f"GRBL raised ALARM:{done.code} while jogging", done.code)
        return self.position()

    # -- settings ---------------------------------------------------------------------------------
    def settings(self) -> dict[int, str]:
        """`$$` as {number: value text}, in GRBL's order."""
        return {r.number: r.value for r in self.command("$$") if isinstance(r, Setting)}

    def write_setting(self, number: int, value: str) -> str:
        """`$n=v`, send-response (GRBL writes EEPROM, receiving nothing meanwhile); returns the read-back."""
        self.command(f"${number}={value}", timeout=10.0)
        return self.settings().get(number, "?")



def parse_jog(words: tuple[str, ...] | list[str]) -> dict[str, float]:
    """('X10', 'y-5') -> {'X': 10.0, 'Y': -5.0}; one clear error for anything else."""
    moves: dict[str, float] = {}
    for word in words:
        m = _AXIS.match(word.strip())
        if not m:
            raise GrblError(f"cannot read jog move {word!r}: use an axis and a distance, e.g. X10 Y-5.5")
        axis = m.group(1).upper()
        if axis in moves:
            raise GrblError(f"axis {axis} given twice")
        moves[axis] = float(m.group(2))
    return moves


def _s_word(line: str, default: float) -> float:
    m = re.search(r"S\s*([-+]?\d+\.?\d*)", line.upper())
    return float(m.group(1)) if m else default


def parse_settings(items: tuple[str, ...] | list[str]) -> dict[int, str]:
    """('110=5000', '$20=1') -> {110: '5000', 20: '1'}; checked here, GRBL checks the range."""
    out: dict[int, str] = {}
    for item in items:
        m = re.fullmatch(r"\s*\$?(\d+)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*", item)
        if not m:
            raise GrblError(f"cannot read setting {item!r}: use N=VALUE, e.g. 110=5000")
        out[int(m.group(1))] = m.group(2)
    return out


def setting_name(number: int) -> str:
    """GRBL 1.1's description of `$n` (from the simulator's table, which is GRBL's)."""
    from plotter.grbl.sim.settings import SETTINGS

    entry = SETTINGS.get(number)
    return entry[2] if entry else ""


def soft_limit_offset(link: Link, settings: dict, status: Status | None) -> tuple[float, ...] | None:
    """GRBL's work offset (machine = work + WCO) when soft limits are on (`$20=1`), for a placement check
    before the first byte; None when they are off. A status report carries WCO only now and then, so
    without one ask `$#` (G54 + G92: the coordinate system GRBL and our G-code use)."""
    try:
        if int(float(settings.get(20, 0))) != 1:
            return None
    except (TypeError, ValueError):
        return None
    if status is not None and status.wco is not None:
        return tuple(status.wco)
    from plotter.grbl.protocol import Parameter

    params = {r.name: r.values for r in link.command("$#") if isinstance(r, Parameter)}
    if "G54" not in params:
        return None
    g92 = params.get("G92", (0.0,) * len(params["G54"]))
    return tuple(a + b for a, b in zip(params["G54"], g92))
