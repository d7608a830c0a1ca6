"""A GRBL 1.1 motion planner model: the same look-ahead the firmware runs, in machine time.

Both the time estimate (`plotter.plan.estimate`) and the simulated GRBL machine drive one `PlannerQueue`, so
an estimate equals the simulated machine time whenever the sender keeps the planner full. The model follows
`grbl/planner.c` (`plan_buffer_line`, `planner_recalculate`) and the velocity profile of `grbl/stepper.c`
(`st_prep_buffer`):

* a block's nominal speed is its feed (or the rapid rate for G0), capped by the per-axis max rates along its
  direction (`limit_value_by_axis_maximum`), never below GRBL's MINIMUM_FEED_RATE (1 mm/min);
* its acceleration is the per-axis limits scaled onto its direction the same way;
* the junction speed uses the junction-deviation formula v^2 = a * delta * sin(theta/2) / (1 - sin(theta/2)),
  with sin(theta/2) from the half-angle identity and a junction acceleration limited along (u_new - u_prev);
  a block's max entry is the min of that and both nominal speeds; a block pushed into an empty buffer starts
  from rest;
* after each push a reverse pass (the newest block must stop: exit 0) and a forward pass re-plan the buffer;
  the block being executed keeps its current speed and remaining length, exactly as GRBL's stepper updates
  `entry_speed_sqr` and `millimeters` of the executing block;
* each block runs a trapezoid (or triangle) from its entry speed to the next block's entry speed.

G4 dwells and M3/M5 pen moves (with `$32=0`) call `protocol_buffer_synchronize()` in GRBL: the planner drains
to a full stop before they run and the next motion starts from rest. `push_dwell` models exactly that: a
barrier that ends the planning window (the block before it exits at 0) and takes no planner block.

Simplifications, stated honestly: motion is continuous (GRBL quantises into 10 ms segments and whole steps,
which changes times by well under a percent), and a block frees its planner slot when its motion ends (GRBL
frees it a few segments earlier, when the stepper has *prepared* it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from plotter.errors import GcodeError, ProfileError

MINIMUM_FEED_RATE = 1.0 / 60.0  # mm/s; GRBL's MINIMUM_FEED_RATE is 1 mm/min
MINIMUM_JUNCTION_SPEED = 0.0  # mm/s, GRBL's default
_EMPTY_MM = 1e-9  # GRBL drops blocks with zero steps; we drop blocks shorter than this
_EPS_T = 1e-12


@dataclass(frozen=True)
class Kinematics:
    """Machine limits as GRBL settings: $110-$112 max rates (mm/min), $120-$122 accel (mm/s^2), $11 (mm)."""

    max_rate: tuple[float, float, float] = (5000.0, 5000.0, 500.0)
    accel: tuple[float, float, float] = (500.0, 500.0, 100.0)
    junction_deviation: float = 0.01

    def __post_init__(self) -> None:
        for name in ("max_rate", "accel"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not all(math.isfinite(v) and v > 0 for v in value):
                raise ProfileError(f"kinematics.{name} must be three positive numbers (x, y, z), got {value}")
            object.__setattr__(self, name, value)
        jd = float(self.junction_deviation)
        if not (math.isfinite(jd) and jd >= 0):
            raise ProfileError(f"kinematics.junction_deviation must be >= 0 mm, got {jd}")
        object.__setattr__(self, "junction_deviation", jd)


@dataclass(frozen=True)
class Progress:
    """One queue item that finished during `advance`: when (machine seconds), where, and at what speed."""

    kind: str  # "line" or "dwell"
    tag: object
    time_s: float
    position: tuple[float, float, float]
    speed: float  # mm/s when the item finished (the next block's entry speed)


@dataclass
class _Line:
    target: tuple[float, float, float]
    unit: tuple[float, float, float]
    length: float
    remaining: float
    acceleration: float  # mm/s^2 along the line
    nominal: float  # mm/s
    max_entry_sqr: float
    entry_sqr: float = 0.0
    rapid: bool = False
    tag: object = None


@dataclass
class _Dwell:
    seconds: float
    tag: object = None


def limit_by_axis(limits: Sequence[float], unit: Sequence[float]) -> float:
    """GRBL's limit_value_by_axis_maximum: the largest value along `unit` no axis exceeds its limit for."""
    out = math.inf
    for lim, u in zip(limits, unit):
        if u != 0.0:
            out = min(out, abs(lim / u))
    return out


