"""Page previews show the paper and the bed, and `draw` and `export` show travel the same way (`--travel`
by default, `--no-travel` to hide it): one function (`plotter.job.preview`) behind both commands."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from click.testing import CliRunner
from PIL import Image

from plotter.cli import main
from plotter.sketch.svglayers import read_svg_layers
from tests.test_draw import tiny_checkpoint  # noqa: F401  (fixture)

DRAWING = """<svg xmlns="http://www.w3.org/2000/svg" width="60mm" height="40mm" viewBox="0 0 60 40">
  <path d="M 5 5 L 55 5 L 55 35" stroke="black"/><path d="M 5 35 L 30 20" stroke="black"/>
</svg>"""
SVG = "{http://www.w3.org/2000/svg}"


def run(*args: str):  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    return res


def outlines(path) -> dict[str, tuple[float, ...]]:  # type: ignore[no-untyped-def]
    root = ET.parse(path).getroot()
    group = next(g for g in root.iter(f"{SVG}g") if g.get("data-plotter") == "outline")
    return {r.get("id"): tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            for r in group.iter(f"{SVG}rect")}  # fmt: skip


def has_travel(path) -> bool:  # type: ignore[no-untyped-def]
    return any(g.get("data-plotter") == "travel" for g in ET.parse(path).getroot().iter(f"{SVG}g"))


def near(img: Image.Image, rgb: tuple[int, int, int], tol: int = 12) -> int:
    a = np.asarray(img.convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= tol).sum())


def test_export_previews_show_paper_and_bed_and_travel_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d.svg").write_text(DRAWING)
    svg, png = tmp_path / "p.svg", tmp_path / "p.png"
    run("export", str(tmp_path / "d.svg"), "-o", str(tmp_path / "d.gcode"), "--svg", str(svg),
        "--png", str(png), "--paper", "a5", "--offset", "20,10")
    boxes = outlines(svg)
    assert boxes["outline-paper"] == (0.0, 0.0, 148.0, 210.0)
    bed_x, bed_y, bed_w, bed_h = boxes["outline-bed"]
    assert (bed_w, bed_h) == (310.0, 220.0) and bed_x == -20.0  # the paper's corner 20 mm from machine X0
    assert has_travel(svg)
    (layer,) = read_svg_layers(svg)  # read back: the pen's strokes only, no edges, no travel
    assert len(layer.strokes) == 2
    img = Image.open(png)
    assert near(img, (120, 120, 120)) > 500 and near(img, (120, 150, 205)) > 500  # paper grey, bed blue
    run("export", str(tmp_path / "d.svg"), "-o", str(tmp_path / "d.gcode"), "--svg", str(svg), "--no-travel")
    assert not has_travel(svg) and "outline-bed" in outlines(svg)


def test_draw_preview_has_the_same_edges_and_travel_switch(tmp_path, tiny_checkpoint) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    args = ["draw", "--class", "cat", "--checkpoint", str(tiny_checkpoint), "--seed", "4", "--dry-run",
            "--yes", "--no-daemon", "-o", str(tmp_path / "c.gcode")]
    run(*args)
    preview = tmp_path / "c.preview.svg"
    assert has_travel(preview) and {"outline-paper", "outline-bed"} <= set(outlines(preview))
    run(*args, "--no-travel", "--svg", str(tmp_path / "c.png"))
    assert near(Image.open(tmp_path / "c.png"), (235, 150, 170), tol=6) == 0  # no pink travel
    assert near(Image.open(tmp_path / "c.png"), (120, 150, 205)) > 500
