"""Journal records and resume planning, checked on the G-code our emitter writes (servo and Z pens)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from plotter.errors import JobError
from plotter.gcode import emit, load_profile
from plotter.grbl.flow import clean_line
from plotter.grbl.journal import (
    Journal,
    JournalState,
    JsonLinesSink,
    MemorySink,
    PenCommands,
    digest,
    load_state,
    resume_plan,
)
from plotter.sketch import Sketch


def _sketch() -> Sketch:
    rng = np.random.default_rng(3)
    strokes = [np.cumsum(rng.uniform(-4, 4, size=(n, 2)), axis=0) + 60 for n in (6, 3, 9, 2, 5)]
    return Sketch(strokes, unit="mm")


def _pens(profile) -> PenCommands:  # type: ignore[no-untyped-def]
    pen = profile.pen
    if pen.mode == "z":
        return PenCommands((f"G0Z{pen.z_up:g}",), (f"G1Z{pen.z_down:g}F{pen.z_feed:g}",))
    return PenCommands((clean_line(pen.up_command),), (clean_line(pen.down_command),))


def _is_down(line: str, pens: PenCommands) -> bool:
    return any(clean_line(line).startswith(d.split("F")[0]) for d in pens.down)


def _draw(lines: list[str], pens: PenCommands) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """An independent tiny plotter: pen-down XY segments of absolute-mm G-code (G0/G1, pen commands)."""
    pos, down, segs = (0.0, 0.0), False, []
    for raw in lines:
        text = clean_line(raw)
        if text in pens.up:
            down = False
            continue
        if _is_down(text, pens):
            down = True
            continue
        if text.startswith(("G0", "G1")) and ("X" in text or "Y" in text):
            x, y = pos
            for word in text.replace("G0", "").replace("G1", "").split("F")[0].replace("X", " X").replace(
                    "Y", " Y").split():
                if word[0] == "X":
                    x = float(word[1:])
                elif word[0] == "Y":
                    y = float(word[1:])
            if down and text.startswith("G1"):
                segs.append((pos, (x, y)))
            pos = (x, y)
    return segs


@pytest.mark.parametrize("profile_name", ["grbl-servo", "grbl-z"])
@pytest.mark.parametrize("detect", [True, False])
def test_resume_draws_everything_once_except_the_interrupted_stroke(profile_name: str, detect: bool) -> None:
    profile = load_profile(profile_name)
    lines = emit(_sketch(), profile)
    pens = _pens(profile)
    full = _draw(lines, pens)
    assert len(full) == sum(len(s) - 1 for s in _sketch().strokes)
    for failure in range(len(lines) + 1):
        plan = resume_plan(lines, failure, None if detect else pens)
        assert 0 <= plan.start_index <= failure
        before = _draw(lines[:failure], pens)
        after = _draw(list(plan.preamble) + lines[plan.start_index:], pens)
        # nothing skipped: every segment of the job is drawn by the first or the second run
        assert set(full) <= set(before) | set(after), failure
        # nothing drawn twice except the stroke that was being drawn at the failure
        twice = set(before) & set(after)
        first_down = min(i for i, line in enumerate(lines) if _is_down(line, pens))
        redo = range(max(plan.start_index, first_down), failure)
        pen_ups = [i for i in redo if clean_line(lines[i]) in pens.up]
        assert not pen_ups, f"a whole stroke is redrawn when failing at line {failure}"
        assert len(twice) <= max(len(s) for s in _sketch().strokes)
        if 0 < plan.start_index < len(lines):
            pre = plan.preamble
            assert pre[0] == "G21" and pre[1] == "G90"
            assert any(p in pens.up for p in pre), pre
            assert [p for p in pre if p.startswith("G0X")], pre


def test_resume_restores_relative_mode_and_inches() -> None:
    lines = ["G20", "G91", "M5", "G0X1Y1", "M3S1000", "G1X1F40", "G1Y1", "M5", "G0X1", "M3S1000", "G1X1",
             "M5"]
    plan = resume_plan(lines, 10)  # fails drawing the second stroke
    assert plan.start_index == 8
    assert plan.preamble == ("G20", "G90", "F40", "M5", "G0X2Y2", "G91", "G1")
    assert plan.position == pytest.approx((2 * 25.4, 2 * 25.4))


@pytest.mark.parametrize(("failure", "start"), [(0, 0), (1, 0), (3, 0), (5, 0), (6, 3), (9, 9)])
def test_resume_points(failure: int, start: int) -> None:
    lines = ["G21G90", "M5", "G4P0.2", "G0X10Y10", "G0X11Y11", "M3S1000", "G1X20Y10F1500", "G1X20Y20", "G4P0",
             "M5", "G0X0Y0"]
    assert resume_plan(lines, failure).start_index == start


def test_resume_when_complete() -> None:
    assert resume_plan(["G0X1"], 1).start_index == 1


def test_journal_marks_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "job.journal"
    lines = ["G21", "M5", "G0X1", "M3S1000", "G1X2F100", "M5"]
    journal = Journal(JsonLinesSink(path))
    journal.begin(lines)
    journal.ack(3, 2)
    journal.ack(3, 2)  # unchanged marks write nothing
    journal.ack(5, 4)
    journal.end("reset", "banner seen")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["t"] for r in records] == ["begin", "ack", "ack", "end"]
    state = Journal(JsonLinesSink(path)).state()
    expected = JournalState(
        6, digest(lines), acked=5, synced=4, status="reset", prefix=digest(lines[:4]),
        run_acked=5, run_synced=4,
    )
    assert state == expected
    assert state.failure_point == 4
    # a resumed run appends to the same journal and extends the marks
    again = Journal(JsonLinesSink(path))
    again.begin(lines, start=3)
    again.ack(6, 6)
    again.end("done")
    final = again.state()
    assert final.status == "done" and final.failure_point == 6 and final.synced == 6
    assert final.run_start == 3 and final.run_sent is None  # no write-ahead: the sent mark is unknown


def test_write_ahead_marks_are_the_latest_runs() -> None:
    """`sent` is recorded before each write; the run marks describe the latest run only (a resume that went
    back to a pen-up must not inherit the first run's higher acknowledged count)."""
    lines = [f"G1X{i}" for i in range(10)]
    sink = MemorySink()
    first = Journal(sink, write_ahead=True)
    first.begin(lines)
    assert first.state().run_sent == 0  # nothing written yet, and the journal says so
    first.sending(4, 0, 0)
    first.sending(4, 0, 0)  # unchanged: nothing written
    first.ack(2, 1)
    first.sending(6, 2, 1)
    first.ack(8, 1)  # acks after the last write raise the marks; `sent` stays where it was
    state = first.state()
    assert (state.run_start, state.run_acked, state.run_sent, state.acked) == (0, 8, 6, 8)
    assert [r["t"] for r in sink.records()] == ["begin", "send", "ack", "send", "ack"]
    again = Journal(sink, write_ahead=True)
    again.begin(lines, start=3)
    again.sending(5, 3, 3)
    state = again.state()
    assert (state.run_start, state.run_acked, state.run_sent) == (3, 3, 5)
    assert state.acked == 8  # the maxima over all runs are unchanged
    Journal(sink).begin(lines, start=5)  # a run without write-ahead: its sent mark is unknown
    assert Journal(sink).state().run_sent is None


def test_error_failure_point_is_the_errored_line() -> None:
    journal = Journal(MemorySink())
    journal.begin(["G0X1"] * 10)
    journal.ack(4, 2)
    journal.error(4, 22)
    journal.error(6, 20)  # a later line in GRBL's buffer failed too: the first error is the one that counts
    journal.ack(8, 2)
    journal.end("error")
    state = journal.state()
    assert state.error_index == 4 and state.error_code == 22 and state.failure_point == 4


def test_torn_last_record_is_ignored_but_corruption_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(JsonLinesSink(path))
    journal.begin(["G0X1", "G0X2"])
    journal.ack(1, 1)
    with path.open("a") as fh:
        fh.write('{"t":"ack","acked":2,"sy')  # the process died mid-write
    assert load_state(JsonLinesSink(path).records()).acked == 1
    path.write_text("garbage\n" + path.read_text())
    with pytest.raises(JobError, match="line 1 is not JSON"):
        JsonLinesSink(path).records()


def test_a_binary_or_foreign_file_is_a_job_error_not_a_decode_error(tmp_path: Path) -> None:
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b'{"t":"begin","lines":1,"digest":"x"}\n' + bytes(range(128, 256)) + b"\n{}\n")
    with pytest.raises(JobError, match=r"b.jsonl is not a journal \(line 2 is not UTF-8 text\)$"):
        JsonLinesSink(binary).records()
    listed = tmp_path / "l.jsonl"
    listed.write_text("[1, 2]\n{}\n")
    with pytest.raises(JobError, match=r"l.jsonl is not a journal \(line 1 is not a record object\)$"):
        JsonLinesSink(listed).records()
    with pytest.raises(JobError, match="cannot read journal"):
        JsonLinesSink(tmp_path).records()  # a directory


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"t": "ack", "acked": "zz", "synced": 1}, "record 2 ('ack') is malformed: invalid literal"),
        ({"t": "ack", "synced": 1}, "record 2 ('ack') is malformed: no field 'acked'"),
        ({"t": "send", "acked": 1, "synced": 1}, "record 2 ('send') is malformed: no field 'sent'"),
        ({"t": "error", "index": None, "code": 1}, "record 2 ('error') is malformed: int() argument"),
        ({"t": "ack", "acked": float("inf"), "synced": 1}, "record 2 ('ack') is malformed: cannot convert"),
        ({"t": "begin", "lines": "many", "digest": "x"}, "record 2 ('begin') is malformed"),
    ],
)
def test_a_malformed_record_is_one_line_naming_it(record: dict, message: str) -> None:
    with pytest.raises(JobError) as err:
        load_state([{"t": "begin", "lines": 3, "digest": "x"}, record])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_journal_refuses_another_program_and_empty_files(tmp_path: Path) -> None:
    sink = MemorySink()
    Journal(sink).begin(["G0X1"])
    Journal(sink).begin(["G0X2"])
    with pytest.raises(JobError, match="two different programs"):
        Journal(sink).state()
    with pytest.raises(JobError, match="no job"):
        load_state([])
    with pytest.raises(JobError, match="does not exist"):
        JsonLinesSink(tmp_path / "nope").records()


def test_digest_ignores_comments_and_spacing() -> None:
    assert digest(["G1 X1 (a)", "M5"]) == digest(["G1X1", "m5 ; up"])
    assert digest(["G1X1"]) != digest(["G1X2"])


def test_a_program_fixed_after_the_failure_point_is_accepted() -> None:
    lines = ["G21", "G90", "M5", "G0X1", "M3S1000", "G1X2", "G1X3F100", "M5"]  # G1X2: no feed, error:22
    sink = MemorySink()
    journal = Journal(sink)
    journal.begin(lines)
    journal.ack(5, 5)
    journal.error(5, 22)
    journal.end("error")
    state = load_state(sink.records())
    fixed = [*lines[:5], "G1X2F100", *lines[6:]]
    assert state.accepts(lines) and state.accepts(fixed)
    assert not state.accepts(["G20", *lines[1:]])  # changed before the failure: would redraw differently
    again = Journal(sink, edited_from=state.digest)
    again.begin(fixed, 5)
    again.ack(8, 8)
    again.end("done")
    final = load_state(sink.records())
    assert final.digest == digest(fixed) and final.status == "done"
    with pytest.raises(JobError, match="two different programs"):
        Journal(sink).begin(["G0X9"]) or load_state(sink.records())
