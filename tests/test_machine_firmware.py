"""The maker commands against the real GRBL 1.1h firmware (grbl-sim behind a pty, tests/grbl_firmware.py).

Protocol outcomes only (what GRBL reports back), never durations: the harness is roughly real-time.
grbl-sim has no limit switches, so `$H` runs its search and fails with ALARM:9; homing *success* is covered
against the simulator (tests/test_machine_commands.py), soft limits on the unlocked machine here.
"""

from __future__ import annotations

from click.testing import CliRunner

from plotter.cli import main

FAST = {110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}  # as tests/test_grbl_firmware_paths

def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(main, list(args), input=stdin)
    assert "Traceback" not in res.output, res.output
    return res


def test_servo_pen_toggles_reach_the_spindle_pwm(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    path = grbl_firmware()
    res = run("pen", "down", "-d", path)
    assert res.exit_code == 0 and "pen down (spindle S1000)" in res.output, res.output
    res = run("pen", "toggle", "-d", path)  # the firmware kept the pen down between the two opens
    assert res.exit_code == 0 and "pen up (spindle S0) after M5" in res.output, res.output
    res = run("pen", "test", "-d", path, "--cycles", "1")
    assert "pen down (spindle S1000)" in res.output and "pen up   (spindle S0)" in res.output, res.output


def test_z_pen_moves_the_z_axis(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    path = grbl_firmware()
    assert "pen up (Z 3)" in run("pen", "up", "-d", path, "--profile", "grbl-z").output
    res = run("pen", "toggle", "-d", path, "--profile", "grbl-z")
    assert "pen down (Z 0) after G1 Z0 F600" in res.output, res.output


def test_home_failure_and_jog_within_soft_limits(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    path = grbl_firmware({22: 1, 20: 1, 130: 300, 131: 200, 132: 5, 25: 4000})  # a short, quick search
    res = run("jog", "X-5", "-d", path)
    assert res.exit_code == 1 and "alarm-locked" in res.output
    res = run("jog", "X-5", "Y-2.5", "-d", path, "--unlock", "--feed", "1000")  # GRBL's space: [-travel, 0]
    assert res.exit_code == 0 and "at X-5.000 Y-2.500" in res.output, res.output
    res = run("jog", "X500", "-d", path)
    assert res.exit_code == 1 and "error:15" in res.output and "Travel exceeded" in res.output
    res = run("jog", "X0", "Y0", "--to", "-d", path, "--feed", "1000")
    assert res.exit_code == 0 and "at X0.000 Y0.000" in res.output, res.output
    res = run("home", "-d", path)  # no switches in grbl-sim: the search ends in ALARM:9, said in words
    assert res.exit_code == 1 and "homing failed" in res.output and "ALARM:9" in res.output, res.output
    assert "Alarm" in run("console", "-d", path, stdin="?\n").output  # answering again after the reset


def test_settings_write_and_console_round_trip(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    path = grbl_firmware()
    res = run("settings", "-d", path, "--set", "110=4000", "--yes")
    assert res.exit_code == 0 and "$110=4000.000" in res.output, res.output
    res = run("settings", "-d", path)
    assert "$110=4000.000" in res.output and "X-axis maximum rate" in res.output
    res = run("console", "-d", path, stdin="$I\nG0 X2\n?\nG4 P0\n?\nG1 X1\n^X\n")
    out = res.output.splitlines()
    assert "[VER:1.1h.20190830:]" in out
    status = out[out.index("> ?", out.index("> G4 P0")) + 1]
    assert status.startswith("<Idle|MPos:2.000,0.000,0.000"), status
    assert any(line.startswith("error:22  (Undefined feed rate") for line in out)
    assert "Grbl 1.1h ['$' for help]" in out[out.index("> ^X"):]
    assert res.exit_code == 1 and "refused 1 line" in res.output


SMALL_TWO_LAYERS = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
  width="30mm" height="20mm" viewBox="0 0 30 20">
  <g inkscape:groupmode="layer" inkscape:label="black"><path d="M 2 2 L 28 2 L 28 18" stroke="black"/></g>
  <g inkscape:groupmode="layer" inkscape:label="red"><path d="M 2 18 L 10 10" stroke="red"/></g>
</svg>"""


def test_two_layer_svg_pauses_for_the_pen_and_resumes(grbl_firmware, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading

    from plotter.gcode import pen_commands
    from plotter.grbl.penchange import PenChangeWatch
    from plotter.grbl.streamer import Streamer
    from plotter.grbl.transport import open_port

    (tmp_path / "two.svg").write_text(SMALL_TWO_LAYERS)
    gcode = tmp_path / "two.gcode"
    res = run("export", str(tmp_path / "two.svg"), "-o", str(gcode), "--paper", "40x30mm")
    assert res.exit_code == 0, res.output
    lines = gcode.read_text().splitlines()
    port = open_port(grbl_firmware(FAST, speed=0.5))
    streamer = Streamer(port, pen_up=pen_commands("grbl-servo"))
    streamer.connect()
    watch, box, seen = PenChangeWatch(lines), {}, []
    changed = threading.Event()

    def tap(p):  # type: ignore[no-untyped-def]
        watch(p)
        change = watch.take()
        if change is not None:
            seen.append((change, p.status))
            changed.set()

    def run_it() -> None:
        try:
            box["r"] = streamer.stream(lines, on_progress=tap)
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            box["error"] = exc
            changed.set()

    thread = threading.Thread(target=run_it, daemon=True)
    thread.start()
    assert changed.wait(600) and "error" not in box, box  # generous: judged by protocol, not time
    (change, status), = seen
    assert change.message == "pen 2/2 red"
    assert status.state == "Hold" and status.spindle == 0 and status.mpos[:2] == (0.0, 0.0)  # up, parked
    streamer.resume()
    thread.join(600)
    assert not thread.is_alive() and box["r"].status == "done" and box["r"].acked == len(lines)
    port.close()


def test_pause_at_lift_leaves_the_pen_up(grbl_firmware) -> None:  # type: ignore[no-untyped-def]
    from plotter.grbl.flow import clean_line
    from tests.streamsim import strokes_job
    from tests.test_pause_at_lift import _stream_with_pause

    lines = strokes_job(strokes=6, points=6)
    box, port = _stream_with_pause(grbl_firmware(FAST, speed=0.5), lines, "grbl-servo", after=len(lines) // 3)
    held = box["held"]
    assert held.state == "Idle" and held.spindle == 0  # at rest with the servo at its pen-up value
    assert clean_line(lines[box["acked_at_pause"] - 1]) in ("M5", "G4P0.15")
    assert box["result"].status == "done" and box["result"].acked == len(lines)
    port.close()
