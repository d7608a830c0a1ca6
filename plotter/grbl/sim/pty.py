"""A real pseudo-terminal in front of the simulated machine, for programs that only open device paths.

`plotter sim --pty` prints the `/dev/pts/N` path; any sender (ours, UGS, cncjs, a terminal) opens it like a
USB adapter. The slave side is in raw mode; the bridge copies bytes both ways in real time (or N x faster) and
closes the master when the machine's port "vanishes", which the other side sees as a hang-up.
"""

from __future__ import annotations

import os
import select
import threading
import tty

from serial import SerialException

from plotter.errors import DeviceError
from plotter.grbl.sim.link import SimLink


class PtyBridge:
    """Symmetric start/stop: `start()` returns the slave path, `serve(stop)` runs until `stop` is set."""

    def __init__(self, link: SimLink) -> None:
        if link.clock.virtual:
            raise DeviceError("a pty bridge needs a real-time clock (speed 1 or N x), not the virtual one")
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.path = ""

    def start(self) -> str:
        try:
            self.master, self.slave = os.openpty()
        except OSError as exc:
            raise DeviceError(f"cannot open a pseudo-terminal: {exc.strerror or exc}") from None
        tty.setraw(self.slave)  # no echo, no line discipline: bytes pass as on a serial line
        self.path = os.ttyname(self.slave)
        return self.path

    def serve(self, stop: threading.Event) -> None:
        """Copy bytes until `stop` is set or the simulated port vanishes."""
        if self.master is None:
            raise DeviceError("start() the bridge before serve()")
        master = self.master
        try:
            self._copy(master, stop)
        except SerialException:
            pass  # the simulated adapter was yanked: stop serving, the other side sees a hang-up

    def _copy(self, master: int, stop: threading.Event) -> None:
        while not stop.is_set() and not self.link.machine.vanished:
            timeout = min(0.01, self.link.next_event_in())
            ready, _, _ = select.select([master], [], [], timeout)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""
                if data:
                    self.link.write(data)
            out = self.link.poll()
            if out:
                os.write(master, out)

    def stop(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
