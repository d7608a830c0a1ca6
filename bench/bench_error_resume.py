"""Resume after `error:N`: pen-down millimetres drawn twice, and left undrawn, with the old resume (from the
last pen-up before the refused line, `resume_plan`) and the new one (`plan_resume`), in the same run.

GRBL refuses one line and runs the lines behind it in its buffer. For every line of one job (a drawing of 12
strokes, grbl-servo profile) in turn: inject `error:20` at that line on `grblsim://` (virtual clock), let the
stream end as it does (it waits for GRBL to run what it took, then lifts the pen), resume both ways on a
fresh simulator, and compare the pen-down segments of the two runs with an uninterrupted run. What GRBL drew
while the refused line was missing (a chord) is counted apart: no resume can undo it.

Run:  python bench/bench_error_resume.py [--every 1]      -> bench/results/error_resume.md
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from streamsim import drawn, sim, strokes_job  # noqa: E402

from plotter.grbl.flow import clean_line  # noqa: E402
from plotter.grbl.journal import Journal, MemorySink, PenCommands, resume_plan  # noqa: E402
from plotter.grbl.replay import plan_resume  # noqa: E402
from plotter.grbl.results import LineError  # noqa: E402
from plotter.grbl.streamer import Streamer  # noqa: E402

LINES = strokes_job()
PENS = PenCommands(("M5",), ("M3S1000",))
SENT = [i for i, line in enumerate(LINES) if clean_line(line)]


def mm(segments: set) -> float:
    return sum(math.hypot(x1 - x0, y1 - y0) for x0, y0, x1, y1 in segments)


def run(query: str = "", start: int = 0, preamble: tuple = (), journal: Journal | None = None):  # noqa: ANN201
    port = sim(query)
    streamer = Streamer(port, pen_up=("M5",))
    streamer.connect()
    try:
        streamer.stream(LINES, start, preamble=preamble, journal=journal)
    except LineError:
        pass
    return drawn(port.machine.trace)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="inject at every Nth sent line")
    args = ap.parse_args()
    reference = run()
    rows, totals = [], {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    for index in SENT[2::args.every]:  # the first lines set modes; faults there draw nothing either way
        journal = Journal(MemorySink())
        first = run(f"fault=error:20@line:{2 + SENT.index(index) + 1}", journal=journal)
        state = journal.state()
        if state.status != "error":
            continue
        row = [index + 1, clean_line(LINES[index]), round(mm(first - reference), 1)]
        for name, plan in (("old", resume_plan(LINES, state.failure_point, PENS)),
                           ("new", plan_resume(LINES, state, PENS))):  # fmt: skip
            second = run(start=plan.start_index, preamble=plan.preamble, journal=Journal(MemorySink()))
            twice, missing = mm(first & second), mm(reference - (first | second))
            totals[name][0] += twice
            totals[name][1] += missing
            row += [round(twice, 1), round(missing, 1)]
        rows.append(row)
    head = "| line | text | chord by GRBL (mm) | old: twice (mm) | old: missing | new: twice | new: missing |"
    out = [f"# Resume after error:N ({len(rows)} injected errors, one job of {len(LINES)} lines)", "",
           f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}; "
           "virtual clock (no timing). Command: `python bench/bench_error_resume.py`", "",
           f"Totals: old resume {totals['old'][0]:.1f} mm drawn twice, {totals['old'][1]:.1f} mm missing; "
           f"new resume {totals['new'][0]:.1f} mm drawn twice, {totals['new'][1]:.1f} mm missing. "
           f"Worst single error, old: {max(r[3] for r in rows):.1f} mm twice.", "",
           head, "|" + "---|" * 7]  # fmt: skip
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    text = "\n".join(out) + "\n"
    (ROOT / "bench" / "results" / "error_resume.md").write_text(text)
    print("\n".join(out[:6]))


if __name__ == "__main__":
    main()
