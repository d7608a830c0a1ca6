"""The real GRBL 1.1h firmware as a test peer: built once per session, served on a pseudo-terminal.

`../shared/grbl-sim/build.sh DEST` compiles GRBL 1.1h itself (parser, planner, protocol, settings) for
this host with grbl-sim, which talks over stdin/stdout as its serial line. `Firmware` runs it with the
*master* side of a pty as stdin/stdout and hands tests the *slave* path (`/dev/pts/N`, raw mode): any
sender, ours included, opens it like a USB adapter. The fixture keeps its own slave fd open, so the firmware
never sees a hang-up when a client closes the port, and it reads the power-up banner itself, so a client
starts on a quiet line (as after opening a port whose board booted long ago).

Fixtures (tests/conftest.py):

- `grbl_firmware_exe`  (session): path of the built `grbl_sim.exe`; skips when ../shared/grbl-sim, gcc or make
  is absent.
- `grbl_firmware`: a factory. `path = grbl_firmware()` starts a factory-fresh machine (own EEPROM file, own
  temp dir) and returns its pty path; `grbl_firmware({20: 1, 22: 1, 130: 300})` writes those `$` settings,
  then power-cycles it so it boots with them (with `$22=1` it boots alarm-locked: `$X` or `$H` first);
  `grbl_firmware(speed=0.5)` runs the simulated clock at half speed (grbl-sim `-t`). Every machine started
  is stopped at teardown. `grbl_firmware.last` is the last `Firmware` (`.path`, `.restart()`, `.stop()`).

    def test_x(grbl_firmware):
        port = serial.Serial(grbl_firmware({22: 1}), 115200, timeout=0.1)
        port.write(b"$X\\n")   # -> [MSG:Caution: Unlocked] / ok

The harness is only approximately real-time on a busy 2-core machine (its README): assert protocol outcomes
(which lines, which replies, which state), never durations, and give waits generous timeouts.
Homing: grbl-sim drives no limit pins, so `$H` never finds a switch (ALARM:9 after the search distance).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import tty
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRBL_SIM_DIR = REPO.parent / "shared" / "grbl-sim"
BANNER = b"Grbl 1.1h ['$' for help]"


class FirmwareUnavailable(Exception):
    """Why the real firmware cannot run here (tests skip with this reason)."""


def missing_reason(source: Path = GRBL_SIM_DIR) -> str | None:
    """None when the firmware can be built here, else the reason it cannot."""
    if not (source / "build.sh").exists():
        return f"{source}/build.sh is not present (real GRBL firmware unavailable)"
    for tool in ("gcc", "make", "bash"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (needed to build the real GRBL firmware)"
    return None


def build_firmware(dest: Path, source: Path = GRBL_SIM_DIR) -> Path:
    """Compile GRBL 1.1h with grbl-sim into `dest`; return the path of `grbl_sim.exe`."""
    reason = missing_reason(source)
    if reason:
        raise FirmwareUnavailable(reason)
    proc = subprocess.run(["bash", str(source / "build.sh"), str(dest)], capture_output=True, text=True)
    exe = dest / "grbl" / "sim" / "grbl_sim.exe"
    if proc.returncode != 0 or not exe.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FirmwareUnavailable("building grbl-sim failed: " + " | ".join(tail))
    return exe


class Firmware:
    """One grbl_sim.exe behind a pty. Symmetric: `start()` returns the slave path, `stop()` ends it."""

    def __init__(self, exe: Path, workdir: Path, *, speed: float = 1.0) -> None:
        self.exe = exe
        self.workdir = workdir  # EEPROM.DAT lives here: settings survive restart(), as on a board
        self.speed = speed
        self.proc: subprocess.Popen | None = None
        self.master: int | None = None
        self.slave: int | None = None
        self.path = ""

    def start(self, timeout: float = 20.0) -> str:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: bytes pass as on a serial line
        self.path = os.ttyname(self.slave)
        args = [str(self.exe), "-n", "-t", str(self.speed), "-s", os.devnull, "-b", os.devnull]
        self.proc = subprocess.Popen(args, cwd=self.workdir, stdin=self.master, stdout=self.master,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.read_until(BANNER, timeout)  # the power-up banner: read here so clients start on a quiet line
        self.drain(0.3)  # e.g. [MSG:'$H'|'$X' to unlock] after the banner of a homing machine
        return self.path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None

    def restart(self) -> str:
        """Power-cycle: a new process on the same EEPROM (a new pty path too)."""
        self.stop()
        return self.start()

    # --- talking to it through the fixture's own slave fd (set-up only; tests use the path) -------------
    def read_until(self, token: bytes, timeout: float) -> bytes:
        assert self.slave is not None
        data = b""
        deadline = time.monotonic() + timeout
        while token not in data:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc is not None and self.proc.poll() is not None):
                raise FirmwareUnavailable(f"grbl_sim.exe did not send {token!r} (got {data[-200:]!r})")
            ready, _, _ = select.select([self.slave], [], [], min(left, 0.2))
            if ready:
                data += os.read(self.slave, 4096)
        return data

    def drain(self, quiet: float) -> bytes:
        assert self.slave is not None
        data = b""
        while select.select([self.slave], [], [], quiet)[0]:
            data += os.read(self.slave, 4096)
        return data

    def command(self, line: str, timeout: float = 10.0) -> list[str]:
        """Send one line, return the reply lines up to and including its `ok`/`error:N`."""
        assert self.slave is not None
        os.write(self.slave, line.encode() + b"\n")
        out: list[str] = []
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FirmwareUnavailable(f"no answer to {line!r} (got {out})")
            if b"\n" not in buf:
                buf += self.read_until(b"\n", left)
            raw, _, buf = buf.partition(b"\n")
            text = raw.decode(errors="replace").strip()
            if text:
                out.append(text)
            if text == "ok" or text.startswith("error:"):
                return out

    def configure(self, settings: Mapping[int, float]) -> None:
        """Write `$n=v` settings (send-response, as EEPROM writes must be), then power-cycle."""
        for key, value in settings.items():
            reply = self.command(f"${key}={value:g}")
            if reply[-1] != "ok":
                raise FirmwareUnavailable(f"${key}={value:g} refused: {reply}")
        self.restart()


def firmware_factory(exe: Path, tmp_root: Path) -> Callable[..., str]:
    """The `grbl_firmware` fixture's callable; `.machines` lists what it started, `.close()` stops them."""
    machines: list[Firmware] = []

    def start(settings: Mapping[int, float] | None = None, *, speed: float = 1.0) -> str:
        workdir = Path(tempfile.mkdtemp(prefix="grbl-", dir=tmp_root))
        fw = Firmware(exe, workdir, speed=speed)
        machines.append(fw)
        start.last = fw  # type: ignore[attr-defined]
        fw.start()
        if settings:
            fw.configure(settings)
        return fw.path

    def close() -> None:
        for fw in machines:
            fw.stop()

    start.machines = machines  # type: ignore[attr-defined]
    start.close = close  # type: ignore[attr-defined]
    start.last = None  # type: ignore[attr-defined]
    return start
