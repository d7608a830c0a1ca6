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

    def stream(self, job: Job, lines: list[str], on_ack: Callable[[int], None]) -> None:
        p = self.p
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


def config(tmp_path, names=("p1", "p2"), http: dict | None = None) -> DaemonConfig:
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