def junction_speed_sqr(prev_unit: Sequence[float], unit: Sequence[float], kin: Kinematics) -> float:
    """Max junction speed^2 (mm/s)^2 between two unit vectors, as plan_buffer_line computes it."""
    cos_theta = -sum(p * u for p, u in zip(prev_unit, unit))
    if cos_theta > 0.999999:  # full reversal
        return MINIMUM_JUNCTION_SPEED**2
    if cos_theta < -0.999999:  # straight on
        return math.inf
    ju = [u - p for p, u in zip(prev_unit, unit)]
    norm = math.sqrt(sum(c * c for c in ju))
    ju = [c / norm for c in ju]
    j_accel = limit_by_axis(kin.accel, ju)
    sin_half = math.sqrt(0.5 * (1.0 - cos_theta))
    return max(MINIMUM_JUNCTION_SPEED**2, j_accel * kin.junction_deviation * sin_half / (1.0 - sin_half))


def _profile(v: float, d: float, ve: float, vn: float, a: float) -> list[tuple[float, float, float]]:
    """Phases (distance, v_start, v_end) of constant acceleration taking speed v to ve over d mm."""
    v2, ve2 = v * v, ve * ve
    if ve2 >= v2 + 2 * a * d:  # acceleration-only (exit unreachable from here)
        return [(d, v, math.sqrt(v2 + 2 * a * d))]
    if ve2 <= v2 - 2 * a * d:  # deceleration-only
        return [(d, v, math.sqrt(max(v2 - 2 * a * d, 0.0)))]
    vmax = max(min(vn, math.sqrt(0.5 * (2 * a * d + v2 + ve2))), v, ve)
    d1 = (vmax * vmax - v2) / (2 * a)
    d3 = (vmax * vmax - ve2) / (2 * a)
    d2 = max(d - d1 - d3, 0.0)
    return [p for p in ((d1, v, vmax), (d2, vmax, vmax), (d3, vmax, ve)) if p[0] > 0.0]


def _phase_time(dist: float, v0: float, v1: float) -> float:
    return 2.0 * dist / (v0 + v1) if v0 + v1 > 0.0 else math.inf


