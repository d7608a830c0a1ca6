"""Fault/load soak of the daemon (issue 16): 500 jobs submitted at once, daemon kills and USB drops while the
plotters draw them, `list` latency measured throughout.

Setup, all in one process: the real `Service` (SQLite job file, device workers, Unix-socket API) with three
simulated GRBL plotters (`grblsim://`, wall clock at `--speed`x real time, opened through the service's
`opener` so the soak can pull their cables). Clients are real socket clients (`DaemonClient`), one
connection per thread.

1. 50 threads submit 10 G-code jobs each, at once (held in the queue);
2. baseline: `list` latency with the 500 jobs queued and nothing else happening, measured before the load
   and again after it (same run, same 500 rows: a busy shared machine shifts both halves alike);
3. the jobs are released; while the plotters draw them, every `--fault-every` seconds the soak either kills
   the daemon (`Service.kill()`: threads stop without touching the job file, as SIGKILL would leave it; then a
   new daemon starts on the same file and `resume`s what it finds interrupted) or pulls a plotter's cable
   (the simulated port vanishes; the board comes back rebooted), alternately;
4. until every job is done. Printed: faults survived, jobs lost (not done at the end), jobs duplicated (a job
   row the clients did not submit, or a job done more than once), and `list` latency under load vs baseline.

    python bench/bench_daemon_soak.py [--jobs 500] [--clients 50] [--faults 24] [--fault-every 1.5]
                                      [--speed 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plotter.daemon.client import DaemonClient  # noqa: E402
from plotter.daemon.config import parse_config  # noqa: E402
from plotter.daemon.service import Service  # noqa: E402
from plotter.errors import PlotterError  # noqa: E402


def program(i: int) -> str:
    """A small square-ish drawing, different per job, inside a 310 x 220 bed."""
    x, y = 10 + (i * 7) % 200, 10 + (i * 13) % 150
    lines = ["G21 G90", "M5", f"G0 X{x} Y{y}", "M3 S1000", "G4 P0.05"]
    for k in range(12):
        lines.append(f"G1 X{x + 20 * (k % 2)} Y{y + 2 * k} F3000")
    return "\n".join(lines + ["M5", "G0 X0 Y0", "M2"])


class Plotters:
    """The soak's side of the cables: opens simulated plotters for the daemon, pulls them on request."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.ports: dict[str, object] = {}
        self.lock = threading.Lock()

    def open(self, spec: str, baudrate: int) -> object:
        from plotter.grbl.transport import open_port

        port = open_port(f"grblsim://?speed={self.speed:g}", baudrate=baudrate)
        with self.lock:
            self.ports[spec] = port
        return port

    def pull(self, rng: random.Random) -> str | None:
        with self.lock:
            live = [(k, p) for k, p in self.ports.items() if not p.machine.vanished]  # type: ignore[attr-defined]
        if not live:
            return None
        name, port = rng.choice(live)
        port.machine.vanished = True  # type: ignore[attr-defined]
        return name


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    if not s:
        return {"n": 0}
    return {"n": len(s), "p50_ms": 1000 * statistics.median(s), "p95_ms": 1000 * s[int(0.95 * (len(s) - 1))],
            "max_ms": 1000 * s[-1]}  # fmt: skip


