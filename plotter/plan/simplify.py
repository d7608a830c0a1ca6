"""Ramer-Douglas-Peucker simplification with a tolerance in the sketch's unit (mm after layout).

Fewer points means fewer G-code lines: less to stream over a 115200-baud link and fewer planner blocks for
GRBL's 15-block look-ahead, while the drawn line moves by at most the tolerance. The RDP primitive itself is
`plotter.sketch.rdp` (the raw Quick, Draw! reader uses it too).
"""

from __future__ import annotations

from plotter.sketch import Sketch
from plotter.sketch.rdp import SimplifyError, check_tolerance, rdp, rdp_mask

__all__ = ["SimplifyError", "rdp", "rdp_mask", "simplify"]


def simplify(sketch: Sketch, tolerance: float) -> Sketch:
    """A new sketch whose strokes stay within `tolerance` of the originals (segment distance), ends kept.

    Closed strokes stay closed (both ends are kept), single-point dots stay dots, and stroke order and
    direction are unchanged, so simplification can run before or after ordering.
    """
    check_tolerance(tolerance)
    if tolerance == 0:
        return sketch.copy()
    strokes = [s[rdp_mask(s, float(tolerance), segment=True)] for s in sketch.strokes]
    out = sketch.copy(strokes)
    out.meta["simplify_tolerance"] = float(tolerance)
    return out
