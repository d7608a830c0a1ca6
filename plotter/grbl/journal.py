"""A persistent record of what GRBL acknowledged, and the plan to resume a job after a failure.

GRBL's `ok` means "parsed and planned", not "drawn": after a reset or a USB drop up to a planner's worth
of acknowledged lines never ran. So the journal keeps two marks, `acked` (ok received) and `synced` (known
to have physically run: the ok of a G4/M3/M5 that empties the planner, or an idle machine), and a resume
starts from the last pen-up before the first line that is not known to be done. The sink is pluggable: a
JSON-lines file for the CLI, anything with `append`/`records` (a SQLite table) for the daemon.

With `write_ahead` (the daemon) a third mark, `sent`, is recorded *before* each line is written: no line at or
after it ever reached the wire. A machine that kept power runs every line it received, so after a kill or a
USB drop it stopped exactly after a line in [acked - 1, sent - 1] of the latest run, and its reported position
picks which one (`plotter.daemon.resume.exact_resume`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from plotter.errors import JobError
from plotter.grbl.flow import clean_line


class Sink(Protocol):
    """Where journal records go; records are small JSON-compatible dicts, appended in order."""

    def append(self, record: dict) -> None: ...

    def records(self) -> list[dict]: ...


class MemorySink:
    """Records in a list (tests, and the daemon before it stores them)."""

    def __init__(self) -> None:
        self._records: list[dict] = []

    def append(self, record: dict) -> None:
        self._records.append(dict(record))

    def records(self) -> list[dict]:
        return list(self._records)


class JsonLinesSink:
    """One JSON object per line, flushed and fsynced per record so a crash loses at most the last one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, record: dict) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise JobError(f"cannot write journal {self.path}: {exc.strerror or exc}") from None

    def records(self) -> list[dict]:
        """Every record; a file that is not a journal is one `JobError` line (callers need no guard).

        A torn last record (a crash mid-append) is dropped: everything before it stands.
        """
        if not self.path.exists():
            raise JobError(f"journal {self.path} does not exist")
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise JobError(f"cannot read journal {self.path}: {exc.strerror or exc}") from None
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:  # records are ASCII (json.dumps): this is some other file
            n = data.count(b"\n", 0, exc.start) + 1
            raise JobError(f"{self.path} is not a journal (line {n} is not UTF-8 text)") from None
        out: list[dict] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError, or nesting/int limits
                if n == len(lines) and out:
                    break  # a torn last record from a crash
                raise JobError(f"{self.path} is not a journal (line {n} is not JSON)") from None
            if not isinstance(record, dict):
                raise JobError(f"{self.path} is not a journal (line {n} is not a record object)")
            out.append(record)
        return out


def digest(lines: Sequence[str]) -> str:
    """Identity of a program as GRBL sees it, so a journal cannot be applied to another file."""
    h = hashlib.sha256()
    for line in lines:
        h.update(clean_line(line).encode("utf-8", errors="replace") + b"\n")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class JournalState:
    """What a journal says about a job: the marks are absolute line indices (0-based)."""

    total: int
    digest: str
    acked: int = 0
    synced: int = 0
    error_index: int | None = None
    error_code: int | None = None
    status: str | None = None  # last run's ending: done, error, alarm, reset, lost, vanished, cancelled
    prefix: str | None = None  # digest of the lines before the failure point, written at the end
    run_start: int = 0  # the latest run (a resume is a run) began at this line
    run_acked: int = 0  # that run's acknowledged mark (the marks above are maxima over all runs)
    run_synced: int = 0  # that run's known-to-have-run mark
    run_sent: int | None = None  # that run's write-ahead mark; None when it was not recorded
    errors: tuple[int, ...] = ()  # that run's error:N lines (GRBL skipped them, ran the rest it took)
    ran: int | None = None  # an error run waited until GRBL ran all it took: every line before this but
    # `errors` ran (`plotter.grbl.replay`); None when that is not known

    def accepts(self, lines: Sequence[str]) -> bool:
        """True for the same program, or one edited only at or after the failure point (a fixed line)."""
        if digest(lines) == self.digest:
            return True
        point = self.failure_point
        return self.prefix is not None and len(lines) >= point and digest(lines[:point]) == self.prefix

    @property
    def failure_point(self) -> int:
        """First line not known to be done; a resume goes back from here to a pen-up."""
        if self.status == "done":
            return self.total
        if self.status == "error" and self.error_index is not None:
            return self.error_index  # GRBL kept running what it had buffered; nothing before it was lost
        return self.synced


