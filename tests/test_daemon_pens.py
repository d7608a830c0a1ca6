"""The daemon and the pen: a layered job parks at each pen change naming the next pen and resumes with the
next layer; `pause --at-lift` leaves the pen up and the resume draws the rest; `pause --now` lifts a servo
pen in the hold. Everything real (SQLite file, socket, planner, streamer) on the simulated GRBL with a
virtual clock: the drawing the machine made is compared, never durations."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.daemon.config import parse_config
from plotter.daemon.service import Service
from plotter.gcode import pen_commands
from plotter.grbl.penchange import lift_in_hold_refusal
from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port
from tests.streamsim import drawn, strokes_job
from tests.test_pause_lift_now import LONG_STROKE
from tests.test_pen_layers import TWO_LAYERS


@pytest.fixture
def daemon(tmp_path):  # type: ignore[no-untyped-def]
    cfg = parse_config({
        "devices": {"sim": {"port": "grblsim://?clock=virtual"}},
        "socket": str(tmp_path / "run" / "d.sock"),
        "store": str(tmp_path / "jobs.sqlite3"),
    })  # fmt: skip
    svc = Service(cfg).start()
    yield svc
    svc.stop()


def cli(daemon, *args: str):  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(main, [*args, "--socket", str(daemon.config.socket)])
    assert "Traceback" not in res.output, res.output
    return res


def machine(daemon):  # type: ignore[no-untyped-def]
    return daemon.workers["sim"]._link.port.machine


def wait_state(daemon, job_id: int, pred, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    with daemon.store.progress:
        assert daemon.store.progress.wait_for(lambda: pred(daemon.store.get(job_id)), timeout), "timed out"
    return daemon.store.get(job_id)


def reference(lines: list[str]):  # type: ignore[no-untyped-def]
    """The same program, uninterrupted (no M0), on a fresh simulator: what the drawing must be."""
    lines = [line for line in lines if not line.startswith("M0")]
    port = open_port("grblsim://")
    streamer = Streamer(port, pen_up=pen_commands("grbl-servo"))
    streamer.connect()
    streamer.stream(lines)
    return port.machine.trace


def on_ack_once(daemon, acked_at: int, action) -> None:  # type: ignore[no-untyped-def]
    """Run `action()` on the stream thread once a job's acknowledged lines reach `acked_at`: a deterministic
    moment on the virtual clock, whatever the threads' timing."""
    record_ack, done = daemon.store.record_ack, []

    def hook(job_id: int, acked: int) -> None:
        record_ack(job_id, acked)
        if acked >= acked_at and not done:
            done.append(True)
            action()

    daemon.store.record_ack = hook


def test_two_layer_svg_on_the_daemon_pauses_for_the_next_pen_and_resumes(daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "two.svg").write_text(TWO_LAYERS)
    res = cli(daemon, "queue", str(tmp_path / "two.svg"))
    assert res.exit_code == 0, res.output
    job = wait_state(daemon, 1, lambda j: j.state == "paused" or j.state in ("done", "failed"))
    assert job.state == "paused" and job.pause_reason == "pen-change"
    assert job.stats["next_pen"] == "pen 2/2 red sun"
    status = daemon.devices()[0]
    assert status["state"] == "Hold:0" and list(status["position"][:2]) == [0.0, 0.0]  # parked, pen up
    drawn_before = set(drawn(machine(daemon).trace))
    res = cli(daemon, "jobs", "1")
    assert "paused (pen-change)" in res.output
    assert "put in pen 2/2 red sun, then `plotter resume 1`" in res.output
    res = cli(daemon, "resume", "1")
    assert res.exit_code == 0, res.output
    job = wait_state(daemon, 1, lambda j: j.state in ("done", "failed"))
    assert job.state == "done", job.error
    trace = machine(daemon).trace
    after = drawn(trace) - drawn_before
    assert after and min(min(x0, x1) for x0, _, x1, _ in after) > 60  # the second layer: the red sun only
    assert drawn(trace) == drawn(reference(job.gcode.splitlines()))  # both layers, each once
    events = [note for _, _, note in daemon.store.events(1)]
    assert "pen change: put in pen 2/2 red sun, then resume" in events


