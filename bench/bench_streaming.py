"""Streaming efficiency: character counting vs send-response, side by side, on the simulated GRBL.

Both streamers send the same job of short segments (the worst case for a sender: vpype/Quick-Draw strokes are
hundreds of sub-millimetre moves) through `grblsim://` running on a real-time clock (optionally N x faster)
with a USB-serial latency model. Reported per mode:

- job time      seconds of machine time from the first byte to the machine idle (= wall time x speed),
- efficiency    job time / ideal motion time (`plotter.plan.estimate` with the machine's own $ settings and a
                full planner); 1.00 means the sender never held the machine back,
- starved       % of machine time the planner sat empty mid-job (the simulator's measure),
- fill          mean planner blocks queued in `Bf:` reports while running (15 = full look-ahead),
- RX overflow   bytes GRBL dropped (must be 0), and host CPU seconds spent by the streamer process.

Run:  python bench/bench_streaming.py [--segments 2000] [--step 0.25] [--latency-ms 5] [--speed 1]
Writes bench/results/streaming.md (machine, settings, table).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import serial

from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port
from plotter.plan.estimate import estimate_gcode
from plotter.plan.motion import Kinematics

RESULTS = Path(__file__).resolve().parent / "results" / "streaming.md"


def short_segments(n: int, step: float, feed: float, seed: int = 0) -> list[str]:
    """A random pen-down wiggle of `n` segments of `step` mm, bouncing inside the bed (deterministic)."""
    import random

    rnd = random.Random(seed)
    lines = ["G21 G90", "M3 S1000", "G4 P0.1"]
    x = y = 100.0
    angle = 0.0
    for _ in range(n):
        angle += rnd.uniform(-0.3, 0.3)
        nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
        if not (5.0 < nx < 250.0 and 5.0 < ny < 150.0):
            angle += math.pi
            nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
        x, y = nx, ny
        lines.append(f"G1 X{x:.3f} Y{y:.3f} F{feed:g}")
    return lines + ["M5", "G4 P0.1", "M2"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
            f"pyserial {serial.__version__}, {platform.system()} {platform.release()}")


def run(lines: list[str], mode: str, url: str) -> dict[str, float]:
    port = open_port(url)
    streamer = Streamer(port)
    info = streamer.connect()
    fills: list[int] = []

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        st = p.status
        if st is not None and st.state == "Run" and st.planner_free is not None:
            fills.append(info.planner_blocks - st.planner_free)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = streamer.stream(lines, mode=mode, on_progress=progress)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = port.machine.trace.summary()
    streamer.close()
    s = info.settings
    kin = Kinematics(max_rate=(float(s[110]), float(s[111]), float(s[112])),
                     accel=(float(s[120]), float(s[121]), float(s[122])), junction_deviation=float(s[11]))
    ideal = estimate_gcode(lines, kin, planner_blocks=info.planner_blocks).total_s
    return {"job_s": result.elapsed_s, "wall_s": wall, "cpu_s": cpu, "ideal_s": ideal,
            "efficiency": result.elapsed_s / ideal, "starved_pct": stats["starved_pct"],
            "fill": sum(fills) / max(1, len(fills)), "overflow": stats["rx_overflow_bytes"],
            "machine_s": stats["machine_time_s"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=2000)
    ap.add_argument("--step", type=float, default=0.25, help="segment length, mm")
    ap.add_argument("--feed", type=float, default=3000.0, help="mm/min")
    ap.add_argument("--latency-ms", type=float, default=5.0, help="one-way latency (USB-serial: 1-16 ms)")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated clock speed-up (1 = real time)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    lines = short_segments(args.segments, args.step, args.feed)
    url = f"grblsim://?clock=realtime&speed={args.speed:g}&latency_ms={args.latency_ms:g}&baud=115200"
    print(f"machine: {machine()}")
    print(f"job: {args.segments} segments of {args.step:g} mm at F{args.feed:g}; {url}")
    rows = {}
    for mode in ("char-count", "send-response"):
        rows[mode] = r = run(lines, mode, url)
        print(f"{mode:>13}: job {r['job_s']:7.2f} s  ideal {r['ideal_s']:6.2f} s  "
              f"efficiency {r['efficiency']:.3f}  starved {r['starved_pct']:5.2f} %  fill {r['fill']:5.1f}  "
              f"overflow {r['overflow']}"
              f"  wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:5.2f} s", flush=True)
    ratio = rows["send-response"]["job_s"] / rows["char-count"]["job_s"]
    print(f"send-response / char-count job time: {ratio:.2f}x")
    write_report(args, url, rows, ratio)
    return 0


def write_report(args: argparse.Namespace, url: str, rows: dict, ratio: float) -> None:
    out = [
        "# Streaming efficiency: character counting vs send-response",
        "",
        f"- machine: {machine()}",
        f"- job: {args.segments} pen-down segments of {args.step:g} mm at F{args.feed:g} (simulated GRBL "
        "1.1h, RX 128 bytes, 15 planner blocks, $110/$111=5000 mm/min, $120/$121=800 mm/s², $11=0.01)",
        f"- link: `{url}` ({args.latency_ms:g} ms each way + 10 bits/byte at 115200 baud)",
        f"- command: `python bench/bench_streaming.py --segments {args.segments} --step {args.step:g} "
        f"--latency-ms {args.latency_ms:g} --speed {args.speed:g}`",
        "",
        "| mode | job time (s) | ideal (s) | efficiency | starved (%) | planner fill (of 15) | RX overflow | "
        "wall (s) | host CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in rows.items():
        out.append(f"| {mode} | {r['job_s']:.2f} | {r['ideal_s']:.2f} | {r['efficiency']:.3f} | "
                   f"{r['starved_pct']:.2f} | {r['fill']:.1f} | {r['overflow']} | {r['wall_s']:.2f} | "
                   f"{r['cpu_s']:.2f} |")
    out += ["", f"send-response takes **{ratio:.2f}x** as long as character counting on this job.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
