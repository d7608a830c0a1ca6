"""gc_execute_line steps 3 and 4 for the simulator: check a collected block, commit state, list the ops.

Split from `gcode.py` (word scanning) to keep both readable; `interpret` is the one entry point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from plotter.grbl.sim import status as st
from plotter.grbl.sim.gcode import (
    AXES,
    MAX_LINE_NUMBER,
    MM_PER_INCH,
    Block,
    GcState,
    Modal,
    Op,
    Tables,
    collect,
    split_words,
)
from plotter.grbl.sim.status import GrblStatus

ARC_ANGULAR_TRAVEL_EPSILON = 5e-7
_PLANES = {"G17": (0, 1, 2), "G18": (2, 0, 1), "G19": (1, 2, 0)}
_ARC_OFFSETS = "IJK"


@dataclass
class _Block:
    """One line between gcode.c's error-check step and its execution step."""

    words: Block
    gc: GcState
    modal: Modal
    axis: dict[int, float]
    scale: float
    feed: float
    speed: float
    target: list[float]
    g92: list[float]
    tlo_z: float
    used: set[str] = field(default_factory=lambda: {"N", "F", "S", "T"})
    end: list[float] | None = None  # parser position after the block, when it moves

    @property
    def non_modal(self) -> str:
        return self.words.g.get("non_modal", "")

    @property
    def moving(self) -> bool:
        return self.words.axis_command == "motion"


def interpret(line: str, gc: GcState, tables: Tables, laser: bool = False, arc_tolerance: float = 0.002,
              tlo: list[float] | None = None) -> tuple[list[Op], int]:  # fmt: skip
    """Check and commit one block; return (ops, N line number). Raises GrblStatus with GRBL's error code."""
    blk = _check(collect(split_words(line)), gc, tables, (tlo or [0.0])[0])
    eeprom = _g10(blk, tables) if blk.non_modal == "G10" else []
    arc_ops: list[Op] = []
    if blk.moving and blk.axis and blk.modal.motion in ("G2", "G3"):
        arc_ops = _arc(blk, arc_tolerance)
    if blk.words.axis_command in ("motion", "non_modal", "tlo"):
        blk.used |= set(AXES)
    if any(letter not in blk.used for letter in blk.words.values):
        raise GrblStatus(st.UNUSED_WORDS)
    # everything is checked: from here on the block runs (gcode.c step 4)
    ops, block_s = _spindle_ops(blk, laser)
    if "coolant" in blk.words.m and blk.words.m["coolant"] != gc.modal.coolant:
        ops.append(Op("sync"))
    if blk.non_modal == "G4":
        ops.append(Op("dwell", value=blk.words.values["P"]))
    ops += eeprom
    ops += _motion_ops(blk, tables, arc_ops, block_s)
    flow = blk.words.m.get("flow", "")
    if flow == "M1":
        flow = ""  # optional stop: GRBL ignores it
    if flow:
        ops.append(Op("flow", text=flow))
    _commit(blk, flow, tlo)
    return ops, int(blk.words.values.get("N", 0))


def _check(b: Block, gc: GcState, tables: Tables, tlo_z: float) -> _Block:
    """gcode.c step 3: the error checks that need the modal state, and the block's target."""
    v = b.values
    axis = {AXES.index(a): v[a] for a in AXES if a in v}
    if axis and not b.axis_command:
        b.axis_command = "motion"
    if "N" in v and v["N"] > MAX_LINE_NUMBER:
        raise GrblStatus(st.INVALID_LINE_NUMBER)
    modal = replace(gc.modal)
    for group in ("motion", "plane", "units", "distance", "feed_mode"):
        if group in b.g:
            setattr(modal, group, b.g[group])
    if "coord" in b.g:
        modal.coord = int(b.g["coord"][1:]) - 54
    scale = MM_PER_INCH if modal.units == "G20" else 1.0
    motion, moving, non_modal = modal.motion, b.axis_command == "motion", b.g.get("non_modal", "")
    if modal.feed_mode == "G93":
        if moving and motion in ("G1", "G2", "G3") and "F" not in v:
            raise GrblStatus(st.UNDEFINED_FEED_RATE)
        feed = v.get("F", 0.0)
    else:
        feed = v["F"] * scale if "F" in v else (gc.feed if gc.modal.feed_mode == "G94" else 0.0)
    blk = _Block(b, gc, modal, axis, scale, feed, v.get("S", gc.spindle_speed), list(gc.position),
                 list(gc.g92), tlo_z)  # fmt: skip
    if non_modal == "G4":
        if "P" not in v:
            raise GrblStatus(st.VALUE_WORD_MISSING)
        blk.used.add("P")
    if b.g.get("tlo") == "G43.1":
        if 2 not in axis or len(axis) != 1:
            raise GrblStatus(st.NO_AXIS_WORDS if 2 not in axis else st.AXIS_COMMAND_CONFLICT)
        b.axis_command = "tlo"
    wcs = tables.wcs[modal.coord]
    if non_modal == "G92":
        if not axis:
            raise GrblStatus(st.NO_AXIS_WORDS)
        for i, val in axis.items():
            blk.g92[i] = gc.position[i] - wcs[i] - val * scale - (tlo_z if i == 2 else 0.0)
    if non_modal == "G53" and motion not in ("G0", "G1"):
        raise GrblStatus(st.G53_INVALID_MOTION_MODE)
    for i, val in axis.items():
        if non_modal == "G53":
            blk.target[i] = val * scale
        elif modal.distance == "G91":
            blk.target[i] = gc.position[i] + val * scale
        else:
            blk.target[i] = val * scale + wcs[i] + blk.g92[i] + (tlo_z if i == 2 else 0.0)
    if motion == "G80" and axis and moving:
        raise GrblStatus(st.AXIS_WORDS_EXIST)
    if moving and motion not in ("G0", "G80") and feed == 0.0:
        raise GrblStatus(st.UNDEFINED_FEED_RATE)
    return blk


