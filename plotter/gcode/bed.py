"""Does a G-code program stay on the machine's bed? Checked before the first byte reaches a machine.

Why: a program `G0 X5000 Y-3000` sent to a 310 x 220 mm plotter drives the carriage into its frame (no limit
switches on most pen plotters). Every path to a machine (daemon job, `plotter stream`, `draw`, `sim`) calls
`check_program_bed` with the device's bed (`machine_bed`): the profile's bed, and, when GRBL enforces soft
limits (`$20=1`), its `$130/$131` travel: a program wider or taller than that can never fit, wherever the
work origin is (a program that fits but sits wrong relative to GRBL's work offset is stopped by GRBL itself
with ALARM:2).

The model is the one our emitter writes for: work coordinates are bed coordinates (X 0..width, Y 0..height),
the program starts at 0,0. Moves are followed through G90/G91, G20/G21, G0/G1/G2/G3 (arcs by their true
extremes), `$J=` jogs, G28/G30 (their intermediate point) and G53. A program that moves the work origin
(G92, G10, G55-G59) cannot be checked against the bed and is refused as such, except for the profile's own
work-offset lines (`bed.machine_space: negative`: `G10 L2 P1 X-width Y-height`, which puts work 0,0 on the
bed's corner, the frame this check assumes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from plotter.errors import LayoutError
from plotter.gcode.rules import _code, parse_words, strip_line

_TOL = 1e-3  # mm: coordinates are written with 3 decimals
_ORIGIN_MOVES = {"10", "92", "92.1", "55", "56", "57", "58", "59", "59.1", "59.2", "59.3"}


@dataclass(frozen=True)
class BedBox:
    """What a program must stay inside: X 0..width, Y 0..height; `y_up` names the sides."""

    width: float
    height: float
    y_up: bool = True
    source: str = "profile"
    origin_lines: tuple[str, ...] = ()  # the profile's own work-offset lines, allowed in a program
    travel: tuple[float, float] | None = None  # GRBL's $130/$131 when soft limits are on: the largest span


@dataclass(frozen=True)
class Extent:
    xmin: float
    ymin: float
    xmax: float
    ymax: float


class OffBedError(LayoutError):
    """A program leaves the machine's bed; the message gives the overflow per side."""


def bed_of(profile: object) -> BedBox:
    from dataclasses import replace

    from plotter.gcode.emitter import work_offset_lines

    bed = profile.bed  # type: ignore[attr-defined]
    box = BedBox(float(bed.width), float(bed.height), bed.origin == "bottom-left", "profile")
    origin = tuple(strip_line(line)[0] for line in work_offset_lines(profile))  # type: ignore[arg-type]
    return replace(box, origin_lines=origin)


def bed_from_settings(box: BedBox, settings: dict) -> BedBox:
    """Add GRBL's `$130/$131` max travel when soft limits are on (`$20=1`): the span a program may have."""
    from dataclasses import replace

    try:
        soft = int(float(settings.get(20, 0))) == 1
        travel = (float(settings[130]), float(settings[131]))
    except (KeyError, TypeError, ValueError):
        return box
    if not soft or min(travel) <= 0:
        return box
    return replace(box, travel=travel)


def _arc_points(start: tuple[float, float], end: tuple[float, float], center: tuple[float, float],
                clockwise: bool) -> list[tuple[float, float]]:  # fmt: skip
    """The arc's end plus each axis extreme (0, 90, 180, 270 degrees) it sweeps through."""
    cx, cy = center
    r = math.hypot(start[0] - cx, start[1] - cy)
    a0 = math.atan2(start[1] - cy, start[0] - cx)
    a1 = math.atan2(end[1] - cy, end[0] - cx)
    sweep = (a0 - a1) if clockwise else (a1 - a0)
    sweep %= 2 * math.pi
    if sweep < 1e-9:
        sweep = 2 * math.pi  # same start and end: a full circle
    points = [end]
    for k in range(4):
        angle = k * math.pi / 2
        d = ((a0 - angle) if clockwise else (angle - a0)) % (2 * math.pi)
        if d <= sweep:
            points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _arc_center(start: tuple[float, float], end: tuple[float, float], words: dict[str, float],
                clockwise: bool, scale: float) -> tuple[float, float]:  # fmt: skip
    if "R" in words:  # radius form: the center on the side GRBL picks
        r = words["R"] * scale
        dx, dy = end[0] - start[0], end[1] - start[1]
        d = math.hypot(dx, dy)
        h = math.sqrt(max(r * r - d * d / 4, 0.0))
        sign = -1.0 if clockwise else 1.0
        sign = -sign if r < 0 else sign
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        return (mx - sign * h * dy / max(d, 1e-12), my + sign * h * dx / max(d, 1e-12))
    return (start[0] + words.get("I", 0.0) * scale, start[1] + words.get("J", 0.0) * scale)


