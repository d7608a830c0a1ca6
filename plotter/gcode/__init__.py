"""Firmware profiles (YAML -> frozen dataclasses), GRBL line rules and the G-code emitter. Torch-free."""

from plotter.gcode.emitter import emit, validate_lines
from plotter.gcode.pen import pen_commands
from plotter.gcode.profile import Profile, bundled_profiles, load_profile, profile_from_dict
from plotter.gcode.rules import check_line, check_program

__all__ = [
    "Profile",
    "bundled_profiles",
    "check_line",
    "check_program",
    "emit",
    "load_profile",
    "pen_commands",
    "profile_from_dict",
    "validate_lines",
]
