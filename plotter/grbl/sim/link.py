"""The wire between a host and the simulated machine: latency, baud rate, clock, thread safety.

Every byte takes `latency_s` plus its transmission time (10 bits at `baud`) to cross, in each direction,
queued behind the bytes before it, as on a USB-serial adapter. In virtual time a blocking read jumps the clock
to the moment the next byte lands (running the machine forward to find it); in real time it sleeps.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from serial import SerialException

from plotter.grbl.sim.clock import RealClock, VirtualClock
from plotter.grbl.sim.machine import SimulatedGrbl

VANISHED = (
    "device reports readiness to read but returned no data (device disconnected or multiple access on port?)"
)


class SimLink:
    """Host side of the simulated serial line. All methods are safe to call from several threads."""

    def __init__(self, machine: SimulatedGrbl, clock: VirtualClock | RealClock | None = None,
                 latency_s: float = 0.0, baud: int | None = 115200) -> None:  # fmt: skip
        self.machine = machine
        self.clock = clock or VirtualClock()
        self.latency_s = float(latency_s)
        self.byte_time = 10.0 / baud if baud else 0.0
        self._to_machine_free = 0.0
        self._to_host_free = 0.0
        self._host: deque[tuple[float, int]] = deque()  # (arrival time at host, byte)
        self.lock = threading.Condition(threading.RLock())
        self.bytes_written = 0

    # ------------------------------------------------------------------ plumbing
    def _check(self) -> None:
        if self.machine.vanished:
            raise SerialException(VANISHED)

    def _collect(self) -> None:
        """Move what the machine has said onto the host-bound wire."""
        for t, data in self.machine.take_output():
            for b in data:
                start = max(t, self._to_host_free)
                self._to_host_free = start + self.byte_time
                self._host.append((self._to_host_free + self.latency_s, b))

    def _sync(self) -> float:
        now = self.clock.now()
        if now > self.machine.now:
            self.machine.advance_to(now)
        self._collect()
        return now

    def _next_arrival(self, deadline: float) -> float | None:
        """Virtual time: when the next byte reaches the host (running the machine ahead to find out)."""
        while not self._host:
            if self.machine.vanished or self.machine.now >= deadline:
                return None
            self.machine.advance_to(deadline, stop_on_output=True)
            self._collect()
            if not self._host and self.machine.next_event_time() == math.inf:
                return None  # the machine is quiet for good: nothing will arrive
        t = self._host[0][0]
        return t if t <= deadline else None

    # ------------------------------------------------------------------ host API
    def write(self, data: bytes) -> int:
        with self.lock:
            if self.machine.vanished:
                raise SerialException("write failed: [Errno 5] Input/output error")
            now = self.clock.now()
            t = now
            for b in data:
                start = max(t, self._to_machine_free)
                self._to_machine_free = start + self.byte_time
                self.machine.receive(self._to_machine_free + self.latency_s, bytes((b,)))
            self.bytes_written += len(data)
            self.lock.notify_all()
            return len(data)

    def available(self) -> int:
        """Bytes that have reached the host by now (pyserial's in_waiting)."""
        with self.lock:
            self._check()
            now = self._sync()
            count = 0
            for t, _ in self._host:
                if t > now:
                    break
                count += 1
            return count

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes; waits at most `timeout` simulated seconds (None: until `size` arrived)."""
        out = bytearray()
        with self.lock:
            self._check()
            now = self._sync()
            deadline = math.inf if timeout is None else now + timeout
            while True:
                while self._host and len(out) < size and self._host[0][0] <= now:
                    out.append(self._host.popleft()[1])
                if len(out) >= size or now >= deadline:
                    break
                if self.clock.virtual:
                    t = self._next_arrival(deadline)
                    if t is None and deadline == math.inf:
                        if self.machine.vanished:
                            raise SerialException(VANISHED)
                        break  # nothing will ever come: do not hang a virtual-time test forever
                    self.clock.advance_to(deadline if t is None else t)
                else:
                    nxt = self._host[0][0] if self._host else deadline
                    self.clock.wait(self.lock, min(nxt, deadline, now + 0.005 * self.clock.speed))
                now = self._sync()
                if self.machine.vanished and not out:
                    raise SerialException(VANISHED)
        return bytes(out)

    def discard_input(self) -> None:
        with self.lock:
            now = self._sync()
            while self._host and self._host[0][0] <= now:
                self._host.popleft()

    def poll(self) -> bytes:
        """Everything that has arrived by now, without waiting (the pty bridge uses this)."""
        return self.read(1 << 30, 0.0)

    def next_event_in(self) -> float:
        """Real seconds until the next byte lands at the host (for a bridge's select timeout)."""
        with self.lock:
            self._sync()
            if not self._host:
                return 0.01
            speed = getattr(self.clock, "speed", 1.0)
            return max(0.0, (self._host[0][0] - self.clock.now()) / speed)
