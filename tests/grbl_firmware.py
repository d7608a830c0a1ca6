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
    if proc.returncode == 0 and exe.exists():
        proc = lockstep(dest / "grbl" / "sim")
    if proc.returncode != 0 or not exe.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FirmwareUnavailable("building grbl-sim failed: " + " | ".join(tail))
    return exe


# The simulated AVR's clock must not run ahead of GRBL's main loop (a harness fault, not GRBL's). grbl-sim
# runs the stepper interrupt on one thread, paced by the wall clock, and GRBL's main loop on another. On a
# board the interrupt preempts a main loop that is never descheduled; here, on a loaded host, the main thread
# can sleep for tens of ms while the timer thread catches up and drains the 6-segment step buffer: GRBL goes
# Idle mid-job with blocks still planned, and a G4/M5 (protocol_buffer_synchronize) then never answers `ok`
# (reproduced: 1 hang in 20 runs of 150 short G1 moves + G4 P0 with 4 busy loops on 2 cores). Patch: GRBL's
# st_prep_buffer() (wrapped at link time, GRBL's sources untouched) notes the tick it last refilled the
# buffer; while the stepper interrupt is on, the timer thread runs at most 1 ms of simulated time past that
# tick, then *stops the clock* (drops the backlog) until the main loop runs again. Simulated time stretches
# under load, as the harness README says to expect; protocol behaviour is the firmware's. The clock runs on
# while GRBL's TX ring is full (the main loop then spins in serial_write() until the UART interrupt, on the
# timer thread, frees a byte: no deadlock), and, as a last guard, after 2 s of wall time (was 0.2 s, the
# only escape then; changed after CI once read a Z pen back at Z 2.888 after G4 P0 — not reproduced here, so
# whether this guard was the cause is unconfirmed: each 0.2 s escape let only 1 ms of steps through).
# Second harness fault, same cause (two threads where the board has one CPU): GRBL sets and clears its
# real-time flags with `cli(); flags |= mask; SREG = sreg`, atomic on the AVR, a lost update here (seen: a
# cancel's feed hold stuck in Hold:1 for good, the stepper idle, its EXEC_CYCLE_STOP gone). The four
# read-modify-write setters are wrapped with atomic ones (`_WRAPPED`). Third, same cause: on the board the
# serial ISR's Ctrl-X (mc_reset: set EXEC_RESET, then ALARM:3 when a hold was under way) runs whole before
# the main loop sees the reset and clears the alarm; here the main loop could clear it in between, so a reset
# after a soft limit printed a stray ALARM:3 (3-4 of 10 runs under load). mc_reset and the alarm clear share
# a lock.
_WRAPPED = (  # GRBL functions replaced at link time by the __wrap_ ones in _LOCKSTEP_DECL
    "system_set_exec_state_flag", "system_clear_exec_state_flag",
    "system_set_exec_motion_override_flag", "system_set_exec_accessory_override_flag",
    "mc_reset", "system_clear_exec_alarm")
_LOCKSTEP_DECL = """
volatile uint64_t sim_prep_tick = 0; /* patched by tests/grbl_firmware.py: lockstep */
void __real_st_prep_buffer(void);
void __wrap_st_prep_buffer(void) { __real_st_prep_buffer(); sim_prep_tick = sim.masterclock; }
#include "../serial.h"  /* TX_BUFFER_SIZE as GRBL was built */
static int sim_tx_full(void) { return serial_get_tx_buffer_count() >= TX_BUFFER_SIZE; }  /* main loop waits */
extern volatile uint8_t sys_rt_exec_state, sys_rt_exec_motion_override, sys_rt_exec_accessory_override;
void __wrap_system_set_exec_state_flag(uint8_t m) { __atomic_fetch_or(&sys_rt_exec_state, m, 5); }
void __wrap_system_clear_exec_state_flag(uint8_t m) { __atomic_fetch_and(&sys_rt_exec_state, ~m, 5); }
void __wrap_system_set_exec_motion_override_flag(uint8_t m) {
  __atomic_fetch_or(&sys_rt_exec_motion_override, m, 5); }
void __wrap_system_set_exec_accessory_override_flag(uint8_t m) {
  __atomic_fetch_or(&sys_rt_exec_accessory_override, m, 5); }
#include <pthread.h>
static pthread_mutex_t sim_reset_lock = PTHREAD_MUTEX_INITIALIZER;  /* an ISR is atomic on the AVR */
void __real_mc_reset(void); void __real_system_clear_exec_alarm(void);
void __wrap_mc_reset(void) {
  pthread_mutex_lock(&sim_reset_lock); __real_mc_reset(); pthread_mutex_unlock(&sim_reset_lock); }
void __wrap_system_clear_exec_alarm(void) {
  pthread_mutex_lock(&sim_reset_lock); __real_system_clear_exec_alarm();
  pthread_mutex_unlock(&sim_reset_lock); }
"""
_LOCKSTEP_LOOP_OLD = """   while (sim.masterclock < simulated_ticks){
"""
_LOCKSTEP_LOOP_NEW = """   while (sim.masterclock < simulated_ticks){
    if ((TIMSK1 & (1<<OCIE1A)) && !sim_tx_full() && sim.masterclock > sim_prep_tick + F_CPU / 1000) {
      uint32_t now = platform_ns(); /* patched: lockstep */
      if (!stalled) { stalled = 1; stall_ns = now; }
      if (now - stall_ns < 2000000000u) { simulated_ticks = sim.masterclock; break; }
      sim_prep_tick = sim.masterclock;
    }
    stalled = 0;
"""


def lockstep(sim_dir: Path) -> subprocess.CompletedProcess:
    """Apply the patches above to grbl-sim's simulator.c and relink grbl_sim.exe."""
    path = sim_dir / "simulator.c"
    text = path.read_text()
    if "sim_prep_tick" not in text:
        if _LOCKSTEP_LOOP_OLD not in text or "sim_vars_t sim={0};\n" not in text:
            return subprocess.CompletedProcess([], 1, "", "simulator.c: lockstep patch does not apply")
        text = text.replace("sim_vars_t sim={0};\n", "sim_vars_t sim={0};\n" + _LOCKSTEP_DECL, 1)
        ticks = "  uint64_t simulated_ticks=0;\n"
        text = text.replace(ticks, ticks + "  uint8_t stalled = 0; uint32_t stall_ns = 0;\n", 1)
        path.write_text(text.replace(_LOCKSTEP_LOOP_OLD, _LOCKSTEP_LOOP_NEW, 1))
    (sim_dir / "grbl_sim.exe").unlink(missing_ok=True)
    flags = "FLAGS=-g -O3 -fcommon -Wl," + ",".join(f"--wrap={f}" for f in ("st_prep_buffer", *_WRAPPED))
    return subprocess.run(["make", "-C", str(sim_dir), "main", flags, "PLATFORM=LINUX"], capture_output=True,
                          text=True)


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