class Lister(threading.Thread):
    """Calls `list` over the socket back to back; a call that fails (daemon being killed) is not a latency."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__(daemon=True)
        self.path = socket_path
        self.samples: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        client = None
        while not self.stop.is_set():
            try:
                client = client or DaemonClient(self.path, timeout=30)
                t0 = time.perf_counter()
                client.call("list", states=None, limit=1000)
                self.samples.append(time.perf_counter() - t0)
            except PlotterError:
                self.failures += 1
                client = None
                self.stop.wait(0.05)
            self.stop.wait(0.02)


def submit_all(path: Path, jobs: int, clients: int) -> tuple[list[int], int]:
    ids: list[int] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def work(c: int) -> None:
        with DaemonClient(path, timeout=120) as client:
            start.wait()
            for k in range(jobs // clients):
                try:
                    job = client.call("submit", kind="gcode", gcode=program(c * 1000 + k), hold=True)
                    with lock:
                        ids.append(job["id"])
                except PlotterError:
                    with lock:
                        errors[0] += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, errors[0]


def call(path: Path, op: str, **args: object) -> object:
    with DaemonClient(path, timeout=120) as client:
        return client.call(op, **args)


def soak(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="plotter-soak-"))
    cfg = parse_config({
        "devices": {f"p{i}": {"port": f"fake://p{i}"} for i in range(3)},
        "socket": str(tmp / "run" / "plotterd.sock"), "store": str(tmp / "jobs.sqlite3"),
        "backoff_initial_s": 0.05, "backoff_max_s": 0.5,
    })  # fmt: skip
    plotters = Plotters(args.speed)
    svc = Service(cfg, opener=plotters.open).start()
    t0 = time.perf_counter()
    ids, submit_errors = submit_all(cfg.socket, args.jobs, args.clients)
    submit_s = time.perf_counter() - t0
    baseline = Lister(cfg.socket)
    baseline.start()
    time.sleep(args.baseline_s)
    baseline.stop.set()
    baseline.join()
    for job_id in ids:
        call(cfg.socket, "resume", id=job_id)
    loaded = Lister(cfg.socket)
    loaded.start()
    rng = random.Random(16)
    kills = drops = 0
    deadline = time.monotonic() + args.timeout_s
    fault_at = time.monotonic() + args.fault_every
    while time.monotonic() < deadline:
        states = {j["id"]: j["state"] for j in call(cfg.socket, "list", states=None, limit=100_000)}
        if all(states.get(i) == "done" for i in ids):
            break
        if kills + drops < args.faults and time.monotonic() >= fault_at:
            fault_at = time.monotonic() + args.fault_every
            if (kills + drops) % 2 == 0:
                svc.kill()
                svc = Service(cfg, opener=plotters.open).start()
                kills += 1
            elif plotters.pull(rng):
                drops += 1
        for job_id, state in states.items():  # what a user does after a crash: resume the stopped jobs
            if state in ("interrupted", "failed") or (state == "paused" and job_id in ids):
                try:
                    call(cfg.socket, "resume", id=job_id)
                except PlotterError:
                    pass
        time.sleep(0.5)
    loaded.stop.set()
    loaded.join()
    after = Lister(cfg.socket)  # the same 500 rows, idle again: the baseline's second half
    after.start()
    time.sleep(args.baseline_s)
    after.stop.set()
    after.join()
    rows = call(cfg.socket, "list", states=None, limit=100_000)
    done_twice = 0
    for job_id in ids:
        events = call(cfg.socket, "show", id=job_id, events=True)["events"]
        done_twice += sum(1 for _, state, _ in events if state == "done") > 1
    svc.stop()
    lost = sum(1 for i in ids if not any(r["id"] == i and r["state"] == "done" for r in rows))
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_implementation()} "
                   f"{platform.python_version()}, {platform.platform()}",
        "jobs": args.jobs, "clients": args.clients, "submitted": len(ids), "submit_errors": submit_errors,
        "submit_s": round(submit_s, 2), "kills": kills, "usb_drops": drops,
        "lost": lost + (args.jobs - len(ids)), "duplicated": (len(rows) - len(ids)) + done_twice,
        "list_baseline": percentiles(baseline.samples + after.samples),
        "list_under_load": percentiles(loaded.samples),
        "list_failed_calls_during_kills": loaded.failures, "sim_speed": args.speed,
        "wall_s": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--faults", type=int, default=24, help="kills and USB drops, alternately")
    ap.add_argument("--fault-every", type=float, default=1.5)
    ap.add_argument("--speed", type=float, default=40.0, help="simulated plotters run N times real time")
    ap.add_argument("--baseline-s", type=float, default=5.0)
    ap.add_argument("--timeout-s", type=float, default=900.0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "daemon_soak.json")
    args = ap.parse_args()
    r = soak(args)
    b, u = r["list_baseline"], r["list_under_load"]
    print(f"machine: {r['machine']}")
    print(f"{r['submitted']}/{r['jobs']} jobs submitted by {r['clients']} concurrent clients in "
          f"{r['submit_s']} s ({r['submit_errors']} errors)")  # fmt: skip
    print(f"faults survived: {r['kills']} daemon kills, {r['usb_drops']} USB drops")
    print(f"jobs lost: {r['lost']}   jobs duplicated: {r['duplicated']}")
    if b.get("n") and u.get("n"):
        print(f"`list` latency (all {r['jobs']} jobs): baseline p50 {b['p50_ms']:.1f} ms "
              f"p95 {b['p95_ms']:.1f} ms max {b['max_ms']:.1f} ms; under load p50 {u['p50_ms']:.1f} ms "
              f"p95 {u['p95_ms']:.1f} ms max {u['max_ms']:.1f} ms "
              f"({u['p50_ms'] / b['p50_ms']:.2f}x the baseline median)")  # fmt: skip
    args.out.write_text(json.dumps(r, indent=2) + "\n")
    print(f"wrote {args.out}")
    if r["lost"] or r["duplicated"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
