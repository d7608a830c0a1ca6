"""Rasterization: the classifier sees real and generated sketches through this one function."""

from __future__ import annotations

import numpy as np
import pytest

from plotter.errors import SketchFormatError
from plotter.sketch import Sketch
from plotter.training.raster import RasterSpec, rasterize, rasterize_many


def test_shape_dtype_and_determinism(square: Sketch) -> None:
    spec = RasterSpec(size=32)
    a, b = rasterize(square, spec), rasterize(square, spec)
    assert a.shape == (32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert a.max() == 255 and a.min() == 0


def test_sketch_and_stroke3_give_the_same_image(square: Sketch) -> None:
    assert np.array_equal(rasterize(square), rasterize(square.to_stroke3()))


def test_horizontal_line_lights_the_middle_rows_across_the_padded_width() -> None:
    spec = RasterSpec(size=28, padding=0.1, line_width=1.0, supersample=4)
    img = rasterize(Sketch([np.array([[0.0, 5.0], [100.0, 5.0]])]), spec)
    rows = np.flatnonzero(img.any(axis=1))
    assert set(rows) <= {13, 14}  # centred vertically: the canvas centre is between rows 13 and 14
    cols = np.flatnonzero(img.any(axis=0))
    assert cols.min() == 2 and cols.max() == 25  # 10 % padding = 2.8 px on each side
    assert np.all(img[:, 3:25].sum(axis=0) >= 200)  # unbroken ink along the line


def test_position_and_scale_do_not_matter_but_aspect_does(square: Sketch) -> None:
    moved = square.scale(7.0).translate(300.0, -40.0)
    assert np.array_equal(rasterize(square), rasterize(moved))
    tall = rasterize(Sketch([np.array([[0.0, 0.0], [0.0, 50.0]]), np.array([[2.0, 0.0], [2.0, 50.0]])]))
    assert np.flatnonzero(tall.any(axis=0)).size <= 6  # a thin tall drawing stays thin


def test_empty_sketch_is_blank_and_a_dot_is_not() -> None:
    assert rasterize(Sketch([])).max() == 0
    assert rasterize(np.array([[3.0, 4.0, 1.0]])).max() > 0


def test_bad_input_raises_sketch_format_error() -> None:
    with pytest.raises(SketchFormatError):
        rasterize(np.zeros((4, 2)))
    with pytest.raises(SketchFormatError):
        RasterSpec(size=2)


def test_rasterize_many_from_a_generator(square: Sketch) -> None:
    imgs = rasterize_many((square for _ in range(3)), RasterSpec(size=16), count=3)
    assert imgs.shape == (3, 16, 16)
    assert rasterize_many([], RasterSpec(size=16)).shape == (0, 16, 16)
