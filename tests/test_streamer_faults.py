"""Every fault the simulator can inject ends in a defined state: the error with its line, or a job that
resumes from the journal with nothing skipped and no line sent twice (bar the interrupted stroke)."""

from __future__ import annotations

import functools

import pytest
from streamsim import byte_index, drawn, machine_lines, sim, strokes_job

from plotter.errors import DeviceError, GrblError
from plotter.grbl.flow import clean_line
from plotter.grbl.journal import Journal, MemorySink, PenCommands, resume_plan
from plotter.grbl.replay import plan_resume
from plotter.grbl.results import AlarmError, LineError, LostAckError, PortLostError, ResetError
from plotter.grbl.streamer import Streamer

pytest.importorskip("plotter.grbl.protocol_grblsim")

LINES = strokes_job()
PENS = PenCommands(("M5",), ("M3S1000",))
SENT = [i for i, line in enumerate(LINES) if clean_line(line)]
LATER = SENT[len(SENT) // 2:]
# a drawing line mid-stroke, and a pen dwell right before a travel move
TARGET = next(i for i in LATER if LINES[i].startswith("G1 X") and LINES[i + 1].startswith("G1 X"))
DWELL = next(i for i in LATER if LINES[i].startswith("G4") and LINES[i + 1].startswith("G0"))
CONNECT_LINES = 2  # `$I` and `$$` reach the machine before the job


def _sim_line(index: int) -> int:
    """The simulator's 1-based count of the line it reads for program line `index`."""
    return CONNECT_LINES + SENT.index(index) + 1


@functools.cache
def _clean_run() -> tuple[frozenset, bytes]:
    """The job without faults: what it draws and the exact bytes the host writes (virtual time repeats)."""
    port = sim()
    streamer = Streamer(port)
    streamer.connect()
    streamer.stream(LINES)
    return frozenset(drawn(port.machine.trace)), bytes(port.written)


def _reference() -> frozenset:
    return _clean_run()[0]


def _clean_written() -> bytes:
    return _clean_run()[1]


def _faulted(query: str, expected: type[Exception]):  # type: ignore[no-untyped-def]
    port = sim(query)
    streamer = Streamer(port, pen_up=("M5",))
    streamer.connect()
    journal = Journal(MemorySink())
    with pytest.raises(expected) as info:
        streamer.stream(LINES, journal=journal)
    return info.value, journal, port


def _program_lines_received(port, **fault) -> list[str]:  # type: ignore[no-untyped-def]
    got = machine_lines(bytes(port.written), **fault)
    return [line for line in got if line and not line.startswith("$")]


def _assert_sent_once_in_order(received: list[str], start: int = 0) -> None:
    expected = [clean_line(LINES[i]) for i in SENT if i >= start]
    assert received == expected[:len(received)], "a line was sent twice, skipped or reordered"


def _resume_and_check(journal: Journal, first_port) -> None:  # type: ignore[no-untyped-def]
    """Resume on a fresh machine (as after re-homing); the two runs together draw the whole job."""
    state = journal.state()
    plan = resume_plan(LINES, state.failure_point, PENS)
    assert plan.start_index <= state.failure_point
    between = [i for i in range(plan.start_index, state.failure_point) if clean_line(LINES[i]) == "M5"]
    assert not between, "a finished stroke would be drawn again"
    port = sim()
    streamer = Streamer(port, pen_up=("M5",))
    streamer.connect()
    result = streamer.stream(LINES, plan.start_index, preamble=plan.preamble, journal=journal)
    assert result.status == "done"
    assert journal.state().status == "done" and journal.state().failure_point == len(LINES)
    second = machine_lines(bytes(port.written))
    second = [line for line in second if line and not line.startswith("$")]
    assert second == list(plan.preamble) + [clean_line(LINES[i]) for i in SENT if i >= plan.start_index]
    first_drawn, second_drawn = drawn(first_port.machine.trace), drawn(port.machine.trace)
    assert _reference() <= first_drawn | second_drawn, "part of the drawing was skipped"
    assert len(first_drawn & second_drawn) <= 15, "more than the interrupted stroke was drawn twice"


def test_error_at_line_k_names_the_line_and_drains() -> None:
    err, journal, port = _faulted(f"fault=error:20@line:{_sim_line(TARGET)}", LineError)
    assert err.index == TARGET and err.code == 20 and err.line == LINES[TARGET]
    assert f"line {TARGET + 1}:" in str(err) and "Unsupported command" in str(err)
    state = journal.state()
    assert state.status == "error" and state.error_index == TARGET and state.errors == (TARGET,)
    received = _program_lines_received(port)
    assert received[-1] == "M5", "the pen stays down where GRBL stopped"  # lifted once GRBL was at rest
    _assert_sent_once_in_order(received[:-1])
    assert err.result is not None and err.result.acked > TARGET + 1  # the buffered lines after it...
    assert state.ran == err.result.acked  # ...ran: the stream waited for GRBL to be at rest
    assert port.machine.queue.position[:2] == _xy_after(err.result.acked - 1)


def _xy_after(index: int) -> tuple[float, float]:
    from plotter.grbl.position import planned_positions

    pos = planned_positions([clean_line(line) for line in LINES[:index + 1]])[-1]
    assert pos is not None
    return pos[0], pos[1]


# the errored line: mid-stroke, a stroke's first segment, its pen-down, the pen-down's dwell, the travel to
# it, the pen-up before that
_ERRORED = [TARGET + 1, TARGET, TARGET - 2, TARGET - 1, TARGET - 3, TARGET - 5]


@pytest.mark.parametrize("target", _ERRORED)
def test_resume_after_error_draws_nothing_grbl_already_ran(target: int) -> None:
    """GRBL skips an `error:N` line and runs the ones behind it in its buffer. The resume sends the refused
    line again (with the move whose start it shifted) and continues after the last line GRBL took: the two
    runs draw the whole job, and no pen-down segment twice (the old resume, from the pen-up before the
    errored line, drew the buffered lines again: up to 18.6 mm on this job)."""
    assert [clean_line(LINES[i])[:2] for i in _ERRORED] == ["G1", "G1", "M3", "G4", "G0", "M5"]
    err, journal, first = _faulted(f"fault=error:20@line:{_sim_line(target)}", LineError)
    state = journal.state()
    plan = plan_resume(LINES, state, PENS)
    assert plan.start_index in (target, state.ran) and plan.notes
    second = sim()
    streamer = Streamer(second, pen_up=("M5",))
    streamer.connect()
    assert streamer.stream(LINES, plan.start_index, preamble=plan.preamble, journal=journal).status == "done"
    assert journal.state().status == "done"
    once, again = drawn(first.machine.trace), drawn(second.machine.trace)
    assert _reference() <= once | again, "part of the drawing was skipped"
    assert not once & again, "a segment GRBL had already drawn was drawn again"


def test_alarm_mid_job_stops_and_resumes_from_the_journal() -> None:
    err, journal, port = _faulted(f"fault=alarm:1@line:{_sim_line(TARGET)}", AlarmError)
    assert err.code == 1 and "Hard limit" in str(err) and "resumable" in str(err)
    assert journal.state().status == "alarm"
    _assert_sent_once_in_order(_program_lines_received(port))
    _resume_and_check(journal, port)


def test_reset_mid_job_is_detected_by_the_banner() -> None:
    err, journal, port = _faulted(f"fault=reset@line:{_sim_line(TARGET)}", ResetError)
    assert isinstance(err, GrblError) and "reset mid-job" in str(err) and "lost" in str(err)
    state = journal.state()
    assert state.status == "reset" and state.synced <= state.acked <= TARGET + 1
    _assert_sent_once_in_order(_program_lines_received(port))
    _resume_and_check(journal, port)


def test_port_vanishing_is_a_device_error_with_the_journal_intact() -> None:
    err, journal, port = _faulted(f"fault=vanish@line:{_sim_line(TARGET)}", PortLostError)
    assert isinstance(err, DeviceError) and "serial port lost" in str(err)
    state = journal.state()
    assert state.status == "vanished" and 0 < state.synced <= TARGET
    _resume_and_check(journal, port)


@pytest.mark.parametrize(("kind", "offset"), [("drop", None), ("garble", None), ("garble", 0)])
def test_dropped_or_garbled_byte_is_reported_with_its_line(kind: str, offset: int | None) -> None:
    written = _clean_written()
    text = clean_line(LINES[TARGET])
    where = byte_index(written, text, len(text) if offset is None else offset)  # the newline, or the 'G'
    err, journal, port = _faulted(f"fault={kind}@byte:{where}", LineError)
    assert err.index == TARGET, str(err)  # two lines ran together (lost newline) or 'G' became 'C'
    received = _program_lines_received(port, **{kind: where})
    assert received[SENT.index(TARGET)] != text  # what GRBL got differs from what we sent...
    assert journal.state().error_index == TARGET  # ...and the journal says where
    _resume_and_check(journal, port)


def test_silently_merged_lines_end_as_lost_ack_and_resume() -> None:
    """A lost newline between `G4 P0.15` and `G0 X.. Y..` makes one valid GRBL block: one `ok` for two lines.
    Nothing can tell at that moment; at the end GRBL is idle with a line never acknowledged."""
    written = _clean_written()
    where = byte_index(written, LINES[DWELL], len(clean_line(LINES[DWELL])))
    err, journal, port = _faulted(f"fault=drop@byte:{where}", LostAckError)
    assert "without acknowledging line" in str(err)
    state = journal.state()
    assert state.status == "lost" and state.synced <= state.acked < len(LINES)
    _resume_and_check(journal, port)
