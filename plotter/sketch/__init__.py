"""Torch-free sketch type, readers/writers and rendering."""

from plotter.sketch.core import Sketch, stroke3_to_stroke5

__all__ = ["Sketch", "stroke3_to_stroke5"]
