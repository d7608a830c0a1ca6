"""`plotter pen/home/jog/settings/console` against the simulated GRBL: what the machine did, read back."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.errors import GrblError
from plotter.gcode import load_profile
from plotter.grbl.console import Console
from plotter.grbl.control import Machine, parse_jog, parse_settings
from plotter.grbl.results import AlarmLockError, CommandError
from plotter.grbl.transport import open_port


def machine(url: str = "grblsim://", profile: str = "grbl-servo") -> Machine:
    return Machine(open_port(url), load_profile(profile))


def test_servo_pen_reaches_the_spindle_pwm_and_toggles_back() -> None:
    with machine() as m:
        assert m.pen(True) == ["M3 S1000", "G4 P0.2"]
        st = m.status()
        assert st.spindle == 1000 and m.pen_report().down  # the PWM value GRBL drives, not what we sent
        down, lines = m.toggle()
        assert not down and lines == ["M5", "G4 P0.15"]
        assert m.status().spindle == 0 and not m.pen_report().down
        assert [r.down for r in m.test(2)] == [True, False, True, False]


def test_z_pen_moves_the_z_axis() -> None:
    with machine("grblsim://?pen=z", "grbl-z") as m:
        m.pen(False)
        assert m.position()[2] == pytest.approx(3.0)  # grbl-z: z_up 3
        down, _ = m.toggle()
        assert down and m.position()[2] == pytest.approx(0.0)
        assert m.pen_report().detail == "Z 0"


def test_home_then_jog_with_soft_limits() -> None:
    with machine("grblsim://?homing=1&s20=1") as m:
        assert m.state.state == "Alarm"
        with pytest.raises(AlarmLockError, match="plotter home"):
            m.require_ready()
        hx, hy, _ = m.home()  # the homed corner: toward X0 Y0 (GRBL's machine space may be negative)
        assert m.status().state == "Idle"
        pos = m.jog({"X": 5.0, "Y": 2.5}, 2000.0)
        assert pos[:2] == pytest.approx((hx + 5.0, hy + 2.5))
        with pytest.raises(CommandError, match="error:15"):  # beyond the travel: refused, nothing moved
            m.jog({"X": -500.0}, 2000.0)
        assert m.position()[:2] == pytest.approx((hx + 5.0, hy + 2.5))
        assert m.jog({"X": hx + 1.0}, 2000.0, absolute=True)[0] == pytest.approx(hx + 1.0)


def test_home_without_homing_enabled_says_how() -> None:
    with machine() as m, pytest.raises(CommandError, match=r"\$22=0"):
        m.home()


def test_settings_read_and_write_back() -> None:
    with machine() as m:
        assert m.settings()[110] == "5000.000"
        assert float(m.write_setting(110, "4000")) == 4000
        with pytest.raises(CommandError, match="error:"):
            m.write_setting(20, "1")  # soft limits without homing: GRBL refuses (error:10)


@pytest.mark.parametrize("words, expected", [
    (["X10", "y-5.5"], {"X": 10.0, "Y": -5.5}), (["Z.5"], {"Z": 0.5})])
def test_parse_jog(words: list[str], expected: dict) -> None:
    assert parse_jog(words) == expected


@pytest.mark.parametrize("words", [["X"], ["Q1"], ["X1", "X2"], ["10"]])
def test_parse_jog_refuses(words: list[str]) -> None:
    with pytest.raises(GrblError):
        parse_jog(words)


def test_parse_settings() -> None:
    assert parse_settings(["$110=5000", "20 = 1"]) == {110: "5000", 20: "1"}
    with pytest.raises(GrblError):
        parse_settings(["110"])


def test_console_round_trip_with_realtime_bytes() -> None:
    port = open_port("grblsim://")
    out: list[str] = []
    from plotter.grbl.link import Link

    con = Console(Link(port), out.append)
    refused = con.run_lines(["$I", "G1 X5", "G0 X20", "!", "?", "~", "G4 P0", "?", "\x18"])
    assert refused == 1  # G1 without a feed
    text = "\n".join(out)
    assert "[OPT:V,15,128]" in text
    assert "error:22  (Undefined feed rate" in text
    hold = out[out.index("> ?") + 1]
    assert hold.startswith("<Hold:"), hold  # `!` went out as the bare byte: GRBL held at once
    final = out[out.index("> ?", out.index("> G4 P0")) + 1]
    assert final.startswith("<Idle|MPos:20.000,0.000"), final  # `~` resumed, the move finished
    assert "Grbl 1.1h ['$' for help]" in out[out.index("> ^X"):]  # Ctrl-X: a soft reset, GRBL's banner
    port.close()


# ---------------------------------------------------------------------- the CLI commands
def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=stdin)


def test_cli_pen_down_and_test() -> None:
    res = run("pen", "down", "-d", "grblsim://")
    assert res.exit_code == 0, res.output
    assert "pen down (spindle S1000) after M3 S1000; G4 P0.2" in res.output
    res = run("pen", "test", "-d", "grblsim://", "--cycles", "2")
    assert res.output.count("pen down") == 2 and res.output.count("pen up") == 2


def test_cli_pen_set_tries_and_saves_a_profile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = tmp_path / "mine.yaml"
    res = run("pen", "down", "-d", "grblsim://", "--set", "down_command=M3 S600", "--set", "dwell_down=0.3",
              "--save", str(mine))
    assert res.exit_code == 0, res.output
    assert "spindle S600" in res.output and "G4 P0.3" in res.output
    saved = load_profile(mine)
    assert (saved.name, saved.pen.down_command, saved.pen.dwell_down) == ("mine", "M3 S600", 0.3)
    assert saved.bed.width == load_profile("grbl-servo").bed.width  # it extends the profile it came from
    res = run("pen", "down", "-d", "grblsim://", "--set", "down_command=G1 X5")
    assert res.exit_code == 1 and "must not move X or Y" in res.output


def test_cli_home_jog_settings_console() -> None:
    res = run("home", "-d", "grblsim://?homing=1")
    assert res.exit_code == 0 and "homed: machine position X" in res.output, res.output
    res = run("jog", "X10", "Y5", "-d", "grblsim://", "--feed", "3000")
    assert res.exit_code == 0 and "at X10.000 Y5.000" in res.output, res.output
    res = run("jog", "X10", "-d", "grblsim://?homing=1")
    assert res.exit_code == 1 and "alarm-locked" in res.output
    res = run("jog", "X10", "-d", "grblsim://?homing=1", "--unlock")
    assert res.exit_code == 0, res.output
    res = run("settings", "-d", "grblsim://")
    assert "$110=5000.000" in res.output and "X-axis maximum rate" in res.output
    res = run("settings", "-d", "grblsim://", "--set", "110=4000", stdin="y\n")
    assert "$110: 5000.000 -> 4000" in res.output and "$110=4000.000" in res.output, res.output
    res = run("settings", "-d", "grblsim://", "--set", "110=4000", stdin="n\n")
    assert res.exit_code == 1 and "$110=4000.000" not in res.output
    res = run("console", "-d", "grblsim://", stdin="$I\n?\nG1 X1\n")
    assert "> $I" in res.output and "[VER:1.1h" in res.output and "<Idle|" in res.output
    assert res.exit_code == 1 and "refused 1 line" in res.output


@pytest.mark.parametrize("args, message", [
    (["pen", "up"], "no device given"),
    (["pen", "up", "-d", "/dev/nonexistent-tty"], "no device at /dev/nonexistent-tty"),
    (["pen", "up", "-d", "grblsim://", "--set", "colour=red"], "use FIELD=VALUE with a pen field"),
    (["jog", "X1", "W2", "-d", "grblsim://"], "cannot read jog move 'W2'"),
    (["settings", "-d", "grblsim://", "--set", "x=1"], "cannot read setting"),
])
def test_cli_bad_input_is_one_line(args: list[str], message: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PLOTTER_DEVICE", raising=False)
    res = run(*args)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output, res.output


def test_a_profile_that_extends_another_keeps_its_own_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "desk.yaml").write_text("extends: grbl-servo\npen: {dwell_down: 0.5}\n")
    p = load_profile(tmp_path / "desk.yaml")
    assert (p.name, p.pen.dwell_down, p.pen.down_command) == ("desk", 0.5, "M3 S1000")


def test_verbose_flag_on_subcommands() -> None:
    assert run("daemon", "-v", "--check").exit_code == 0
    assert run("pen", "-vv", "up", "-d", "grblsim://").exit_code == 0
