"""Fakes (not mocks) for the daemon tests: a plotter that records what it ran, and its link.

`FakePlotter` is the device: it remembers every line it executed, can be unplugged, can raise an alarm at a
given line, and can block at a line until the test releases it (Conditions, no sleeps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from plotter.daemon.config import DaemonConfig, DeviceConfig
from plotter.daemon.store import Job
from plotter.daemon.worker import Cancelled
from plotter.errors import DeviceError, GrblError

TOL = 0.02  # mm; GRBL positions are whole steps (80 steps/mm)


class FakePlotter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ran: list[tuple[int, str]] = []  # (job id, line) in execution order
        self.plugged = True
        self.unplug_at: dict[int, int] = {}  # job id -> line index where the cable is pulled
        self.alarm_at: dict[int, int] = {}
        self.block_at: dict[int, int] = {}
        self.reached = threading.Event()
        self.cond = threading.Condition()
        self.released = False
        self.connects = 0
        self.killed = False
        self.pen_ups = 0

    def release(self) -> None:
        with self.cond:
            self.released = True
            self.cond.notify_all()

    def lines_of(self, job_id: int) -> list[str]:
        return [line for j, line in self.ran if j == job_id]


class FakeLink:
    def __init__(self, plotter: FakePlotter) -> None:
        self.p = plotter
        self.held = False
        self.cancelled = False

    def stream(self, job: Job, lines: list[str], on_ack: Callable[[int], None],
               cancelled: threading.Event | None = None) -> None:
        p = self.p
        with p.cond:  # as the streamer: `cancelled` is read when the stream takes the machine
            if cancelled is not None and cancelled.is_set():
                raise Cancelled("cancelled before the first line")
            self.cancelled = False  # a cancel ends one stream, like Streamer.cancel
        for i in range(job.resume_from, len(lines)):
            on_ack(i)  # a killed daemon stops here (the worker's callback raises), before the machine runs i
            if p.unplug_at.get(job.id) == i:
                del p.unplug_at[job.id]
                p.plugged = False
                raise DeviceError(f"{p.name} vanished")
            if p.alarm_at.get(job.id) == i:
                del p.alarm_at[job.id]
                raise GrblError(f"GRBL raised ALARM:1 hard limit at line {i + 1}")
            if p.block_at.get(job.id) == i:
                del p.block_at[job.id]
                p.reached.set()
                with p.cond:
                    p.cond.wait_for(lambda: (p.released and not self.held) or self.cancelled or p.killed)
                on_ack(i)
            if self.cancelled:
                raise Cancelled("cancelled")
            p.ran.append((job.id, lines[i]))
            on_ack(i + 1)

    def pause(self) -> None:
        with self.p.cond:
            self.held = True
            self.p.cond.notify_all()

    def resume(self) -> None:
        with self.p.cond:
            self.held = False
            self.p.cond.notify_all()

    def cancel(self) -> None:
        with self.p.cond:
            self.cancelled = True
            self.p.cond.notify_all()

    def pen_up(self) -> None:
        self.p.pen_ups += 1

    def status(self) -> dict:
        return {"state": "Hold:0" if self.held else "Idle", "position": (0.0, 0.0, 0.0), "alarm": None}

    def close(self) -> None:
        pass


def fake_connect(plotters: dict[str, FakePlotter]) -> Callable[[DeviceConfig], FakeLink]:
    def connect(device: DeviceConfig, unlock: bool = False) -> FakeLink:
        p = plotters[device.name]
        if not p.plugged:
            raise DeviceError(f"{device.port}: no such device")
        p.connects += 1
        return FakeLink(p)

    return connect


def passthrough(job: Job, device: DeviceConfig) -> Job:
    return job


def config(
    tmp_path, names=("p1", "p2"), http: dict | None = None, models: dict | None = None
) -> DaemonConfig:
    from plotter.daemon.config import parse_config

    data = {
        "devices": {n: {"port": f"fake://{n}"} for n in names},
        "socket": str(tmp_path / "run" / "plotterd.sock"),
        "store": str(tmp_path / "jobs.sqlite3"),
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.05,
    }
    if http is not None:
        data["http"] = http
    if models:
        data["models"] = models
    return parse_config(data)


def program(n: int, tag: str = "") -> str:
    return "\n".join(f"G1 X{i} Y{len(tag)} F1000" for i in range(n))


class FakeModel:
    """Stands in for a trained model: deterministic squares per seed, a class list to check against."""

    classes = ["cat", "dog", "car", "cake"]

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, n, temperature=0.4, class_name=None, prefix=None, seed=None, max_len=None):
        import numpy as np

        from plotter.sketch import Sketch

        self.calls += 1
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            s = float(rng.uniform(20, 60))
            out.append(
                Sketch([np.array([[0, 0], [s, 0], [s, s], [0, s], [0, 0]]), np.array([[0, 0], [s, s]])])
            )
        return out


class SimBench:
    """One simulated plotter whose USB cable can be pulled and plugged back (same machine, same clock)."""

    def __init__(self, faults: list[str]) -> None:
        from plotter.grbl.protocol_grblsim import Serial

        self.first = Serial.simulated(timeout=0.05, faults=faults)
        self.machine, self.clock = self.first.machine, self.first.link.clock
        self.opens = 0

    def open(self, spec: str, baudrate: int) -> object:
        from plotter.grbl.protocol_grblsim import Serial
        from plotter.grbl.sim.link import SimLink

        if self.machine.vanished:
            raise DeviceError(f"no device at {spec}")
        self.opens += 1
        if self.opens == 1:
            return self.first
        port = Serial.simulated(timeout=0.05)  # a new handle onto the same machine, like reopening the tty
        port.link = SimLink(self.machine, self.clock, 0.001, 115200)
        port.machine = self.machine
        return port


def planned_segments(gcode: str) -> list[tuple]:
    """The pen-down XY segments the G-code asks for (servo profile)."""
    from plotter.daemon.resume import pen_spec, states_after

    lines = gcode.splitlines()
    states = states_after(lines, pen_spec("grbl-servo"))
    out, prev = [], None
    for s in states:
        if prev is not None and prev.pen_down and s.pos[:2] != prev.pos[:2]:
            out.append((prev.pos[:2], s.pos[:2]))
        prev = s
    return out


def drawn_segments(machine) -> list[tuple]:
    return [(s.start[:2], s.end[:2]) for s in machine.trace.segments if s.pen_down and s.length > 1e-6]


def unmatched(drawn: list[tuple], planned: list[tuple]) -> tuple[int, int]:
    """Greedy one-to-one matching within TOL (either direction): (drawn left over, planned left over)."""
    import numpy as np

    p = np.array([[*a, *b] for a, b in planned]).reshape(-1, 4)
    used = np.zeros(len(p), dtype=bool)
    extra = 0
    for a, b in drawn:
        fwd = np.abs(p - np.array([*a, *b])).max(axis=1)
        rev = np.abs(p - np.array([*b, *a])).max(axis=1)
        ok = np.flatnonzero((np.minimum(fwd, rev) <= TOL) & ~used)
        if len(ok):
            used[ok[0]] = True
        else:
            extra += 1
    return extra, int((~used).sum())


def off_path(drawn: list[tuple], planned: list[tuple]) -> int:
    """Drawn segments that do not lie along any planned segment (both ends within TOL of it)."""
    import numpy as np

    def on(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        d = b - a
        t = float(np.clip(np.dot(q - a, d) / max(float(np.dot(d, d)), 1e-12), 0.0, 1.0))
        return float(np.abs(a + t * d - q).max()) <= TOL

    segments = [(np.array(p), np.array(r)) for p, r in planned]
    count = 0
    for a, b in drawn:
        qa, qb = np.array(a), np.array(b)
        count += not any(on(qa, p, r) and on(qb, p, r) for p, r in segments)
    return count
