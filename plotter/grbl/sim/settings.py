"""GRBL 1.1h `$` settings: the table, pen-plotter defaults, and `$n=v` validation as settings.c does it.

The simulator answers `$$` from here and its motion reads $110-$132/$11 from here, so a streamer that writes
settings changes what the machine does, exactly as on the firmware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plotter.grbl.sim import status as st

MAX_STEP_RATE_HZ = 30000.0  # GRBL's MAX_STEP_RATE_HZ: $100-$112 writes that exceed it give error:12

# number -> (default, is_integer, description). GRBL 1.1h defaults, adjusted for a 300 x 200 mm belt-driven
# pen plotter (grbl-servo profile): 80 steps/mm, 5000 mm/min, 800 mm/s^2, homing toward X0 Y0 Z0,
# $10=3 (Bf shown).
SETTINGS: dict[int, tuple[float, bool, str]] = {
    0: (10, True, "Step pulse time, microseconds"),
    1: (25, True, "Step idle delay, milliseconds"),
    2: (0, True, "Step pulse invert, mask"),
    3: (0, True, "Step direction invert, mask"),
    4: (0, True, "Invert step enable pin, boolean"),
    5: (0, True, "Invert limit pins, boolean"),
    6: (0, True, "Invert probe pin, boolean"),
    10: (3, True, "Status report options, mask"),
    11: (0.010, False, "Junction deviation, millimeters"),
    12: (0.002, False, "Arc tolerance, millimeters"),
    13: (0, True, "Report in inches, boolean"),
    20: (0, True, "Soft limits enable, boolean"),
    21: (0, True, "Hard limits enable, boolean"),
    22: (0, True, "Homing cycle enable, boolean"),
    23: (7, True, "Homing direction invert, mask"),
    24: (25.0, False, "Homing locate feed rate, mm/min"),
    25: (2000.0, False, "Homing search seek rate, mm/min"),
    26: (250, True, "Homing switch debounce delay, milliseconds"),
    27: (1.0, False, "Homing switch pull-off distance, millimeters"),
    30: (1000, True, "Maximum spindle speed, RPM"),
    31: (0, True, "Minimum spindle speed, RPM"),
    32: (0, True, "Laser-mode enable, boolean"),
    100: (80.0, False, "X-axis steps per millimeter"),
    101: (80.0, False, "Y-axis steps per millimeter"),
    102: (400.0, False, "Z-axis steps per millimeter"),
    110: (5000.0, False, "X-axis maximum rate, mm/min"),
    111: (5000.0, False, "Y-axis maximum rate, mm/min"),
    112: (1000.0, False, "Z-axis maximum rate, mm/min"),
    120: (800.0, False, "X-axis acceleration, mm/sec^2"),
    121: (800.0, False, "Y-axis acceleration, mm/sec^2"),
    122: (100.0, False, "Z-axis acceleration, mm/sec^2"),
    130: (300.0, False, "X-axis maximum travel, millimeters"),
    131: (200.0, False, "Y-axis maximum travel, millimeters"),
    132: (10.0, False, "Z-axis maximum travel, millimeters"),
}


@dataclass
class Settings:
    """The EEPROM settings of one simulated machine (mutable, like the firmware's)."""

    values: dict[int, float]

    @classmethod
    def defaults(cls, **overrides: float) -> Settings:
        """Defaults, with overrides given as `s22=1` style keywords or a dict through `with_values`."""
        values = {n: float(d) for n, (d, _, _) in SETTINGS.items()}
        for key, value in overrides.items():
            values[int(key.lstrip("s$"))] = float(value)
        return cls(values)

    def __getitem__(self, number: int) -> float:
        return self.values[number]

    def flag(self, number: int) -> bool:
        return self.values[number] != 0

    def axes(self, base: int) -> tuple[float, float, float]:
        return (self.values[base], self.values[base + 1], self.values[base + 2])

    def report_lines(self) -> list[str]:
        """`$$` output in GRBL's order and number format (integers bare, reals with 3 decimals)."""
        out = []
        for n, (_, is_int, _) in SETTINGS.items():
            v = self.values[n]
            out.append(f"${n}={int(v)}" if is_int else f"${n}={v:.3f}")
        return out

    def store(self, number: float, value: float) -> int:
        """`$n=v`: validate and store like settings_store_global_setting; return a GRBL status (0 = ok)."""
        if value < 0.0:
            return st.NEGATIVE_VALUE
        n = int(number)
        if n != number or n not in SETTINGS:
            return st.INVALID_STATEMENT
        if n >= 100:
            axis_base = n - n % 10
            idx = n % 10
            if axis_base in (100, 110):
                steps = value if axis_base == 100 else self.values[100 + idx]
                rate = value if axis_base == 110 else self.values[110 + idx]
                if steps * rate > MAX_STEP_RATE_HZ * 60.0:
                    return st.MAX_STEP_RATE_EXCEEDED
            self.values[n] = value
            return st.OK
        int_value = math.trunc(value)
        if n == 0 and int_value < 3:
            return st.SETTING_STEP_PULSE_MIN
        if n == 20 and int_value and not self.flag(22):
            return st.SOFT_LIMIT_ERROR
        if SETTINGS[n][1]:
            value = float(int_value)
        if n in (4, 5, 6, 13, 20, 21, 22, 32):
            value = 1.0 if int_value else 0.0
        self.values[n] = value
        if n == 22 and not int_value:
            self.values[20] = 0.0  # disabling homing disables soft limits too
        return st.OK