def test_pause_at_lift_through_the_cli_leaves_the_pen_up_and_resume_draws_the_rest(daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = strokes_job()
    (tmp_path / "s.gcode").write_text("\n".join(lines) + "\n")
    box: dict = {}

    def pause_from_the_cli() -> None:  # another process would do this: here a thread, the same socket
        box["pause"] = cli(daemon, "pause", "1", "--at-lift")

    def action() -> None:
        streamer = daemon.workers["sim"]._link.streamer
        threading.Thread(target=pause_from_the_cli).start()
        while not streamer._requests:  # hold the virtual clock until the request has arrived
            time.sleep(0.001)

    on_ack_once(daemon, len(lines) // 3, action)
    assert cli(daemon, "queue", str(tmp_path / "s.gcode")).exit_code == 0
    job = wait_state(daemon, 1, lambda j: j.state != "running" and j.state != "queued")
    assert job.state == "paused" and job.pause_reason == "lift", (job.state, job.error)
    status = daemon.devices()[0]
    assert status["state"] == "Idle"
    assert machine(daemon).trace.pen_events[-1][1] is False  # the pen is up
    assert machine(daemon).spindle_out[0] == "M5"
    deadline = time.monotonic() + 30
    while "pause" not in box and time.monotonic() < deadline:
        time.sleep(0.01)
    assert box["pause"].exit_code == 0 and "paused (lift)" in box["pause"].output, box["pause"].output
    assert cli(daemon, "resume", "1").exit_code == 0
    job = wait_state(daemon, 1, lambda j: j.state in ("done", "failed"))
    assert job.state == "done", job.error
    assert drawn(machine(daemon).trace) == drawn(reference(lines))  # nothing skipped, nothing twice


def test_pause_now_lifts_the_servo_pen_in_the_hold_and_resume_lowers_it(daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "l.gcode").write_text("\n".join(LONG_STROKE) + "\n")
    box: dict = {}

    def action() -> None:
        streamer = daemon.workers["sim"]._link.streamer
        threading.Thread(target=lambda: box.update(job=daemon.pause(1, at="now"))).start()
        while not streamer._requests:
            time.sleep(0.001)

    on_ack_once(daemon, 5, action)
    assert cli(daemon, "queue", str(tmp_path / "l.gcode")).exit_code == 0
    job = wait_state(daemon, 1, lambda j: j.state != "running" and j.state != "queued")
    assert job.state == "paused" and job.pause_reason == "user"
    status = daemon.devices()[0]
    assert status["state"] == "Hold:0" and 5 < status["position"][0] < 35  # mid-stroke
    assert machine(daemon).spindle_out[0] == "M5"  # the servo pen is up in the hold
    assert daemon.resume(1)["state"] == "running"
    job = wait_state(daemon, 1, lambda j: j.state in ("done", "failed"))
    assert job.state == "done", job.error
    ink = [s for s in machine(daemon).trace.segments if s.pen_down]
    assert sum(s.length for s in ink) == pytest.approx(30.0)  # the whole stroke, once
    assert machine(daemon).trace.pen_settle_min() >= 0.15 - 1e-9  # lowered, then the dwell, then on


def test_pen_change_on_the_daemon_with_the_real_firmware(grbl_firmware, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_machine_firmware import FAST, SMALL_TWO_LAYERS

    cfg = parse_config({
        "devices": {"fw": {"port": grbl_firmware(FAST, speed=0.5), "paper": "40x30mm"}},
        "socket": str(tmp_path / "run" / "f.sock"),
        "store": str(tmp_path / "jobs.sqlite3"),
    })  # fmt: skip
    svc = Service(cfg).start()
    try:
        (tmp_path / "two.svg").write_text(SMALL_TWO_LAYERS)
        assert cli(svc, "queue", str(tmp_path / "two.svg"), "--paper", "40x30mm").exit_code == 0
        job = wait_state(svc, 1, lambda j: j.state in ("paused", "done", "failed"), timeout=120)
        assert job.state == "paused" and job.pause_reason == "pen-change", (job.state, job.error)
        assert job.stats["next_pen"] == "pen 2/2 red"
        status = svc.devices()[0]
        assert status["state"] == "Hold:0" and list(status["position"][:2]) == [0.0, 0.0]
        assert svc.resume(1)["state"] == "running"
        job = wait_state(svc, 1, lambda j: j.state in ("done", "failed"), timeout=120)
        assert job.state == "done" and job.acked == job.lines_total, job.error
    finally:
        svc.stop()


@pytest.mark.parametrize("mode, up, down, laser, refused", [
    ("servo", ["M5"], ["M3 S1000"], False, None),
    ("servo", ["M3 S0"], ["M3 S1000"], False, "only M5"),
    ("servo", ["M5"], ["M3 S1000"], True, "laser mode"),
    ("z", ["G0 Z5"], ["G1 Z0 F600"], False, "Z pen cannot move in a feed hold"),
])  # fmt: skip
def test_which_pens_can_lift_in_a_hold(mode, up, down, laser, refused) -> None:  # type: ignore[no-untyped-def]
    why = lift_in_hold_refusal(mode, up, down, laser)
    assert (why is None) if refused is None else (refused in why)


def test_pause_with_a_bad_at_is_one_line(daemon) -> None:  # type: ignore[no-untyped-def]
    reply = daemon.handle({"op": "pause", "id": 1, "at": "later"})
    assert reply["ok"] is False and "at must be 'now' or 'lift'" in reply["error"]