def program_extent(lines: Iterable[str], origin_lines: tuple[str, ...] = ()) -> Extent | None:
    """Bounding box (mm, work coordinates) of every point the program passes; None if it never moves."""
    x = y = 0.0
    relative, scale, motion = False, 1.0, "0"
    offset = _work_offset(origin_lines)  # G53 moves are machine coordinates: work = machine - offset
    xs: list[float] = []
    ys: list[float] = []
    for number, raw in enumerate(lines, start=1):
        line, _ = strip_line(raw)
        if line.startswith("$J="):
            line = line[3:]
        elif not line or line[0] in "$%":
            continue
        words, _ = parse_words(line)
        gs = {_code(v) for k, v in words if k == "G"}
        if gs & _ORIGIN_MOVES and line not in origin_lines:
            code = sorted(gs & _ORIGIN_MOVES)[0]
            raise OffBedError(
                f"line {number}: G{code} moves the work origin, so the program cannot be checked against "
                f"the bed; refused"
            )
        if gs & {"10", "92"}:  # the allowed work-offset line: axis words that are not a move
            continue
        relative = True if "91" in gs else False if "90" in gs else relative
        scale = 25.4 if "20" in gs else 1.0 if "21" in gs else scale
        values = {k: float(v) for k, v in words if k in "XYIJR"}
        motion = next((g for g in gs if g in ("0", "1", "2", "3", "80")), motion)
        if not ({"X", "Y"} & set(values)) and not gs & {"28", "30"}:
            continue
        if "53" in gs:  # absolute machine coordinates, this line only
            values = {k: v - offset[k == "Y"] if k in "XY" else v for k, v in values.items()}
        tx = values.get("X", 0.0 if relative else None)
        ty = values.get("Y", 0.0 if relative else None)
        nx = x + tx * scale if relative else (tx * scale if tx is not None else x)
        ny = y + ty * scale if relative else (ty * scale if ty is not None else y)
        if gs & {"28", "30"}:  # through the given point (if any) to a stored home: assume the origin
            xs.append(nx)
            ys.append(ny)
            x = y = 0.0
            continue
        if motion in ("2", "3") and not gs & {"53"}:
            center = _arc_center((x, y), (nx, ny), values, motion == "2", scale)
            for px, py in _arc_points((x, y), (nx, ny), center, motion == "2"):
                xs.append(px)
                ys.append(py)
        xs.append(nx)
        ys.append(ny)
        x, y = nx, ny
    if not xs:
        return None
    xs.append(0.0)  # where it starts
    ys.append(0.0)
    return Extent(min(xs), min(ys), max(xs), max(ys))


def _work_offset(origin_lines: tuple[str, ...]) -> tuple[float, float]:
    for line in origin_lines:
        words = dict(parse_words(line)[0])
        if words.get("G") == "10":
            return (float(words.get("X", 0.0)), float(words.get("Y", 0.0)))
    return (0.0, 0.0)


def overflow(extent: Extent, bed: BedBox) -> dict[str, float]:
    """mm past each side of the bed (only the sides it crosses)."""
    low_y, high_y = ("bottom", "top") if bed.y_up else ("top", "bottom")
    over = {
        "left": -extent.xmin,
        "right": extent.xmax - bed.width,
        low_y: -extent.ymin,
        high_y: extent.ymax - bed.height,
    }
    return {side: v for side, v in over.items() if v > _TOL}


