"""Lost and garbled bytes: how many injected faults the streamer catches, with the position check on and off,
and what the check costs in streaming efficiency.

GRBL has no checksum. A byte lost or flipped on the wire can make a different but valid line (`X253` ->
`X25`): the machine goes somewhere the plan never goes. Detection before the position check: `error:N`
(the line became invalid), a missing `ok` (two lines ran together). The position check
(`plotter.grbl.position`) adds: every `?` report must lie on the planned path.

Part 1 (virtual clock, deterministic): one plotted drawing; for each of N faults (half drops, half bit flips,
at random bytes of the program) stream it on `grblsim://` with the check on and off; a fault *moves the pen*
when the machine (pen down or up) strays more than 0.1 mm from every move of the clean run; it is *caught*
when the stream ends in an error instead of "done".
Part 2 (real-time clock, same job, same run): job time with the check on vs off, alternating, 3 each.

Run:  python bench/bench_bytefaults.py [--faults 120] [--speed 10]     -> bench/results/bytefaults.md
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_streaming import machine  # noqa: E402

from plotter.errors import PlotterError  # noqa: E402
from plotter.gcode import emit, load_profile  # noqa: E402
from plotter.grbl.streamer import Streamer  # noqa: E402
from plotter.grbl.transport import open_port  # noqa: E402
from plotter.sketch import Sketch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bytefaults.md"


def drawing(strokes: int = 24, points: int = 8, seed: int = 1) -> list[str]:
    """A deterministic scribble of `strokes` strokes, emitted with the bundled grbl-servo profile."""
    import numpy as np

    rnd = np.random.default_rng(seed)
    out = []
    for _ in range(strokes):
        start = rnd.uniform(20, 180, size=2)
        steps = rnd.normal(0, 6, size=(points - 1, 2))
        out.append(np.clip(np.vstack([start, start + np.cumsum(steps, axis=0)]), 5, 195))
    return emit(Sketch(out, unit="mm"), load_profile("grbl-servo"))


def _trace(port):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.array([[*s.start[:2], *s.end[:2]] for s in port.machine.trace.segments]).reshape(-1, 4)


def stray_mm(trace, clean) -> float:  # type: ignore[no-untyped-def]
    """How far the machine strayed from every move of the clean run (max over the trace's end points)."""
    import numpy as np

    pts = np.vstack([trace[:, :2], trace[:, 2:]])  # (P, 2)
    a, b = clean[:, :2], clean[:, 2:]  # (S, 2)
    ab = b - a
    t = np.einsum("psk,sk->ps", pts[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-12)
    near = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]  # (P, S, 2)
    return float(np.linalg.norm(pts[:, None, :] - near, axis=2).min(axis=1).max()) if len(pts) else 0.0


def stream_once(lines: list[str], url: str, check: bool) -> tuple[str, list[tuple], bytes]:
    port = open_port(url)
    written = bytearray()
    write = port.write

    def tee(data: bytes) -> int | None:
        written.extend(data)
        return write(data)

    port.write = tee  # type: ignore[method-assign]
    streamer = Streamer(port)
    streamer.check_position = check
    streamer.connect()
    try:
        outcome = streamer.stream(lines).status
    except PlotterError as exc:
        outcome = type(exc).__name__
    trace = _trace(port)
    streamer.close()
    return outcome, trace, bytes(written)


def faults(args: argparse.Namespace, lines: list[str]) -> dict:
    base = "grblsim://?latency_ms=1"
    _, clean, written = stream_once(lines, base, True)
    program = [i + 1 for i, b in enumerate(written) if b not in b"?!~\x18"]  # bytes of lines, 1-based
    rnd = random.Random(args.seed)
    rows = []
    for k in range(args.faults):
        kind = "drop" if k % 2 == 0 else "garble"
        where = rnd.choice(program[len(program) // 20:])  # past the connect chatter
        url = f"{base}&fault={kind}@byte:{where}"
        off, trace_off, _ = stream_once(lines, url, False)
        on, trace_on, _ = stream_once(lines, url, True)
        stray = stray_mm(trace_off, clean)  # stopping early is no stray move; a pen line is ~0.3 mm wide
        moved = stray > args.stray_mm
        rows.append({"kind": kind, "byte": where, "moved": moved, "stray": stray, "off": off, "on": on})
        print(f"{k + 1:3d} {kind:6} byte {where:5d}: stray {stray:8.3f} mm off={off:14} on={on}", flush=True)
    return {"rows": rows}


def efficiency(args: argparse.Namespace, lines: list[str]) -> dict:
    url = f"grblsim://?clock=realtime&speed={args.speed:g}&latency_ms=5&baud=115200"
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for check in (False, True):
            port = open_port(url)
            streamer = Streamer(port)
            streamer.check_position = check
            streamer.connect()
            c0 = time.process_time()
            times[check].append(streamer.stream(lines).elapsed_s)
            cpu[check].append(time.process_time() - c0)
            streamer.close()
            print(f"check {'on ' if check else 'off'}: job {times[check][-1]:.2f} s machine time", flush=True)
    return {"times": times, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faults", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stray-mm", type=float, default=0.1, help="a fault 'moves the pen' beyond this")
    ap.add_argument("--speed", type=float, default=10.0, help="real-time clock speed-up for part 2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    lines = drawing()
    print(f"machine: {machine()}\njob: {len(lines)} lines (24 strokes, grbl-servo profile)")
    f = faults(args, lines)
    e = efficiency(args, lines)
    write_report(args, lines, f, e)
    return 0


def write_report(args: argparse.Namespace, lines: list[str], f: dict, e: dict) -> None:
    rows = f["rows"]
    moved = [r for r in rows if r["moved"]]
    caught_off = [r for r in moved if r["off"] != "done"]
    caught_on = [r for r in moved if r["on"] != "done"]
    harmless_stopped = [r for r in rows if not r["moved"] and r["on"] != "done"]
    t_on, t_off = statistics.median(e["times"][True]), statistics.median(e["times"][False])
    c_on, c_off = statistics.median(e["cpu"][True]), statistics.median(e["cpu"][False])
    by_kind = {k: [r for r in moved if r["kind"] == k] for k in ("drop", "garble")}
    out = [
        "# Byte faults on the wire: detection with the position check, and its cost",
        "",
        f"- machine: {machine()}",
        f"- job: {len(lines)} lines, 24 pen-down strokes (grbl-servo profile), simulated GRBL 1.1h",
        f"- command: `python bench/bench_bytefaults.py --faults {args.faults} --seed {args.seed} "
        f"--speed {args.speed:g} --repeats {args.repeats} --stray-mm {args.stray_mm:g}`",
        "",
        "## Detection (virtual clock, deterministic)",
        "",
        f"{len(rows)} faults injected (half dropped bytes, half flipped bits, random program bytes); "
        f"**{len(moved)} moved the pen** (the machine strayed more than {args.stray_mm:g} mm from every move "
        "of the clean run, pen up or down).",
        "",
        "| | caught, check off | caught, check on |",
        "|---|---|---|",
        f"| faults that moved the pen ({len(moved)}) | {len(caught_off)} | **{len(caught_on)}** |",
    ]
    for kind, rs in by_kind.items():
        out.append(f"| … of them {kind} ({len(rs)}) | {sum(r['off'] != 'done' for r in rs)} | "
                   f"{sum(r['on'] != 'done' for r in rs)} |")
    out += [
        f"| faults that did not move it ({len(rows) - len(moved)}), stopped anyway | "
        f"{sum(1 for r in rows if not r['moved'] and r['off'] != 'done')} | {len(harmless_stopped)} |",
        "",
        "Missed with the check on (moved the pen, ended \"done\"):",
        "",
    ]
    missed = [r for r in moved if r["on"] == "done"]
    out += [f"- {r['kind']} at byte {r['byte']}: strayed {r['stray']:.2f} mm" for r in missed] or ["- none"]
    out += [
        "",
        f"## Cost (real-time clock x{args.speed:g}, 5 ms latency, medians of {args.repeats}, same run)",
        "",
        "| check | job machine time (s) | streamer CPU (s) |",
        "|---|---|---|",
        f"| off (baseline) | {t_off:.3f} | {c_off:.2f} |",
        f"| on | {t_on:.3f} | {c_on:.2f} |",
        "",
        f"Job time with the check on / off: **{t_on / t_off:.4f}** ({100 * (t_on / t_off - 1):+.2f} %).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
