"""plotter: make a GRBL pen plotter draw sketches stroke by stroke."""

__version__ = "0.1.0"
