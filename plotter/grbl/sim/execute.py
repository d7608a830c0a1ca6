"""What a parsed line does to the simulated machine: planner pushes, syncs, limits, alarms, resets, faults.

Mixed into `SimulatedGrbl` (split from `machine.py` to keep the event loop and the firmware actions apart).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from plotter.grbl.sim import status as st
from plotter.grbl.sim.faults import Fault
from plotter.grbl.sim.gcode import Op
from plotter.grbl.sim.trace import Segment


@dataclass
class PlannedItem:
    """Our tag on a planner item: what it is, where it started, pen and line number."""

    kind: str
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pen: bool = False
    line: int = 0
    rapid: bool = False
    t_start: float = 0.0


class ExecuteMixin:
    """Firmware actions; the state they touch lives on `SimulatedGrbl`."""

    # ------------------------------------------------------------------ ops of a line
    def _op(self, op: Op, n: int) -> Generator[object, None, None]:
        check = self.check_mode
        if op.kind == "line":
            if self._soft_limit_hit(op.target):
                yield from self._soft_limit()
                return
            if check:
                return
            yield "slot"
            self._push_line(op, n)
            return
        if check:
            return
        if not self.queue.idle and op.kind != "dwell":
            self.trace.program.append(("dwell", self._last_target, 0.0))
        yield "idle"
        if op.kind in ("spindle", "sync"):  # spindle/coolant change: the next `?` carries Ov and A:
            self._ov_counter = 0
        if op.kind == "spindle":
            self.spindle_out = (op.text, op.value)
            if self.config.pen == "servo" and not self.settings.flag(32):
                self.trace.pen(self.now, self._servo_down(op.text, op.value), servo=True)
        elif op.kind == "dwell":
            blk = PlannedItem("dwell", tuple(self.queue.position))
            self.trace.program.append(("dwell", self._last_target, op.value))
            self._push(blk, lambda tag: self.queue.push_dwell(op.value, tag))
            yield "idle"
        elif op.kind == "eeprom":
            self.tables.wcs[int(op.value)] = list(op.target)
        elif op.kind == "store":
            setattr(self.tables, "g28" if op.text == "G28.1" else "g30", list(op.target))
        elif op.kind == "flow":
            if op.text == "M0":
                self._idle_hold = True
                yield "resume"
            else:
                self.emit("[MSG:Pgm End]")
                self.spindle_out = ("M5", 0.0)  # program end stops the spindle: the servo pen goes up
                if self.config.pen == "servo":
                    self.trace.pen(self.now, False, servo=not self.settings.flag(32))
            self.gc.modal.program_flow = ""

    def _servo_down(self, mode: str, s: float) -> bool:
        return mode in ("M3", "M4") and s > self.config.pen_s

    def _push_line(self, op: Op, n: int) -> None:
        start = self._last_target
        cfg = self.config
        if cfg.pen == "z":
            pen = start[2] <= cfg.pen_z and op.target[2] <= cfg.pen_z
        elif self.settings.flag(32):
            pen = self._servo_down(self.spindle_out[0], op.value) and not op.rapid
        else:
            pen = self._servo_down(*self.spindle_out)
        blk = PlannedItem("line", start, pen, n, op.rapid)
        self.trace.program.append(("line", start, tuple(op.target), op.feed or None, op.rapid))
        self._push(blk, lambda tag: self.queue.push_line(op.target, op.feed or None, op.rapid, tag))
        self._last_target = tuple(op.target)

    def _push(self, blk: PlannedItem, push) -> None:
        self._sync_motion()
        q = self.queue
        was_idle = q.idle
        before = len(q)
        push(blk)
        if blk.kind == "line" and len(q) == before:
            return  # zero-length move: GRBL drops it
        if blk.kind == "dwell" and not q.synchronizing:
            return
        self._blocks.append(blk)
        if was_idle:
            blk.t_start = self.now
            blk.start = tuple(q.position)
            self.trace.motion_started(self.now)
            if blk.kind == "line":
                self.trace.pen(self.now, blk.pen)
        if self._idle_hold:
            q.feed_hold()
        self._track(self.now)

    # ------------------------------------------------------------------ limits, alarms, reset
    def _soft_limit_hit(self, target: tuple[float, float, float] | None) -> bool:
        """Stock GRBL (no HOMING_FORCE_SET_ORIGIN): machine space is [-max_travel, 0] whatever $23 says."""
        if not self.settings.flag(20) or target is None:
            return False
        for i, v in enumerate(target):
            if not -self.settings[130 + i] - 1e-9 <= v <= 1e-9:
                return True
        return False

    def _soft_limit(self) -> Generator[object, None, None]:
        """limits_soft_check: hold if moving (position kept), then ALARM:2 and wait for a reset."""
        if not self.queue.idle:
            self.queue.feed_hold()
            yield "stopped"
        self.critical_alarm(st.ALARM_SOFT_LIMIT)
        yield "reset"

    def critical_alarm(self, code: int) -> None:
        """Hard/soft limit: stop now, ALARM:N, '[MSG:Reset to continue]', ignore everything until a reset."""
        self._cut_motion()
        self.alarm = True
        self.critical = True
        self.emit(f"ALARM:{code}")
        self.emit("[MSG:Reset to continue]")

    def _cut_motion(self) -> None:
        """Stop dead where the machine is; the executing block is recorded as far as it got."""
        self._sync_motion()
        blk = self._blocks[0] if self._blocks else None
        if blk is not None and blk.kind == "line" and len(self.queue):
            end = tuple(self.queue.position)
            self.trace.add(Segment(blk.start, end, blk.t_start, self.now, blk.pen, blk.line))
        self.queue.clear()
        self._blocks.clear()
        self._last_target = tuple(self.queue.position)
        self._track(self.now)

    def soft_reset(self) -> None:
        """0x18: ALARM:3 if in motion (position lost: alarm lock), flush everything, banner."""
        if self.critical and self._task is not None and self._waiting == "reset":
            self.emit("ok")  # the line that hit the limit finishes (gc_execute_line returns) as GRBL resets
        if self.homing_until is not None:
            self.emit(f"ALARM:{st.ALARM_HOMING_FAIL_RESET}")
            self.alarm = True
        elif self.moving:
            self.emit(f"ALARM:{st.ALARM_ABORT_CYCLE}")
            self.alarm = True
        if self.sleeping:
            self.alarm = True
        self._cut_motion()
        self.rx.clear()
        self._power_up()

    def _fault(self, fault: Fault, line: str | None) -> bool:
        """Apply a line or time fault; True when the line it arrived with is consumed by it."""
        if fault.kind == "error":
            self.emit(f"error:{fault.arg}")
        elif fault.kind == "alarm":
            self.critical_alarm(int(fault.arg or 1))
        elif fault.kind == "reset":
            self.soft_reset()
        elif fault.kind == "vanish":
            self.vanished = True
        return True
