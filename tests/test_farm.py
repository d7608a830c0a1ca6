"""A farm: two daemon processes on two simulated plotters, sharing one PostgreSQL job store.

Each simulated GRBL runs in this test process behind a real pseudo-terminal (20x real time), so it outlives a
daemon that is killed: as a plotter on a USB cable does, it runs what it had received and waits. The daemons
are real `plotter daemon` subprocesses. 200 jobs for `any`; the daemon running the first (long) job is
killed with SIGKILL mid-job. Its job must become `interrupted` when its lease runs out (the other daemon
notices), the other daemon drains the queue, and the killed daemon, restarted, resumes its job exactly (the
journal rule: the pen-down segments each machine drew are the planned ones, each exactly once).

Waits are bounded polls of the store's states, never sleeps sized to the machine's speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pg_server as pg
import pytest
import yaml
from daemon_fakes import drawn_segments, off_path, planned_segments, unmatched

ROOT = Path(__file__).resolve().parents[1]
N_JOBS = 200
LEASE_S = 3.0
pytestmark = pytest.mark.slow
pg_server, pg_dsn = pg.pg_server, pg.pg_dsn  # fixtures, by name


RUNNING: list[subprocess.Popen] = []  # daemons that must stay up while we wait


def poll(what: str, check: Callable[[], object], timeout: float = 90.0) -> object:
    """Ask the store until `check` answers (bounded): the daemons are other processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.args for p in RUNNING if p.poll() is not None]
        if dead:
            raise AssertionError(f"a daemon exited while waiting for {what}: {dead[0]}")
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Plotter:
    """A simulated GRBL 1.1h served on a pty until `close()`."""

    def __init__(self) -> None:
        from plotter.grbl.protocol_grblsim import SimOptions
        from plotter.grbl.sim.pty import PtyBridge

        self.link = SimOptions(clock="realtime", speed=20.0).build()
        self.bridge = PtyBridge(self.link)
        self.path = self.bridge.start()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.bridge.serve, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.bridge.stop()


class Daemon:
    """`plotter daemon -c <name>.yaml` as a subprocess: start, SIGKILL, restart, SIGTERM."""

    def __init__(self, tmp: Path, name: str, device: str, port: str, dsn: str) -> None:
        self.name, self.tmp = name, tmp
        self.socket = tmp / f"{name}.sock"
        self.config = tmp / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump({
            "devices": {device: {"port": port, "profile": "grbl-servo"}},
            "socket": str(self.socket), "store": dsn, "farm": {"host": name, "lease_s": LEASE_S},
            "backoff_initial_s": 0.2, "backoff_max_s": 1.0,
        }))  # fmt: skip
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Daemon:
        self.starts += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = open(self.tmp / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen([sys.executable, "-m", "plotter", "daemon", "-c", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)  # fmt: skip
        RUNNING.append(self.proc)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        RUNNING.remove(self.proc)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc in RUNNING:
            RUNNING.remove(self.proc)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        logs = sorted(self.tmp.glob(f"{self.name}-*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)


def _gcode(strokes: list[np.ndarray]) -> str:
    from plotter.gcode import emit, load_profile
    from plotter.sketch import Sketch

    return "\n".join(emit(Sketch(strokes, unit="mm"), load_profile("grbl-servo")))


def _jobs() -> list[str]:
    """Job 1: 60 strokes (~115 s of machine time: long enough to be killed in); then 199 one-stroke jobs
    (~1 s each), each at its own place."""
    long = [np.array([[10.0 + 4 * i, 20.0], [10.0 + 4 * i, 60.0 + (i % 3)]]) for i in range(60)]
    short = []
    for i in range(N_JOBS - 1):
        x, y = 2.0 + 3 * (i % 20), 196.0 + 2 * (i // 20)  # near home (machine 0,0): little travel
        short.append([np.array([[x, y], [x + 2, y + 1]])])
    return [_gcode(long)] + [_gcode(s) for s in short]


def test_two_daemons_share_a_queue_and_a_killed_one_resumes_exactly(pg_dsn: str, tmp_path: Path) -> None:
    from plotter.daemon.client import DaemonClient
    from plotter.daemon.store_pg import PgJobStore

    pg.reset(pg_dsn)
    plotters = {"pa": Plotter(), "pb": Plotter()}
    daemons = {d.name: d for d in (Daemon(tmp_path, "a", "pa", plotters["pa"].path, pg_dsn),
                                   Daemon(tmp_path, "b", "pb", plotters["pb"].path, pg_dsn))}  # fmt: skip
    store = PgJobStore(pg_dsn, host="observer", keep_leases=False).open()
    try:
        ids = [store.submit("gcode", {"n": i}, gcode).id for i, gcode in enumerate(_jobs())]
        first = ids[0]
        for d in daemons.values():
            d.start()
        # the daemon that took job 1 dies with it half drawn: no cleanup, lines in flight
        under_way = lambda: (j := store.get(first)).state == "running" and j.acked > 40 and j  # noqa: E731
        job = poll("job 1 under way", under_way)
        victim = daemons[job.host]
        survivor = next(d for d in daemons.values() if d is not victim)
        victim.kill()
        at_kill = store.get(first)
        assert at_kill.state == "running" and at_kill.acked < at_kill.lines_total
        job = store.wait_until(first, ["interrupted"], timeout=LEASE_S * 10)
        assert f"lease of host {victim.name} expired" in store.events(first)[-1][2]
        assert f"seen by {survivor.name}" in store.events(first)[-1][2]
        # the survivor drains everything else, including what the victim would have taken
        rest = ids[1:]
        poll("the queue drained", lambda: all(j.state == "done" for j in store.list(limit=N_JOBS + 10)
                                              if j.id != first), timeout=240)  # fmt: skip
        after_kill = [i for i in rest if store.get(i).started > at_kill.updated]
        assert after_kill and {store.get(i).host for i in after_kill} == {survivor.name}
        # restarted, the victim resumes its job on its own plotter, exactly where that machine stopped
        victim.start()
        client = poll("the restarted daemon's socket", lambda: _client(DaemonClient, victim.socket), 60)
        with client:
            assert client.call("resume", id=first)["state"] == "queued"
        done = store.wait_until(first, ["done"], timeout=120)
        assert done.host == victim.name and done.assigned == job.assigned
        jobs = [store.get(i) for i in ids]
        runs = {i: [e[1] for e in store.events(i)].count("running") for i in ids}
    except BaseException:
        for d in daemons.values():
            print(f"--- daemon {d.name}\n{d.log()}")
        raise
    finally:
        for d in daemons.values():
            d.stop()
        store.close()
        for p in plotters.values():
            p.close()

    assert [j.state for j in jobs] == ["done"] * N_JOBS  # none lost
    # none run twice: one claim each, two for the killed job (claimed again after its resume)
    assert runs == {i: 2 if i == first else 1 for i in ids}
    assert {j.assigned for j in jobs} == {"pa", "pb"}
    for name, plotter in plotters.items():
        planned = [seg for j in jobs if j.assigned == name for seg in planned_segments(j.gcode)]
        drawn = drawn_segments(plotter.link.machine)
        assert unmatched(drawn, planned) == (0, 0), name  # nothing drawn twice, nothing missing
        assert off_path(drawn, planned) == 0, name


def _client(cls: type, path: Path) -> object:
    from plotter.errors import PlotterError

    if not path.exists():
        return None
    try:
        client = cls(path, timeout=30)
        client.call("ping")
        return client
    except (PlotterError, OSError):
        return None

