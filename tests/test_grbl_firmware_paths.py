"""The paths a real plotter takes, against the real GRBL 1.1h firmware on a pty (tests/grbl_firmware.py).

Assertions are about protocol outcomes (states, replies, exit codes), never durations: the harness is only
roughly real-time on a busy machine.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from plotter.cli import main

REPO = Path(__file__).resolve().parents[1]
LIMITS = {22: 1, 20: 1, 110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}


def _say(port: serial.Serial, data: bytes, until: bytes, timeout: float = 10.0) -> bytes:
    port.write(data)
    out = b""
    deadline = time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        out += port.read(256)
    assert until in out, out
    return out


def _poll(port: serial.Serial, state: bytes, timeout: float = 120.0) -> bytes:
    """`?` until the report shows `state` (GRBL answers a `?` that arrives with `!` before holding)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = _say(port, b"?", b">")
        if state in reply:
            return reply
    raise AssertionError(f"never saw {state!r}; last {reply!r}")


def _first_reply_is_status(path: str) -> None:
    """Nothing late is left on the line: the first thing a new sender reads is the answer to its `?`."""
    with serial.Serial(path, 115200, timeout=0.1) as port:
        port.write(b"?")
        first = port.read_until(b"\n", 64)
        assert first.startswith(b"<"), first


def test_status_of_a_held_machine_shows_the_hold_and_leaves_no_late_reply(grbl_firmware) -> None:
    path = grbl_firmware()
    with serial.Serial(path, 115200, timeout=0.1) as port:
        port.write(b"!")
        _poll(port, b"Hold:0")
    result = CliRunner().invoke(main, ["status", "--device", path])
    assert result.exit_code == 0, result.output
    assert "Hold:0" in result.output and "wrong port" not in result.output
    _first_reply_is_status(path)


def test_status_of_a_machine_silent_after_alarm_2(grbl_firmware) -> None:
    path = grbl_firmware(LIMITS)
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _say(port, b"$X\n", b"ok")
        _say(port, b"G0 X5\n", b"ALARM:2")  # soft limit: machine space is [-max_travel, 0]
    result = CliRunner().invoke(main, ["status", "--device", path])
    assert result.exit_code == 0, result.output
    assert "Alarm" in result.output and "wrong port" not in result.output
    _first_reply_is_status(path)


# --- streaming real jobs -------------------------------------------------------------------------------
FAST = {110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}


def _job(tmp_path: Path, n: int = 40, extra: tuple[str, ...] = ()) -> Path:
    """A servo-pen job of n 4 mm strokes at 1500 mm/min: long enough to interrupt, quick to wait for."""
    lines = ["G21 G90 G17 G94", "M5", "G4 P0.1"]
    for i in range(n):
        y = 2.0 * (i % 20)
        lines += [f"G0 X{4 * (i // 20)} Y{y}", "M3 S1000", "G4 P0.05", f"G1 X{4 * (i // 20) + 4} Y{y} F1500",
                  "M5", "G4 P0.05"]
    lines += [*extra, "G0 X0 Y0", "M2"]
    path = tmp_path / "job.gcode"
    path.write_text("\n".join(lines) + "\n")
    return path


class Cli:
    """`plotter ...` as a real process: stdin to answer prompts, stderr read line by line, real signals."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "plotter", *args], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.mark = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 4096):  # raw chunks: prompts end without a newline
            self.lines.put(chunk.decode(errors="replace"))

    def expect(self, text: str, timeout: float = 300.0) -> str:
        """Wait until `text` appears in the output after the previous match; return the output up to it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.output.find(text, self.mark)
            if at >= 0:
                got, self.mark = self.output[self.mark : at + len(text)], at + len(text)
                return got
            try:
                self.seen.append(self.lines.get(timeout=0.5))
            except queue.Empty:
                continue
        raise AssertionError(f"never saw {text!r}; output so far:\n{self.output}")

    def finish(self, timeout: float = 600.0) -> int:
        rc = self.proc.wait(timeout)
        time.sleep(0.1)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return rc

    @property
    def output(self) -> str:
        return "".join(self.seen)


