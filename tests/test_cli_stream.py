"""`plotter stream` / `plotter devices`: bad input gives one line and exit 1; the happy paths run on the
simulator (URL and, when ptys exist, the /dev/pts of `plotter sim --pty`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.grbl.journal import Journal, JsonLinesSink

HAVE_SIM = importlib.util.find_spec("plotter.grbl.protocol_grblsim") is not None
needs_sim = pytest.mark.skipif(not HAVE_SIM, reason="the grblsim:// handler is not in this tree yet")

PROGRAM = ["G21 G90", "M5", "G4 P0.1", "G0 X10 Y10", "M3 S1000", "G4 P0.1", "G1 X20 Y10 F3000", "G1 X20 Y20",
           "M5", "G4 P0.1", "G0 X0 Y0", "M2"]


def _write(tmp_path: Path, lines: list[str], name: str = "job.gcode") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_missing_device_is_one_line(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    result = CliRunner().invoke(main, ["stream", str(job), "--device", str(tmp_path / "ttyUSB9"), "-q"])
    assert "no device at" in _one_line_error(result)


def test_unknown_url_scheme(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    result = CliRunner().invoke(main, ["stream", str(job), "--device", "nope://x", "-q"])
    assert "unknown URL scheme" in _one_line_error(result)


def test_empty_and_binary_files(tmp_path: Path) -> None:
    empty = _write(tmp_path, ["; nothing", ""])
    result = CliRunner().invoke(main, ["stream", str(empty), "--device", "loop://"])
    assert "has no G-code lines" in _one_line_error(result)
    binary = tmp_path / "b.gcode"
    binary.write_bytes(b"\xff\xfe\x00G1")
    result = CliRunner().invoke(main, ["stream", str(binary), "--device", "loop://"])
    assert "not a text G-code file" in _one_line_error(result)


def test_too_long_line_refused_before_sending(tmp_path: Path) -> None:
    job = _write(tmp_path, ["G21", "G1 X" + "1" * 85 + " F100"])
    result = CliRunner().invoke(main, ["stream", str(job), "--device", "loop://", "-q"])
    assert "line 2 has" in _one_line_error(result)


def test_journal_of_another_program_is_refused(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    journal_path = tmp_path / "other.journal"
    Journal(JsonLinesSink(journal_path)).begin(["G0 X1"])
    args = ["stream", str(job), "--device", "loop://", "--resume", str(journal_path)]
    result = CliRunner().invoke(main, args)
    assert "belongs to another program" in _one_line_error(result)


def test_devices_lists_ports_and_the_simulator_hint() -> None:
    result = CliRunner().invoke(main, ["devices"])
    assert result.exit_code == 0, result.output
    assert "grblsim://" in result.output and "plotter sim --pty" in result.output


@needs_sim
def test_stream_to_the_simulator_prints_a_summary(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    result = CliRunner().invoke(main, ["stream", str(job), "--device", "grblsim://?latency_ms=2", "--check",
                                       "--profile", "grbl-servo"])
    assert result.exit_code == 0, result.output
    assert "check: GRBL accepted every line" in result.output
    assert f"done: {len(PROGRAM)} lines, 0 errors, machine time" in result.output
    state = Journal(JsonLinesSink(tmp_path / "job.gcode.journal")).state()
    assert state.status == "done" and state.acked == len(PROGRAM)


@needs_sim
def test_check_failure_streams_nothing(tmp_path: Path) -> None:
    job = _write(tmp_path, ["G21", "G1 X5 Y5", "M2"])  # no feed rate
    result = CliRunner().invoke(main, ["stream", str(job), "--device", "grblsim://", "--check", "-q"])
    assert "line 2: 'G1 X5 Y5': error:22 Undefined feed rate" in _one_line_error(result)
    assert not (tmp_path / "job.gcode.journal").exists()


@needs_sim
def test_alarm_locked_machine_needs_unlock(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    result = CliRunner().invoke(main, ["stream", str(job), "--device", "grblsim://?homing=1", "-q"])
    assert "--unlock" in _one_line_error(result)
    args = ["stream", str(job), "--device", "grblsim://?homing=1", "-q", "--unlock"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "[unlocked with $X]" in result.output


@needs_sim
def test_reset_mid_job_then_resume_from_the_journal(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    journal = tmp_path / "run.journal"
    args = ["stream", str(job), "--journal", str(journal), "-q", "--profile", "grbl-servo"]
    result = CliRunner().invoke(main, [*args, "--device", "grblsim://?fault=reset@line:10"])
    error = _one_line_error(result)
    assert "reset mid-job" in error and f"--resume {journal}" in error
    result = CliRunner().invoke(main, [*args, "--device", "grblsim://", "--resume", str(journal), "--yes"])
    assert result.exit_code == 0, result.output
    assert "resuming at line" in result.output and "done:" in result.output
    assert Journal(JsonLinesSink(journal)).state().status == "done"
    result = CliRunner().invoke(main, [*args, "--device", "grblsim://", "--resume", str(journal), "--yes"])
    assert result.exit_code == 0 and "complete; nothing to do" in result.output


@needs_sim
def test_send_response_mode(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    args = ["stream", str(job), "--device", "grblsim://", "--mode", "send-response"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and f"done: {len(PROGRAM)} lines" in result.output


def _pty_available() -> bool:
    import os

    try:
        master, slave = os.openpty()
    except OSError:
        return False
    os.close(master)
    os.close(slave)
    return importlib.util.find_spec("plotter.cli.sim") is not None and HAVE_SIM


@pytest.mark.skipif(not _pty_available(), reason="pseudo-terminals (or `plotter sim`) are not available here")
def test_stream_to_the_pty_of_plotter_sim(tmp_path: Path) -> None:
    """`plotter stream` to the /dev/pts/N of `plotter sim --pty`: a real tty, as on /dev/ttyUSB0."""
    import signal
    import subprocess
    import sys

    job = _write(tmp_path, PROGRAM)
    sim_proc = subprocess.Popen([sys.executable, "-m", "plotter", "sim", "--pty", "--speed", "10"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = sim_proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert path.startswith("/dev/"), path
        stream = subprocess.run([sys.executable, "-m", "plotter", "stream", str(job), "--device", path],
                                capture_output=True, text=True, timeout=60)
        assert stream.returncode == 0, stream.stderr
        assert f"done: {len(PROGRAM)} lines, 0 errors" in stream.stdout
        assert "connected: GRBL on /dev/" in stream.stderr
    finally:
        sim_proc.send_signal(signal.SIGINT)
        out, err = sim_proc.communicate(timeout=30)
    assert "drawn 20.0 mm" in out and "pen lifts 1" in out and "rx overflow 0 bytes" in out, out + err


@needs_sim
@pytest.mark.parametrize(("answer", "summary", "code"), [("c", "cancelled:", 130), ("r", "done:", 0),
                                                       ("l\nr", "done:", 0)])  # lift the pen, then resume
def test_ctrl_c_holds_then_resumes_or_cancels(tmp_path: Path, answer: str, summary: str, code: int) -> None:
    """SIGINT mid-job: feed hold, wait for Hold:0, ask; the answer decides. Where the job stops varies with
    the machine's speed, the outcome does not; a cancel exits 130 (as Ctrl-C does) so scripts see it."""
    import signal
    import subprocess
    import sys

    lines = ["G21 G90", "M3 S1000", "G4 P0.1"] + [f"G1 X{10 + i % 50} Y{10 + (i // 50) * 2} F3000"
                                                  for i in range(300)] + ["M5", "M2"]
    job = _write(tmp_path, lines)
    proc = subprocess.Popen([sys.executable, "-m", "plotter", "stream", str(job), "--device",
                             "grblsim://?clock=realtime&speed=5", "--profile", "grbl-servo"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = [proc.stderr.readline()]  # type: ignore[union-attr]
        assert seen[0].startswith("connected:"), seen
        while not seen[-1].startswith("stream "):  # the first progress line: the job is running
            seen.append(proc.stderr.readline())  # type: ignore[union-attr]
            assert seen[-1], seen
        proc.send_signal(signal.SIGINT)
        while not seen[-1].startswith("held"):
            seen.append(proc.stderr.readline())  # type: ignore[union-attr]
            assert seen[-1], seen
        assert "Hold:0" in seen[-1]
        out, err = proc.communicate(answer + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert summary in out
    assert "Traceback" not in err
    assert ("pen up; resume puts it down where it lifted" in err) == answer.startswith("l"), err


@needs_sim
def test_sigterm_cancels_with_the_pen_up_and_exits_143(tmp_path: Path) -> None:
    """`kill PID` mid-job (systemd, a script): hold, soft reset, pen up, the journal says cancelled."""
    import signal
    import subprocess
    import sys

    lines = ["G21 G90", "M3 S1000", "G4 P0.1"] + [f"G1 X{10 + i % 50} Y{10 + (i // 50) * 2} F3000"
                                                  for i in range(300)] + ["M5", "M2"]
    job = _write(tmp_path, lines)
    proc = subprocess.Popen([sys.executable, "-m", "plotter", "stream", str(job), "--device",
                             "grblsim://?clock=realtime&speed=5", "--profile", "grbl-servo"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        seen = [proc.stderr.readline()]  # type: ignore[union-attr]
        while not seen[-1].startswith("stream "):  # the job is running
            seen.append(proc.stderr.readline())  # type: ignore[union-attr]
            assert seen[-1], seen
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "terminated: cancelling" in err and "Traceback" not in err
    assert "cancelled:" in out
    journal = (tmp_path / "job.gcode.journal").read_text().splitlines()
    assert '"cancelled"' in journal[-1], journal[-1]


@needs_sim
def test_unwritable_journal_is_one_line_before_anything_moves(tmp_path: Path) -> None:
    job = _write(tmp_path, PROGRAM)
    bad = tmp_path / "no" / "dir" / "j"
    args = ["stream", str(job), "--device", "grblsim://", "--journal", str(bad), "-q"]
    result = CliRunner().invoke(main, args)
    assert "cannot write journal" in _one_line_error(result)


@needs_sim
def test_fix_the_errored_line_and_resume(tmp_path: Path) -> None:
    broken = ["G21 G90", "M5", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10", "G1 X20 Y20", "M5", "M2"]  # no feed
    job = _write(tmp_path, broken)
    journal = tmp_path / "j"
    args = ["stream", str(job), "--device", "grblsim://", "--journal", str(journal), "-q"]
    error = _one_line_error(CliRunner().invoke(main, args))
    assert "line 5: 'G1 X20 Y10': error:22 Undefined feed rate" in error
    _write(tmp_path, [*broken[:4], "G1 X20 Y10 F3000", *broken[5:]])  # the fix
    result = CliRunner().invoke(main, [*args, "--resume", str(journal), "--yes"])
    assert result.exit_code == 0, result.output
    assert "changed at or after line 5" in result.output and "resuming at line" in result.output
    _write(tmp_path, ["G20", *broken[1:]])  # an edit before the failure point is refused
    assert "belongs to another program" in _one_line_error(
        CliRunner().invoke(main, [*args, "--resume", str(journal), "--yes"]))