class Journal:
    """Records one job's progress through a sink; the streamer calls `begin`, `ack`, `error`, `end`."""

    def __init__(self, sink: Sink, edited_from: str | None = None, write_ahead: bool = False) -> None:
        """`edited_from`: the digest of the program an earlier run of this journal streamed, when the user
        fixed a line after the failure point and resumes with the edited file. `write_ahead`: record the
        `sent` mark before every write (one record per line: the daemon's SQLite, not an fsynced file)."""
        self.sink = sink
        self.edited_from = edited_from
        self.write_ahead = write_ahead
        self._acked = self._synced = self._sent = -1
        self._lines: Sequence[str] = ()
        self._error: int | None = None

    def begin(self, lines: Sequence[str], start: int = 0) -> None:
        record: dict = {"t": "begin", "lines": len(lines), "digest": digest(lines), "start": start}
        if self.edited_from and self.edited_from != record["digest"]:
            record["from"] = self.edited_from
        if self.write_ahead:
            record["wa"] = True
        self.sink.append(record)
        self._lines, self._error = lines, None
        self._acked = self._synced = self._sent = start

    def sending(self, upto: int, acked: int, synced: int) -> None:
        """Write-ahead, called before the bytes go out: no line at or after `upto` has been written."""
        if self.write_ahead and upto != self._sent:
            self._sent, self._acked, self._synced = upto, acked, synced
            self.sink.append({"t": "send", "sent": upto, "acked": acked, "synced": synced})

    def ack(self, acked: int, synced: int) -> None:
        """Marks moved: every line before `acked` got its ok, every line before `synced` ran."""
        if acked != self._acked or synced != self._synced:
            self._acked, self._synced = acked, synced
            self.sink.append({"t": "ack", "acked": acked, "synced": synced})

    def error(self, index: int, code: int) -> None:
        if self._error is None:
            self._error = index
        self.sink.append({"t": "error", "index": index, "code": code})

    def end(self, status: str, detail: str = "", ran: int | None = None) -> None:
        """The run's ending, with a digest of the lines before its failure point (see `accepts`); `ran`:
        GRBL is at rest having run every line before it that it did not refuse."""
        record: dict = {"t": "end", "status": status, "detail": detail}
        if ran is not None:
            record["ran"] = ran
        if status != "done" and self._lines:
            upto = self._error if status == "error" and self._error is not None else self._synced
            record["prefix"] = digest(self._lines[:max(0, upto)])
        self.sink.append(record)

    def state(self) -> JournalState:
        return load_state(self.sink.records())


def load_state(records: Iterable[dict]) -> JournalState:
    """Fold records into the latest marks; later runs (resumes) of the same program extend earlier ones.

    A record with a missing or non-numeric mark (a hand-edited or foreign file) is a `JobError` naming it.
    """
    values: dict = {}
    for n, rec in enumerate(records, 1):
        try:
            _fold(values, rec)
        except (AttributeError, KeyError, OverflowError, TypeError, ValueError) as exc:
            kind = rec.get("t") if isinstance(rec, dict) else type(rec).__name__
            raise JobError(f"journal record {n} ({kind!r}) is malformed: {_why(exc)}") from None
    if not values:
        raise JobError("journal has no job in it (no 'begin' record)")
    return JournalState(**values)


def _why(exc: Exception) -> str:
    return f"no field {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]


