"""`plotter draw` through click: dry run on the simulator, the daemon path, every bad input as one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.daemon.config import parse_config
from plotter.daemon.service import Service


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised two-class Sketch-RNN: enough to exercise sample -> plan -> stream."""
    torch = pytest.importorskip("torch")
    from plotter.models.checkpoint import save_checkpoint
    from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig

    torch.manual_seed(0)
    cfg = SketchRNNConfig(
        enc_hidden=8, dec_hidden=16, z_size=4, n_mixtures=2, max_len=40, n_classes=2, class_embed=4
    )
    model = SketchRNN(cfg)
    model.scale, model.classes = 20.0, ["cat", "cake"]
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "sketch_rnn-cat.pt", model)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_line_error(result, text: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1 and text in lines[0], result.output
    assert "Traceback" not in result.output


def test_dry_run_writes_gcode_preview_and_what_was_drawn(tmp_path, tiny_checkpoint) -> None:
    out = tmp_path / "cat.gcode"
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "-n", "2", "--seed", "1"]
    r = run(*args, "--dry-run", "--yes", "-o", str(out), "--no-daemon")
    assert r.exit_code == 0, r.output
    for name in ("cat.gcode", "cat.preview.svg", "cat.drawn.svg", "cat.drawn.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "machine" in r.output and "simulated" in r.output and "estimate" in r.output
    lines = out.read_text().splitlines()
    assert lines[-1].startswith("M2") or "M2" in lines[-3:]
    again = tmp_path / "again.gcode"
    assert run(*args, "--dry-run", "--yes", "-o", str(again), "--no-daemon").exit_code == 0
    assert again.read_text() == out.read_text()  # same seed, same drawing


def test_bad_inputs_are_one_line_errors(tmp_path, tiny_checkpoint, monkeypatch) -> None:
    ck = str(tiny_checkpoint)
    monkeypatch.chdir(tmp_path)
    one_line_error(run("draw", "--class", "cta", "--checkpoint", ck, "--dry-run"), "did you mean cat")
    one_line_error(run("draw", "--class", "cat", "--checkpoint", "nope.pt", "--dry-run"), "does not exist")
    one_line_error(
        run(
            "draw", "--class", "cat", "--checkpoint", ck, "--device", "/dev/ttyNOPE9", "--yes", "--no-daemon"
        ),
        "no device at /dev/ttyNOPE9",
    )
    one_line_error(run("draw", "--class", "cat", "--checkpoint", ck, "--grid", "2by2"), "grid must look like")
    r = run("draw", "--class", "cat", "--checkpoint", ck, "--temperature", "0")
    one_line_error(r, "temperature")


def test_busy_port_is_reported(tmp_path, tiny_checkpoint) -> None:
    serial = pytest.importorskip("serial")
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = serial.Serial(path, exclusive=True)  # another sender has the plotter open
    try:
        r = run("draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--device", path, "--yes",
                "--no-daemon", "-o", str(tmp_path / "c.gcode"))  # fmt: skip
        one_line_error(r, "busy")
    finally:
        holder.close()
        os.close(master)
        os.close(slave)


@pytest.fixture
def daemon(tmp_path, tiny_checkpoint):
    cfg = parse_config({
        "devices": {"sim": {"port": "grblsim://?clock=virtual"}},
        "socket": str(tmp_path / "run" / "d.sock"),
        "store": str(tmp_path / "jobs.sqlite3"),
        "models": {"cat": str(tiny_checkpoint)},  # jobs name a configured model (issue 16)
    })  # fmt: skip
    svc = Service(cfg).start()
    yield svc
    svc.stop()


def test_draw_through_the_daemon_and_follow_it(tmp_path, tiny_checkpoint, daemon) -> None:
    sock = str(daemon.config.socket)
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--seed", "4", "--socket", sock]
    r = run(*args, "--yes", "-o", str(tmp_path / "d.gcode"))
    assert r.exit_code == 0, r.output
    assert "(daemon)" in r.output and "job 1: done" in r.output
    assert (tmp_path / "d.gcode").read_text().strip() == daemon.store.get(1).gcode.strip()
    assert daemon.store.get(1).params["best_of"] == 8  # draw's default: the daemon samples best of 8
    one_line_error(run(*args, "--device", "/dev/ttyUSB3", "--yes"), "is not one of them")
    r = run("draw", "--class", "cta", "--checkpoint", str(tiny_checkpoint), "--socket", sock, "--yes")
    one_line_error(r, "did you mean cat")
    assert [j.id for j in daemon.store.list()] == [1]  # bad requests queued nothing
    r = run("jobs", "--socket", sock, "--all")
    assert r.exit_code == 0 and "done" in r.output and "cat x1" in r.output
    r = run("jobs", "--socket", sock, "1", "--gcode", str(tmp_path / "again.gcode"))
    assert r.exit_code == 0 and "claimed by sim" in r.output and "done" in r.output
    assert (tmp_path / "again.gcode").read_text() == (tmp_path / "d.gcode").read_text()
    r = run("status", "--socket", sock)
    assert r.exit_code == 0 and r.output.startswith("sim") and "Idle" in r.output


def test_draw_finds_the_daemon_via_plotterd_config(tmp_path, tiny_checkpoint, daemon, monkeypatch) -> None:
    cfg = tmp_path / "plotterd.yaml"
    cfg.write_text(f"devices:\n  sim: {{port: 'grblsim://'}}\nsocket: {daemon.config.socket}\n")
    monkeypatch.setenv("PLOTTERD_CONFIG", str(cfg))
    out = str(tmp_path / "e.gcode")
    # a fixed seed: an unseeded tiny random model sometimes draws nothing at all
    r = run("draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--seed", "4", "--yes", "-o", out)
    assert r.exit_code == 0 and "(daemon)" in r.output, r.output
    assert [j.id for j in daemon.store.list()] == [1]


def test_confirmation_declined_cancels_the_held_job(tmp_path, tiny_checkpoint, daemon) -> None:
    sock = str(daemon.config.socket)
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--socket", sock, "--seed", "5"]
    r = CliRunner().invoke(main, args, input="n\n")
    assert r.exit_code == 1 and "Draw it?" in r.output
    assert daemon.store.get(1).state == "cancelled" and daemon.store.get(1).acked == 0


def test_jobs_commands_work_without_a_daemon(tmp_path) -> None:
    from plotter.daemon.store import JobStore

    store_path = tmp_path / "jobs.sqlite3"
    cfg = tmp_path / "plotterd.yaml"
    cfg.write_text(f"devices: {{p: grblsim://}}\nstore: {store_path}\nsocket: {tmp_path / 'none.sock'}\n")
    with JobStore(store_path) as s:
        job = s.submit("gcode", {"file": "x.gcode"}, gcode="G0 X1")
    assert "queued" in run("jobs", "-c", str(cfg)).output
    assert "paused" in run("pause", "-c", str(cfg), str(job.id)).output
    r = run("resume", "-c", str(cfg), str(job.id))
    assert "queued" in r.output and "start `plotter daemon`" in r.output
    assert "cancelled" in run("cancel", "-c", str(cfg), str(job.id)).output
    one_line_error(run("cancel", "-c", str(cfg), str(job.id)), "is cancelled; it cannot become cancelled")
    one_line_error(run("pause", "-c", str(cfg), "99"), "no job 99")
    r = run("status", "--device", "grblsim://?clock=virtual")
    assert r.exit_code == 0 and "Idle" in r.output
    r = run("status", "--device", "/dev/ttyNOPE9")
    assert "offline" in r.output and "no device at" in r.output and r.exit_code == 1


def test_daemon_check_and_bad_config(tmp_path) -> None:
    cfg = tmp_path / "plotterd.yaml"
    cfg.write_text("devices:\n  a: {port: grblsim://, profile: grbl-servo}\nhttp: {enabled: true}\n")
    one_line_error(run("daemon", "-c", str(cfg), "--check"), "http.token")
    cfg.write_text("devices:\n  a: {port: grblsim://, colour: red}\n")
    one_line_error(run("daemon", "-c", str(cfg), "--check"), "unknown field 'colour'")
    cfg.write_text("devices:\n  a: grblsim://\n")
    r = run("daemon", "-c", str(cfg), "--check")
    assert r.exit_code == 0 and "device  a: grblsim://" in r.output
    one_line_error(run("daemon", "-c", str(tmp_path / "missing.yaml")), "not found")


def test_sigterm_stops_the_daemon_cleanly(tmp_path) -> None:
    """A real `plotter daemon` process: ready line on stderr, a job, SIGTERM -> exit 0, socket gone."""
    import signal
    import subprocess
    import sys

    from plotter.daemon.client import DaemonClient

    sock = tmp_path / "r" / "s.sock"
    cfg = tmp_path / "plotterd.yaml"
    cfg.write_text(
        f"devices: {{p: 'grblsim://?clock=virtual'}}\nstore: {tmp_path / 'j.sqlite3'}\nsocket: {sock}\n"
    )
    cmd = [sys.executable, "-m", "plotter", "daemon", "-c", str(cfg)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # blocks until the daemon says it is up
            if "plotter daemon:" in line:
                break
        with DaemonClient(sock) as c:
            assert c.call("ping")["devices"] == ["p"]
            job = c.call("submit", kind="gcode", gcode="G21\nG90\nG1 X5 Y5 F1000\nM2", device="p")
            while job["state"] != "done":
                job = c.call("wait", id=job["id"], updated=job["updated"], timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not sock.exists()
    from plotter.daemon.store import JobStore

    with JobStore(tmp_path / "j.sqlite3") as store:
        assert store.get(job["id"]).state == "done"  # the queue file outlives the daemon


@pytest.mark.slow
def test_readme_main_command_with_the_shipped_checkpoint(tmp_path, monkeypatch) -> None:
    """`plotter draw --class cat --dry-run --yes`, exactly as the README's first command runs it."""
    from plotter.job.params import MODELS, checkpoint_dirs

    shipped = [d / f"{stem}-cat.pt" for d in checkpoint_dirs() for stem in MODELS.values()]
    if not any(p.is_file() for p in shipped):
        pytest.skip("no shipped cat checkpoint in checkpoints/")
    monkeypatch.chdir(tmp_path)
    r = run("draw", "--class", "cat", "--dry-run", "--yes")
    assert r.exit_code == 0, r.output
    for name in ("cat.gcode", "cat.preview.svg", "cat.drawn.svg", "cat.drawn.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "simulated" in r.output
