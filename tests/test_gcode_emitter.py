"""The emitter: every line GRBL-valid, pen and dwell discipline, frames, and a geometry round trip."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plotter.errors import GcodeError, LayoutError
from plotter.gcode import check_line, check_program, emit, load_profile, profile_from_dict
from plotter.gcode.emitter import fmt
from plotter.sketch import Sketch

PROFILES = ["grbl-servo", "grbl-z", "grblhal", "fluidnc"]


def sketch_mm(*strokes):
    return Sketch([np.asarray(s, dtype=float) for s in strokes], unit="mm")


def replay(lines, profile):
    """Re-draw G-code: pen-down polylines in machine coordinates, plus the pen state at each motion."""
    pos, pen_down, strokes, current = np.zeros(2), False, [], None
    for line in lines:
        words = dict((w[0], w[1:]) for w in line.split() if w[0] in "GXYZFMSP")
        if (
            line == profile.pen.down_command
            and profile.pen.mode == "servo"
            or (profile.pen.mode == "z" and "Z" in words and float(words["Z"]) == profile.pen.z_down)
        ):
            pen_down, current = True, [pos.copy()]
            strokes.append(current)
        elif (
            line == profile.pen.up_command
            and profile.pen.mode == "servo"
            or (profile.pen.mode == "z" and "Z" in words and float(words["Z"]) == profile.pen.z_up)
        ):
            pen_down = False
        elif "X" in words or "Y" in words:
            pos = np.array([float(words.get("X", pos[0])), float(words.get("Y", pos[1]))])
            if words.get("G") == "0":
                assert not pen_down, f"rapid move with the pen down: {line}"
            if pen_down:
                current.append(pos.copy())
    return [np.array(s) for s in strokes]


@pytest.mark.parametrize("name", PROFILES)
def test_every_line_is_valid_for_its_firmware(name):
    p = load_profile(name)
    lines = emit(sketch_mm([[10, 10], [20, 10], [20, 20]], [[30, 30]], [[40, 40], [41.5, 40.25]]), p)
    for line in lines:
        assert check_line(line, p) == [], line
        assert len(line) + 1 <= p.output.max_line_length
    assert check_program(lines, p) == []
    assert lines[-1] == "M2"
    assert "G21" in lines[1] and "G90" in lines[1]


def test_pen_discipline_and_dwells_servo():
    p = load_profile("grbl-servo")
    lines = emit(sketch_mm([[10, 10], [20, 10]], [[30, 30], [40, 30]]), p)
    first_motion = next(i for i, line in enumerate(lines) if line.startswith(("G0", "G1")))
    assert lines.index(p.pen.up_command) < first_motion  # pen up before anything moves
    for i, line in enumerate(lines):
        if line in (p.pen.up_command, p.pen.down_command):
            assert lines[i + 1].startswith("G4 P"), "every pen move is followed by a dwell"
    last_down = max(i for i, line in enumerate(lines) if line == p.pen.down_command)
    assert p.pen.up_command in lines[last_down:]  # pen up at the end
    assert lines.count(p.pen.down_command) == 2
    assert lines[-2] == "G0 X0 Y0"  # home with the pen up, then M2
    feeds = [line for line in lines if " F" in line]
    assert len(feeds) == 1  # F only when it changes


def test_y_axis_is_flipped_for_a_y_up_machine_only():
    up = load_profile("grbl-servo")  # bottom-left origin, 220 mm tall bed
    lines = emit(sketch_mm([[10, 20], [30, 40]]), up)
    assert "G0 X10 Y200" in lines and "G1 X30 Y180 F3000" in lines
    down = dataclasses.replace(up, bed=dataclasses.replace(up.bed, origin="top-left"))
    lines = emit(sketch_mm([[10, 20], [30, 40]]), down)
    assert "G0 X10 Y20" in lines and "G1 X30 Y40 F3000" in lines


def test_z_pen_uses_feed_and_restores_draw_feed():
    p = load_profile("grbl-z")
    lines = emit(sketch_mm([[10, 10], [20, 10]], [[30, 30], [40, 30]]), p)
    assert "G1 Z0 F600" in lines and "G0 Z3" in lines
    draws = [line for line in lines if line.startswith("G1 X")]
    assert all(line.endswith("F2500") for line in draws)  # F re-stated after every Z plunge


def test_travel_feed_uses_g1():
    p = profile_from_dict({"name": "t", "motion": {"travel_feed": 6000}})
    lines = emit(sketch_mm([[10, 10], [20, 10]]), p)
    assert not any(line.startswith("G0 X") for line in lines)
    assert any(line.startswith("G1 X10") and line.endswith("F6000") for line in lines)


@pytest.mark.parametrize(
    "value, text", [(12.5, "12.5"), (3.0, "3"), (-0.0001, "0"), (-2.25, "-2.25"), (0.1, "0.1")]
)
def test_numbers_are_short(value, text):
    assert fmt(value, 3) == text


def test_refuses_px_and_off_bed_geometry():
    p = load_profile("grbl-servo")
    with pytest.raises(GcodeError, match="mm"):
        emit(Sketch([np.array([[0, 0], [1, 1]])], unit="px"), p)
    with pytest.raises(LayoutError, match=r"by 40\.00 mm"):
        emit(sketch_mm([[0, 0], [350, 10]]), p)


def test_comment_is_cut_to_fit_a_short_line_limit():
    p = profile_from_dict({"name": "tiny", "output": {"max_line_length": 24}})
    lines = emit(sketch_mm([[1, 1], [2, 2]]), p, job_name="a (very) long job name with ; odd chars")
    assert all(check_line(line, p) == [] for line in lines)
    assert lines[0].startswith("(") and len(lines[0]) <= 23


def test_a_profile_line_that_is_too_long_is_an_error():
    p = profile_from_dict({"name": "tiny", "output": {"max_line_length": 24}})
    with pytest.raises(GcodeError, match="error:11"):
        emit(
            sketch_mm([[1.123456, 1.123456], [123.123456, 123.123456]]),
            dataclasses.replace(p, output=dataclasses.replace(p.output, decimals=6, max_line_length=20)),
        )


coords = st.floats(min_value=0, max_value=200, allow_nan=False)
strokes = st.lists(st.lists(st.tuples(coords, coords), min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(strokes=strokes, name=st.sampled_from(PROFILES))
def test_round_trip_draws_the_same_geometry(strokes, name):
    p = load_profile(name)
    sk = sketch_mm(*strokes)
    lines = emit(sk, p)
    assert check_program(lines, p) == []
    drawn = replay(lines, p)
    assert len(drawn) == len(sk.strokes)
    for got, want in zip(drawn, sk.strokes):
        want = np.column_stack([want[:, 0], p.bed.height - want[:, 1]])
        # consecutive duplicates (after rounding) are not re-sent
        keep = np.r_[True, np.any(np.abs(np.diff(np.round(want, 3), axis=0)) > 0, axis=1)]
        np.testing.assert_allclose(got, want[keep], atol=6e-4)
