"""`plotter export` and `plotter profiles` end to end through click, including every bad-input path."""

import json
import textwrap

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.cli.params import parse_length
from plotter.gcode import check_program, load_profile
from plotter.sketch.io import read_sketches

REPO_CAT = "plotter/examples/cat.json"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def example(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    return root / REPO_CAT


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]


def test_export_example_writes_valid_gcode_and_svg(run, example, tmp_path):
    out, svg, png = tmp_path / "cat.gcode", tmp_path / "cat.svg", tmp_path / "cat.png"
    result = run("export", example, "-o", out, "--svg", svg, "--png", png)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert check_program(lines, load_profile("grbl-servo")) == []
    assert lines[-1] == "M2" and lines.count("M3 S1000") >= 5
    text = svg.read_text()
    assert 'height="210" id="outline-paper" width="297"' in text  # A4 landscape fits the 310 x 220 bed
    assert png.read_bytes()[:4] == b"\x89PNG"
    drawn = read_sketches(svg)[0]
    x0, y0, x1, y1 = drawn.bounds()
    assert x0 >= 10 - 1e-6 and y0 >= 10 - 1e-6 and x1 <= 287 + 1e-6 and y1 <= 200 + 1e-6  # inside margins


def test_export_stats(run, example, tmp_path):
    pytest.importorskip("plotter.plan.estimate")
    result = run("export", example, "-o", tmp_path / "c.gcode", "--stats")
    assert result.exit_code == 0, result.output
    for word in ("sketches", "strokes", "pen down", "pen up", "MST lower bound", "g-code", "time"):
        assert word in result.output


def test_export_to_stdout_and_no_optimize_keeps_order(run, example, tmp_path):
    result = run("export", example, "-o", "-", "--no-optimize", "--merge-tolerance", "0", "--simplify", "0")
    assert result.exit_code == 0
    gcode = [line for line in result.output.splitlines() if line and not line.startswith("wrote")]
    first_move = next(line for line in gcode if line.startswith("G0 X"))
    src = read_sketches(example)[0]
    # first stroke's start is the first travel target: left of centre and high on the page (machine Y up)
    x, y = (float(w[1:]) for w in first_move.split()[1:3])
    assert x < 297 / 2 and y > 110
    assert sum(line == "M3 S1000" for line in gcode) == len(src)


def test_export_quickdraw_grid(run, shared_cats, tmp_path):
    out, svg = tmp_path / "cats.gcode", tmp_path / "cats.svg"
    args = [
        "export",
        shared_cats,
        "--split",
        "test",
        "--limit",
        "9",
        "--grid",
        "3x3",
        "-o",
        out,
        "--svg",
        svg,
    ]
    result = run(*args)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert check_program(lines, load_profile("grbl-servo")) == []
    assert all(len(line) + 1 <= 80 for line in lines)
    assert len(read_sketches(svg)[0]) > 9


def test_unreadable_input(run, tmp_path):
    assert_one_line_error(
        run("export", tmp_path / "nope.npz", "-o", tmp_path / "x.gcode"), "nope.npz", "no such file"
    )


def test_malformed_input(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "plotter-sketch", "version": 1, "strokes": [[[1, 2, 3]]]}))
    assert_one_line_error(run("export", bad, "-o", tmp_path / "x.gcode"), "bad.json", "stroke 0")
    npz = tmp_path / "bad.npz"
    npz.write_bytes(b"PK\x03\x04 not really")
    assert_one_line_error(run("export", npz, "-o", tmp_path / "x.gcode"), "bad.npz")


def test_unknown_profile_suggests(run, example, tmp_path):
    result = run("export", example, "-o", tmp_path / "x.gcode", "--profile", "grbl-sevro")
    assert_one_line_error(result, "unknown profile 'grbl-sevro'", "did you mean grbl-servo")


def test_invalid_profile_field(run, example, tmp_path):
    prof = tmp_path / "mine.yaml"
    prof.write_text("name: mine\npen:\n  dwell_down: abc\n")
    result = run("export", example, "-o", tmp_path / "x.gcode", "--profile", prof)
    assert_one_line_error(result, "mine.yaml: pen.dwell_down: must be a number >= 0, got 'abc'")


