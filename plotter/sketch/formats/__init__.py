"""One module per sketch file format; `plotter.sketch.io.read_sketches` picks the right one."""
