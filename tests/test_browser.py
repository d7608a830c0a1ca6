"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): log in, sample and queue a
draw job and watch the simulated plotter draw it live, pause and resume it, draw together with the model,
see an unknown class refused in the page, and resume a layered job parked for its next pen.

Everything behind the page is real: the daemon with its SQLite queue, the shipped Sketch-RNN checkpoint,
the planner and a simulated GRBL on a real-time clock running 10x fast. Waits are on page state
(selectors, attributes), never on sleeps.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from plotter.daemon.config import parse_config
from plotter.daemon.service import Service

CHROMIUM = os.environ.get("PLOTTER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
TOKEN = "browser-test-token"
REPO = Path(__file__).resolve().parents[1]
WAIT_MS = 90_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
if not (REPO / "checkpoints" / "sketch_rnn-cat.pt").exists():
    pytest.skip("checkpoints/sketch_rnn-cat.pt is not present", allow_module_level=True)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    cfg = parse_config({
        # `parked` never connects: jobs queued for it stay queued (tests that only look at what was queued)
        "devices": {"sim": {"port": "grblsim://?speed=10"}, "parked": {"port": str(tmp / "no-such-tty")}},
        "socket": str(tmp / "run" / "d.sock"),
        "store": str(tmp / "jobs.sqlite3"),
        "http": {"enabled": True, "port": 0, "token": TOKEN},
    })  # fmt: skip
    svc = Service(cfg).start()
    svc.url = f"http://127.0.0.1:{svc.servers[1].port}/"
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, daemon):
    """A fresh browser profile already holding the token (the login itself has its own test)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script(f"localStorage.setItem('plotter.token', {TOKEN!r})")
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(daemon.url)
    pg.wait_for_selector(".device[data-state]")
    pg.wait_for_selector("#link.on")  # the live stream is open
    yield pg
    context.close()
    assert not errors, errors  # no uncaught script error on the page


def test_dashboard_asks_for_the_token_and_refuses_a_wrong_one(browser, daemon) -> None:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.goto(daemon.url)
    pg.wait_for_selector("#login:not([hidden])")
    assert pg.is_hidden("#main") and pg.locator(".device").count() == 0  # no data without the token
    pg.fill("#token", "not-the-token")
    pg.click("#login-form button")
    pg.wait_for_selector("#login-error:has-text('refused')")
    assert pg.is_hidden("#main")
    pg.fill("#token", TOKEN)
    pg.click("#login-form button")
    pg.wait_for_selector("#main:not([hidden]) .device[data-device=sim][data-state]")
    assert "token" not in pg.url  # the token is kept in the browser, never in a URL
    pg.reload()  # remembered
    pg.wait_for_selector(".device[data-device=sim]")
    assert pg.is_hidden("#login")
    context.close()


def dark_pixels(pg, selector: str) -> int:
    return pg.evaluate(
        """(sel) => { const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i] < 80 && d[i + 1] < 80) n++;
        return n; }""",
        selector,
    )


def test_draw_job_plots_live_and_pauses_and_resumes(page, daemon) -> None:
    page.fill("#draw-class", "cat")
    page.fill("#draw-n", "2")
    page.fill("#draw-seed", "11")
    page.click("#draw-preview")
    page.wait_for_selector("#draw-cells .cell >> nth=1")
    first = page.eval_on_selector("#draw-cells canvas", "c => c.toDataURL()")
    page.click("#draw-cells .cell >> nth=0 >> button")  # resample the first cell only
    page.wait_for_function(f"document.querySelector('#draw-cells canvas').toDataURL() !== {first!r}")
    assert page.locator("#draw-cells .cell").count() == 2
    page.click("#draw-queue")
    page.wait_for_selector("#submit-note:has-text('queued job')")
    job_id = int(page.inner_text("#submit-note").split()[-1])
    row = f"#queue tr[data-id='{job_id}']"
    live = ".device[data-device=sim] canvas.live"
    page.wait_for_selector(f"{row}[data-state=running]")
    page.wait_for_function(f"Number(document.querySelector('{live}').dataset.down) > 3")

    page.click(f"{row} button[data-act=pause]")
    page.wait_for_selector(f"{row}[data-state=paused]")
    page.wait_for_selector(".device[data-device=sim][data-state^=Hold]")  # GRBL's own report: feed hold
    assert daemon.store.get(job_id).state == "paused"
    page.click(f"{row} button[data-act=resume]")
    page.wait_for_selector(f"{row}[data-state=done]")

    job = daemon.store.get(job_id)
    assert job.state == "done" and job.acked == job.lines_total
    assert int(page.get_attribute(live, "data-down")) > 20  # pen-down steps drawn as GRBL reported them
    assert dark_pixels(page, live) > 200  # ... and they are ink on the canvas
    assert page.inner_text(f"{row} .left") == "0 s"


def test_draw_together_queues_the_chosen_completion(page, daemon) -> None:
    page.click(".tabs button[data-tab=together]")
    box = page.locator("#pad").bounding_box()
    for stroke in ([(60, 80), (100, 40), (140, 80)], [(70, 150), (200, 150)]):
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()
    page.fill("#together-class", "cat")
    page.fill("#together-n", "3")
    page.select_option("#together-form .device-select", "parked")
    page.click("#together-go")
    page.wait_for_selector("#together-cells .cell >> nth=2")
    page.click("#together-cells .cell >> nth=1")
    page.click("#together-queue")
    page.wait_for_selector("#submit-note:has-text('queued job')")
    job = daemon.store.get(int(page.inner_text("#submit-note").split()[-1]))
    assert job.kind == "draw" and job.params["n"] == 1 and len(job.params["sketches"]) == 1
    assert len(job.params["sketches"][0]) >= 2  # the user's two strokes, then the model's
    page.wait_for_selector(f"#queue tr[data-id='{job.id}'][data-state=queued]")
    assert job.device == "parked"
    daemon.cancel(job.id)


def test_unknown_class_is_an_error_in_the_page(page) -> None:
    page.fill("#draw-class", "notaclass")
    page.click("#draw-preview")
    page.wait_for_selector("#draw-error:has-text('unknown class')")
    assert "notaclass" in page.inner_text("#draw-error")
    assert page.locator("#draw-cells .cell").count() == 0
    assert page.is_disabled("#draw-queue")


def test_upload_refuses_bad_gcode_in_the_page_and_queues_good_files(page, daemon) -> None:
    page.click(".tabs button[data-tab=upload]")
    page.select_option("#upload-form .device-select", "parked")
    bad = {"name": "bad.gcode", "mimeType": "text/plain", "buffer": b"G21\nG1 X10 Q5\n"}
    page.set_input_files("#upload-file", files=[bad])
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-error:has-text('G-code line 2')")
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="80mm" height="40mm" viewBox="0 0 80 40">'
           b'<path d="M5 5 L75 35 L5 35 Z"/></svg>')  # fmt: skip
    good = {"name": "tri.svg", "mimeType": "image/svg+xml", "buffer": svg}
    page.set_input_files("#upload-file", files=[good])
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#submit-note:has-text('tri.svg')")
    job = daemon.store.get(int(page.inner_text("#submit-note").split()[2]))
    assert job.kind == "draw" and job.params["class"] == "tri.svg" and job.device == "parked"
    assert page.inner_text("#upload-error") == ""
    daemon.cancel(job.id)


def test_pen_change_pause_names_the_pen_and_the_page_resumes_it(page, daemon, tmp_path) -> None:
    """A two-layer SVG queued by `plotter queue` (layers as pens) parks `paused (pen-change)` at the M0 with
    the pen up: the page says which pen to put in, and its resume button is the cycle start that draws the
    next layer (on the same stream, not a retry from the journal)."""
    from click.testing import CliRunner

    from plotter.cli import main
    from tests.test_pen_layers import TWO_LAYERS

    svg = tmp_path / "two.svg"
    svg.write_text(TWO_LAYERS)
    sock = str(daemon.config.socket)
    res = CliRunner().invoke(main, ["queue", str(svg), "--device", "sim", "--socket", sock])
    assert res.exit_code == 0, res.output
    job_id = max(j.id for j in daemon.store.list(limit=1000))
    row = f"#queue tr[data-id='{job_id}']"
    page.wait_for_selector(f"{row}[data-state=paused]")
    assert daemon.store.get(job_id).pause_reason == "pen-change"
    assert "(pen-change): put in pen 2/2 red sun, then resume" in page.inner_text(f"{row} .st")
    assert page.is_visible(f"{row} button[data-act=resume]")
    assert page.is_hidden(f"{row} button[data-act=retry]")
    page.click(f"{row} button[data-act=resume]")
    page.wait_for_selector(f"{row}[data-state=done]")
    job = daemon.store.get(job_id)
    assert job.state == "done" and job.acked == job.lines_total
    notes = [note for _, _, note in daemon.store.events(job_id)]
    assert "cycle start" in notes and not any("journal" in (n or "") for n in notes), notes
