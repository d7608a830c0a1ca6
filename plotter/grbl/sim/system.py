"""`$` system commands of the simulated GRBL (system.c: system_execute_line), as a line generator.

Each command returns GRBL's status code; the machine prints `ok`/`error:N` after it. `$H` waits (yields)
for the homing time; everything else answers at once.
"""

from __future__ import annotations

from collections.abc import Generator

from plotter.grbl.sim import status as st
from plotter.grbl.sim.gcode import GcState, read_float
from plotter.grbl.sim.interp import interpret
from plotter.grbl.sim.settings import Settings
from plotter.grbl.sim.status import GrblStatus

VERSION = "[VER:1.1h.20190830:]"
HELP = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]"


class SystemMixin:
    """Mixed into `SimulatedGrbl`."""

    build_info = ""

    def system(self, line: str) -> Generator[object, None, int]:
        if False:  # pragma: no cover - makes this a generator even when nothing waits
            yield None
        if len(line) == 1:
            self.emit(HELP)
            return st.OK
        c = line[1]
        if c in "$GCX":
            if len(line) > 2:
                return st.INVALID_STATEMENT
            return self._simple(c)
        if c == "J":
            return st.INVALID_STATEMENT if line[2:3] != "=" else (yield from self._jog(line[3:]))
        if self.state not in ("Idle", "Alarm"):
            return st.IDLE_ERROR
        if c == "#":
            if len(line) > 2:
                return st.INVALID_STATEMENT
            self._report_params()
            return st.OK
        if c == "H":
            return (yield from self._home(line))
        if c == "S":
            if line != "$SLP":
                return st.INVALID_STATEMENT
            self._cut_motion()
            self.sleeping = True
            self.emit("[MSG:Sleeping]")
            return st.OK
        if c == "I":
            if len(line) == 2:
                self.emit(VERSION[:-1] + self.build_info + "]")
                self.emit(f"[OPT:V,{self.config.blocks},{self.config.rx_size}]")
                return st.OK
            if line[2] != "=":
                return st.INVALID_STATEMENT
            self.build_info = line[3:]
            return st.OK
        if c == "R":
            return self._restore(line)
        if c == "N" and len(line) == 2:
            for i, text in enumerate(self.startup_lines):
                self.emit(f"$N{i}={text}")
            return st.OK
        return self._store(line)

    def _simple(self, c: str) -> int:
        if c == "$":
            if self.state.startswith(("Run", "Hold")):
                return st.IDLE_ERROR
            for text in self.settings.report_lines():
                self.emit(text)
        elif c == "G":
            self.emit(self.gc.report())
        elif c == "C":
            if self.check_mode:
                self.emit("[MSG:Disabled]")
                self.emit("ok")
                self.soft_reset()  # GRBL resets when check mode is switched off
                return None  # type: ignore[return-value]  # ok already sent before the banner
            if self.state != "Idle":
                return st.IDLE_ERROR
            self.check_mode = True
            self.emit("[MSG:Enabled]")
        elif c == "X":
            if self.alarm:
                self.alarm = False
                self.emit("[MSG:Caution: Unlocked]")
        return st.OK

    def _report_params(self) -> None:
        for i, w in enumerate(self.tables.wcs):
            self.emit(f"[G{54 + i}:{_fmt(w)}]")
        self.emit(f"[G28:{_fmt(self.tables.g28)}]")
        self.emit(f"[G30:{_fmt(self.tables.g30)}]")
        self.emit(f"[G92:{_fmt(self.gc.g92)}]")
        self.emit(f"[TLO:{self.tlo[0]:.3f}]")
        self.emit("[PRB:0.000,0.000,0.000:0]")

    def _store(self, line: str) -> int:
        """`$n=v` settings and `$Nn=line` startup blocks."""
        startup = line[1] == "N"
        i = 2 if startup else 1
        if startup and self.alarm:
            return st.IDLE_ERROR
        got = read_float(line, i)
        if got is None:
            return st.BAD_NUMBER_FORMAT
        number, i = got
        if line[i : i + 1] != "=":
            return st.INVALID_STATEMENT
        rest = line[i + 1 :]
        if startup:
            if number not in (0, 1):
                return st.INVALID_STATEMENT
            if rest:
                try:  # GRBL executes the block to validate it; we check it on a copy of the parser state
                    interpret(rest, _copy_gc(self.gc), self.tables, False, self.settings[12], [0.0])
                except GrblStatus as exc:
                    return exc.code
            self.startup_lines[int(number)] = rest
            return st.OK
        got = read_float(rest, 0)
        if got is None:
            return st.BAD_NUMBER_FORMAT
        value, j = got
        if j != len(rest) or number > 255:
            return st.INVALID_STATEMENT
        code = self.settings.store(number, value)
        if code == st.OK and 110 <= number < 130 or number == 11:
            self.queue.kinematics = self._kinematics()
        if number in (130, 131):
            self.trace.bed = (self.settings[130], self.settings[131])
        return code

    def _restore(self, line: str) -> int:
        if len(line) != 6 or line[:5] != "$RST=" or line[5] not in "$#*":
            return st.INVALID_STATEMENT
        if line[5] in "$*":
            keep_homing = self.settings[22]
            self.settings = Settings.defaults()
            self.settings.values[22] = keep_homing if line[5] == "$" else self.settings[22]
            self.queue.kinematics = self._kinematics()
        if line[5] in "#*":
            self.tables.__init__()
        if line[5] == "*":
            self.startup_lines = ["", ""]
        self.emit("[MSG:Restoring defaults]")
        self.emit("ok")
        self.soft_reset()
        return None  # type: ignore[return-value]

    def _home(self, line: str) -> Generator[object, None, int]:
        """$H: seek, locate, pull off (timed from $24-$27 and the travel).

        Afterwards the position is where stock GRBL (no HOMING_FORCE_SET_ORIGIN) puts it: -pull-off on an
        axis homed toward +, pull-off - max travel on one homed toward - ($23 bit set): machine space is
        always [-max_travel, 0], which is what soft limits check.
        """
        if not self.settings.flag(22):
            return st.SETTING_DISABLED
        if len(line) > 2:
            return st.INVALID_STATEMENT
        s = self.settings
        pos = self.queue.position
        known = not self.alarm
        seek = [abs(p) if known else s[130 + i] for i, p in enumerate(pos)]
        pull = s[27]
        seek_v, locate_v = s[25] / 60.0, s[24] / 60.0
        per_cycle = [(d + pull) / seek_v + 2 * pull / locate_v + 3 * s[26] / 1000.0 for d in seek]
        self.homing_until = self.now + per_cycle[2] + max(per_cycle[0], per_cycle[1])  # Z first, then X and Y
        yield "homed"
        mask = int(s[23])
        home = tuple(pull - s[130 + i] if mask & (1 << i) else -pull for i in range(3))
        self.queue.position = home
        self.queue.clear()
        self._last_target = home
        self.gc.position = list(home)
        self.alarm = False
        self._run_startup_lines()
        return st.OK

    def _run_startup_lines(self) -> None:
        """$N0/$N1 after a reset or homing: echoed as `>line:ok` (check-only: no motion at startup)."""
        for text in self.startup_lines:
            if not text:
                continue
            try:
                interpret(text, self.gc, self.tables, self.settings.flag(32), self.settings[12], self.tlo)
                self.emit(f">{text}:ok")
            except GrblStatus as exc:
                self.emit(f">{text}:error:{exc.code}")

    def _jog(self, body: str) -> Generator[object, None, int]:
        """$J=: a G1 move in its own state; needs F and axis words, no other commands (error:16)."""
        if self.state not in ("Idle", "Jog") or self.alarm:
            return st.IDLE_ERROR
        if not body or any(ch in body for ch in "GM") and not all(w in ("G20", "G21", "G90", "G91", "G53")
                                                                  for w in _g_words(body)):  # fmt: skip
            return st.INVALID_JOG_COMMAND
        if "F" not in body:
            return st.UNDEFINED_FEED_RATE
        if not any(a in body for a in "XYZ"):
            return st.INVALID_JOG_COMMAND
        gc = _copy_gc(self.gc)
        try:
            ops, n = interpret("G1" + body, gc, self.tables, False, self.settings[12], [0.0])
        except GrblStatus as exc:
            return exc.code
        for op in ops:
            if op.kind != "line":
                continue
            if self.settings.flag(20) and self._soft_limit_hit(op.target):
                return st.TRAVEL_EXCEEDED
            yield "slot"
            self.jogging = True
            self._push_line(op, n)
        self.gc.position = list(gc.position)  # jog keeps the parser's modal state (GRBL restores it)
        return st.OK


def _g_words(body: str) -> list[str]:
    out, i = [], 0
    while i < len(body):
        if body[i] in "GM":
            j = i + 1
            while j < len(body) and (body[j].isdigit() or body[j] == "."):
                j += 1
            out.append(body[i:j])
            i = j
        else:
            i += 1
    return out


def _copy_gc(gc: GcState) -> GcState:
    from dataclasses import replace

    return GcState(modal=replace(gc.modal), feed=gc.feed, spindle_speed=gc.spindle_speed, tool=gc.tool,
                   position=list(gc.position), g92=list(gc.g92))  # fmt: skip


def _fmt(values: list[float]) -> str:
    return ",".join(f"{v + 0.0:.3f}" for v in values)
