"""Resume after `error:N`: draw what GRBL skipped, never what it ran.

GRBL answers `error:N` to a line it refuses and goes on with the lines behind it in its RX buffer: they get
their `ok` and run. Restarting from the last pen-up before the errored line (`journal.resume_plan`) would draw
all of them a second time. The streamer waits after an error until GRBL has run what it took and journals that
(`JournalState.ran`); from it, this module replays the machine twice (as the program meant it, and as GRBL ran
it with the refused lines left out), finds the first line from which both agree (same position, pen, units
and distance mode), and resumes as: go to where the errored line starts, put the pen as it was, send the
lines that did not run as meant (the errored ones, and the move whose start point they shifted), then lift,
travel to where the run stopped and continue with the first line it never took.
"""

from __future__ import annotations

from collections.abc import Sequence

from plotter.grbl.flow import clean_line
from plotter.grbl.journal import (
    JournalState,
    PenCommands,
    ResumePlan,
    _advance,
    _next_motions,
    _num,
    _pen_event,
    resume_plan,
)

Snapshot = tuple[dict, dict, str | None]  # modal state, X/Y position, pen ("up", "down", None) before a line


def plan_resume(lines: Sequence[str], state: JournalState, pens: PenCommands | None = None) -> ResumePlan:
    """The resume for a journal's last run: after `error:N` with GRBL known at rest, `error_resume`;
    otherwise from the last pen-up before the first line not known done (`resume_plan`)."""
    if state.status == "error" and state.ran is not None and state.errors:
        return error_resume(lines, state.errors, state.ran, pens)
    return resume_plan(lines, state.failure_point, pens)


def error_resume(lines: Sequence[str], errors: Sequence[int], ran: int,
                 pens: PenCommands | None = None) -> ResumePlan:
    """Lines before `ran` ran, except `errors` (refused): replay only what did not run as the program meant.

    Everything before the first error ran as meant (GRBL runs lines in order), so the machine state there is
    the program's own; from there two replays, one skipping `errors`, show which later lines ran from another
    state than the program expected (a move after a skipped move starts elsewhere; after a skipped pen-down a
    stroke was moved with the pen up). Those and the errored lines are sent again in the preamble.
    """
    pens = pens or PenCommands()
    cleaned = [clean_line(line) for line in lines]
    ran = max(0, min(ran, len(cleaned)))
    skipped = {i for i in errors if 0 <= i < ran}
    if not skipped:
        return resume_plan(lines, ran, pens)
    first, last = min(skipped), max(skipped)
    nxt = _next_motions(cleaned)
    meant = _replay(cleaned, nxt, pens, 0, ran, set(), None)
    actual = _replay(cleaned, nxt, pens, first, ran, skipped, meant[first])
    agree = next((k for k in range(last + 1, ran + 1) if _same(meant[k], actual[k - first])), ran)
    redo = [cleaned[i] for i in range(first, agree) if cleaned[i]]
    pre = list(_restore(cleaned, meant, first, nxt, pens))
    notes = [f"GRBL refused line{'s' if len(skipped) > 1 else ''} "
             f"{', '.join(str(i + 1) for i in sorted(skipped))} and ran the rest it had taken: sending "
             f"{len(redo)} line{'s' if len(redo) != 1 else ''} again, then continuing after line {ran}"]
    if agree >= ran:  # nothing after the error ran as meant: the run simply continues at the errored line
        return ResumePlan(first, tuple(pre), _xy(meant[first]), tuple(notes))
    pre += redo
    pre += _restore(cleaned, meant, ran, nxt, pens)
    return ResumePlan(ran, tuple(pre), _xy(meant[ran]), tuple(notes))


def _replay(cleaned: list[str], nxt: list[str | None], pens: PenCommands, start: int, stop: int,
            skip: set[int], at_start: Snapshot | None) -> list[Snapshot]:
    """The state before each line start..stop (inclusive), running lines start..stop-1 except `skip`."""
    state, pos, pen = ({**at_start[0]}, {**at_start[1]}, at_start[2]) if at_start else (
        {"units": None, "distance": "G90", "motion": "G0", "feed": None}, {"X": 0.0, "Y": 0.0}, None)
    out: list[Snapshot] = []
    for i in range(start, stop + 1):
        out.append(({**state}, {**pos}, pen))
        if i == stop:
            break
        if i in skip:
            continue
        event = _pen_event(cleaned[i], pens, nxt[i])
        pen = event or pen
        _advance(cleaned[i], state, pos)
    return out


def _same(a: Snapshot, b: Snapshot) -> bool:
    """Two machine states from which the same lines draw the same thing (feed and G0/G1 only change speed)."""
    return (a[2] or "up") == (b[2] or "up") and all(
        a[0][k] == b[0][k] for k in ("units", "distance")) and all(
        abs(a[1][axis] - b[1][axis]) < 1e-6 for axis in ("X", "Y"))


def _xy(snap: Snapshot) -> tuple[float, float]:
    return snap[1]["X"], snap[1]["Y"]


def _restore(cleaned: list[str], meant: list[Snapshot], k: int, nxt: list[str | None],
             pens: PenCommands) -> list[str]:
    """Lines that put the machine where the program has it before line `k`: modes, pen up, travel there,
    the pen down again (with its dwell) when it was down, then the program's distance and motion modes."""
    state, pos, pen = meant[k]
    units = state["units"] or "G21"
    scale = 25.4 if units == "G20" else 1.0
    out = [units, "G90"]
    if state["feed"] is not None:
        out.append(f"F{state['feed']:g}")
    out += _pen_lines(cleaned, k, nxt, pens, "up")
    out.append(f"G0X{_num(pos['X'] / scale)}Y{_num(pos['Y'] / scale)}")
    if pen == "down":
        out += _pen_lines(cleaned, k, nxt, pens, "down")
    if state["distance"] == "G91":
        out.append("G91")
    if state["motion"] != "G0":
        out.append(state["motion"])
    return out


def _pen_lines(cleaned: list[str], k: int, nxt: list[str | None], pens: PenCommands, which: str) -> list[str]:
    """The profile's pen command, or the program's own last one before line `k` (or after, for a program
    that has not moved its pen yet), with the `G4` dwell that follows it in the program."""
    order = list(range(k - 1, -1, -1)) + list(range(k, len(cleaned)))
    for i in order:
        if _pen_event(cleaned[i], pens, nxt[i]) == which:
            follow = cleaned[i + 1] if i + 1 < len(cleaned) else ""
            own = list((pens.up if which == "up" else pens.down) or (cleaned[i],))
            return own + ([follow] if follow.startswith("G4") else [])
    return list(pens.up if which == "up" else pens.down)
