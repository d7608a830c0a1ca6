"""A simulated GRBL 1.1h pen plotter: firmware behaviour in discrete-event time (see `machine.py`)."""
