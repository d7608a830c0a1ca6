"""Push latency of the dashboard: a GRBL status change -> the page shows it.

Target (issue 19): <= 300 ms. Baseline, measured in the same run and the same page: a polling client that
fetches `GET /v1/devices` every second (and a faster one, every 250 ms), as a dashboard without push would.

Setup: the daemon with one simulated GRBL on a real-time clock (speed 1: GRBL's 5 Hz status poll takes
real time), its HTTP side, and Debian's headless Chromium on the dashboard (Playwright). A long G-code job
runs; the bench feed-holds and resumes it through the daemon's API `--cycles` times. Time zero of each
change is the moment the `!` (feed hold) or `~` (cycle start) byte is written to the port: GRBL changes
state on that byte. The page records when its device card shows the new state (a MutationObserver on the
card that the event stream updates); the pollers record when their answer first shows it. Clocks: the
page's Date.now() and Python's time.time() are the same wall clock on one machine.

Also reported: event stream delivery, for every status report the daemon published during the run (the hub
has it -> a second subscriber in the page has it): the part of the latency that is ours, not GRBL's poll.

    python bench/bench_push_latency.py [--cycles 12] [--screenshot docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOKEN = "bench-token"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

RECORDER = """(token) => {
  window.__push = []; window.__events = [];
  (async () => {  // a second subscriber: how long each report takes from the daemon's hub to the page
    const r = await fetch('/v1/events', {headers: {Authorization: 'Bearer ' + token}});
    const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = '';
    for (;;) {
      const {value, done} = await reader.read(); if (done) return;
      buf += dec.decode(value, {stream: true}); let cut;
      while ((cut = buf.indexOf('\\n\\n')) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        if (block.startsWith('data: ')) {
          const ev = JSON.parse(block.slice(6));
          if (ev.t === 'status' && !ev.replay) window.__events.push(Date.now() - ev.ts * 1000);
        }
      }
    }
  })();
  const card = document.querySelector('.device[data-device=sim]');
  new MutationObserver(() => window.__push.push([Date.now(), card.dataset.state]))
    .observe(card, {attributes: true, attributeFilter: ['data-state']});
  for (const ms of [1000, 250]) {
    const seen = window['__poll' + ms] = []; let last = null;
    setInterval(async () => {
      const r = await fetch('/v1/devices', {headers: {Authorization: 'Bearer ' + token}});
      const st = (await r.json()).result[0].state;
      if (st !== last) { seen.push([Date.now(), st]); last = st; }
    }, ms);
  }
}"""


class TimedPort:
    """The simulated port, remembering when each feed hold / cycle start byte was written."""

    def __init__(self, port: object) -> None:
        self._port = port
        self.realtime: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> int:
        for byte in (b"!", b"~"):
            if byte in data:
                self.realtime.append((time.time(), byte))
        return self._port.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._port, name)


def program(segments: int) -> str:
    """A zigzag with the pen down throughout: long, no dwells (GRBL reports Idle during a G4)."""
    lines = ["G21 G90", "G0 X10 Y10", "M3 S1000"]
    for i in range(segments):
        lines.append(f"G1 X{10 + 150 * ((i + 1) % 2)} Y{10 + 0.5 * i:.1f} F3000")
    return "\n".join(lines + ["M5", "G0 X0 Y0"])


def latencies(changes: list[tuple[float, str]], seen: list[list], start: str) -> list[float]:
    """For each change (time, wanted state prefix), ms until `seen` first shows it after that time."""
    out = []
    for t0, want in changes:
        hit = next((t for t, st in seen if t / 1000 >= t0 and str(st).startswith(want)), None)
        if hit is not None:
            out.append(hit - t0 * 1000)
    return out


def summary(name: str, values: list[float], total: int) -> dict:
    if not values:
        return {"client": name, "n": 0, "of": total}
    values = sorted(values)
    return {"client": name, "n": len(values), "of": total, "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[int(0.95 * (len(values) - 1))], 1), "max_ms": round(values[-1], 1)}


def run(cycles: int, screenshot: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    from plotter.daemon.config import parse_config
    from plotter.daemon.device import open_port
    from plotter.daemon.service import Service

    ports: list[TimedPort] = []

    def opener(spec: str, baudrate: int) -> TimedPort:
        ports.append(TimedPort(open_port(spec, baudrate)))
        return ports[-1]

    tmp = Path(tempfile.mkdtemp(prefix="plotter-push-"))
    cfg = parse_config({"devices": {"sim": {"port": "grblsim://?speed=1"}}, "socket": str(tmp / "d.sock"),
                        "store": str(tmp / "jobs.sqlite3"), "http": {"port": 0, "token": TOKEN}})
    svc = Service(cfg, opener=opener).start()
    url = f"http://127.0.0.1:{svc.servers[1].port}/"
    try:
        with sync_playwright() as pw:
            chromium = os.environ.get("PLOTTER_CHROMIUM", "/usr/bin/chromium")
            browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
            ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
            ctx.add_init_script(f"localStorage.setItem('plotter.token', {TOKEN!r})")
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_selector("#link.on")
            page.evaluate(RECORDER, TOKEN)
            job = svc.submit("gcode", gcode=program(400), device="sim")["id"]
            page.wait_for_selector(".device[data-device=sim][data-state=Run]", timeout=30_000)
            changes = cycle(svc, page, job, ports[-1], cycles)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
            svc.cancel(job)
            push = page.evaluate("window.__push")
            delivery = page.evaluate("window.__events")
            polled = {ms: page.evaluate(f"window.__poll{ms}") for ms in (1000, 250)}
            browser.close()
    finally:
        svc.stop()
    rows = [summary("push (server-sent events)", latencies(changes, push, ""), len(changes))]
    rows += [summary(f"polling every {ms} ms", latencies(changes, polled[ms], ""), len(changes))
             for ms in (1000, 250)]
    rows.append(summary("event stream delivery", delivery, len(delivery)))
    return {"changes": len(changes), "rows": rows}


def cycle(svc, page, job: int, port: TimedPort, cycles: int) -> list[tuple[float, str]]:
    """Hold and resume `cycles` times; each waits until every client has seen the change (or 10 s)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    changes: list[tuple[float, str]] = []
    for _ in range(cycles):
        for op, byte, want in ((svc.pause, b"!", "Hold"), (svc.resume, b"~", "Run")):
            before = len(port.realtime)
            threading.Thread(target=op, args=(job,), daemon=True).start()
            deadline = time.time() + 5
            while time.time() < deadline and not any(b == byte for _, b in port.realtime[before:]):
                time.sleep(0.005)  # a bench waiting for its own thread, not a test
            t0 = next(t for t, b in port.realtime[before:] if b == byte)
            changes.append((t0, want))
            try:
                page.wait_for_function(
                    f"""() => [window.__push, window.__poll1000, window.__poll250].every(
                        s => s.some(([t, st]) => t / 1000 >= {t0} && String(st).startsWith('{want}')))""",
                    timeout=10_000,
                )
            except PlaywrightTimeout:  # a client never saw it: counted as missing (n < of), not a crash
                who = page.evaluate(
                    f"""() => Object.entries({{push: window.__push, poll1000: window.__poll1000,
                    poll250: window.__poll250}}).filter(([k, s]) => !s.some(([t, st]) =>
                    t / 1000 >= {t0} && String(st).startsWith('{want}')))
                    .map(([k, s]) => k + ' last ' + JSON.stringify(s.slice(-3)))"""
                )
                print(f"{want} after {t0:.3f} not seen within 10 s by: {who}", file=sys.stderr)
            time.sleep(0.3)  # let the machine move between changes
    return changes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=12)
    ap.add_argument("--screenshot", type=Path, default=None, help="Save the dashboard as it ends (PNG).")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "push_latency.json")
    args = ap.parse_args()
    result = run(args.cycles, args.screenshot)
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                         "python": platform.python_version()}
    print(f"{'client':<28} {'changes':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for r in result["rows"]:
        print(f"{r['client']:<28} {r['n']:>4}/{r['of']:<3} {r.get('median_ms', '-'):>10} "
              f"{r.get('p95_ms', '-'):>8} {r.get('max_ms', '-'):>8}")
    push, slow = result["rows"][0], result["rows"][1]
    if push.get("median_ms") and slow.get("median_ms"):
        print(f"push median is {slow['median_ms'] / push['median_ms']:.1f}x faster than 1 s polling; "
              f"target max <= 300 ms: {'met' if push['max_ms'] <= 300 else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