def test_geometry_that_does_not_fit_the_bed(run, example, tmp_path):
    out = tmp_path / "x.gcode"
    result = run("export", example, "-o", out, "--paper", "a3", "--portrait")
    assert_one_line_error(result, "does not fit the 310 x 220 mm bed", "overflows by")
    assert not out.exists()
    clipped = run("export", example, "-o", out, "--paper", "a3", "--portrait", "--clip")
    assert clipped.exit_code == 0 and out.exists()


def test_bad_option_values_are_usage_errors(run, example, tmp_path):
    result = run("export", example, "-o", tmp_path / "x.gcode", "--margin", "10 parsecs")
    assert result.exit_code == 2 and "is not a length" in result.output
    result = run("export", example, "-o", tmp_path / "x.gcode", "--grid", "three")
    assert result.exit_code == 2 and "COLSxROWS" in result.output
    result = run("export", example, "-o", tmp_path / "x.gcode", "--paper", "a11")
    assert result.exit_code == 2 and "unknown paper" in result.output


@pytest.mark.parametrize("text, mm", [("10mm", 10), ("2cm", 20), ("1in", 25.4), ("0.5", 0.5), (" 3 MM ", 3)])
def test_lengths(text, mm):
    assert parse_length(text) == pytest.approx(mm)


def test_margin_in_cm_moves_the_drawing(run, example, tmp_path):
    run("export", example, "-o", tmp_path / "a.gcode", "--margin", "4cm", "--svg", tmp_path / "a.svg")
    x0, y0, _, _ = read_sketches(tmp_path / "a.svg")[0].bounds()
    assert min(x0, y0) >= 40 - 1e-6 and min(x0, y0) < 41


def test_profiles_commands(run, tmp_path):
    listed = run("profiles", "list")
    assert listed.exit_code == 0
    assert {line.split()[0] for line in listed.output.splitlines()} >= {
        "grbl-servo",
        "grbl-z",
        "grblhal",
        "fluidnc",
    }
    shown = run("profiles", "show", "grbl-z")
    assert shown.exit_code == 0 and "z_down: 0.0" in shown.output and "max_line_length: 80" in shown.output
    good = tmp_path / "good.yaml"
    good.write_text(textwrap.dedent("extends: grbl-servo\nname: good\nbed: {width: 400}\n"))
    ok = run("profiles", "validate", good)
    assert ok.exit_code == 0 and ok.output.startswith("ok: good")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmotion: {draw_fed: 10}\n")
    assert_one_line_error(
        run("profiles", "validate", bad), "motion.draw_fed: unknown field; did you mean 'draw_feed'"
    )
    assert_one_line_error(run("profiles", "show", "fluidcn"), "did you mean fluidnc")


def test_empty_sketch_is_refused(run, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format": "plotter-sketch", "version": 1, "strokes": []}))
    assert_one_line_error(run("export", empty, "-o", tmp_path / "x.gcode"), "no strokes")


def test_pages_split_a_long_list_into_files(run, example, tmp_path):
    many = tmp_path / "many.json"
    src = json.loads(example.read_text())
    many.write_text(json.dumps([src] * 5))
    out = tmp_path / "p.gcode"
    refused = run("export", many, "-o", out, "--grid", "2x1")
    assert_one_line_error(refused, "5 sketches do not fit a 2x1 grid", "--pages")
    result = run("export", many, "-o", out, "--grid", "2x1", "--pages", "--svg", tmp_path / "p.svg")
    assert result.exit_code == 0, result.output
    for n, count in ((1, 2), (2, 2), (3, 1)):
        lines = (tmp_path / f"p-{n}.gcode").read_text().splitlines()
        assert check_program(lines, load_profile("grbl-servo")) == []
        assert f"p{n}/3" in lines[0]
        drawn = read_sketches(tmp_path / f"p-{n}.svg")[0]
        assert len(drawn) >= 10 * count  # about 14 strokes per cat (a few merged)
    assert not out.exists()
