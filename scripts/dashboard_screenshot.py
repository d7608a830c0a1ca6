"""The README's dashboard picture: the daemon and a simulated plotter (10x real time) drawing four cats,
caught mid-plot in Debian's headless Chromium.

    python scripts/dashboard_screenshot.py [--out docs/media]   # writes dashboard.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOKEN = "screenshot"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def small_png(data: bytes, path: Path) -> None:
    """A 64-colour palette: the page is flat colours, so it stays sharp at a third of the size."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(data)).convert("RGB").quantize(64).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from plotter.daemon.config import parse_config
    from plotter.daemon.service import Service

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "media")
    ap.add_argument("--at", type=float, default=0.55, help="Progress of the job when the picture is taken.")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plotter-shot-"))
    cfg = parse_config({"devices": {"sim": {"port": "grblsim://?speed=10"}}, "socket": str(tmp / "d.sock"),
                        "store": str(tmp / "jobs.sqlite3"), "http": {"port": 0, "token": TOKEN}})
    svc = Service(cfg).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            ctx = browser.new_context(viewport={"width": 1200, "height": 760})
            ctx.add_init_script(f"localStorage.setItem('plotter.token', {TOKEN!r})")
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{svc.servers[1].port}/")
            page.wait_for_selector("#link.on")
            page.fill("#draw-class", "cat")
            page.fill("#draw-n", "4")
            page.fill("#draw-seed", "7")
            page.click("#draw-preview")
            page.wait_for_selector("#draw-cells .cell >> nth=3")
            page.click("#draw-queue")
            page.wait_for_selector("#queue tr[data-state=running]")
            page.click("#queue tr[data-state=running]")  # its plan, beside the queue
            page.wait_for_function(
                f"document.querySelector('#queue tr[data-state=running] progress')?.value >= {args.at}"
            )
            args.out.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            small_png(page.screenshot(), args.out / "dashboard.png")
            browser.close()
    finally:
        svc.stop()


if __name__ == "__main__":
    main()
