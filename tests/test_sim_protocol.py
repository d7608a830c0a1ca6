"""The simulated GRBL answers like GRBL 1.1h: `$` commands, settings, error codes, line rules."""

from __future__ import annotations

import pytest

from plotter.grbl.protocol_grblsim import Serial

BANNER = "Grbl 1.1h ['$' for help]"


class Console:
    """Send one line, collect every response line up to its ok/error (what a terminal user sees)."""

    def __init__(self, **options: object) -> None:
        self.port = Serial.simulated(timeout=30.0, latency_ms=0.0, **options)
        self.machine = self.port.machine
        self.startup = self.until(lambda r: r == BANNER)

    def until(self, done) -> list[str]:  # type: ignore[no-untyped-def]
        out = []
        while True:
            raw = self.port.readline()
            assert raw, f"no answer; got so far {out}"
            text = raw.decode().strip()
            if text:
                out.append(text)
            if done(text):
                return out

    def send(self, line: str) -> list[str]:
        self.port.write((line + "\n").encode())
        return self.until(lambda r: r == "ok" or r.startswith(("error:", "ALARM:")))

    def status(self) -> str:
        self.port.write(b"?")
        return self.until(lambda r: r.startswith("<"))[-1]


@pytest.fixture
def grbl() -> Console:
    return Console()


def test_banner_and_build_info(grbl: Console) -> None:
    assert grbl.startup == [BANNER]
    assert grbl.send("$I") == ["[VER:1.1h.20190830:]", "[OPT:V,15,128]", "ok"]
    assert Console(rx=256, blocks=31).send("$I")[1] == "[OPT:V,31,256]"


def test_settings_dump_has_grbl_order_and_format(grbl: Console) -> None:
    lines = grbl.send("$$")
    assert lines[-1] == "ok"
    numbers = [int(line[1:].split("=")[0]) for line in lines[:-1]]
    assert numbers == [0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32] + [
        100, 101, 102, 110, 111, 112, 120, 121, 122, 130, 131, 132
    ]
    assert "$11=0.010" in lines and "$32=0" in lines and "$110=5000.000" in lines and "$132=10.000" in lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("$110=4000", "ok"),
        ("$110=-1", "error:4"),  # negative value
        ("$0=2", "error:6"),  # step pulse < 3 us
        ("$20=1", "error:10"),  # soft limits need homing
        ("$100=1000", "error:12"),  # 1000 steps/mm at 5000 mm/min > 30 kHz
        ("$99=1", "error:3"),  # no such setting
        ("$110=abc", "error:2"),  # bad number
        ("$110:5", "error:3"),  # no '='
        ("$Q", "error:2"),  # system.c reads a setting number: none there
        ("$$$", "error:3"),
        ("$#", "ok"),
    ],
)
def test_setting_writes_are_validated(grbl: Console, line: str, expected: str) -> None:
    assert grbl.send(line)[-1] == expected


def test_setting_write_changes_motion(grbl: Console) -> None:
    grbl.send("$110=1000")
    assert grbl.machine.queue.kinematics.max_rate[0] == 1000.0
    assert "$110=1000.000" in grbl.send("$$")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("G1 X10", 22),  # no feed rate yet
        ("G5 X1", 20),  # unsupported G
        ("M7", 20),  # mist coolant not compiled in
        ("Q5", 20),  # unknown word letter
        ("G0 G1 X1", 24),  # two axis commands
        ("G90 G91", 21),  # same modal group
        ("M3 M5", 21),
        ("X1 X2", 25),  # repeated word
        ("G1.5 X1", 23),  # non-integer G
        ("G4", 28),  # G4 needs P
        ("G0 X1 P2", 36),  # unused value word
        ("X", 2),  # number missing
        ("G1 X1..2 F100", 1),  # '.' where a letter must be
        ("5X", 1),
        ("F-100", 4),
        ("N10000001 G0 X1", 27),
        ("G2 X10 Y10 F100", 35),  # arc without I/J/R
        ("G80 X1", 31),  # axis words without a motion mode
        ("G10 L2 P7 X0", 29),
        ("G53 G2 X1 I1 F100", 30),
        ("T300", 38),
    ],
)
def test_gcode_errors_use_grbl_codes(grbl: Console, line: str, code: int) -> None:
    assert grbl.send(line) == [f"error:{code}"]


