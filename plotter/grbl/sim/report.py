"""Real-time bytes and the `?` status report of the simulated GRBL (report.c, serial.c's ISR)."""

from __future__ import annotations

from plotter.grbl.sim.gcode import MM_PER_INCH

_FEED_OV = {0x90: None, 0x91: 10, 0x92: -10, 0x93: 1, 0x94: -1}
_RAPID_OV = {0x95: 100, 0x96: 50, 0x97: 25}
_SPINDLE_OV = {0x99: None, 0x9A: 10, 0x9B: -10, 0x9C: 1, 0x9D: -1}
_IGNORED = (0x84, 0xA0, 0xA1)  # safety door, coolant toggles: no such hardware here


class ReportMixin:
    """Mixed into `SimulatedGrbl`: acts on real-time bytes the instant they arrive."""

    spindle_ov = 100
    _stopped_spindle: tuple[str, float] | None = None  # spindle-stop override in a hold: what to restore

    def realtime(self, c: int) -> bool:
        """Handle a real-time byte; False if `c` is an ordinary character for the RX buffer."""
        if c == 0x3F:  # '?'
            if not self.critical:  # after ALARM:1/2 GRBL spins until a reset: not even a status report
                self.emit(self.status_report())
        elif c == 0x18:
            self.soft_reset()
        elif c == 0x21:  # '!'
            self.feed_hold()
        elif c == 0x7E:  # '~'
            self.cycle_start()
        elif c == 0x85:  # jog cancel: decelerate, then drop the rest of the jog
            if self.jogging and len(self.queue):
                self.queue.feed_hold()
        elif c == 0x9E:
            self.spindle_stop_toggle()
        elif c in _FEED_OV:
            step = _FEED_OV[c]
            self.feed_ov = 100 if step is None else min(200, max(10, self.feed_ov + step))
            self._ov_counter = 0
        elif c in _RAPID_OV:
            self.rapid_ov = _RAPID_OV[c]
            self._ov_counter = 0
        elif c in _SPINDLE_OV:
            step = _SPINDLE_OV[c]
            self.spindle_ov = 100 if step is None else min(200, max(10, self.spindle_ov + step))
            self._ov_counter = 0
        elif c not in _IGNORED:
            return False
        return True

    def feed_hold(self) -> None:
        """'!': decelerate to a stop (Hold:1, then Hold:0); in Idle the hold is complete at once."""
        if self.alarm or self.sleeping or self.homing_until is not None or self.check_mode:
            return
        if len(self.queue):
            self.queue.feed_hold()
        else:
            self._idle_hold = True
        self._track(self.now)

    def spindle_stop_toggle(self) -> None:
        """0x9E, honoured only in a feed hold (protocol.c): the first turns a running spindle off as M5 does
        (a servo pen on the spindle PWM lifts where it stopped); the second turns it back on as it was."""
        if not self.state.startswith("Hold"):
            return
        if self._stopped_spindle is None:
            if self.spindle_out[0] != "M5":
                self._stopped_spindle = self.spindle_out
                self._drive_spindle(("M5", 0.0))
        else:
            restore, self._stopped_spindle = self._stopped_spindle, None
            self._drive_spindle(restore)

    def _drive_spindle(self, out: tuple[str, float]) -> None:
        self.spindle_out = out
        self._ov_counter = 0
        if self.config.pen == "servo" and not self.settings.flag(32):
            self.trace.pen(self.now, self._servo_down(*out), servo=True)

    def cycle_start(self) -> None:
        """'~': resume from a completed hold (ignored while still decelerating, as GRBL does); a spindle
        stopped by the override is restored first, with no spin-up wait (GRBL 1.1h, not in laser mode)."""
        if self._stopped_spindle is not None and self.state == "Hold:0":
            self.spindle_stop_toggle()
        if self.queue.holding:
            if not self.queue.resume():
                return
        self._idle_hold = False
        self._track(self.now)

    def status_report(self) -> str:
        """`<State|MPos:...|Bf:..|Ln:..|FS:..|WCO:..|Ov:..>` honouring $10 (bit 0 MPos, bit 1 Bf) and $13."""
        mask = int(self.settings[10])
        inch = self.settings.flag(13)
        pos = list(self.queue.position)
        wco = [w + g for w, g in zip(self.tables.wcs[self.gc.modal.coord], self.gc.g92)]
        wco[2] += self.tlo[0]
        if mask & 1:
            parts = [self.state, "MPos:" + _axes(pos, inch)]
        else:
            parts = [self.state, "WPos:" + _axes([p - w for p, w in zip(pos, wco)], inch)]
        if mask & 2:
            parts.append(f"Bf:{self.config.blocks - len(self.queue)},{self.config.rx_size - len(self.rx)}")
        head = self._blocks[0] if self._blocks else None
        if head is not None and head.kind == "line" and head.line > 0:
            parts.append(f"Ln:{head.line}")
        feed = self.queue.speed * 60.0 / (MM_PER_INCH if inch else 1.0)
        spindle = self.spindle_out[1] if self.spindle_out[0] != "M5" else 0.0
        parts.append(f"FS:{feed:.0f},{spindle:.0f}")
        busy = self.state not in ("Idle", "Alarm", "Check", "Sleep")
        if tuple(wco) != getattr(self, "_last_wco", None):
            self._last_wco = tuple(wco)
            self._wco_counter = 0
        if self._wco_counter > 0:
            self._wco_counter -= 1
        else:
            self._wco_counter = (30 if busy else 10) - 1
            if self._ov_counter == 0:
                self._ov_counter = 1
            parts.append("WCO:" + _axes(wco, inch))
        if self._ov_counter > 0:
            self._ov_counter -= 1
        else:
            self._ov_counter = (20 if busy else 10) - 1
            parts.append(f"Ov:{self.feed_ov},{self.rapid_ov},{self.spindle_ov}")
            acc = {"M3": "S", "M4": "C"}.get(self.spindle_out[0], "")
            acc += "F" if self.gc.modal.coolant == "M8" else ""
            if acc:
                parts.append(f"A:{acc}")
        return "<" + "|".join(parts) + ">"


def _axes(values: list[float], inch: bool) -> str:
    scale = 1.0 / MM_PER_INCH if inch else 1.0
    digits = 4 if inch else 3
    return ",".join(f"{v * scale + 0.0:.{digits}f}" for v in values)
