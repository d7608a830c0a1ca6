"""Animations: pen moves from sketches and G-code, GIF frames, HTML, and `plotter animate`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from plotter.cli import main
from plotter.errors import GcodeError, SketchFormatError
from plotter.sketch import Sketch
from plotter.sketch.animate import Style, render_frames, render_panels, write_gif, write_html
from plotter.sketch.io import write_json
from plotter.sketch.moves import flip_y, moves_from_gcode, moves_from_sketch, moves_from_trace


def _dark(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L")) < 160


def test_moves_from_sketch_put_travel_between_strokes(square: Sketch) -> None:
    moves = moves_from_sketch(square.translate(5, 0), start=(0, 0))
    assert [m.down for m in moves] == [False, True, True]  # (0,0) -> first point, then the two strokes
    assert np.array_equal(moves[0].points, [[0, 0], [5, 0]])
    assert moves[1].length == pytest.approx(40.0)


def test_completion_strokes_are_tagged_prefix_and_new(square: Sketch) -> None:
    sk = square.copy(meta={"prefix_strokes": 1})
    assert [m.tag for m in moves_from_sketch(sk) if m.down] == ["prefix", "new"]


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        # servo pen: first pen command (M5) is up, M3 S1000 down
        (["G21 G90", "M5", "G0 X10 Y0", "M3 S1000", "G1 X20 Y0 F1000", "G1 X20 Y5", "M5", "G0 X0 Y0"],
         [(False, [[0, 0], [10, 0]]), (True, [[10, 0], [20, 0], [20, 5]]), (False, [[20, 5], [0, 0]])]),
        # Z pen, inches, relative moves, comments
        (["G20 G91 (inches)", "G0 Z0.2", "G0 X1", "G1 Z-0.2 F10 ; down", "G1 Y1", "G0 Z0.2"],
         [(False, [[0, 0], [25.4, 0]]), (True, [[25.4, 0], [25.4, 25.4]])]),
        # no pen commands: G1 draws, G0 travels; G92 shifts the work origin
        (["G0 X5 Y5", "G92 X0 Y0", "G1 X1 Y0 F100", "M2", "G1 X9 Y9"],
         [(False, [[0, 0], [5, 5]]), (True, [[5, 5], [6, 5]])]),
    ],
)  # fmt: skip
def test_gcode_moves_follow_the_pen(program: list[str], expected: list) -> None:
    got = [(m.down, m.points.tolist()) for m in moves_from_gcode(program)]
    assert len(got) == len(expected)
    for (down, pts), (edown, epts) in zip(got, expected):
        assert down == edown
        np.testing.assert_allclose(pts, epts, atol=1e-9)


def test_unreadable_gcode_names_the_line() -> None:
    with pytest.raises(GcodeError, match="line 2"):
        moves_from_gcode(["G0 X1", "G1 X?? Y2"])


def test_trace_segments_join_into_moves() -> None:
    from plotter.grbl.sim.trace import PenTrace, Segment

    trace = PenTrace()
    for a, b, down in [((0, 0), (1, 0), False), ((1, 0), (2, 0), True), ((2, 0), (2, 3), True)]:
        trace.add(Segment((*a, 0.0), (*b, 0.0), 0.0, 1.0, down))
    moves = flip_y(moves_from_trace(trace))
    assert [m.down for m in moves] == [False, True]
    np.testing.assert_allclose(moves[1].points, [[1, 0], [2, 0], [2, -3]])


def test_trace_moves_carry_machine_time_and_waits() -> None:
    from plotter.grbl.sim.trace import PenTrace, Segment

    trace = PenTrace()
    trace.add(Segment((0, 0, 0), (4, 0, 0), 0.0, 3.5, True))  # a slow 4 mm stroke
    trace.add(Segment((4, 0, 0), (4, 0, 0), 3.5, 3.6, False))  # Z-only pen lift: time, no motion
    trace.add(Segment((4, 0, 0), (4, 12, 0), 3.7, 4.0, False))  # after a 0.1 s standstill, a fast travel
    moves = moves_from_trace(trace)
    assert [(m.down, len(m.points), m.seconds) for m in moves] == [
        (True, 2, 3.5), (False, 1, pytest.approx(0.1)), (False, 1, pytest.approx(0.1)),
        (False, 2, pytest.approx(0.3)),
    ]  # fmt: skip
    # halfway through the machine's 4 s, 4/7 of the stroke is drawn (by path length: all of it)
    half = _dark(render_frames([moves], 2, Style(cell=64, travel=False), palette=False)[0])
    full = _dark(render_panels([moves], Style(cell=64, travel=False)))
    assert 0.4 < (half & full).sum() / full.sum() < 0.8


def test_animation_has_many_frames_and_ends_on_the_whole_drawing(square: Sketch, tmp_path) -> None:
    panels = [moves_from_sketch(square), moves_from_sketch(square.rotate(30))]
    style = Style(cell=64)
    path = write_gif(panels, tmp_path / "a.gif", frames=6, style=style)
    gif = Image.open(path)
    assert gif.n_frames == 6
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(_dark(gif.convert("RGB")))
    inked = [int(f.sum()) for f in frames]
    assert inked == sorted(inked) and inked[0] < inked[-1] * 0.5  # drawing grows frame by frame
    full = _dark(render_panels(panels, style))
    assert (frames[-1] & full).sum() >= 0.97 * full.sum()  # the last frame shows everything
    assert (frames[-1] & ~full).sum() <= 0.03 * full.sum()


def test_travel_is_faint_and_optional(square: Sketch) -> None:
    far = Sketch([square.strokes[0], square.strokes[0] + 30])
    with_travel = np.asarray(render_panels([moves_from_sketch(far)], Style(cell=64)))
    without = np.asarray(render_panels([moves_from_sketch(far)], Style(cell=64, travel=False)))
    paper = without.min(axis=2) == 255
    travel = paper & (with_travel.min(axis=2) < 255)
    assert travel.sum() > 20
    assert with_travel[travel].min() > 150  # light pink on the paper, never as dark as a stroke
    ink = without.max(axis=2) < 100
    assert (with_travel[ink].max(axis=1) < 100).all()  # travel runs under the ink, never over it


def test_nothing_to_animate_is_a_clear_error() -> None:
    with pytest.raises(SketchFormatError, match="nothing to animate"):
        render_frames([[]], 4)


def test_html_is_self_contained_and_animated(square: Sketch, tmp_path) -> None:
    page = write_html([moves_from_sketch(square)], tmp_path / "a.html", seconds=3).read_text()
    assert page.count('class="d"') == 2 and "@keyframes draw" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from the network


def _gcode(tmp_path) -> str:
    text = "G21 G90\nM5\nG0 X10 Y10\nM3 S1000\nG1 X60 Y10 F2000\n"
    text += "G1 X60 Y40\nM5\nG0 X0 Y0\n"
    (tmp_path / "job.gcode").write_text(text)
    return str(tmp_path / "job.gcode")


def test_grid_svg_reads_back_as_the_pen_down_strokes(square: Sketch, tmp_path) -> None:
    from plotter.sketch.animate import write_grid_svg
    from plotter.sketch.svg import read_svg

    panels = [moves_from_sketch(square), moves_from_sketch(square.translate(40, 0))]
    back = read_svg(write_grid_svg(panels, tmp_path / "g.svg", Style(cell=50)))
    assert len(back) == 1 and len(back[0]) == 4  # 2 strokes per panel; travel and background skipped
    x0, _, x1, _ = back[0].bounds()
    assert 0 <= x0 < 50 < x1 <= 100  # one panel per cell


def test_cli_animates_gcode_to_gif_and_html(tmp_path) -> None:
    job = _gcode(tmp_path)
    html, gif = str(tmp_path / "job.html"), str(tmp_path / "job.gif")
    args = ["animate", job, "--frames", "5", "--cell", "64", "--html", html, "--gif", gif]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "80 mm drawn" in res.output
    assert Image.open(tmp_path / "job.gif").n_frames == 5
    assert (tmp_path / "job.html").read_text().count('class="d"') == 1


def test_cli_animates_gcode_through_the_simulator(tmp_path) -> None:
    job = _gcode(tmp_path)
    res = CliRunner().invoke(main, ["animate", job, "--simulate", "--frames", "3", "--cell", "48"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "job.gif").is_file()  # default output next to the G-code


def test_cli_animates_a_sketch_file(square: Sketch, tmp_path) -> None:
    write_json([square, square.scale(2)], tmp_path / "s.json")
    res = CliRunner().invoke(main, ["animate", str(tmp_path / "s.json"), "--frames", "3", "--cell", "48"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "s.gif").size == (96, 48)


def test_cli_gcode_without_drawing_is_one_line_error(tmp_path) -> None:
    (tmp_path / "empty.gcode").write_text("G21\nM5\nG0 X10\n")
    res = CliRunner().invoke(main, ["animate", str(tmp_path / "empty.gcode")])
    assert res.exit_code == 1
    assert res.output.strip().startswith("Error:") and "nothing would be drawn" in res.output
    assert "Traceback" not in res.output
