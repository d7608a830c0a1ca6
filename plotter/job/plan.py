"""The one place the plotting pipeline is composed: layout, merge, simplify, order, G-code, estimate.

Why a single function: `plotter export`, `plotter draw` and the daemon must produce the same G-code for the
same input and options; each of them calls `plan_job` and only decides what to do with the `PlannedJob`
(write it, stream it, queue it). Simplification runs after scaling so its tolerance is in mm on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plotter.errors import GcodeError, PlotterError
from plotter.gcode import Profile, emit
from plotter.plan.layout import Layout, grid_shape, layout_sketches
from plotter.sketch import Sketch


@dataclass(frozen=True)
class JobOptions:
    """Everything `plotter export`/`draw` let the user choose about a page (lengths in mm)."""

    paper: str = "a4"
    landscape: bool | None = None  # None: portrait if it fits the bed, else landscape
    margin: float = 10.0
    grid: str | tuple[int, int] | None = None  # None: the smallest square-ish grid
    gap: float = 5.0
    rotate: float = 0.0
    size: float | None = None  # longer side of each sketch in mm; None: fill the cell
    offset: tuple[float, float] = (0.0, 0.0)
    clip: bool = False
    merge_tolerance: float = 0.5  # 0: do not merge
    simplify: float = 0.1  # 0: do not simplify
    optimize: bool = True
    time_budget_s: float = 1.0  # a cap on the ordering search; `kicks` decides how long it runs
    kicks: int | None = None  # ILS kicks for the ordering; None: order.default_kicks(strokes)
    seed: int = 0  # the ILS kicks are drawn from this: same page, same seed, same plan
    estimate: bool = True
    job_name: str | None = None


@dataclass
class PlannedJob:
    """A page ready to send: the final geometry, its G-code and what it will cost."""

    profile: Profile
    layout: Layout
    sketch: Sketch  # mm, bed frame, in drawing order
    gcode: list[str]
    start: tuple[float, float]  # pen position before the job (machine home), bed frame
    order: Any = None  # plotter.plan.order.OrderStats, when optimized
    estimate: Any = None  # plotter.plan.estimate.TimeEstimate
    counts: dict[str, int] = field(default_factory=dict)
    pens: list = field(default_factory=list)  # (name, colour, strokes) per pen of a layered page (job/layers)

    @property
    def pen_up_before(self) -> float:
        return float(self.order.pen_up_before) if self.order else self.sketch.pen_up_length(self.start)

    @property
    def pen_up_after(self) -> float:
        return float(self.order.pen_up_after) if self.order else self.sketch.pen_up_length(self.start)

    def gcode_bytes(self) -> int:
        return sum(len(line) + 1 for line in self.gcode)

    def write_gcode(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            path.write_text("\n".join(self.gcode) + "\n", encoding="ascii")
        except OSError as exc:
            raise GcodeError(f"{path}: cannot write G-code: {exc.strerror or exc}") from None
        return path

    def stats(self) -> dict[str, Any]:
        """Numbers for `--stats`, logs and the daemon (lengths mm, times s)."""
        out: dict[str, Any] = dict(self.counts)
        out.update(
            pen_down_mm=self.sketch.pen_down_length(),
            pen_up_before_mm=self.pen_up_before,
            pen_up_after_mm=self.pen_up_after,
            gcode_lines=len(self.gcode),
            gcode_bytes=self.gcode_bytes(),
        )
        if self.order is not None:
            out["mst_lower_bound_mm"] = float(self.order.mst_lower_bound)
            out["order_seconds"] = float(self.order.seconds)
        if self.estimate is not None:
            for key in ("total_s", "draw_s", "travel_s", "dwell_s"):
                out[f"estimate_{key}"] = float(getattr(self.estimate, key))
        return out

    def summary(self) -> list[str]:
        """Human-readable lines for `--stats`."""
        s = self.stats()
        lines = [
            f"profile       {self.profile.name} ({self.profile.firmware}), paper {self.layout.paper.name} "
            f"{self.layout.paper.width:g} x {self.layout.paper.height:g} mm",
            f"sketches      {s['sketches']}",
            f"strokes       {s['strokes_in']} in, {s['strokes_merged']} after merge, "
            f"{s['strokes_out']} drawn",
            f"points        {s['points_in']} in, {s['points_out']} after simplify",
            f"pen down      {s['pen_down_mm']:.1f} mm",
        ]
        if self.order is not None:
            ratio = s["pen_up_after_mm"] / s["mst_lower_bound_mm"] if s["mst_lower_bound_mm"] > 0 else 1.0
            lines.append(
                f"pen up        {s['pen_up_before_mm']:.1f} mm before ordering, "
                f"{s['pen_up_after_mm']:.1f} mm after ({s['order_seconds']:.2f} s); "
                f"MST lower bound {s['mst_lower_bound_mm']:.1f} mm ({ratio:.2f}x)"
            )
        else:
            lines.append(f"pen up        {s['pen_up_after_mm']:.1f} mm (drawing order kept)")
        lines.append(f"g-code        {s['gcode_lines']} lines, {s['gcode_bytes']} bytes")
        if self.estimate is not None:
            lines.append(
                f"time          {_hms(s['estimate_total_s'])} (draw {_hms(s['estimate_draw_s'])}, travel "
                f"{_hms(s['estimate_travel_s'])}, pen lifts/dwell {_hms(s['estimate_dwell_s'])})"
            )
        if self.layout.notes:
            lines += [f"note          {n}" for n in self.layout.notes]
        return lines


def _hms(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def home_in_bed_frame(profile: Profile) -> tuple[float, float]:
    """Machine X0 Y0 in the bed frame (x right, y down from the bed's top-left corner)."""
    return (0.0, profile.bed.height) if profile.bed.y_up else (0.0, 0.0)


def _check_sizes(sketches: Sequence[Sketch]) -> None:
    """Points per drawing and per page are bounded (planning time grows with both; issue 16)."""
    from plotter.limits import MAX_POINTS_PER_DRAWING, MAX_POINTS_PER_PAGE, check_points

    for i, s in enumerate(sketches, start=1):
        check_points(s.n_points, f"drawing {i}", MAX_POINTS_PER_DRAWING)
    check_points(sum(s.n_points for s in sketches), "the page", MAX_POINTS_PER_PAGE)


def plan_job(sketches: Sequence[Sketch], profile: Profile, options: JobOptions | None = None) -> PlannedJob:
    """Lay out, merge, simplify, order, emit and estimate one page."""
    from plotter.plan.merge import merge_strokes
    from plotter.plan.simplify import simplify

    opts = options or JobOptions()
    if not sketches or all(s.is_empty() for s in sketches):
        raise PlotterError("nothing to plot: the input has no strokes")
    _check_sizes(sketches)
    layout = layout_sketches(
        sketches,
        paper=opts.paper,
        landscape=opts.landscape,
        margin=opts.margin,
        grid=opts.grid,
        gap=opts.gap,
        rotate=opts.rotate,
        size=opts.size,
        bed=profile.bed,
        offset=opts.offset,
        clip=opts.clip,
    )
    sketch = layout.sketch
    counts = {
        "sketches": len(sketches),
        "strokes_in": sum(len(s) for s in sketches),
        "points_in": sum(s.n_points for s in sketches),
    }
    if opts.merge_tolerance > 0:
        sketch = merge_strokes(sketch, opts.merge_tolerance)
    counts["strokes_merged"] = len(sketch)
    if opts.simplify > 0:
        sketch = simplify(sketch, opts.simplify)
    start = home_in_bed_frame(profile)
    order = None
    if opts.optimize and len(sketch) > 1:
        from plotter.plan.order import default_kicks, order_strokes

        kicks = default_kicks(len(sketch)) if opts.kicks is None else opts.kicks
        sketch, order = order_strokes(
            sketch, start=start, time_budget_s=opts.time_budget_s, kicks=kicks, seed=opts.seed
        )
    counts["strokes_out"] = len(sketch)
    counts["points_out"] = sketch.n_points
    gcode = emit(sketch, profile, job_name=opts.job_name)
    estimate = None
    if opts.estimate:
        from plotter.plan.estimate import estimate_gcode

        estimate = estimate_gcode(
            gcode, profile.kinematics(), planner_blocks=profile.controller.planner_blocks
        )
    return PlannedJob(profile, layout, sketch, gcode, start, order, estimate, counts)


def plan_pages(
    sketches: Sequence[Sketch], profile: Profile, options: JobOptions | None = None
) -> list[PlannedJob]:
    """Like `plan_job`, but sketches beyond one grid's cells go on further pages (one job per sheet)."""
    opts = options or JobOptions()
    cols, rows = grid_shape(len(sketches), opts.grid)
    per_page = cols * rows
    chunks = [list(sketches[i : i + per_page]) for i in range(0, len(sketches), per_page)]
    if len(chunks) <= 1:
        return [plan_job(sketches, profile, opts)]
    jobs = []
    for number, chunk in enumerate(chunks, start=1):
        name = f"{opts.job_name or 'page'} p{number}/{len(chunks)}"
        jobs.append(plan_job(chunk, profile, replace(opts, grid=(cols, rows), job_name=name)))
    return jobs