def test_stream_twice_cancel_the_second_run_with_ctrl_c_and_resume_it(grbl_firmware, tmp_path) -> None:
    """A whole plot; the same file again, Ctrl-C (SIGINT) -> cancel -> 130; resume continues the last run."""
    path = grbl_firmware(FAST, speed=0.5)  # half speed: the harness keeps up on a busy machine
    job = _job(tmp_path, n=8)
    first = Cli("stream", str(job), "-d", path, cwd=tmp_path)
    assert first.finish() == 0, first.output
    assert "done:" in first.output
    second = Cli("stream", str(job), "-d", path, cwd=tmp_path)
    second.expect("stream ")  # progress has started
    second.proc.send_signal(signal.SIGINT)
    second.expect("[r]esume, [c]ancel")
    second.proc.stdin.write("c\n")
    second.proc.stdin.flush()
    assert second.finish() == 130, second.output
    assert "--resume" in second.output and "Traceback" not in second.output
    resumed = Cli("stream", str(job), "-d", path, "--resume", f"{job}.journal", "--yes", cwd=tmp_path)
    assert resumed.finish() == 0, resumed.output
    assert "resuming at line" in resumed.output and "done:" in resumed.output
    assert "nothing to do" not in resumed.output


def test_sigterm_cancels_with_143(grbl_firmware, tmp_path) -> None:
    path = grbl_firmware(FAST, speed=0.5)  # half speed: the harness keeps up on a busy machine
    job = _job(tmp_path, n=12)
    cli = Cli("stream", str(job), "-d", path, cwd=tmp_path)
    cli.expect("stream ")
    cli.proc.send_signal(signal.SIGTERM)
    assert cli.finish() == 143, cli.output
    assert "--resume" in cli.output
    _first_reply_is_status(path)  # GRBL was reset in hold: it answers, nothing late on the line


def test_m0_in_the_file_stops_with_a_message_and_continues_on_enter(grbl_firmware, tmp_path) -> None:
    path = grbl_firmware(FAST, speed=0.5)  # half speed: the harness keeps up on a busy machine
    job = _job(tmp_path, n=4, extra=("M0 (change the pen)", "G1 X10 Y10 F1500"))
    cli = Cli("stream", str(job), "-d", path, "-q", cwd=tmp_path)
    assert "M0 (change the pen)" in cli.expect("Press Enter to continue")
    cli.proc.stdin.write("\n")
    cli.proc.stdin.flush()
    assert cli.finish() == 0, cli.output
    assert "done:" in cli.output


# --- plotter draw --device --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised Sketch-RNN: enough to exercise sample -> plan -> stream."""
    torch = pytest.importorskip("torch")
    from plotter.models.checkpoint import save_checkpoint
    from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig

    torch.manual_seed(0)
    cfg = SketchRNNConfig(enc_hidden=8, dec_hidden=16, z_size=4, n_mixtures=2, max_len=40, n_classes=2,
                          class_embed=4)  # fmt: skip
    model = SketchRNN(cfg)
    model.scale, model.classes = 20.0, ["cat", "cake"]
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "sketch_rnn-cat.pt", model)


