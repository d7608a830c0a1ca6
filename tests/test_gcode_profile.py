"""Firmware profiles: bundled files load, every bad field is named, lookups suggest close names."""

import textwrap

import pytest

from plotter.errors import ProfileError
from plotter.gcode import bundled_profiles, load_profile, profile_from_dict
from plotter.gcode.profile import profile_to_dict
from plotter.gcode.schema import SPECS


def write(tmp_path, text, name="mine.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_bundled_profiles_load_with_their_firmware_limits():
    names = set(bundled_profiles())
    assert {"grbl-servo", "grbl-z", "grblhal", "fluidnc"} <= names
    assert load_profile("grbl-servo").output.max_line_length == 80
    assert load_profile("grblhal").controller.rx_buffer_size == 1024
    z = load_profile("grbl-z")
    assert z.pen.mode == "z" and z.pen.z_up != z.pen.z_down


def test_every_bundled_yaml_field_is_commented():
    for path in bundled_profiles().values():
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and ":" in line:
                key = line.split(":")[0].strip()
                if not line.rstrip().endswith(":"):  # section headers have no value
                    assert "#" in line, f"{path.name}: field {key!r} has no comment"


def test_kinematics_come_from_the_grbl_settings():
    k = load_profile("grbl-servo").kinematics()
    assert k.max_rate == (5000.0, 5000.0, 1000.0)
    assert k.accel == (800.0, 800.0, 100.0)
    assert k.junction_deviation == 0.01


@pytest.mark.parametrize(
    "body, message",
    [
        ("pen: {dwell_down: abc}", "mine.yaml: pen.dwell_down: must be a number >= 0, got 'abc'"),
        ("pen: {dwell_up: -1}", "pen.dwell_up: must be a number >= 0, got -1"),
        ("bed: {width: 0}", "bed.width: must be a number > 0"),
        ("bed: {widht: 100}", "bed.widht: unknown field; did you mean 'width'?"),
        ("pen: {mode: laser}", "pen.mode: must be one of servo, z"),
        ("firmware: marlin", "firmware: must be one of grbl, grblhal, fluidnc"),
        ("units: furlong", "units: must be one of mm, in"),
        ("output: {decimals: 2.5}", "output.decimals: must be an integer from 0 to 6"),
        ("output: {max_line_length: 120}", "grbl accepts at most 80 characters"),
        ("output: {comments: yes please}", "output.comments: must be true or false"),
        ("output: {header: [G28.3]}", "output.header[0]: 'G28.3' would be refused"),
        ("pen: {down_command: M3 S1000 X5}", "pen.down_command: a pen command must not move X or Y"),
        ("motion: {max_rate: {x: 1, y: 2}}", "motion.max_rate.z: missing"),
        ("motion: {acceleration: {x: 1, y: 2, z: fast}}", "motion.acceleration.z: must be a number > 0"),
        ("pen: {mode: z, z_up: 1, z_down: 1}", "pen.z_up: must differ from pen.z_down"),
        ("colour: red", "colour: unknown field"),
        ("bed: [1, 2]", "bed: must be a mapping"),
    ],
)
def test_invalid_fields_are_named(tmp_path, body, message):
    path = write(tmp_path, f"name: mine\n{body}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nbed: {width: 1\n  height: [\n")
    with pytest.raises(ProfileError, match=r"mine.yaml: invalid YAML at line \d"):
        load_profile(path)


def test_unknown_profile_suggests_close_names():
    with pytest.raises(ProfileError, match="did you mean grbl-servo"):
        load_profile("grbl-sevro")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("nope/missing.yaml")


def test_inches_are_converted_to_mm(tmp_path):
    path = write(tmp_path, "name: inch\nunits: in\nbed: {width: 10, height: 8}\nmotion: {draw_feed: 100}\n")
    p = load_profile(path)
    assert p.units == "mm"
    assert p.bed.width == pytest.approx(254.0) and p.motion.draw_feed == pytest.approx(2540.0)


def test_extends_overrides_a_few_fields(tmp_path):
    path = write(tmp_path, "extends: grbl-servo\nname: bigger\nbed: {width: 600}\n")
    p = load_profile(path)
    base = load_profile("grbl-servo")
    assert p.name == "bigger" and p.bed.width == 600 and p.bed.height == base.bed.height
    assert p.pen == base.pen
    loop = write(tmp_path, "extends: mine.yaml\n")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(loop)


def test_profile_search_path_env(tmp_path, monkeypatch):
    write(tmp_path, "name: shop\nbed: {width: 100, height: 100}\n", name="shop.yaml")
    monkeypatch.setenv("PLOTTER_PROFILE_PATH", str(tmp_path))
    assert load_profile("shop").bed.width == 100


def test_defaults_are_filled_and_round_trip():
    p = profile_from_dict({"name": "minimal", "firmware": "fluidnc"})
    assert p.output.max_line_length == 256 and p.controller.planner_blocks == 16
    d = profile_to_dict(p)
    assert set(d) == {
        "name",
        "description",
        "firmware",
        "units",
        "bed",
        "motion",
        "pen",
        "output",
        "controller",
    }
    assert profile_from_dict(d) == profile_from_dict(d)
    for section, spec in SPECS.items():
        assert set(d[section]) == set(spec)