def check_program_bed(lines: Iterable[str], bed: BedBox, hint: str = "") -> Extent | None:
    """Refuse (`OffBedError`) a program that leaves `bed`, naming the overflow per side in mm."""
    extent = program_extent(lines, bed.origin_lines)
    if extent is None:
        return None
    if bed.travel is not None:
        span = (extent.xmax - extent.xmin, extent.ymax - extent.ymin)
        if span[0] > bed.travel[0] + _TOL or span[1] > bed.travel[1] + _TOL:
            raise OffBedError(
                f"program spans {span[0]:.1f} x {span[1]:.1f} mm; GRBL's soft limits allow "
                f"{bed.travel[0]:g} x {bed.travel[1]:g} mm ($130/$131): it cannot fit; nothing was sent"
                + (f"; {hint}" if hint else "")
            )
    over = overflow(extent, bed)
    if over:
        sides = ", ".join(f"{v:.1f} mm past the {side}" for side, v in over.items())
        raise OffBedError(
            f"program leaves the {bed.width:g} x {bed.height:g} mm bed ({bed.source}): {sides} "
            f"(X {extent.xmin:g}..{extent.xmax:g}, Y {extent.ymin:g}..{extent.ymax:g}); nothing was sent"
            + (f"; {hint}" if hint else "")
        )
    return extent


def machine_bed(profile: str | object, settings: dict | None = None) -> BedBox:
    """The bed of `profile` (a name, path or `Profile`), narrowed by GRBL's settings when it reported them."""
    if isinstance(profile, (str, bytes)) or hasattr(profile, "__fspath__"):
        from plotter.gcode.profile import load_profile

        profile = load_profile(profile)  # type: ignore[arg-type]
    box = bed_of(profile)
    return bed_from_settings(box, settings) if settings else box


def check_soft_limits(lines: Iterable[str], bed: BedBox, settings: dict | None,
                      wco: Iterable[float] | None, hint: str = "") -> None:  # fmt: skip
    """With soft limits on (`$20=1`) stock GRBL keeps machine coordinates in [-$130, 0] x [-$131, 0] and stops
    with ALARM:2 at the first target outside (machine = work + the work offset). Refuse such a program before
    its first byte, with the fix, instead of an alarm at line 5. `wco`: GRBL's reported work offset; the
    profile's own work-offset lines (`bed.machine_space: negative`) set it themselves. XY only."""
    try:
        soft = settings is not None and int(float(settings.get(20, 0))) == 1
        travel = (float(settings[130]), float(settings[131])) if soft else (0.0, 0.0)  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return
    if not soft or min(travel) <= 0:
        return
    lines = list(lines)
    own = bool(bed.origin_lines) and any(strip_line(line)[0] in bed.origin_lines for line in lines)
    if own:
        ox, oy = _work_offset(bed.origin_lines)
    elif wco is not None:
        ox, oy = list(wco)[:2]
    else:
        return  # GRBL did not say where its work origin is: it alone can judge
    extent = program_extent(lines, bed.origin_lines)
    if extent is None:
        return
    x0, x1, y0, y1 = extent.xmin + ox, extent.xmax + ox, extent.ymin + oy, extent.ymax + oy
    if x0 >= -travel[0] - _TOL and y0 >= -travel[1] - _TOL and x1 <= _TOL and y1 <= _TOL:
        return
    fix = ("On a homed machine set `bed: {machine_space: negative}` in the profile (work 0,0 at the far "
           "corner from the switches), or move the work origin (`G10 L20 P1 X0 Y0` at the bed's corner)")
    if own:
        fix = (f"The profile's bed is {bed.width:g} x {bed.height:g} mm and GRBL's travel {travel[0]:g} x "
               f"{travel[1]:g} mm: set $130/$131 to the bed (or the profile's bed to the travel)")
    raise OffBedError(
        f"GRBL's soft limits are on ($20=1): machine coordinates must stay in X {-travel[0]:g}..0, "
        f"Y {-travel[1]:g}..0, and with the work offset X{ox:g} Y{oy:g} this program reaches "
        f"X {x0:g}..{x1:g}, Y {y0:g}..{y1:g} (GRBL would stop with ALARM:2); nothing was sent. {fix}"
        + (f"; {hint}" if hint else "")
    )