def test_comments_spaces_case_and_line_numbers(grbl: Console) -> None:
    assert grbl.send("n5 g21 (units) g90 ; absolute") == ["ok"]
    assert grbl.send("(only a comment)") == ["ok"]
    assert grbl.send("") == ["ok"]
    assert grbl.send("g0x1y2") == ["ok"]
    assert grbl.send("$G") == ["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]


def test_line_length_limit_is_79_characters_after_stripping(grbl: Console) -> None:
    body = "G0X1" + "0" * 75  # 79 characters: fits
    assert len(body) == 79 and grbl.send(body) == ["ok"]
    assert grbl.send(body + "0") == ["error:11"]
    spaced = " ".join("G0X1") + " " * 100 + "(a comment that does not count)"
    assert grbl.send(spaced) == ["ok"]


def test_gc_state_reflects_modal_state(grbl: Console) -> None:
    grbl.send("G20 G91 G1 F10 M3 S500 T2")
    grbl.send("G55")
    assert grbl.send("$G")[0] == "[GC:G1 G55 G17 G20 G91 G94 M3 M9 T2 F10 S500]"


def test_parameters_report_offsets(grbl: Console) -> None:
    grbl.send("G10 L2 P1 X5 Y6")
    grbl.send("G0 X10 Y10")
    grbl.send("G92 X0 Y0")
    assert grbl.send("$#") == ["error:8"]  # still moving: $# needs Idle
    grbl.send("G4 P0")  # GRBL's "wait until idle"
    params = grbl.send("$#")
    assert "[G54:5.000,6.000,0.000]" in params
    assert "[G92:10.000,10.000,0.000]" in params
    assert params[-1] == "ok"


def test_homing_lock_unlock_and_home() -> None:
    grbl = Console(homing=True)
    assert grbl.startup == [BANNER]
    assert grbl.until(lambda r: r.startswith("[MSG")) == ["[MSG:'$H'|'$X' to unlock]"]
    assert grbl.status().startswith("<Alarm|")
    assert grbl.send("G0 X10") == ["error:9"]
    assert grbl.send("$$")[-1] == "ok"  # settings stay reachable while locked
    assert grbl.send("$X") == ["[MSG:Caution: Unlocked]", "ok"]
    assert grbl.send("G0 X10") == ["ok"]
    assert grbl.send("$H") == ["error:8"]  # not while moving
    grbl.send("G4 P0")
    t0 = grbl.port.link.clock.now()
    assert grbl.send("$H") == ["ok"]
    assert grbl.port.link.clock.now() - t0 > 1.0  # seek, locate and pull-off take machine time
    assert grbl.status().startswith("<Idle|MPos:-299.000,-199.000,-9.000")  # $23=7: pull-off - travel


def test_homing_disabled_is_error_5(grbl: Console) -> None:
    assert grbl.send("$H") == ["error:5"]


def test_check_mode_parses_without_moving_and_resets_when_left(grbl: Console) -> None:
    assert grbl.send("$C") == ["[MSG:Enabled]", "ok"]
    assert grbl.status().startswith("<Check|")
    assert grbl.send("G1 X50 F1000") == ["ok"]
    assert grbl.send("G1 X50 Q1") == ["error:20"]
    assert grbl.machine.queue.idle and grbl.machine.trace.segments == []
    assert grbl.send("$C") == ["[MSG:Disabled]", "ok"]
    assert grbl.until(lambda r: r == BANNER) == [BANNER]  # GRBL soft-resets when check mode ends
    assert grbl.status().startswith("<Idle|MPos:0.000,0.000,0.000")


def test_startup_lines_run_after_reset(grbl: Console) -> None:
    assert grbl.send("$N0=G21 G91") == ["ok"]
    assert grbl.send("$N1=G5") == ["error:20"]  # validated before storing
    assert grbl.send("$N") == ["$N0=G21G91", "$N1=", "ok"]
    grbl.port.write(b"\x18")
    assert grbl.until(lambda r: r.startswith(">")) == [BANNER, ">G21G91:ok"]
    assert "G91" in grbl.send("$G")[0]


def test_help_and_sleep(grbl: Console) -> None:
    assert grbl.send("$")[0].startswith("[HLP:$$ $# $G $I $N")
    assert grbl.send("$SLP") == ["[MSG:Sleeping]", "ok"]
    assert grbl.status().startswith("<Sleep|")


def test_settings_restore(grbl: Console) -> None:
    grbl.send("$110=1234")
    grbl.port.write(b"$RST=$\n")
    assert grbl.until(lambda r: r == BANNER) == ["[MSG:Restoring defaults]", "ok", BANNER]
    assert "$110=5000.000" in grbl.send("$$")


def test_status_report_fields_follow_dollar_10(grbl: Console) -> None:
    first = grbl.status()
    assert first == "<Idle|MPos:0.000,0.000,0.000|Bf:15,128|FS:0,0|WCO:0.000,0.000,0.000>"
    assert grbl.status() == "<Idle|MPos:0.000,0.000,0.000|Bf:15,128|FS:0,0|Ov:100,100,100>"
    grbl.send("$10=0")
    grbl.send("G10 L20 P1 X-5")  # "call this spot work X-5": the work offset becomes +5
    report = grbl.status()
    assert report.startswith("<Idle|WPos:-5.000,0.000,0.000|FS:0,0") and "Bf:" not in report
    assert "WCO:5.000,0.000,0.000" in report  # a changed offset is reported at once


def test_arc_is_split_into_chords_within_tolerance(grbl: Console) -> None:
    grbl.send("G1 X10 Y0 F3000")
    grbl.send("G3 X0 Y10 I-10 J0")
    grbl.send("G4 P0")
    segs = grbl.machine.trace.segments[1:]
    assert len(segs) > 20
    radius_error = max(abs((s.end[0] ** 2 + s.end[1] ** 2) ** 0.5 - 10.0) for s in segs)
    assert radius_error < 1e-6  # chord ends lie on the arc
    assert segs[-1].end[:2] == pytest.approx((0.0, 10.0))


def test_random_lines_always_get_exactly_one_answer() -> None:
    """Fuzz: whatever a line holds, GRBL answers it once (ok or error:N) and the simulator never raises."""
    import random

    rng = random.Random(7)
    alphabet = "GMXYZFSPNTIJKRL0123456789.-+ ()$=;?xyzg\t"
    grbl = Console()
    grbl.send("$X")
    for _ in range(300):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        line = line.replace("?", "")  # '?' is real-time: it adds a status report, not a line
        answer = grbl.send(line)
        assert len(answer) >= 1 and (answer[-1] == "ok" or answer[-1].startswith(("error:", "ALARM:"))), line
        if answer[-1].startswith("ALARM:"):
            grbl.port.write(b"\x18")
            grbl.until(lambda r: r == BANNER)
            grbl.send("$X")
        grbl.send("G4 P0")  # let any motion finish so `$` lines are not refused for a moving machine
