"""Soft limits on (`$20=1`): stock GRBL keeps machine coordinates in [-$130, 0] x [-$131, 0]. A program is
judged where it will run (work + GRBL's work offset) before its first byte (issue 15), and a
`machine_space: negative` profile's G-code (with its `G10 L2 P1` work offset) plans and estimates
like any other."""

from __future__ import annotations

import numpy as np
import pytest

from plotter.gcode import emit, load_profile
from plotter.gcode.bed import OffBedError, check_soft_limits, machine_bed
from plotter.plan.estimate import estimate_gcode
from plotter.sketch import Sketch

SOFT = {20: "1", 130: "310", 131: "220"}
SQUARE = Sketch([np.array([[10.0, 10], [30, 10], [30, 30], [10, 30], [10, 10]])], unit="mm")


def _homed(tmp_path):  # type: ignore[no-untyped-def]
    prof = tmp_path / "homed.yaml"
    prof.write_text("extends: grbl-servo\nname: homed\nbed: {machine_space: negative}\n")
    return load_profile(str(prof))


def test_shipped_profile_at_machine_zero_is_refused_with_the_fix() -> None:
    lines = emit(SQUARE, load_profile("grbl-servo"))
    with pytest.raises(OffBedError, match=r"X -310\.\.0, Y -220\.\.0.*X 0\.\.30.*machine_space: negative"):
        check_soft_limits(lines, machine_bed("grbl-servo"), SOFT, (0.0, 0.0, 0.0))
    check_soft_limits(lines, machine_bed("grbl-servo"), SOFT, (-300.0, -215.0, 0.0))  # origin inside
    check_soft_limits(lines, machine_bed("grbl-servo"), {**SOFT, 20: "0"}, (0.0, 0.0, 0.0))  # off
    check_soft_limits(lines, machine_bed("grbl-servo"), SOFT, None)  # offset unknown: GRBL alone judges


def test_negative_machine_space_uses_its_own_offset_and_names_the_travel(tmp_path) -> None:
    profile = _homed(tmp_path)
    lines = emit(SQUARE, profile)
    check_soft_limits(lines, machine_bed(profile), SOFT, (0.0, 0.0, 0.0))  # its own G10 L2 wins
    with pytest.raises(OffBedError, match=r"bed is 310 x 220 mm and GRBL's travel 300 x 200 mm: set \$130"):
        check_soft_limits(lines, machine_bed(profile), {**SOFT, 130: "300", 131: "200"}, None)


def test_estimate_follows_the_profile_work_offset(tmp_path) -> None:
    """Was: `plotter draw --profile` with `machine_space: negative` failed: 'G10 is not supported by the time
    estimate'. The square is 80 mm of drawing either way; the homed job adds the travel from machine zero."""
    stock, homed = load_profile("grbl-servo"), _homed(tmp_path)
    plain = estimate_gcode(emit(SQUARE, stock), stock.kinematics())
    moved = estimate_gcode(emit(SQUARE, homed), homed.kinematics())
    assert moved.distance_draw == pytest.approx(plain.distance_draw) == pytest.approx(80.0)
    assert moved.distance_travel > plain.distance_travel + 50  # it starts at machine 0,0, not work 0,0
