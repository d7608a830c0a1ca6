"""GRBL 1.1 line rules, table-tested against the documented error codes."""

import pytest

from plotter.gcode import check_line, check_program, load_profile


@pytest.mark.parametrize(
    "line",
    [
        "G21 G90 G17 G94",
        "G0 X10 Y-2.5",
        "G1 X.5 Y0. F3000",
        "g1 x1 y2 f100",
        "M3 S1000",
        "M5",
        "G4 P0.2",
        "G0 X1 (a comment) Y2",
        "(just a comment)",
        "G1 X1 ; trailing comment",
        "",
        "G28.1",
        "G53 G0 X0 Y0",
        "N10 G1 X1 F10",
        "G10 L20 P1 X0 Y0",
        "M2",
    ],
)
def test_valid_lines_pass(line):
    assert check_line(line) == []


@pytest.mark.parametrize(
    "line, code",
    [
        ("G1 X1 " + "Y1 " * 30, "error:11"),
        ("G0 G1 X1", "error:21"),
        ("M3 M5", "error:21"),
        ("G90 G91", "error:21"),
        ("G92 G0 X1", "error:24"),
        ("X1 X2", "error:25"),
        ("G1.5 X1", "error:20"),
        ("G5 X1", "error:20"),
        ("M6", "error:20"),
        ("Q1", "error:20"),
        ("A1", "error:20"),
        ("G4", "error:28"),
        ("P1", "error:36"),
        ("L2", "error:36"),
        ("G1 X1..2", "error:1"),
        ("G1 X", "error:2"),
        ("S-1", "error:4"),
        ("N1.5", "error:27"),
        ("G53 G2 X1", "error:30"),
        ("G1 X1)", "error:1"),
    ],
)
def test_refused_lines_name_the_grbl_error(line, code):
    problems = check_line(line)
    assert problems, line
    assert any(code in p for p in problems), problems


def test_line_limit_counts_the_newline():
    assert check_line("G1 X" + "1" * 75) == []  # 79 characters + newline = 80
    assert any("error:11" in p for p in check_line("G1 X" + "1" * 76))


def test_firmware_changes_limits_and_words():
    hal = load_profile("grblhal")
    long_line = "G1 X1 Y2 (" + "x" * 150 + ")"
    assert check_line(long_line, hal) == []
    assert any("error:11" in p for p in check_line(long_line))
    assert check_line("G1 A10 F100", hal) == []


def test_unclosed_comment_and_system_lines_are_reported():
    assert check_line("G0 X1 (oops")
    assert check_line("$H")


def test_program_state_feed_rate_and_g80():
    problems = check_program(["G21 G90", "G1 X1 Y1", "G1 X2 F100", "G80", "X5"])
    assert [n for n, _ in problems] == [2, 5]
    assert "error:22" in problems[0][1] and "error:31" in problems[1][1]
    assert check_program(["G21", "G1 X1 F100", "G1 X2", "G0 X0"]) == []