@dataclass
class PlannerQueue:
    """GRBL's planner buffer plus the machine executing it, advanced in machine time (no sleeping).

    A discrete-event simulator pushes lines while `not is_full()` and jumps the clock with
    `advance(time_to_next_completion())`; `advance` may also be called with any dt (status polls).
    """

    kinematics: Kinematics = field(default_factory=Kinematics)
    size: int = 15
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)  # machine position now (mm)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ProfileError(f"planner size must be >= 1 block, got {self.size}")
        self.position = tuple(float(c) for c in self.position)  # type: ignore[assignment]
        self._items: deque[_Line | _Dwell] = deque()
        self._n_lines = 0
        self._planner_pos = self.position  # pl.position: where the last queued block ends
        self._prev_unit = (0.0, 0.0, 0.0)
        self._prev_nominal = 0.0
        self.speed = 0.0  # mm/s
        self.time = 0.0  # machine seconds since creation
        self._hold = False
        self._held = False

    # ------------------------------------------------------------------ queue facts
    def __len__(self) -> int:
        """Planner blocks in use (GRBL's Bf: reports size - len as free blocks)."""
        return self._n_lines

    def is_full(self) -> bool:
        return self._n_lines >= self.size

    @property
    def idle(self) -> bool:
        return not self._items

    @property
    def holding(self) -> bool:
        """True from a feed hold until resume (decelerating, then stopped)."""
        return self._hold

    @property
    def hold_complete(self) -> bool:
        return self._hold and self._held

    @property
    def synchronizing(self) -> bool:
        """A dwell or pen move is queued: GRBL's parser waits in protocol_buffer_synchronize()."""
        return any(isinstance(it, _Dwell) for it in self._items)

    # ------------------------------------------------------------------ pushing
    def push_line(
        self, target_xyz: Sequence[float], feed_mm_min: float | None, rapid: bool = False, tag: object = None
    ) -> bool:
        """Queue a G0 (rapid) or G1 line to an absolute target; False when the planner is full."""
        if self.is_full():
            return False
        target = tuple(float(c) for c in target_xyz)
        if len(target) != 3 or not all(math.isfinite(c) for c in target):
            raise GcodeError(f"a move target must be three finite numbers, got {target_xyz!r}")
        delta = [t - p for t, p in zip(target, self._planner_pos)]
        length = math.sqrt(sum(c * c for c in delta))
        if length < _EMPTY_MM:
            return True  # GRBL: PLAN_EMPTY_BLOCK, accepted and ignored
        unit = tuple(c / length for c in delta)
        kin = self.kinematics
        rapid_rate = limit_by_axis(kin.max_rate, unit) / 60.0
        if rapid:
            nominal = rapid_rate
        else:
            if feed_mm_min is None or not feed_mm_min > 0 or not math.isfinite(feed_mm_min):
                raise GcodeError(f"G1 needs a positive feed rate F, got {feed_mm_min!r}")
            nominal = min(feed_mm_min / 60.0, rapid_rate)
        nominal = max(nominal, MINIMUM_FEED_RATE)
        last = self._items[-1] if self._items else None
        if last is None or isinstance(last, _Dwell):
            junction = 0.0  # buffer empty (or drained by a sync): start from rest
        else:
            junction = junction_speed_sqr(self._prev_unit, unit, kin)
        max_entry = min(min(nominal, self._prev_nominal) ** 2, junction)
        block = _Line(target, unit, length, length, limit_by_axis(kin.accel, unit), nominal, max_entry,
                      rapid=rapid, tag=tag)  # fmt: skip
        self._prev_unit, self._prev_nominal, self._planner_pos = unit, nominal, target
        self._items.append(block)
        self._n_lines += 1
        self._replan()
        return True

    def push_dwell(self, seconds: float, tag: object = None) -> None:
        """G4 P<seconds> (or a pen move with `seconds` of servo time): drain to a stop, then wait."""
        if not math.isfinite(seconds) or seconds < 0:
            raise GcodeError(f"a dwell must be a non-negative number of seconds, got {seconds!r}")
        self._items.append(_Dwell(float(seconds), tag))

    def clear(self) -> None:
        """Soft reset: drop everything queued and stop where the machine is."""
        self._items.clear()
        self._n_lines = 0
        self._planner_pos = self.position
        self._prev_nominal = 0.0
        self.speed = 0.0
        self._hold = self._held = False

    # ------------------------------------------------------------------ feed hold
    def feed_hold(self) -> None:
        """'!': decelerate along the path to a stop (GRBL Hold:1, then Hold:0)."""
        if self._items and not self._hold:
            self._hold = True
            self._held = self.speed == 0.0 and not isinstance(self._items[0], _Dwell)

    def resume(self) -> bool:
        """'~': resume after a completed hold, re-planning from rest; False while still decelerating."""
        if not self._hold:
            return True
        if not self._held:
            return False
        self._hold = self._held = False
        self.speed = 0.0
        self._replan(first=True)
        return True

    # ------------------------------------------------------------------ planning
    def _replan(self, first: bool = False) -> None:
        """planner_recalculate: reverse pass from a stop, then forward pass, over the newest window.

        A window is the run of blocks between syncs (dwells, pen moves). Only the first window holds the
        executing block, whose entry is the current speed over its remaining length; later windows start
        from rest because GRBL only plans them after the buffer has drained.
        """
        window: list[_Line] = []
        for it in self._items if first else reversed(self._items):
            if isinstance(it, _Dwell):
                if window or not first:
                    break
                continue
            window.append(it)
        if not first:
            window.reverse()
        if not window:
            return
        fixed = window[0] is self._items[0]
        if fixed:
            window[0].entry_sqr = self.speed * self.speed
        nxt = 0.0  # the newest block must be able to stop
        for b in reversed(window[1:] if fixed else window):
            b.entry_sqr = min(b.max_entry_sqr, nxt + 2.0 * b.acceleration * b.remaining)
            nxt = b.entry_sqr
        for cur, after in zip(window, window[1:]):
            if cur.entry_sqr < after.entry_sqr:
                after.entry_sqr = min(after.entry_sqr, cur.entry_sqr + 2.0 * cur.acceleration * cur.remaining)

    def _exit_speed(self) -> float:
        if len(self._items) > 1 and isinstance(self._items[1], _Line):
            return math.sqrt(self._items[1].entry_sqr)
        return 0.0

    def _phases(self, b: _Line) -> list[tuple[float, float, float]]:
        if self._hold:
            stop = self.speed * self.speed / (2.0 * b.acceleration)
            if stop < b.remaining:
                return [(stop, self.speed, 0.0)] if stop > 0.0 else []
            v_out = math.sqrt(max(self.speed**2 - 2.0 * b.acceleration * b.remaining, 0.0))
            return [(b.remaining, self.speed, v_out)]
        return _profile(self.speed, b.remaining, self._exit_speed(), b.nominal, b.acceleration)

    # ------------------------------------------------------------------ executing
    def time_to_next_completion(self) -> float:
        """Machine seconds to the next event: the head item finishing, or a feed hold coming to rest.

        inf when idle or already stopped in a hold, so a discrete-event loop can jump straight there.
        """
        if not self._items or self._held:
            return math.inf
        head = self._items[0]
        if isinstance(head, _Dwell):
            return head.seconds
        if self._hold and self.speed == 0.0:
            return math.inf
        phases = self._phases(head)
        return sum(_phase_time(*p) for p in phases) if phases else 0.0

    def advance(self, dt: float) -> list[Progress]:
        """Run the machine for dt seconds of machine time; return the items that finished, in order."""
        if not math.isfinite(dt) or dt < 0:
            raise ValueError(f"dt must be a finite non-negative number of seconds, got {dt!r}")
        done: list[Progress] = []
        left = dt
        while self._items:
            head = self._items[0]
            if isinstance(head, _Dwell):  # zero-second syncs (pen moves) finish even when dt is 0
                if head.seconds > left:
                    head.seconds -= left
                    self.time += left
                    left = 0.0
                    break
                left -= head.seconds
                self.time += head.seconds
                self._items.popleft()
                done.append(Progress("dwell", head.tag, self.time, self.position, 0.0))
                continue
            if self._hold and self.speed == 0.0:  # stopped in a feed hold (Hold:0)
                self._held = True
                break
            if left <= 0.0:
                break
            used = self._run_line(head, left)
            left = max(left - used, 0.0)
            self.time += used
            if head.remaining <= 0.0:
                self._items.popleft()
                self._n_lines -= 1
                self.position = head.target
                done.append(Progress("line", head.tag, self.time, head.target, self.speed))
            elif used == 0.0:  # stopped in a feed hold
                break
        self.time += left  # idle (or held) time still passes
        return done

    def _run_line(self, b: _Line, budget: float) -> float:
        """Move along the head block for at most `budget` seconds; return the seconds used."""
        used = 0.0
        for dist, v0, v1 in self._phases(b):
            t = _phase_time(dist, v0, v1)
            if used + t <= budget + _EPS_T:
                used += t
                b.remaining -= dist
                self.speed = v1
                continue
            tau = budget - used
            acc = (v1 * v1 - v0 * v0) / (2.0 * dist)
            step = min(v0 * tau + 0.5 * acc * tau * tau, dist)
            b.remaining -= step
            self.speed = max(v0 + acc * tau, 0.0)
            used = budget
            break
        else:
            if self._hold and self.speed == 0.0 and b.remaining > _EMPTY_MM:
                self._held = True
            elif b.remaining <= _EMPTY_MM * 1e3 or not self._hold:
                b.remaining = 0.0
        if b.remaining > 0.0:
            self.position = tuple(t - u * b.remaining for t, u in zip(b.target, b.unit))  # type: ignore[assignment]
        return used
