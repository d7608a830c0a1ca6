"""`plotter draw` takes export's layout options (one factory), in-process and through the daemon."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from plotter.cli import main
from plotter.errors import JobError
from plotter.job.params import DrawParams
from tests.test_draw import daemon, tiny_checkpoint  # noqa: F401  (fixtures)


def drawn_box(gcode: str) -> tuple[float, float, float, float]:
    """Extent of the drawing: every G0/G1 target but the return home."""
    pts = [(float(m.group(1)), float(m.group(2)))
           for m in re.finditer(r"^G[01] X(-?[\d.]+) Y(-?[\d.]+)", gcode, re.M)
           if not m.group(0).startswith("G0 X0 Y0")]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def draw(tmp_path, ckpt, *extra: str, name: str = "c") -> str:  # type: ignore[no-untyped-def]
    out = tmp_path / f"{name}.gcode"
    args = ["draw", "--class", "cat", "--checkpoint", str(ckpt), "--seed", "1", "--dry-run", "--yes",
            "-o", str(out), *extra]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return out.read_text()


def test_size_offset_and_rotate_shape_the_page(tmp_path, tiny_checkpoint) -> None:  # noqa: F811
    x0, y0, x1, y1 = drawn_box(draw(tmp_path, tiny_checkpoint, "--size", "40mm", name="a"))
    assert max(x1 - x0, y1 - y0) == pytest.approx(40.0, abs=0.6)  # not the whole sheet
    moved = drawn_box(draw(tmp_path, tiny_checkpoint, "--size", "40mm", "--offset", "20,10", name="b"))
    assert moved[0] - x0 == pytest.approx(20.0, abs=0.01)
    turned = drawn_box(draw(tmp_path, tiny_checkpoint, "--size", "40mm", "--rotate", "90", name="r"))
    assert turned[2] - turned[0] == pytest.approx(y1 - y0, abs=0.6)  # width and height swap


def test_draw_and_export_share_the_layout_options() -> None:
    from plotter.cli.draw import draw as draw_cmd
    from plotter.cli.export import export as export_cmd
    from plotter.cli.params import LAYOUT_NAMES

    def described(cmd):  # type: ignore[no-untyped-def]
        return {p.name: (p.default, p.help, str(p.type)) for p in cmd.params if p.name in LAYOUT_NAMES}

    assert described(draw_cmd) == described(export_cmd) and len(described(draw_cmd)) == len(LAYOUT_NAMES)


def test_daemon_job_carries_the_layout(tmp_path, tiny_checkpoint, daemon) -> None:  # noqa: F811
    sock = str(daemon.config.socket)
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--seed", "1", "--socket", sock,
            "--yes", "--size", "30mm", "--margin", "25mm", "-o", str(tmp_path / "d.gcode")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    job = daemon.store.get(1)
    assert job.params["layout"] == {"margin": 25.0, "size": 30.0}
    x0, y0, x1, y1 = drawn_box(job.gcode)
    assert max(x1 - x0, y1 - y0) == pytest.approx(30.0, abs=0.6)


@pytest.mark.parametrize("layout, message", [
    ({"margin": -1}, "margin must be at least 0"),
    ({"size": "big"}, "size must be a finite number"),
    ({"offset": [1]}, "offset must be [x, y]"),
    ({"clip": "yes"}, "clip must be true or false"),
    ({"bleed": 1}, "unknown option 'bleed'"),
    ("wide", "layout must be a JSON object"),
])
def test_layout_from_untrusted_json_is_checked(layout: object, message: str) -> None:
    with pytest.raises(JobError, match=re.escape(message)):
        DrawParams.from_dict({"class": "cat", "layout": layout})
