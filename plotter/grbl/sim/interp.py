"""gc_execute_line steps 3 and 4 for the simulator: check a collected block, commit state, list the ops.

Split from `gcode.py` (word scanning) to keep both readable; `interpret` is the one entry point.
"""

from __future__ import annotations

import math
from dataclasses import replace

from plotter.grbl.sim import status as st
from plotter.grbl.sim.gcode import (
    AXES,
    MAX_LINE_NUMBER,
    MM_PER_INCH,
    GcState,
    Op,
    Tables,
    collect,
    split_words,
)
from plotter.grbl.sim.status import GrblStatus

ARC_ANGULAR_TRAVEL_EPSILON = 5e-7
_PLANES = {"G17": (0, 1, 2), "G18": (2, 0, 1), "G19": (1, 2, 0)}
_ARC_OFFSETS = "IJK"


def interpret(line: str, gc: GcState, tables: Tables, laser: bool = False, arc_tolerance: float = 0.002,
              tlo: list[float] | None = None) -> tuple[list[Op], int]:  # fmt: skip
    """Check and commit one block; return (ops, N line number). Raises GrblStatus with GRBL's error code."""
    b = collect(split_words(line))
    v = b.values
    axis = {AXES.index(a): v[a] for a in AXES if a in v}
    if axis and not b.axis_command:
        b.axis_command = "motion"
    n = int(v.get("N", 0))
    if "N" in v and v["N"] > MAX_LINE_NUMBER:
        raise GrblStatus(st.INVALID_LINE_NUMBER)
    modal = replace(gc.modal)
    for group in ("motion", "plane", "units", "distance", "feed_mode"):
        if group in b.g:
            setattr(modal, group, b.g[group])
    if "coord" in b.g:
        modal.coord = int(b.g["coord"][1:]) - 54
    inch = modal.units == "G20"
    scale = MM_PER_INCH if inch else 1.0
    used = {"N", "F", "S", "T"}
    non_modal = b.g.get("non_modal", "")
    motion = modal.motion
    moving = b.axis_command == "motion"
    # feed rate (gcode.c step 3, [3. Set feed rate])
    if modal.feed_mode == "G93":
        if moving and motion in ("G1", "G2", "G3") and "F" not in v:
            raise GrblStatus(st.UNDEFINED_FEED_RATE)
        feed = v.get("F", 0.0)
    else:
        feed = v["F"] * scale if "F" in v else (gc.feed if gc.modal.feed_mode == "G94" else 0.0)
    speed = v.get("S", gc.spindle_speed)
    if non_modal == "G4":
        if "P" not in v:
            raise GrblStatus(st.VALUE_WORD_MISSING)
        used.add("P")
    tlo_z = (tlo or [0.0])[0]
    if b.g.get("tlo") == "G43.1":
        if 2 not in axis or len(axis) != 1:
            raise GrblStatus(st.NO_AXIS_WORDS if 2 not in axis else st.AXIS_COMMAND_CONFLICT)
        b.axis_command = "tlo"
    eeprom: list[Op] = []
    if non_modal == "G10":
        eeprom = _g10(v, axis, gc, tables, modal, scale, tlo_z)
        used |= {"L", "P"}
    wcs = tables.wcs[modal.coord]
    g92 = list(gc.g92)
    if non_modal == "G92":
        if not axis:
            raise GrblStatus(st.NO_AXIS_WORDS)
        for i, val in axis.items():
            g92[i] = gc.position[i] - wcs[i] - val * scale - (tlo_z if i == 2 else 0.0)
    if non_modal == "G53" and motion not in ("G0", "G1"):
        raise GrblStatus(st.G53_INVALID_MOTION_MODE)
    target = list(gc.position)
    for i, val in axis.items():
        if non_modal == "G53":
            target[i] = val * scale
        elif modal.distance == "G91":
            target[i] = gc.position[i] + val * scale
        else:
            target[i] = val * scale + wcs[i] + g92[i] + (tlo_z if i == 2 else 0.0)
    ops: list[Op] = []
    if motion == "G80" and axis and b.axis_command == "motion":
        raise GrblStatus(st.AXIS_WORDS_EXIST)
    if moving and motion not in ("G0", "G80"):
        if feed == 0.0:
            raise GrblStatus(st.UNDEFINED_FEED_RATE)
    arc_ops: list[Op] = []
    if moving and axis and motion in ("G2", "G3"):
        arc_ops = _arc(v, axis, gc.position, target, modal, scale, feed, arc_tolerance, used)
    # --- everything checked: the rest cannot fail except unused words ---
    if non_modal not in ("G28", "G30", "G92") and not b.axis_command:
        pass
    if b.axis_command in ("motion", "non_modal", "tlo"):
        used |= set(AXES)
    if any(letter not in used for letter in v):
        raise GrblStatus(st.UNUSED_WORDS)
    # laser-mode spindle handling (gcode.c: GC_PARSER_LASER_DISABLE / _ISMOTION)
    laser_disable = laser and motion not in ("G1", "G2", "G3")
    laser_motion = laser and bool(axis) and moving
    if (speed != gc.spindle_speed) and gc.modal.spindle != "M5" and not laser_motion:
        ops.append(Op("spindle", text=gc.modal.spindle, value=0.0 if laser_disable else speed))
    block_s = 0.0 if laser_disable else speed
    new_spindle = b.m.get("spindle", gc.modal.spindle)
    if new_spindle != gc.modal.spindle:
        ops.append(Op("spindle", text=new_spindle, value=block_s))
    if "coolant" in b.m and b.m["coolant"] != gc.modal.coolant:
        ops.append(Op("sync"))
    if non_modal == "G4":
        ops.append(Op("dwell", value=v["P"]))
    ops += eeprom
    position = list(gc.position)
    if non_modal in ("G28", "G30") and b.axis_command == "non_modal":
        if axis:
            ops.append(Op("line", target=tuple(target), rapid=True, value=block_s))
        position = list(tables.g28 if non_modal == "G28" else tables.g30)
        ops.append(Op("line", target=tuple(position), rapid=True, value=block_s))
    elif non_modal in ("G28.1", "G30.1"):
        ops.append(Op("store", text=non_modal, target=tuple(gc.position)))
    elif non_modal == "G92.1":
        g92 = [0.0, 0.0, 0.0]
    if moving and axis:
        if motion in ("G0", "G1"):
            rapid = motion == "G0"
            f = feed * _dist(gc.position, target) if modal.feed_mode == "G93" and not rapid else feed
            ops.append(Op("line", target=tuple(target), feed=f, rapid=rapid, value=block_s))
        else:
            ops += [replace(o, value=block_s) for o in arc_ops]
        position = target
    flow = b.m.get("flow", "")
    if flow == "M1":
        flow = ""  # optional stop: GRBL ignores it
    if flow:
        ops.append(Op("flow", text=flow))
    # commit (step 4 state updates)
    gc.modal = modal
    gc.feed = feed if modal.feed_mode == "G94" else 0.0
    gc.spindle_speed = speed
    gc.modal.spindle = new_spindle
    gc.modal.coolant = b.m.get("coolant", gc.modal.coolant)
    gc.tool = int(v.get("T", gc.tool))
    gc.g92 = g92
    gc.position = position
    if tlo is not None:
        if b.g.get("tlo") == "G43.1":
            tlo[0] = axis[2] * scale
        elif b.g.get("tlo") == "G49":
            tlo[0] = 0.0
    if flow in ("M2", "M30"):
        m = gc.modal
        m.motion, m.plane, m.distance, m.feed_mode, m.coord = "G1", "G17", "G90", "G94", 0
        m.spindle, m.coolant = "M5", "M9"
    if flow:
        gc.modal.program_flow = flow
    return ops, n


