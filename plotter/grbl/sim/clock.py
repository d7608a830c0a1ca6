"""Clocks for the simulated machine: virtual (deterministic, jumps) or real time scaled by `speed`.

The machine is a discrete-event simulation and never sleeps; only the serial side waits, through the clock:
a virtual clock jumps to the moment the next byte is due, a real clock sleeps until then (divided by speed).
"""

from __future__ import annotations

import threading
import time

from plotter.errors import DeviceError


class VirtualClock:
    """Simulated seconds that move only when someone waits: tests run in no wall time and repeat exactly."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t

    def wait(self, cond: threading.Condition, until: float) -> None:
        """Jump straight to `until` (the caller holds `cond`; nothing else can happen meanwhile)."""
        self.advance_to(until)


class RealClock:
    """Wall-clock seconds times `speed` (1 = real time, 20 = twenty times faster)."""

    virtual = False

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise DeviceError(f"simulator speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def advance_to(self, t: float) -> None:  # real time cannot be pushed
        return None

    def wait(self, cond: threading.Condition, until: float) -> None:
        """Sleep on `cond` (so a write from another thread wakes us early) until simulated time `until`."""
        delay = (until - self.now()) / self.speed
        if delay > 0:
            cond.wait(min(delay, 0.05))


def make_clock(spec: str | float | None) -> VirtualClock | RealClock:
    """'virtual', 'realtime' (1x) or a number (x faster than real time)."""
    if spec in (None, "virtual"):
        return VirtualClock()
    if spec in ("realtime", "real"):
        return RealClock(1.0)
    try:
        return RealClock(float(spec))  # type: ignore[arg-type]
    except ValueError:
        raise DeviceError(f"clock must be 'virtual', 'realtime' or a speed factor, got {spec!r}") from None