def _fold(values: dict, rec: dict) -> None:
    """Apply one record to the marks (see `load_state`)."""
    kind = rec.get("t")
    if kind == "begin":
        if values and values["digest"] != rec.get("digest"):
            if rec.get("from") != values["digest"]:
                raise JobError("journal mixes two different programs")
            values.update(digest=rec["digest"], total=int(rec.get("lines", 0)))  # resumed with a fixed line
        values.setdefault("total", int(rec.get("lines", 0)))
        values.setdefault("digest", str(rec.get("digest", "")))
        start = int(rec.get("start", 0))
        if start == 0:  # a run from the first line is a new run (a second plot of the file), not a resume:
            values.update(acked=0, synced=0)  # resume continues the *last* run, not the best one
        values.update(status=None, error_index=None, error_code=None, prefix=None, run_start=start,
                      run_acked=start, run_synced=start, run_sent=start if rec.get("wa") else None,
                      errors=(), ran=None)
    elif kind in ("ack", "send") and values:
        acked, synced = int(rec["acked"]), int(rec["synced"])
        sent = int(rec["sent"]) if kind == "send" else None
        values["acked"] = max(values.get("acked", 0), acked)
        values["synced"] = max(values.get("synced", 0), synced)
        values["run_acked"] = max(values["run_acked"], acked)
        values["run_synced"] = max(values["run_synced"], synced)
        if sent is not None:
            values["run_sent"] = sent
    elif kind == "error" and values:
        values["errors"] = (*values["errors"], int(rec["index"]))
        if values.get("error_index") is None:  # the first one stopped it
            values["error_index"], values["error_code"] = int(rec["index"]), int(rec["code"])
    elif kind == "end" and values:
        values["status"], values["prefix"] = rec.get("status"), rec.get("prefix")
        values["ran"] = None if rec.get("ran") is None else int(rec["ran"])


# -- resume planning -----------------------------------------------------------------------------

_WORD = re.compile(r"([A-Z])([-+]?[0-9]*\.?[0-9]+)")


@dataclass(frozen=True)
class PenCommands:
    """The profile's pen moves as cleaned G-code, e.g. up=('M5',) down=('M3S1000',); empty = detect."""

    up: tuple[str, ...] = ()
    down: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResumePlan:
    """Where to restart (`start_index`) and the lines that restore the machine's state first."""

    start_index: int
    preamble: tuple[str, ...] = ()
    position: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default=())


def _words(cleaned: str) -> list[tuple[str, float]]:
    return [(k, float(v)) for k, v in _WORD.findall(cleaned)]


def _pen_event(cleaned: str, pens: PenCommands, next_motion: str | None) -> str | None:
    """'up', 'down' or None for one cleaned line."""
    if pens.up and cleaned in pens.up:
        return "up"
    if pens.down and cleaned in pens.down:
        return "down"
    if pens.up or pens.down:
        return None
    words = _words(cleaned)
    letters = {k for k, _ in words}
    g = {v for k, v in words if k == "G"}
    m = {v for k, v in words if k == "M"}
    if 5 in m:
        return "up"
    if (3 in m or 4 in m) or ("Z" in letters and not letters & {"X", "Y"} and g <= {0, 1}):
        # servo S value or Z height: which one it is shows in the next motion, travel (G0) or draw (G1)
        if 3 in m and "S" in letters and [v for k, v in words if k == "S"][0] == 0:
            return "up"
        return "up" if next_motion in (None, "G0") else "down"
    return None


def _next_motions(cleaned: Sequence[str]) -> list[str | None]:
    """For each line, the motion mode (G0/G1) of the next XY move after it."""
    out: list[str | None] = [None] * len(cleaned)
    mode = "G0"
    modes: list[str] = []
    for text in cleaned:  # forward: the modal motion in effect on each line
        for k, v in _words(text):
            if k == "G" and v in (0, 1, 2, 3):
                mode = "G0" if v == 0 else "G1"
        modes.append(mode)
    upcoming: str | None = None
    for i in range(len(cleaned) - 1, -1, -1):
        out[i] = upcoming
        letters = {k for k, _ in _words(cleaned[i])}
        if letters & {"X", "Y"}:
            upcoming = modes[i]
    return out


