"""The simulated GRBL 1.1h pen plotter: a discrete-event model of the firmware's main loop.

Bytes arrive at timestamps (`receive`); real-time bytes act at once, the rest go through GRBL's line assembler
or, while the main loop is blocked (planner full, a sync), into the 128-byte RX buffer, which drops what does
not fit. A line runs as a generator that yields what it waits for ("slot", "idle", ...), like the firmware
blocking in plan_check_full_buffer / protocol_buffer_synchronize. Motion runs on `plotter.plan.PlannerQueue`,
so simulated machine time is the time estimate's. `advance_to(t)` jumps from event to event; nothing sleeps.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field

from plotter.errors import DeviceError
from plotter.grbl.sim import status as st
from plotter.grbl.sim.execute import ExecuteMixin, PlannedItem
from plotter.grbl.sim.faults import Fault, FaultPlan
from plotter.grbl.sim.gcode import GcState, Tables
from plotter.grbl.sim.interp import interpret
from plotter.grbl.sim.report import ReportMixin
from plotter.grbl.sim.settings import Settings
from plotter.grbl.sim.status import GrblStatus
from plotter.grbl.sim.system import SystemMixin
from plotter.grbl.sim.trace import PenTrace, Segment
from plotter.plan.motion import Kinematics, PlannerQueue

BANNER = "\r\nGrbl 1.1h ['$' for help]"
LINE_BUFFER_SIZE = 80  # GRBL keeps at most 79 characters of a line (after stripping)
INF = math.inf
_REALTIME = (0x3F, 0x21, 0x7E, 0x18)  # ? ! ~ ctrl-x; extended real-time bytes are all >= 0x80


@dataclass
class MachineConfig:
    """Build options and wiring of one simulated machine."""

    rx_size: int = 128  # serial RX buffer (bytes), reported by $I
    blocks: int = 15  # usable planner blocks, reported by $I
    homing: bool = False  # $22=1: alarm lock at power-up until $H or $X
    pen: str = "servo"  # servo: pen down while M3/M4 with S > pen_s | z: pen down while Z <= pen_z
    pen_s: float = 0.0
    pen_z: float = 0.0
    settings: dict[int, float] = field(default_factory=dict)  # $n overrides of the defaults


class SimulatedGrbl(ExecuteMixin, SystemMixin, ReportMixin):
    """One GRBL 1.1h machine in simulated time. Drive it with `receive`, `advance_to`, read `take_output`."""

    def __init__(self, config: MachineConfig | None = None, faults: FaultPlan | list[Fault] | None = None,
                 trace: PenTrace | None = None) -> None:  # fmt: skip
        self.config = config or MachineConfig()
        if self.config.rx_size < 2 or self.config.blocks < 1:
            raise DeviceError("rx buffer must be >= 2 bytes and the planner >= 1 block")
        if self.config.pen not in ("servo", "z"):
            raise DeviceError(f"pen must be 'servo' or 'z', got {self.config.pen!r}")
        self.settings = Settings.defaults()
        self.settings.values[22] = 1.0 if self.config.homing else 0.0
        overrides = {int(k): float(v) for k, v in self.config.settings.items()}
        for number in sorted(overrides, key=lambda n: (n != 22, n)):  # $20 needs $22 first
            code = self.settings.store(number, overrides[number])
            if code:
                raise DeviceError(f"setting ${number}={overrides[number]:g}: GRBL would answer error:{code}")
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan(faults)
        self.trace = trace or PenTrace()
        self.tables = Tables()
        self.startup_lines = ["", ""]
        self.now = 0.0
        self._motion_time = 0.0
        self._dirty = False
        self.out: deque[tuple[float, bytes]] = deque()
        self.rx: deque[int] = deque()
        self.rx_overflow_bytes = 0
        self.bytes_received = 0
        self.lines_read = 0
        self.vanished = False
        self._incoming: deque[tuple[float, int]] = deque()
        self.queue = PlannerQueue(self._kinematics(), size=self.config.blocks)
        self.alarm = self.settings.flag(22)  # HOMING_INIT_LOCK
        self._power_up()

    # ------------------------------------------------------------------ state
    def _kinematics(self) -> Kinematics:
        s = self.settings
        return Kinematics(max_rate=s.axes(110), accel=s.axes(120), junction_deviation=s[11])

    def _power_up(self) -> None:
        """Everything a reset re-initialises (gc_init, planner, RX, overrides), then the banner."""
        self.gc = GcState(position=list(self.queue.position))
        self.tlo = [0.0]
        self.check_mode = False
        self.sleeping = False
        self.critical = False
        self.homing_until: float | None = None
        self._line = []
        self._comment = ""  # "" | "(" | ";"
        self._overflow = False
        self._task: Generator | None = None
        self._waiting: object = None
        self._idle_hold = False
        self.jogging = False
        self._blocks: deque[PlannedItem] = deque()
        self._last_target = tuple(self.queue.position)
        self.feed_ov = 100
        self.rapid_ov = 100
        self.spindle_out = ("M5", 0.0)
        self._stopped_spindle = None
        self._report_count = 0
        self._wco_counter = 0
        self._ov_counter = 1
        self.trace.bed = (self.settings[130], self.settings[131])
        self.trace.kinematics, self.trace.blocks = self.queue.kinematics, self.config.blocks
        self.trace.pen(self.now, False)
        self.emit(BANNER)
        if self.alarm:
            self.emit("[MSG:'$H'|'$X' to unlock]")
        else:
            self._run_startup_lines()

    def emit(self, text: str) -> None:
        self.out.append((self.now, (text + "\r\n").encode("ascii")))
        if text == "ok" or text.startswith("error:"):
            self.trace.acked(self.now)

    def take_output(self) -> list[tuple[float, bytes]]:
        """(emit time, bytes) produced so far, oldest first; the link puts them on the wire."""
        items = list(self.out)
        self.out.clear()
        return items

    @property
    def moving(self) -> bool:
        return len(self.queue) > 0 and not self.queue.hold_complete

    @property
    def state(self) -> str:
        """GRBL's state name as `?` reports it."""
        if self.sleeping:
            return "Sleep"
        if self.alarm:
            return "Alarm"
        if self.homing_until is not None:
            return "Home"
        if self.jogging:
            return "Jog"  # also while a jog cancel decelerates
        if self.queue.holding:
            return "Hold:0" if self.queue.hold_complete else "Hold:1"
        if self._idle_hold:
            return "Hold:0"
        if self.check_mode:
            return "Check"
        return "Run" if len(self.queue) else "Idle"

    @property
    def _blocked(self) -> bool:
        """GRBL's main loop reads no line: after a critical alarm, asleep, or suspended in a feed hold."""
        held = (self.queue.holding or self._idle_hold) and not self.jogging
        return self.critical or self.sleeping or held

    # ------------------------------------------------------------------ input
    def receive(self, t: float, data: bytes) -> None:
        """Bytes that reach the machine at time t (they are processed when the machine gets there)."""
        t = max(t, self.now)
        for b in data:
            self._incoming.append((t, b))

    def _arrive(self, byte: int) -> None:
        self.bytes_received += 1
        got = self.faults.wire(self.bytes_received, byte)
        if got is None:
            return
        if (got in _REALTIME or got >= 0x80) and self._sync_motion() is None and self.realtime(got):
            return
        if got >= 0x80:
            return  # GRBL throws away unknown extended-ASCII bytes
        if self._task is None and not self.rx and not self._blocked:
            self._assemble(got)
        elif len(self.rx) < self.config.rx_size - 1:  # a ring buffer of N holds N-1
            self.rx.append(got)
        else:
            self.rx_overflow_bytes += 1
            self.trace.rx_overflow_bytes = self.rx_overflow_bytes

    def _assemble(self, c: int) -> None:
        """protocol.c: strip spaces, comments and '/', upper-case, 79-character limit, run on \\n or \\r."""
        ch = chr(c)
        if ch in "\r\n":
            line, overflow = "".join(self._line), self._overflow
            self._line, self._comment, self._overflow = [], "", False
            self._start_line(line, overflow)
        elif self._comment or self._overflow:
            if ch == ")" and self._comment == "(":
                self._comment = ""
        elif c <= 32 or ch == "/":
            pass
        elif ch == "(":
            self._comment = "("
        elif ch == ";":
            self._comment = ";"
        elif len(self._line) >= LINE_BUFFER_SIZE - 1:
            self._overflow = True
        else:
            self._line.append(ch.upper())

    def _start_line(self, line: str, overflow: bool) -> None:
        self.lines_read += 1
        for fault in self.faults.at_line(self.lines_read):
            if self._fault(fault, line):
                return
        if overflow:
            self.emit(f"error:{st.OVERFLOW}")
        elif not line:
            self.emit("ok")
        else:
            self._task = self._run_line(line)
            self._waiting = None
            self._step_task()

    def _run_line(self, line: str) -> Generator[object, None, int]:
        if line[0] == "$":
            return (yield from self.system(line))
        if self.alarm or self.jogging:
            return st.SYSTEM_GC_LOCK
        laser = self.settings.flag(32)
        try:
            ops, n = interpret(line, self.gc, self.tables, laser, self.settings[12], self.tlo)
        except GrblStatus as exc:
            return exc.code
        for op in ops:
            yield from self._op(op, n)
        return st.OK

    # ------------------------------------------------------------------ the main loop
    def _satisfied(self, cond: object) -> bool:
        q = self.queue
        if cond == "slot":
            return not q.is_full()
        if cond == "idle":
            return q.idle
        if cond == "stopped":
            return q.idle or q.hold_complete
        if cond == "resume":
            return not (q.holding or self._idle_hold)
        if cond == "homed":
            return self.homing_until is None
        return False  # "reset": only a reset ends it

    def _track(self, t: float) -> None:
        """Tell the trace whether the machine is now waiting for data (see `trace` for the definitions)."""
        q = self.queue
        busy_fw = self._waiting in ("idle", "stopped", "resume", "homed", "reset")
        paused = self.alarm or q.holding or self._idle_hold or self.homing_until is not None or busy_fw
        starved = not paused and len(q) <= 1 and not (q.synchronizing and len(q) == 0 and not q.idle)
        self.trace.waiting(t, starved, starved and q.idle)

    def _step_task(self) -> bool:
        """Resume the running line if what it waits for is there; True when it finished."""
        waiting = self._waiting
        try:
            return self._step()
        finally:
            if self._waiting != waiting:
                self._track(self.now)

    def _step(self) -> bool:
        while self._task is not None:
            if self._waiting is not None and not self._satisfied(self._waiting):
                return False
            try:
                self._waiting = next(self._task)
            except StopIteration as done:
                self._task, self._waiting = None, None
                if done.value is not None:
                    self.emit("ok" if done.value == st.OK else f"error:{done.value}")
                return True
        return True

    def _pump(self) -> None:
        """GRBL's protocol_main_loop at one instant: finish the blocked line, then read the RX buffer."""
        if self.jogging and (self.queue.idle or self.queue.hold_complete):
            if self.queue.hold_complete:  # jog cancel (0x85): stopped, the rest of the jog is dropped
                self._cut_motion()
            self.jogging = False
        while True:
            if self._task is not None and not self._step_task():
                return
            if self._blocked or not self.rx:
                return
            self._assemble(self.rx.popleft())

    def advance_to(self, t: float, stop_on_output: bool = False) -> None:
        """Run every event up to time t (or up to the first event that produces output).

        Motion is advanced lazily (`_sync_motion`): bytes that only fill the line buffer do not touch the
        planner, so a stream of bytes costs one event per planner completion, not one per byte.
        """
        while True:
            self._pump()
            if stop_on_output and self.out:
                return
            ttn = self.queue.time_to_next_completion()
            t_motion = self._motion_time + ttn / self._rate() if ttn < INF else INF
            t_in = self._incoming[0][0] if self._incoming and not self.vanished else INF
            t_home = self.homing_until if self.homing_until is not None else INF
            t_other = min(self.faults.next_time(), t_home)
            t_next = min(t_motion, t_in, t_other)
            if t_next == INF and t == INF:
                return  # nothing will ever happen by itself
            if t_next > t:
                self.now = max(self.now, t)
                self._sync_motion()
                self._pump()
                return
            if t_motion <= t_in and t_motion <= t_other:
                self._run_motion(0.0, ttn)
                self.now = max(self.now, t_motion)
            elif t_in <= t_other:
                self._deliver(min(t_motion, t_other, t), stop_on_output)
            else:
                self.now = max(self.now, t_other)
                self._sync_motion()
                if self.homing_until is not None and self.homing_until <= self.now:
                    self.homing_until = None
                for fault in self.faults.due(self.now):
                    self._fault(fault, None)

    def next_event_time(self) -> float:
        """When something will next happen by itself (inf: nothing ever will without new input)."""
        ttn = self.queue.time_to_next_completion()
        t_motion = self._motion_time + ttn / self._rate() if ttn < INF else INF
        t_in = self._incoming[0][0] if self._incoming and not self.vanished else INF
        t_home = self.homing_until if self.homing_until is not None else INF
        return min(t_motion, t_in, t_home, self.faults.next_time())

    def drain(self, limit: float = 1e9) -> None:
        """Run until nothing is left to happen by itself (planner done, no bytes in flight, no homing)."""
        while self.now < limit and not self.vanished:
            t_next = self.next_event_time()
            if t_next == INF:
                return
            self.advance_to(max(t_next, self.now))

    def _deliver(self, limit: float, stop_on_output: bool) -> None:
        """Hand arriving bytes to the firmware until one of them changes the motion (or `limit`)."""
        self._dirty = False
        incoming = self._incoming
        while incoming and incoming[0][0] <= limit and not self.vanished:
            tb, byte = incoming.popleft()
            if tb > self.now:
                self.now = tb
            self._arrive(byte)
            if self._dirty or self._task is None:  # a blocked line only wakes on motion or real-time events
                self._pump()
            if self._dirty or (stop_on_output and self.out):
                return

    def _rate(self) -> float:
        head = self._blocks[0] if self._blocks else None
        if head is None or head.kind != "line":
            return 1.0
        return (self.rapid_ov if head.rapid else self.feed_ov) / 100.0

    def _sync_motion(self) -> None:
        """Bring the planner up to `now` (before anything reads or changes it)."""
        if self.now > self._motion_time:
            self._run_motion(self.now - self._motion_time, None)
        self._motion_time = self.now
        self._dirty = True

    def _run_motion(self, dt: float, exact: float | None) -> None:
        """Advance the planner from `_motion_time` by dt (or exactly `exact` seconds of machine time)."""
        q = self.queue
        rate = self._rate()
        t0 = self._motion_time
        self._motion_time = t0 + (exact / rate if exact is not None else dt)
        if q.idle or (dt <= 0 and exact is None):
            return
        machine_dt = max(exact, 1e-9) if exact is not None else dt * rate
        q0 = q.time
        for p in q.advance(machine_dt):
            self._completed(p, t0 + (p.time_s - q0) / rate)

    def _completed(self, p, t: float) -> None:
        blk = self._blocks.popleft() if self._blocks else None
        if blk is not None and blk.kind == "line":
            self.trace.add(Segment(blk.start, tuple(p.position), blk.t_start, t, blk.pen, blk.line))
        elif blk is not None:
            self.trace.last_motion_end = t
        if self._blocks:
            nxt = self._blocks[0]
            nxt.t_start = t
            nxt.start = tuple(p.position)
            if nxt.kind == "line":
                self.trace.pen(t, nxt.pen)
        self._track(t)
