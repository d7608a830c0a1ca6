"""Lost-byte detection by position: GRBL has no checksum, so a dropped or garbled byte (`X253` read as `X25`)
can move the pen somewhere the plan never goes. Every status report says where the machine is; it must lie on
the planned path between the last line known to have run and the last line GRBL acknowledged.

Pure and cheap (one point-to-segment distance per planner block in the window, at the 5 Hz poll rate): the
streamer feeds it each report; `check` returns None or a one-line reason. Lines this model cannot follow
(arcs, relative or inch mode, G53/G28/G30/G38, G92/G10 L20 mid-job) make their stretch of the path unknown,
and a report whose window touches an unknown stretch is not judged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

Vec = tuple[float, float, float]
_WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")
_UNKNOWN_G = {"2", "3", "20", "28", "30", "38.2", "38.3", "38.4", "38.5", "53", "91", "92"}
_OFFSETS_G = {"10", "54", "55", "56", "57", "58", "59", "92"}


def planned_positions(cleaned: Sequence[str], start: Vec = (math.nan,) * 3) -> list[Vec | None]:
    """Work position after each line from G90/G21 G0/G1 words: None after a line this model cannot follow
    (until every axis is named again), NaN for an axis not named since the start (e.g. Z of a servo pen)."""
    pos: Vec | None = start
    out: list[Vec | None] = []
    for line in cleaned:
        if line and not line.startswith("$"):
            words = _WORD.findall(line)
            gs = {v.lstrip("0") or "0" for k, v in words if k == "G"}
            if gs & _UNKNOWN_G:
                pos = None
            elif "10" not in gs and any(k in "XYZ" for k, _ in words):
                axes = {k: float(v) for k, v in words if k in "XYZ"}
                if pos is None and len(axes) < 3:
                    pos = None
                else:
                    base = pos or (math.nan,) * 3
                    pos = (axes.get("X", base[0]), axes.get("Y", base[1]), axes.get("Z", base[2]))
        out.append(pos)
    return out


def changes_offsets(cleaned: str) -> bool:
    """True for a line after which the WCO GRBL reports may change (G10, G54-G59, G92)."""
    return any(k == "G" and (v.lstrip("0") or "0") in _OFFSETS_G for k, v in _WORD.findall(cleaned))


def _distance(p: Vec, a: Vec, b: Vec) -> float:
    """Point to segment, over the axes both ends know (NaN: never named, e.g. Z with a servo pen)."""
    axes = [i for i in range(3) if not (math.isnan(a[i]) or math.isnan(b[i]))]
    if not axes:
        return 0.0
    p2, a2, b2 = ([v[i] for i in axes] for v in (p, a, b))
    ab = [y - x for x, y in zip(a2, b2)]
    ap = [y - x for x, y in zip(a2, p2)]
    denom = sum(c * c for c in ab)
    t = 0.0 if denom == 0 else max(0.0, min(1.0, sum(x * y for x, y in zip(ab, ap)) / denom))
    return math.dist(p2, [x + t * c for x, c in zip(a2, ab)])


class PositionCheck:
    """Judges status reports against the planned path.

    The tolerance covers GRBL's own error, not lost bytes: Bresenham stepping keeps the machine within one
    step of the line (0.018 mm diagonal at 80 steps/mm, 0.035 mm at 40) and reports round to 0.001 mm.
    What it cannot see is a stray that ends between two `?` polls (5 Hz): a vertex moved by a lost digit
    is off the path only while the machine runs the two segments next to it (bench/results/bytefaults.md).
    """

    def __init__(self, cleaned: Sequence[str], start_index: int, origin: Vec | None,
                 tolerance: float = 0.05, lead_in: Sequence[Vec | None] = ()) -> None:  # fmt: skip
        self.cleaned = list(cleaned)
        self.planned = planned_positions(self.cleaned, origin or (math.nan,) * 3)
        self.start_index = start_index
        self.origin = origin  # work position before start_index (from the report at connect)
        self.tolerance = tolerance
        self.lead_in = list(lead_in)  # where the machine was at connect, then each preamble position
        self.wco: Vec | None = None
        self.checked = 0
        self.worst = 0.0  # the largest distance off the path judged on the path (bench: GRBL's own error)

    def note_wco(self, wco: Vec | None) -> None:
        if wco is not None:
            self.wco = tuple(wco)  # type: ignore[assignment]

    def offsets_may_change(self, index: int) -> None:
        """Line `index` (G10, G54.., G92) may move the work frame: judge nothing until GRBL reports the new
        WCO, and forget work positions from before it (the origin included; axes come back as named)."""
        self.wco = None
        self.origin, self.lead_in = None, []
        self.planned[: index + 1] = [None] * (index + 1)
        self.planned[index + 1 :] = planned_positions(self.cleaned[index + 1 :])

    def _at(self, index: int) -> Vec | None:
        """Planned work position after line `index - 1` (the origin before the first streamed line)."""
        if index <= self.start_index:
            return self.origin or (math.nan,) * 3
        return self.planned[index - 1]

    def check(self, mpos: Vec | None, done: int, acked: int) -> str | None:
        """None when `mpos` lies on the path from after line `done - 1` through line `acked - 1` (pass the
        lines *sent*: GRBL may be running a line whose ok is still on the wire)."""
        if mpos is None or self.wco is None:
            return None
        here = tuple(m - w for m, w in zip(mpos, self.wco))
        points = [self._at(i) for i in range(done, acked + 1)]
        if done <= self.start_index and self.lead_in:  # the preamble's moves may still be running
            points = self.lead_in + points[1:]
        if any(p is None for p in points):
            return None
        self.checked += 1
        pairs = list(zip(points, points[1:])) or [(points[0], points[0])]
        best = min(_distance(here, a, b) for a, b in pairs)  # type: ignore[arg-type]
        if best <= self.tolerance:
            self.worst = max(self.worst, best)
            return None
        where = ",".join(f"{c:.3f}" for c in here)
        return (f"GRBL reports the pen at {where}, {best:.2f} mm off the planned path of lines "
                f"{done + 1}-{max(done + 1, acked)} (a byte was lost or garbled on the line)")