def test_draw_device_alarm_mid_job_is_one_line_with_the_resume_command(grbl_firmware, tiny_checkpoint,
                                                                        tmp_path, monkeypatch) -> None:
    """Soft limits on, work 0,0 set inside the travel: the drawing's XY fits, but the Z pen's up (Z3) is
    above machine Z 0, and GRBL answers ALARM:2 once lines are acknowledged (the placement check before the
    first byte judges XY only).

    Was: a 40-line TypeError traceback from `raise type(exc)(...)`, and no resume command."""
    path = grbl_firmware({**LIMITS, 130: 400, 131: 400})
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _say(port, b"$X\n", b"ok")
        _say(port, b"G0 X-390 Y-390\nG4 P0\n", b"ok\r\nok", timeout=300)
        _say(port, b"G10 L20 P1 X0 Y0\n", b"ok")
    monkeypatch.chdir(tmp_path)
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--seed", "1"]
    args += ["--profile", "grbl-z"]
    r = CliRunner().invoke(main, [*args, "--device", path, "--yes", "--no-daemon"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "ALARM:2" in errors[0], r.output
    assert f"resume with: plotter stream cat.gcode -d {path} --resume cat.journal.jsonl" in errors[0]
    assert (tmp_path / "cat.gcode").exists() and (tmp_path / "cat.journal.jsonl").exists()


def test_shipped_profile_on_a_soft_limit_machine_is_refused_before_the_first_byte(grbl_firmware, tmp_path):
    """$20=1 $22=1 at machine zero (as after homing): the shipped profile's X 0..W would earn ALARM:2 at line
    5; the placement check says so, with the fix, and sends nothing. The `machine_space: negative` profile
    then streams the same kind of job to the end (test_z_profile_with_soft_limits_streams_to_the_firmware)."""
    path = grbl_firmware({**LIMITS, 130: 310, 131: 220})
    job = _job(tmp_path, n=2)
    r = CliRunner().invoke(main, ["stream", str(job), "-d", path, "--unlock", "-q"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "soft limits are on ($20=1)" in r.output and "machine_space: negative" in r.output, r.output
    assert "nothing was sent" in r.output and "ALARM" not in r.output.replace("ALARM:2);", "")
    with serial.Serial(path, 115200, timeout=0.1) as port:
        assert b"Idle|MPos:0.000,0.000,0.000" in _poll(port, b"Idle")  # never moved, never alarmed


# --- soft limits on, a Z-axis pen -------------------------------------------------------------------
def _homed_z_job(tmp_path: Path) -> tuple[Path, Path]:
    """A square drawn by the Z-pen profile on a machine whose coordinates are [-travel, 0] (homed GRBL)."""
    import numpy as np

    from plotter.gcode import emit, load_profile
    from plotter.sketch import Sketch

    prof = tmp_path / "homed-z.yaml"
    prof.write_text("extends: grbl-z\nname: homed-z\nbed: {machine_space: negative}\n")
    square = Sketch([np.array([[10.0, 10], [30, 10], [30, 30], [10, 30], [10, 10]])], unit="mm")
    job = tmp_path / "square.gcode"
    job.write_text("\n".join(emit(square, load_profile(str(prof)))) + "\n")
    return job, prof


HOMED = {**LIMITS, 130: 310, 131: 220, 132: 10}


def test_z_profile_with_soft_limits_draws_on_the_simulator_after_homing(tmp_path) -> None:
    job, prof = _homed_z_job(tmp_path)
    from plotter.grbl.protocol_grblsim import Serial as SimSerial
    from plotter.grbl.streamer import Streamer

    with SimSerial.simulated(timeout=60.0, latency_ms=0.0, settings={**HOMED, 23: 0}, pen="z",
                             pen_z=-3.5) as port:  # machine Z: down -4, up -1
        port.write(b"$H\n")  # homes to -pull-off, as stock GRBL does
        assert port.read_until(b"ok\r\n").endswith(b"ok\r\n")
        port.timeout = 0.05
        streamer = Streamer(port)
        streamer.connect()
        lines = job.read_text().splitlines()
        assert streamer.stream(lines).status == "done"  # no ALARM:2: every target inside [-travel, 0]
        drawn = [seg for seg in port.machine.trace.segments if seg.pen_down]
        length = sum(math.dist(seg.start[:2], seg.end[:2]) for seg in drawn)
        assert length == pytest.approx(80.0, abs=0.01)  # the square, pen down, and nothing else


def test_z_profile_with_soft_limits_streams_to_the_firmware(grbl_firmware, tmp_path) -> None:
    """Stock GRBL with $20=1 $22=1: unlocked at machine zero (grbl-sim has no switches to home on)."""
    job, prof = _homed_z_job(tmp_path)
    path = grbl_firmware(HOMED, speed=0.5)
    r = CliRunner().invoke(main, ["stream", str(job), "-d", path, "--unlock", "--profile", str(prof), "-q"])
    assert r.exit_code == 0, r.output
    assert "done:" in r.output and "ALARM" not in r.output
    with serial.Serial(path, 115200, timeout=0.1) as port:
        reply = _poll(port, b"Idle")
    assert b"MPos:-310.000,-220.000," in reply  # back at work 0,0: the bed's corner, far from the switches
