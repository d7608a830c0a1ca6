"""Latency of `plotter draw`: command typed -> first G-code line on the plotter's port.

Target (issue 6): <= 1 s with the daemon running and the model loaded. Baseline, measured in the same run:
the in-process cold start (`plotter draw --no-daemon`: interpreter, torch import, checkpoint load, sampling,
planning, connect). Both run the real `plotter` CLI as a subprocess; the port is a simulated GRBL
(`grblsim://`, virtual clock) wrapped so that the wall time of the first G-code line written is recorded.
Time zero is just before the subprocess is spawned.

    python bench/bench_draw_latency.py [--runs 7] [--cold-runs 3] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REALTIME = {ord("?"), ord("!"), ord("~"), 0x18}


class TimedPort:
    """A serial port that remembers when the first G-code line went out after `arm()`."""

    def __init__(self, port: object) -> None:
        self._port = port
        self.first_line_at: float | None = None
        self.armed = False
        self.event = threading.Event()

    def arm(self) -> None:
        self.first_line_at, self.armed = None, True
        self.event.clear()

    def write(self, data: bytes) -> int:
        if self.armed and self.first_line_at is None and any(b not in REALTIME for b in data):
            self.first_line_at = time.time()
            self.event.set()
        return self._port.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._port, name)


def tiny_checkpoint(path: Path) -> Path:
    """Stand-in when no shipped checkpoint exists yet (reported as such)."""
    import torch

    from plotter.models.checkpoint import save_checkpoint
    from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig

    torch.manual_seed(0)
    model = SketchRNN(SketchRNNConfig(n_classes=1))
    model.scale, model.classes = 20.0, ["cat"]
    return save_checkpoint(path, model)


def draw_cmd(checkpoint: Path, seed: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "plotter", "draw", "--class", "cat", "--checkpoint", str(checkpoint),
            "--seed", str(seed), "--yes", *extra]  # fmt: skip


def good_seeds(model: object, count: int) -> list[int]:
    """Seeds whose sample is not empty (a random-init stand-in model often draws nothing)."""
    seeds = []
    for seed in range(1000):
        if not all(sk.is_empty() for sk in model.generate(1, class_name="cat", seed=seed)):
            seeds.append(seed)
            if len(seeds) == count:
                return seeds
    raise SystemExit("the model draws nothing for 1000 seeds")


def warm_runs(checkpoint: Path, runs: int, tmp: Path) -> list[float]:
    """Daemon in this process (model preloaded); the CLI as a subprocess talking to it."""
    from plotter.daemon.config import parse_config
    from plotter.daemon.service import Service
    from plotter.grbl.transport import open_port

    ports: list[TimedPort] = []

    def opener(spec: str, baudrate: int) -> TimedPort:
        ports.append(TimedPort(open_port(spec, baudrate)))
        return ports[-1]

    cfg = parse_config({
        "devices": {"sim": {"port": "grblsim://?clock=virtual"}}, "socket": str(tmp / "d.sock"),
        "store": str(tmp / "jobs.sqlite3"), "models": {"cat": str(checkpoint)}, "preload": ["cat"],
    })  # fmt: skip
    svc = Service(cfg, opener=opener).start()
    out = []
    try:
        svc.workers["sim"].wait(lambda w: w.connected.is_set(), 60)
        for n, i in enumerate(good_seeds(svc.models.get(checkpoint), runs + 1)):
            # the first one warms the sampling path and is not counted
            port = ports[-1]
            port.arm()
            t0 = time.time()
            proc = subprocess.run(draw_cmd(checkpoint, i, ["--socket", str(cfg.socket)]), capture_output=True,
                                  text=True, cwd=tmp)  # fmt: skip
            if proc.returncode != 0 or not port.event.wait(30):
                raise SystemExit(f"draw via daemon failed: {proc.stdout}{proc.stderr}")
            if n > 0:
                out.append(port.first_line_at - t0)
    finally:
        svc.stop()
    return out


CHILD = """
import sys, time, json
import plotter.grbl.transport as transport
sys.path.insert(0, {bench!r})
from bench_draw_latency import TimedPort
real = transport.open_port
def timed(spec, baudrate=115200):
    port = TimedPort(real(spec, baudrate)); port.arm()
    orig = port.write
    def write(data):
        n = orig(data)
        if port.first_line_at is not None and not getattr(port, "_said", False):
            port._said = True
            print("FIRST_LINE_AT", port.first_line_at, file=sys.stderr, flush=True)
        return n
    port.write = write
    return port
transport.open_port = timed
from plotter.cli import main
sys.argv = ["plotter"] + {args!r}
main()
"""


def cold_runs(checkpoint: Path, runs: int, tmp: Path) -> list[float]:
    from plotter.job.models import ModelCache

    out = []
    for i in good_seeds(ModelCache().get(checkpoint), runs):
        args = draw_cmd(
            checkpoint, i, ["--no-daemon", "--device", "grblsim://?clock=virtual", "-o", "c.gcode"]
        )[3:]
        code = CHILD.format(bench=str(Path(__file__).parent), args=args)
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp)
        stamps = [float(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("FIRST_LINE_AT")]
        if proc.returncode != 0 or not stamps:
            raise SystemExit(f"in-process draw failed: {proc.stdout}{proc.stderr[-2000:]}")
        out.append(stamps[0] - t0)
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "sketch_rnn-cat.pt")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ckpt, note = args.checkpoint.resolve(), "shipped"
        if not ckpt.is_file():
            ckpt, note = tiny_checkpoint(tmp / "sketch_rnn-cat.pt"), "random-init stand-in (default size)"
        warm = warm_runs(ckpt, args.runs, tmp)
        cold = cold_runs(ckpt, args.cold_runs, tmp)
    w, c = statistics.median(warm), statistics.median(cold)
    report = {
        "machine": machine(),
        "checkpoint": f"{ckpt.name} ({note})",
        "daemon_first_line_s": {"median": round(w, 3), "min": round(min(warm), 3), "max": round(max(warm), 3),
                                "runs": len(warm)},
        "in_process_cold_first_line_s": {"median": round(c, 3), "min": round(min(cold), 3),
                                         "runs": len(cold)},
        "speedup": round(c / w, 1),
        "target_s": 1.0,
        "meets_target": w <= 1.0,
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    out = REPO / "bench" / "results" / "draw_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
