"""GRBL 1.1: protocol parsers, code tables, flow control, streamer, and the simulated machine.

Importing this package registers the `grblsim://` pyserial URL handler (`protocol_grblsim.py`), so
`serial.serial_for_url("grblsim://?rx=128")` opens a simulated GRBL plotter anywhere a port path is accepted.
"""

import serial

if "plotter.grbl" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("plotter.grbl")