def _dist(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def _g10(v: dict, axis: dict, gc: GcState, tables: Tables, modal, scale: float, tlo_z: float) -> list[Op]:
    """G10 L2/L20 Pn: write a work offset (EEPROM, so GRBL syncs the planner first)."""
    if "L" not in v or "P" not in v:
        raise GrblStatus(st.VALUE_WORD_MISSING)
    if not axis:
        raise GrblStatus(st.NO_AXIS_WORDS)
    p, l_word = v["P"], v["L"]
    if p != int(p):
        raise GrblStatus(st.COMMAND_VALUE_NOT_INTEGER)
    if p > 6:
        raise GrblStatus(st.UNSUPPORTED_COORD_SYS)
    if l_word not in (2, 20):
        raise GrblStatus(st.UNSUPPORTED_COMMAND)
    idx = int(p) - 1 if p else modal.coord
    data = list(tables.wcs[idx])
    for i, val in axis.items():
        if l_word == 2:
            data[i] = val * scale
        else:
            data[i] = gc.position[i] - gc.g92[i] - val * scale - (tlo_z if i == 2 else 0.0)
    return [Op("eeprom", target=tuple(data), value=idx)]


def _arc(v: dict, axis: dict, pos: list[float], target: list[float], modal, scale: float, feed: float,
         tol: float, used: set[str]) -> list[Op]:  # fmt: skip
    """G2/G3: GRBL's radius/offset checks, then mc_arc's chord segments (arc tolerance $12)."""
    a0, a1, lin = _PLANES[modal.plane]
    if a0 not in axis and a1 not in axis:
        raise GrblStatus(st.NO_AXIS_WORDS_IN_PLANE)
    x, y = target[a0] - pos[a0], target[a1] - pos[a1]
    cw = modal.motion == "G2"
    if "R" in v:
        used.add("R")
        r = v["R"] * scale
        if x == 0 and y == 0:
            raise GrblStatus(st.INVALID_TARGET)
        h = 4.0 * r * r - x * x - y * y
        if h < 0:
            raise GrblStatus(st.ARC_RADIUS_ERROR)
        h = -math.sqrt(h) / math.hypot(x, y)
        if not cw:
            h = -h
        if r < 0:
            h, r = -h, -r
        off = (0.5 * (x - y * h), 0.5 * (y + x * h))
    else:
        names = (_ARC_OFFSETS[a0], _ARC_OFFSETS[a1])
        if names[0] not in v and names[1] not in v:
            raise GrblStatus(st.NO_OFFSETS_IN_PLANE)
        used.update(names)
        off = (v.get(names[0], 0.0) * scale, v.get(names[1], 0.0) * scale)
        r = math.hypot(*off)
        delta_r = abs(math.hypot(x - off[0], y - off[1]) - r)
        if delta_r > 0.005 and (delta_r > 0.5 or delta_r > 0.001 * r):
            raise GrblStatus(st.INVALID_TARGET)
    cx, cy = pos[a0] + off[0], pos[a1] + off[1]
    r0, r1 = -off[0], -off[1]
    rt0, rt1 = target[a0] - cx, target[a1] - cy
    travel = math.atan2(r0 * rt1 - r1 * rt0, r0 * rt0 + r1 * rt1)
    if cw and travel >= -ARC_ANGULAR_TRAVEL_EPSILON:
        travel -= 2 * math.pi
    elif not cw and travel <= ARC_ANGULAR_TRAVEL_EPSILON:
        travel += 2 * math.pi
    segments = 0
    if r > tol / 2:
        segments = int(math.floor(abs(0.5 * travel * r) / math.sqrt(tol * (2 * r - tol))))
    points = []
    for i in range(1, segments):
        ang = travel * i / segments
        p = list(pos)
        p[a0] = cx + r0 * math.cos(ang) - r1 * math.sin(ang)
        p[a1] = cy + r0 * math.sin(ang) + r1 * math.cos(ang)
        p[lin] = pos[lin] + (target[lin] - pos[lin]) * i / segments
        points.append(tuple(p))
    points.append(tuple(target))
    ops, prev = [], pos
    for p in points:
        f = feed * _dist(prev, list(p)) if modal.feed_mode == "G93" else feed
        ops.append(Op("line", target=p, feed=f))
        prev = list(p)
    return ops
