"""Raster previews: size, orientation (y down, not flipped), grid placement, travel and captions."""

import numpy as np
import pytest

from plotter.errors import SketchFormatError
from plotter.sketch import Sketch
from plotter.sketch.render import render_image, render_png


def dark(img):
    return np.asarray(img.convert("L")) < 128


def test_top_of_the_sketch_is_the_top_of_the_image():
    # a long horizontal line near y=0 (top) and a short dot-like tick at the bottom
    sk = Sketch([np.array([[0, 0], [100, 0]]), np.array([[50, 100], [51, 100]])])
    mask = dark(render_image(sk, cell=100, padding=0.1, supersample=1))
    rows = mask.sum(axis=1)
    assert rows[:50].sum() > 3 * rows[50:].sum()


def test_grid_size_and_cell_placement():
    line = Sketch([np.array([[0, 0], [10, 10]])])
    img = render_image([line, Sketch([]), line], cols=3, cell=(60, 40))
    assert img.size == (180, 40)
    mask = dark(img)
    assert mask[:, :60].any() and not mask[:, 60:120].any() and mask[:, 120:].any()


def test_travel_is_faint_and_only_when_asked():
    sk = Sketch([np.array([[0, 0], [10, 0]]), np.array([[0, 10], [10, 10]])])
    plain = np.asarray(render_image(sk, cell=64))
    with_travel = np.asarray(render_image(sk, cell=64, show_travel=True))
    pinkish = (with_travel[..., 0] > 200) & (with_travel[..., 1] < 200)
    assert pinkish.any() and not ((plain[..., 0] > 200) & (plain[..., 1] < 200)).any()


def test_captions_add_a_strip_and_text(tmp_path):
    sk = Sketch([np.array([[0, 0], [10, 10]])], meta={"class": "cat", "index": 3})
    img = render_image([sk, sk], cols=2, cell=96, captions=True)
    assert img.size[1] > 96
    strip = dark(img)[96:, :]
    assert strip.any()
    out = render_png([sk], tmp_path / "x.png", captions=["hello"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frame_keeps_the_page_proportions():
    sk = Sketch([np.array([[0, 0], [10, 0]])], unit="mm")
    mask = dark(render_image(sk, cell=(200, 100), frame=(0, 0, 100, 50), padding=0, supersample=1))
    cols = np.flatnonzero(mask.any(axis=0))
    assert cols.max() < 30  # 10 mm of a 100 mm page is a tenth of the width


def test_bad_arguments():
    with pytest.raises(SketchFormatError):
        render_image([])
    with pytest.raises(SketchFormatError):
        render_image(Sketch([np.zeros((1, 2))]), cell=2)
