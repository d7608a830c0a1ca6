"""The pen on the daemon: a layered job parks `paused` (pen-change) at each M0, naming the next pen; the
pauses that leave the pen up (`pause --at-lift`, `--now`).

Why a job state and not only a log line: the user is somewhere else (the dashboard, another terminal);
`plotter jobs`, the dashboard and the API must say which pen to put in, and `plotter resume JOB` (a cycle
start, as after any pause on the machine) goes on with the next layer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from plotter.daemon.store_base import StoreBase
from plotter.errors import JobError, PlotterError
from plotter.limits import short

log = logging.getLogger(__name__)


def watch_pen_changes(store: StoreBase, job_id: int, lines: Sequence[str],
                      on_progress: Callable[[Any], None]) -> Callable[[Any], None]:  # fmt: skip
    """`on_progress` plus, for a program with pen changes, the transition to paused when GRBL holds at one."""
    from plotter.grbl.penchange import PenChangeWatch, pen_changes

    if not pen_changes(lines):
        return on_progress
    watch = PenChangeWatch(lines)

    def progress(p: Any) -> None:
        on_progress(p)
        watch(p)
        change = watch.take()
        if change is not None:
            paused_for_pen(store, job_id, change.message)

    return progress


def paused_for_pen(store: StoreBase, job_id: int, pen: str) -> None:
    """The job waits for `pen` (stats `next_pen`, shown by `plotter jobs` and the dashboard)."""
    try:
        stats = {**store.get(job_id).stats, "next_pen": pen}
        note = f"pen change: put in {pen}, then resume"
        store.transition(job_id, "paused", note, pause_reason="pen-change", stats=stats)
    except PlotterError as exc:  # cancelled or paused meanwhile: keep that
        log.warning("job %d: pen change (%s): %s", job_id, pen, exc)
        return
    log.info("job %d: waiting for %s (resume goes on)", job_id, pen)


def pause_at(at: object) -> str | None:
    """A pause request's `at`: None (feed hold, the pen stays down), "now" (hold, then lift the pen), "lift"
    (hold at the next pen lift; the reply comes at once, with `pending: "lift"`)."""
    if at not in (None, "now", "lift"):
        raise JobError(f"pause: at must be 'now' or 'lift', not {short(at)}")
    return at  # type: ignore[return-value]


def hold_and_lift(link: Any) -> None:
    """`pause --now` on a `device.GrblLink`: feed hold now and lift the pen where the profile allows
    (`lift_in_hold_refusal`)."""
    from plotter.grbl.penchange import lift_in_hold_refusal

    pen, laser = link.pen, bool(link.info and link.info.laser_mode)
    why = lift_in_hold_refusal(pen.mode, pen.up, pen.down, laser)
    if why is not None:
        raise JobError(f"pause --now on {link.device}: {why}")
    link.streamer.pause_lift()


def pause_at_next_lift(link: Any, on_held: Callable[[], None]) -> None:
    """Stop sending after the next pen lift; `on_held` runs (on a thread of its own) once GRBL has run dry
    with the pen up. Returns at once: a long stroke must not block the API."""
    request, device = link.streamer.request("pause_at_lift"), link.device

    def wait() -> None:
        request.done.wait()
        if request.error is None:
            on_held()

    threading.Thread(target=wait, name=f"lift-{device}", daemon=True).start()
