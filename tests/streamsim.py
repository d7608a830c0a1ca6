"""Helpers for the streamer tests on the simulated GRBL: jobs, a recording port, what the machine read."""

from __future__ import annotations

import numpy as np

from plotter.gcode import emit, load_profile
from plotter.grbl.flow import clean_line
from plotter.grbl.transport import open_port
from plotter.sketch import Sketch

REALTIME = {ord("?"), ord("!"), ord("~"), 0x18}


def short_segments(n: int, seed: int = 0, step: float = 0.5) -> list[str]:
    """One long pen-down wiggle of `n` short G1 segments: the worst case for a sender."""
    rng = np.random.default_rng(seed)
    lines = ["G21 G90", "M3 S1000", "G4 P0.1"]
    x = y = 100.0
    angle = 0.0
    for _ in range(n):
        angle += rng.uniform(-0.3, 0.3)
        nx, ny = x + step * np.cos(angle), y + step * np.sin(angle)
        if not (5.0 < nx < 250.0 and 5.0 < ny < 150.0):  # bounce off the edge of the paper
            angle += np.pi
            nx, ny = x + step * np.cos(angle), y + step * np.sin(angle)
        x, y = nx, ny
        lines.append(f"G1 X{x:.3f} Y{y:.3f} F3000")
    return lines + ["M5", "G4 P0.1", "M2"]


def strokes_job(strokes: int = 12, points: int = 15, seed: int = 1) -> list[str]:
    """A drawing of several strokes as our emitter writes it (grbl-servo profile): pen lifts between."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(strokes):
        start = np.array([20.0 + 15 * (i % 6), 30.0 + 40 * (i // 6)])
        paths.append(start + np.cumsum(rng.uniform(-1.5, 1.5, size=(points, 2)), axis=0))
    return emit(Sketch(paths, unit="mm"), load_profile("grbl-servo"))


class TeePort:
    """A serial-like wrapper that records every byte the host writes (fakes, not mocks: it forwards all)."""

    def __init__(self, port: object) -> None:
        self.port = port
        self.written = bytearray()
        self.link = getattr(port, "link", None)
        self.machine = getattr(port, "machine", None)

    def write(self, data: bytes) -> int:
        n = self.port.write(data)  # type: ignore[attr-defined]
        self.written.extend(data)
        return n

    def read(self, size: int = 1) -> bytes:
        return self.port.read(size)  # type: ignore[attr-defined]

    @property
    def in_waiting(self) -> int:
        return self.port.in_waiting  # type: ignore[attr-defined]

    @property
    def timeout(self) -> float | None:
        return self.port.timeout  # type: ignore[attr-defined]

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.port.timeout = value  # type: ignore[attr-defined]

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.port.close()  # type: ignore[attr-defined]


def sim(query: str = "") -> TeePort:
    return TeePort(open_port("grblsim://?latency_ms=5" + ("&" + query if query else "")))


def machine_lines(written: bytes, drop: int | None = None, garble: int | None = None,
                  upto: int | None = None) -> list[str]:
    """The lines the machine assembled from what the host wrote, with a dropped/garbled byte applied
    (1-based byte index, as the simulator counts), as GRBL cleans them."""
    data = bytearray(written[:upto])
    if garble is not None:
        data[garble - 1] ^= 0x04
    if drop is not None:
        del data[drop - 1]
    text = bytes(b for b in data if b not in REALTIME and b < 0x80 and b != 0x0E).decode("ascii")
    return [clean_line(line) for line in text.split("\n")[:-1]]


def byte_index(written: bytes, line_text: str, offset: int) -> int:
    """1-based index of byte `offset` of the first sent line equal to `line_text` (cleaned)."""
    start = bytes(written).index(clean_line(line_text).encode() + b"\n")
    return start + offset + 1


def drawn(trace) -> set[tuple[float, float, float, float]]:  # type: ignore[no-untyped-def]
    """Pen-down segments of a simulator trace, rounded, as a set (order-free comparison of drawings)."""
    return {(round(s.start[0], 3), round(s.start[1], 3), round(s.end[0], 3), round(s.end[1], 3))
            for s in trace.segments if s.pen_down and s.length > 1e-9}
