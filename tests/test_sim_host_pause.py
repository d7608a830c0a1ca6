"""A host that pauses (an fsync, a GC, a loaded CPU) must not make a healthy simulated machine look stuck.

Why `grblsim://?clock=realtime&speed=1000` fails: the streamer's timeouts run on the port's clock, so at
1000x a 5 ms journal fsync is 5 simulated seconds. The replies that came in meanwhile sit in the host's
buffer; the stall check then reads an `Idle` status report generated *before* the pause, measures the pause as
silence since the last `ok`, and gives up on a line whose `ok` is next in the buffer. Reproduced here without
wall time: a hand-driven real-time clock, and a journal whose every record costs the host N seconds.
"""

from __future__ import annotations

import threading

from plotter.grbl.journal import Journal, MemorySink
from plotter.grbl.protocol_grblsim import Serial
from plotter.grbl.results import LostAckError
from plotter.grbl.streamer import Streamer

LINES = ["G21 G90", "M5", "G4 P0.1"] + [f"G1 X{10 + i} Y{10 + i % 7} F3000" for i in range(30)] + ["M5", "M2"]


class HostClock:
    """The simulator's real-time clock driven by hand: time passes when the host waits or pauses."""

    virtual = False
    speed = 1000.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def advance_to(self, t: float) -> None:  # real time cannot be pushed by a read
        return None

    def wait(self, cond: threading.Condition, until: float) -> None:
        self.t = max(self.t + 1e-6, until)


class SlowSink(MemorySink):
    """A journal whose every record costs the host `pause` seconds of port time (an fsync at 1000x)."""

    def __init__(self, clock: HostClock, pause: float) -> None:
        super().__init__()
        self.clock, self.pause = clock, pause

    def append(self, record: dict) -> None:
        super().append(record)
        self.clock.t += self.pause


class TeeSerial(Serial):
    """The simulated port, keeping every byte the host wrote (to aim a fault at one of them)."""

    written = b""

    def write(self, data: bytes) -> int | None:
        self.written += bytes(data)
        return super().write(data)


def _stream(pause: float, progress_pause: float = 0.0, faults: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """Stream LINES on a hand-driven clock: each journal record costs `pause`, each progress call
    `progress_pause` seconds of port time. Returns the ending and the bytes the host wrote."""
    port = TeeSerial.simulated(timeout=0.05, faults=list(faults))
    clock = HostClock()
    port.link.clock = clock

    def slow_display(progress: object) -> None:
        clock.t += progress_pause

    streamer = Streamer(port)
    streamer.connect()
    try:
        journal = Journal(SlowSink(clock, pause))
        status = streamer.stream(LINES, journal=journal, on_progress=slow_display).status
    except LostAckError:
        status = "lost"
    return status, port.written


def test_short_host_pauses_stream_to_the_end() -> None:
    assert _stream(1.0)[0] == "done"


def test_a_host_pause_longer_than_the_stall_timeout_is_not_a_lost_ok() -> None:
    assert _stream(5.0)[0] == "done"


def test_a_slow_progress_display_is_not_a_lost_ok() -> None:
    """The pause can come right after an Idle report is read (the progress callback runs on each status)."""
    assert _stream(0.0, progress_pause=5.0)[0] == "done"


def test_a_really_lost_ok_is_still_found_under_host_pauses() -> None:
    """The newline after `M5` is lost: `M5G4P0.1` is one valid block, one ok for two lines, so GRBL ends idle
    with a line never acknowledged; pauses must not hide that."""
    _, written = _stream(0.0)
    newline = written.index(b"\nM5\n") + len(b"\nM5\n")  # 1-based index of the newline after M5
    assert _stream(5.0, progress_pause=5.0, faults=(f"drop@byte:{newline}",))[0] == "lost"