def resume_plan(lines: Sequence[str], failure: int, pens: PenCommands | None = None) -> ResumePlan:
    """Plan a restart for a job that is known done before line `failure` (0-based).

    Goes back to the last pen-up before `failure` (nothing skipped; only the interrupted stroke is redrawn)
    and returns a preamble: units, absolute mode, feed, pen up, a G0 to where the machine was, then the
    program's own distance and motion modes.
    """
    pens = pens or PenCommands()
    cleaned = [clean_line(line) for line in lines]
    failure = max(0, min(failure, len(cleaned)))
    if failure >= len(cleaned):
        return ResumePlan(len(cleaned), (), None, ("job already complete",))
    nxt = _next_motions(cleaned)
    state = {"units": None, "distance": "G90", "motion": "G0", "feed": None}
    pos = {"X": 0.0, "Y": 0.0}
    snapshots: list[tuple[dict, dict, str | None]] = []  # state before each line
    pen: str | None = None
    pen_up_lines: tuple[str, ...] = ()
    last_up = -1
    for i, text in enumerate(cleaned[:failure + 1]):
        snapshots.append((dict(state), dict(pos), pen))
        if i == failure:
            break
        event = _pen_event(text, pens, nxt[i])
        if event == "up":
            pen, last_up = "up", i
            follow = cleaned[i + 1] if i + 1 < len(cleaned) else ""
            pen_up_lines = (text, follow) if follow.startswith("G4") else (text,)
        elif event == "down":
            pen = "down"
        _advance(text, state, pos)
    if not any(s[2] == "down" for s in snapshots):
        return ResumePlan(0, (), None, ("nothing was drawn before the failure: restarting from the top",))
    before_pen = snapshots[failure][2]
    stroke_done = _pen_event(cleaned[failure], pens, nxt[failure]) == "up"  # every segment before it ran
    if before_pen == "up" or failure == 0 or stroke_done:
        start = failure
    elif last_up >= 0:
        start = last_up + 1
        if start < failure and cleaned[start].startswith("G4"):
            start += 1  # the pen-up's own dwell is in the preamble
    else:
        return ResumePlan(0, (), None, ("no pen-up before the failure: restarting from the top",))
    if start == 0:
        return ResumePlan(0, (), None, ("restarting from the top",))
    st, ps, _ = snapshots[start]
    return _preamble(start, st, ps, pens.up or pen_up_lines)


def _advance(text: str, state: dict, pos: dict) -> None:
    words = _words(text)
    scale = 25.4 if state["units"] == "G20" else 1.0
    for k, v in words:
        if k == "G":
            if v in (20, 21):
                state["units"] = f"G{int(v)}"
                scale = 25.4 if v == 20 else 1.0
            elif v in (90, 91):
                state["distance"] = f"G{int(v)}"
            elif v in (0, 1, 2, 3):
                state["motion"] = f"G{int(v)}"
        elif k == "F":
            state["feed"] = v
    moves = {k: v * scale for k, v in words if k in ("X", "Y")}
    if moves and not any(k == "G" and v in (4, 10, 28, 30, 53, 92) for k, v in words):
        for axis, value in moves.items():
            pos[axis] = pos[axis] + value if state["distance"] == "G91" else value


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _preamble(start: int, state: dict, pos: dict, pen_up: tuple[str, ...]) -> ResumePlan:
    units = state["units"] or "G21"
    scale = 25.4 if units == "G20" else 1.0
    pre = [units, "G90"]
    if state["feed"] is not None:
        pre.append(f"F{state['feed']:g}")
    pre.extend(pen_up)
    pre.append(f"G0X{_num(pos['X'] / scale)}Y{_num(pos['Y'] / scale)}")
    if state["distance"] == "G91":
        pre.append("G91")
    if state["motion"] != "G0":
        pre.append(state["motion"])
    notes = () if pen_up else ("no pen-up command known: pass the profile's pen commands",)
    return ResumePlan(start, tuple(pre), (pos["X"], pos["Y"]), notes)
