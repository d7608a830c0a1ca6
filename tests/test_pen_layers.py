"""SVG layers become pens: read, planned registered, one program with a pen-change pause that resumes."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.errors import SketchFormatError
from plotter.gcode import load_profile, pen_commands
from plotter.grbl.penchange import PenChangeWatch, pen_changes
from plotter.grbl.streamer import Streamer
from plotter.grbl.transport import open_port
from plotter.job.layers import plan_layers
from plotter.sketch.svglayers import read_svg_layers, select_layers

TWO_LAYERS = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
  width="100mm" height="80mm" viewBox="0 0 100 80">
  <g inkscape:groupmode="layer" inkscape:label="black outline" style="stroke:#000000;fill:none">
    <rect x="10" y="10" width="80" height="60"/>
    <path d="M 20 60 L 50 20 L 80 60"/>
  </g>
  <g inkscape:groupmode="layer" inkscape:label="red sun" stroke="#d02020" fill="none">
    <circle cx="70" cy="28" r="8"/>
  </g>
</svg>"""

BY_COLOUR = """<svg xmlns="http://www.w3.org/2000/svg" width="4in" height="2in" viewBox="0 0 400 200">
  <path d="M 10 10 L 100 10" stroke="blue"/><g style="stroke: red"><path d="M 10 50 L 90 90"/></g>
  <line x1="0" y1="0" x2="50" y2="50" stroke="blue"/>
</svg>"""


@pytest.fixture
def two(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "two.svg"
    path.write_text(TWO_LAYERS)
    return path


def test_inkscape_layers_and_stroke_colours(two, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layers = read_svg_layers(two)
    assert [(s.meta["layer"], s.meta["colour"], len(s)) for s in layers] == [
        ("black outline", "#000000", 2), ("red sun", "#d02020", 1)]
    (tmp_path / "c.svg").write_text(BY_COLOUR)
    by_colour = read_svg_layers(tmp_path / "c.svg")
    assert [(s.meta["layer"], len(s)) for s in by_colour] == [("blue", 2), ("red", 1)]
    assert by_colour[0].meta["mm_per_unit"] == pytest.approx(25.4 / 100)
    assert [s.meta["layer"] for s in select_layers(layers, ["2"])] == ["red sun"]
    with pytest.raises(SketchFormatError, match="no layer 'green'"):
        select_layers(layers, ["green"])


def test_text_is_refused_not_dropped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L9 9"/>'
                                    '<text x="1" y="2">hi</text></svg>')
    res = CliRunner().invoke(main, ["export", str(tmp_path / "t.svg"), "-o", str(tmp_path / "t.gcode")])
    assert res.exit_code == 1 and "<text>" in res.output and "Object to Path" in res.output, res.output


def test_physical_size_is_kept_unless_fit(two) -> None:  # type: ignore[no-untyped-def]
    prof = load_profile("grbl-servo")
    job = plan_layers(read_svg_layers(two), prof)
    x0, y0, x1, y1 = job.sketch.bounds()
    assert (x1 - x0, y1 - y0) == pytest.approx((80.0, 60.0))  # the 80 x 60 mm rectangle stays 80 x 60 mm
    fitted = plan_layers(read_svg_layers(two), prof, fit=True).sketch.bounds()
    assert fitted[2] - fitted[0] > 200  # --fit: fills the A4 page inside its margins


def test_pen_change_between_layers_lifts_parks_and_names_the_pen(two) -> None:  # type: ignore[no-untyped-def]
    job = plan_layers(read_svg_layers(two), load_profile("grbl-servo"))
    assert job.pens == [("black outline", "#000000", 2), ("red sun", "#d02020", 1)]
    (change,) = pen_changes(job.gcode)
    g = job.gcode
    assert g[change.index - 3 : change.index + 1] == ["M5", "G4 P0.15", "G0 X0 Y0", "M0 (PEN 2/2 red sun)"]
    assert change.message == "pen 2/2 red sun"


def test_two_layers_plot_with_a_pause_that_resumes_on_the_simulator(two) -> None:  # type: ignore[no-untyped-def]
    job = plan_layers(read_svg_layers(two), load_profile("grbl-servo"))
    port = open_port("grblsim://")
    streamer = Streamer(port, pen_up=pen_commands("grbl-servo"))
    streamer.connect()
    watch, box = PenChangeWatch(job.gcode), {}
    changed, seen = threading.Event(), []

    def tap(p):  # type: ignore[no-untyped-def]
        watch(p)
        change = watch.take()
        if change is not None:
            seen.append((change, p.status))
            changed.set()

    thread = threading.Thread(target=lambda: box.update(r=streamer.stream(job.gcode, on_progress=tap)))
    thread.start()
    assert changed.wait(30)
    (change, status), = seen
    assert status.state == "Hold" and status.spindle == 0 and status.mpos[:2] == (0.0, 0.0)  # up, parked
    drawn_before = [s for s in port.machine.trace.segments if s.pen_down]
    streamer.resume()
    thread.join(30)
    assert box["r"].status == "done"
    drawn = [s for s in port.machine.trace.segments if s.pen_down]
    assert len(drawn) > len(drawn_before)
    xs = [x for s in drawn[len(drawn_before):] for x in (s.start[0], s.end[0])]
    assert min(xs) > 60  # after the pause: the red sun (x 62..78 on the paper), nothing of the outline
    port.close()


def test_cli_export_writes_pens_and_a_two_colour_preview(two, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, png = tmp_path / "two.gcode", tmp_path / "two.png"
    res = CliRunner().invoke(main, ["export", str(two), "-o", str(out), "--png", str(png)])
    assert res.exit_code == 0 and "pens: 1 black outline" in res.output and "2 red sun" in res.output
    from PIL import Image

    colours = {c for _, c in Image.open(png).convert("RGB").getcolors(1 << 20)}
    assert any(r > 150 and g < 90 for r, g, b in colours)  # the red pen is red in the preview
    res = CliRunner().invoke(main, ["export", str(two), "-o", str(out), "--layer", "red sun"])
    assert res.exit_code == 0 and "M0" not in out.read_text().split()


def test_cli_stream_stops_at_the_pen_change_names_the_pen_and_continues(two, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "two.gcode"
    assert CliRunner().invoke(main, ["export", str(two), "-o", str(out)]).exit_code == 0
    res = CliRunner().invoke(main, ["stream", str(out), "-d", "grblsim://", "-q"], input="\n")
    assert res.exit_code == 0, res.output
    assert "(M0 (PEN 2/2 red sun))" in res.output and "Press Enter to continue" in res.output
    assert "done: " in res.output
