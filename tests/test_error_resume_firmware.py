"""`error:N` and its resume on the real GRBL 1.1h firmware (tests/grbl_firmware.py), through `plotter stream`.

What the fix of issue 16 rests on, checked on the firmware itself: GRBL skips the refused line and runs
every line behind it that it had already taken, so the resume must send the refused line (fixed) again and
not the lines GRBL ran. Protocol outcomes only (replies, reported positions, exit codes), never durations.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import serial
from click.testing import CliRunner

from plotter.cli import main
from plotter.grbl.flow import clean_line
from plotter.grbl.position import planned_positions

FAST = {110: 5000, 111: 5000, 112: 1000, 120: 500, 121: 500, 122: 100}
# a long travel first: GRBL is busy for seconds before it parses the refused line, so the lines after it
# are in its RX buffer by then (as in any real job, where the buffer is always full)
BROKEN = ["G21 G90", "M5", "G0 X80 Y60", "G0 X10 Y10", "M3 S1000", "G1 X20 Y10 F3000", "G1 X20 Y20 H1",
          "G1 X30 Y20", "G1 X30 Y30", "M5", "G0 X40 Y40", "M2"]  # fmt: skip
BAD = 6


def _position(path: str) -> tuple[float, float]:
    """Where the idle machine stands (work coordinates), from a `?` report."""
    with serial.Serial(path, 115200, timeout=0.1) as port:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            port.write(b"?")
            reply = port.read_until(b">", 200).decode(errors="replace")
            m = re.search(r"<Idle\|[MW]Pos:([-\d.]+),([-\d.]+)", reply)
            if m:
                return float(m.group(1)), float(m.group(2))
    raise AssertionError(f"the firmware never reported Idle: {reply!r}")


def test_refused_line_is_sent_again_and_nothing_grbl_ran(grbl_firmware, tmp_path: Path) -> None:
    path = grbl_firmware(FAST, speed=0.5)  # half speed: the harness keeps up on a busy machine
    job, journal = tmp_path / "job.gcode", tmp_path / "job.journal"
    job.write_text("\n".join(BROKEN) + "\n")
    args = ["stream", str(job), "--device", path, "--journal", str(journal), "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 1 and "line 7: 'G1 X20 Y20 H1': error:20" in first.output, first.output
    end = json.loads(journal.read_text().splitlines()[-1])
    assert end["t"] == "end" and end["status"] == "error"
    ran = end["ran"]  # the stream waited until GRBL was at rest having run every line before this...
    assert ran > BAD + 2, "GRBL had taken lines after the refused one"
    planned = planned_positions([clean_line(line) for line in BROKEN[:ran]])[-1]
    assert _position(path) == planned[:2]  # ...and it did run them: a resume must not draw them again
    job.write_text("\n".join([*BROKEN[:BAD], "G1 X20 Y20", *BROKEN[BAD + 1:]]) + "\n")  # the fix
    resumed = CliRunner().invoke(main, [*args, "--resume", str(journal), "--yes"])
    assert resumed.exit_code == 0, resumed.output
    assert "refused line 7 and ran the rest" in resumed.output and "sending 2 lines again" in resumed.output
    assert "nothing to do" not in resumed.output
    assert _position(path) == (40.0, 40.0)  # the replayed stroke, then back where the run had stopped
