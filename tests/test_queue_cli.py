"""`plotter queue FILE.gcode|svg` puts a file on the daemon's queue; an SVG keeps its pens."""

from __future__ import annotations

from click.testing import CliRunner

from plotter.cli import main
from tests.test_draw import daemon, tiny_checkpoint  # noqa: F401  (fixtures)
from tests.test_pen_layers import TWO_LAYERS


def test_queue_gcode_and_a_layered_svg(tmp_path, daemon) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sock = str(daemon.config.socket)
    (tmp_path / "a.gcode").write_text("G21 G90\nG0 X5 Y5\nG0 X0 Y0\n")
    res = CliRunner().invoke(main, ["queue", str(tmp_path / "a.gcode"), "--socket", sock])
    assert res.exit_code == 0 and "job 1 queued on any" in res.output, res.output
    assert daemon.store.get(1).gcode.splitlines()[1] == "G0 X5 Y5"
    (tmp_path / "two.svg").write_text(TWO_LAYERS)
    res = CliRunner().invoke(main, ["queue", str(tmp_path / "two.svg"), "--socket", sock, "--hold"])
    assert res.exit_code == 0 and "2 pens: black outline, red sun" in res.output, res.output
    assert "M0 (PEN 2/2 red sun)" in daemon.store.get(2).gcode
    res = CliRunner().invoke(main, ["queue", str(tmp_path / "nope.gcode"), "--socket", sock])
    assert res.exit_code == 1 and "does not exist" in res.output
