"""Table tests for the GRBL response parsers and code tables (texts from gnea/grbl doc/csv)."""

from __future__ import annotations

import pytest

from plotter.grbl.codes import ALARMS, ERRORS, describe_alarm, describe_error
from plotter.grbl.protocol import (
    Alarm,
    Banner,
    Echo,
    Error,
    GcState,
    Help,
    Message,
    Ok,
    Options,
    Parameter,
    Setting,
    StartupLine,
    StartupResult,
    Status,
    Unknown,
    Version,
    parse_gc_state,
    parse_line,
)

CASES = [
    ("ok", Ok()),
    ("ok\r\n", Ok()),
    ("error:22", Error(22)),
    ("ALARM:3", Alarm(3)),
    ("Grbl 1.1h ['$' for help]", Banner("Grbl", "1.1h", "Grbl 1.1h ['$' for help]")),
    ("GrblHAL 1.1f ['$' or '$HELP' for help]",
     Banner("GrblHAL", "1.1f", "GrblHAL 1.1f ['$' or '$HELP' for help]")),
    ("[MSG:'$H'|'$X' to unlock]", Message("'$H'|'$X' to unlock")),
    ("[MSG:Caution: Unlocked]", Message("Caution: Unlocked")),
    ("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]",
     GcState(("G0", "G54", "G17", "G21", "G90", "G94", "M5", "M9", "T0", "F0", "S0"))),
    ("[VER:1.1h.20190825:my plotter]", Version("1.1h.20190825", "my plotter")),
    ("[OPT:V,15,128]", Options("V", 15, 128)),
    ("[OPT:VL]", Options("VL", None, None)),
    ("[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]",
     Help(tuple("$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x".split()))),
    ("[G54:1.000,-2.500,0.000]", Parameter("G54", (1.0, -2.5, 0.0))),
    ("[TLO:0.000]", Parameter("TLO", (0.0,))),
    ("[PRB:0.000,0.000,0.000:0]", Parameter("PRB", (0.0, 0.0, 0.0), False)),
    ("[PRB:1.000,2.000,3.000:1]", Parameter("PRB", (1.0, 2.0, 3.0), True)),
    ("[echo:G1X0.540Y10.4F100]", Echo("G1X0.540Y10.4F100")),
    ("$110=5000.000", Setting(110, "5000.000")),
    ("$N0=G54", StartupLine(0, "G54")),
    ("$N1=", StartupLine(1, "")),
    (">G54G20:ok", StartupResult("G54G20", None)),
    (">G54G20:error:20", StartupResult("G54G20", 20)),
    (">:error:7", StartupResult("", 7)),
    ("o\x7fk", Unknown("o\x7fk")),
    ("<Bogus|MPos:0,0,0>", Unknown("<Bogus|MPos:0,0,0>")),
    ("[XYZ:1]", Unknown("[XYZ:1]")),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_parse_line_table(raw: str, expected: object) -> None:
    assert parse_line(raw) == expected


def test_parse_bytes_with_garbage_is_unknown_not_exception() -> None:
    assert isinstance(parse_line(b"\xff\xfeok"), Unknown)


STATUS_CASES = [
    ("<Idle|MPos:0.000,0.000,0.000|FS:0,0>",
     dict(state="Idle", substate=None, mpos=(0.0, 0.0, 0.0), feed=0.0, spindle=0.0)),
    ("<Hold:1|MPos:10.000,5.500,0.000|Bf:12,100|FS:1500,1000|Ln:42>",
     dict(state="Hold", substate=1, planner_free=12, rx_free=100, line_number=42, feed=1500.0,
          spindle=1000.0)),
    ("<Run|WPos:-2.500,0.000,11.000|F:500|WCO:0.000,1.551,5.664>",
     dict(state="Run", wpos=(-2.5, 0.0, 11.0), feed=500.0, wco=(0.0, 1.551, 5.664))),
    ("<Door:2|MPos:1,2,3|Ov:100,50,120|A:SFM|Pn:XYZPD>",
     dict(state="Door", substate=2, overrides=(100, 50, 120), accessories="SFM", pins="XYZPD")),
    ("<Alarm|MPos:0.000,0.000,0.000,1.000|FS:0,0>", dict(state="Alarm", mpos=(0.0, 0.0, 0.0, 1.0))),
]


@pytest.mark.parametrize(("raw", "fields"), STATUS_CASES)
def test_status_fields(raw: str, fields: dict) -> None:
    status = parse_line(raw)
    assert isinstance(status, Status)
    for name, value in fields.items():
        assert getattr(status, name) == value, name


def test_status_label_and_work_position() -> None:
    status = parse_line("<Hold:0|MPos:10.000,5.000,1.000|WCO:1.000,1.000,1.000>")
    assert isinstance(status, Status)
    assert status.label == "Hold:0"
    assert status.work_position() == (9.0, 4.0, 0.0)
    later = parse_line("<Run|MPos:3,3,3>")
    assert isinstance(later, Status)
    assert later.work_position() is None
    assert later.work_position(status.wco) == (2.0, 2.0, 2.0)


def test_malformed_status_number_is_unknown() -> None:
    assert isinstance(parse_line("<Idle|MPos:1.0,x,0>"), Unknown)


def test_gc_state_groups() -> None:
    gc = parse_line("[GC:G1 G54 G17 G20 G91 G94 M3 M9 T0 F1500. S300.]")
    assert isinstance(gc, GcState)
    groups = parse_gc_state(gc)
    assert groups["motion"] == "G1" and groups["units"] == "G20" and groups["distance"] == "G91"
    assert groups["spindle"] == "M3" and groups["feed"] == "1500." and groups["speed"] == "300."


def test_code_tables_complete() -> None:
    assert set(ERRORS) == set(range(1, 18)) | set(range(20, 39))
    assert set(ALARMS) == set(range(1, 11))
    assert describe_error(22).startswith("error:22 Undefined feed rate: Feed rate has not yet been set")
    assert "Soft limit" in describe_alarm(2) and "machine travel" in describe_alarm(2)
    assert describe_error(99) == "error:99 Unknown error: error:99 is not a GRBL 1.1 error code."
    assert Error(11).text.startswith("error:11 Line overflow")
    assert Alarm(3).text.startswith("ALARM:3 Abort during cycle")


@pytest.mark.parametrize(("banner", "limit"), [
    ("Grbl 1.1h ['$' for help]", 79),
    ("GrblHAL 1.1f ['$' or '$HELP' for help]", 256),
    ("Grbl 3.7 [FluidNC v3.7.8 (wifi) '$' for help]", 255),
])
def test_line_limit_follows_the_firmware_banner(banner: str, limit: int) -> None:
    from plotter.grbl.results import MachineInfo

    parsed = parse_line(banner)
    assert isinstance(parsed, Banner)
    assert MachineInfo(parsed, None, None, 128, 15, {}, None).line_limit == limit