def _spindle_ops(blk: _Block, laser: bool) -> tuple[list[Op], float]:
    """Spindle (pen) syncs and the S each motion block carries (gcode.c's laser-mode flags)."""
    gc, motion = blk.gc, blk.modal.motion
    laser_disable = laser and motion not in ("G1", "G2", "G3")
    laser_motion = laser and bool(blk.axis) and blk.moving
    ops = []
    if blk.speed != gc.spindle_speed and gc.modal.spindle != "M5" and not laser_motion:
        ops.append(Op("spindle", text=gc.modal.spindle, value=0.0 if laser_disable else blk.speed))
    block_s = 0.0 if laser_disable else blk.speed
    new_spindle = blk.words.m.get("spindle", gc.modal.spindle)
    if new_spindle != gc.modal.spindle:
        ops.append(Op("spindle", text=new_spindle, value=block_s))
    return ops, block_s


def _motion_ops(blk: _Block, tables: Tables, arc_ops: list[Op], block_s: float) -> list[Op]:
    """G28/G30 moves, G28.1/G30.1 stores, then the block's own motion."""
    ops: list[Op] = []
    non_modal, gc = blk.non_modal, blk.gc
    if non_modal in ("G28", "G30") and blk.words.axis_command == "non_modal":
        if blk.axis:
            ops.append(Op("line", target=tuple(blk.target), rapid=True, value=block_s))
        home = tuple(tables.g28 if non_modal == "G28" else tables.g30)
        ops.append(Op("line", target=home, rapid=True, value=block_s))
        blk.end = list(home)
    elif non_modal in ("G28.1", "G30.1"):
        ops.append(Op("store", text=non_modal, target=tuple(gc.position)))
    if blk.moving and blk.axis:
        motion = blk.modal.motion
        if motion in ("G0", "G1"):
            rapid = motion == "G0"
            inverse = blk.modal.feed_mode == "G93" and not rapid
            f = blk.feed * _dist(gc.position, blk.target) if inverse else blk.feed
            ops.append(Op("line", target=tuple(blk.target), feed=f, rapid=rapid, value=block_s))
        else:
            ops += [replace(o, value=block_s) for o in arc_ops]
        blk.end = blk.target
    return ops


def _commit(blk: _Block, flow: str, tlo: list[float] | None) -> None:
    """Step 4's state updates, after every check passed."""
    gc, b = blk.gc, blk.words
    non_modal = blk.non_modal
    gc.modal = blk.modal
    gc.feed = blk.feed if blk.modal.feed_mode == "G94" else 0.0
    gc.spindle_speed = blk.speed
    gc.modal.spindle = b.m.get("spindle", gc.modal.spindle)
    gc.modal.coolant = b.m.get("coolant", gc.modal.coolant)
    gc.tool = int(b.values.get("T", gc.tool))
    gc.g92 = [0.0, 0.0, 0.0] if non_modal == "G92.1" else blk.g92
    if blk.end is not None:
        gc.position = list(blk.end)
    if tlo is not None:
        if b.g.get("tlo") == "G43.1":
            tlo[0] = blk.axis[2] * blk.scale
        elif b.g.get("tlo") == "G49":
            tlo[0] = 0.0
    if flow in ("M2", "M30"):
        m = gc.modal
        m.motion, m.plane, m.distance, m.feed_mode, m.coord = "G1", "G17", "G90", "G94", 0
        m.spindle, m.coolant = "M5", "M9"
    if flow:
        gc.modal.program_flow = flow


def _dist(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def _g10(blk: _Block, tables: Tables) -> list[Op]:
    """G10 L2/L20 Pn: write a work offset (EEPROM, so GRBL syncs the planner first)."""
    v, axis, gc, modal, scale, tlo_z = blk.words.values, blk.axis, blk.gc, blk.modal, blk.scale, blk.tlo_z
    blk.used |= {"L", "P"}
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


def _arc(blk: _Block, tol: float) -> list[Op]:
    """G2/G3: GRBL's radius/offset checks, then mc_arc's chord segments (arc tolerance $12)."""
    v, axis, pos, target, modal = blk.words.values, blk.axis, blk.gc.position, blk.target, blk.modal
    scale, feed, used = blk.scale, blk.feed, blk.used
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
        f = feed * _dist(prev, list(p)) * len(points) if modal.feed_mode == "G93" else feed  # 1/F min in all
        ops.append(Op("line", target=p, feed=f))
        prev = list(p)
    return ops
