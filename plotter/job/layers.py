"""Several pens on one page: lay the layers out together (registered), plan each, one program with pauses.

Why here: layout, merge, simplify and ordering are the single-pen planner's (`plotter.job.plan`); what a
multi-pen page adds is that all layers share one transform (a red eye stays inside its black head), each
layer is ordered on its own starting where the last one ended, and the emitter puts a pen change between
them (`plotter.gcode.emitter.emit_pens`).
"""

from __future__ import annotations

from collections.abc import Sequence

from plotter.errors import LayoutError, PlotterError
from plotter.gcode.emitter import emit_pens
from plotter.gcode.profile import Profile
from plotter.job.plan import JobOptions, PlannedJob, home_in_bed_frame
from plotter.plan.layout import layout_sketches
from plotter.sketch import Sketch


def physical_scale(layers: Sequence[Sketch], fit: bool) -> float | None:
    """mm per unit when the file says how large it is (SVG width in mm/in and a viewBox), unless `fit`."""
    if fit:
        return None
    scales = {s.meta.get("mm_per_unit") for s in layers}
    return scales.pop() if len(scales) == 1 and None not in scales else None


def plan_layers(layers: Sequence[Sketch], profile: Profile, options: JobOptions | None = None,
                fit: bool = False) -> PlannedJob:  # fmt: skip
    """One page, one pen per layer (in order); `job.pens` lists (name, colour, strokes) per pen."""
    from plotter.plan.merge import merge_strokes
    from plotter.plan.simplify import simplify

    opts = options or JobOptions()
    layers = [s for s in layers if not s.is_empty()]
    if not layers:
        raise PlotterError("nothing to plot: the input has no strokes")
    counts = [len(s.strokes) for s in layers]
    union = Sketch([p for s in layers for p in s.strokes], unit=layers[0].unit, meta=dict(layers[0].meta))
    keep = physical_scale(layers, fit) if opts.size is None and not opts.rotate % 360 else None
    layout = layout_sketches(
        [union], paper=opts.paper, landscape=opts.landscape, margin=opts.margin, grid=(1, 1), gap=opts.gap,
        rotate=opts.rotate, size=opts.size, bed=profile.bed, offset=opts.offset, clip=opts.clip,
        keep_scale=keep,
    )  # fmt: skip
    if layout.clipped and len(layers) > 1:
        raise LayoutError("--clip cuts strokes, which would mix the pens of a layered drawing: "
                          "use a larger --margin or --paper instead")
    placed, at, merged = [], 0, 0
    start = pos = home_in_bed_frame(profile)
    for layer, n in zip(layers, counts):
        sk = Sketch(layout.sketch.strokes[at : at + n], unit="mm", meta=dict(layer.meta))
        at += n
        if opts.merge_tolerance > 0:
            sk = merge_strokes(sk, opts.merge_tolerance)
        merged += len(sk)
        if opts.simplify > 0:
            sk = simplify(sk, opts.simplify)
        if opts.optimize and len(sk) > 1:
            from plotter.plan.order import default_kicks, order_strokes

            kicks = default_kicks(len(sk)) if opts.kicks is None else opts.kicks
            sk, _ = order_strokes(sk, start=pos, time_budget_s=opts.time_budget_s, kicks=kicks,
                                  seed=opts.seed)
        pos = tuple(sk.strokes[-1][-1]) if sk.strokes else pos
        placed.append(sk)
    names = [str(s.meta.get("layer") or f"pen {i + 1}") for i, s in enumerate(placed)]
    gcode = emit_pens(list(zip(names, placed)), profile, job_name=opts.job_name)
    estimate = None
    if opts.estimate:
        from plotter.plan.estimate import estimate_gcode

        blocks = profile.controller.planner_blocks
        estimate = estimate_gcode(gcode, profile.kinematics(), planner_blocks=blocks)
    whole = Sketch([p for s in placed for p in s.strokes], unit="mm", meta={"pens": len(placed)})
    job_counts = {"sketches": 1, "pens": len(placed), "strokes_in": sum(counts), "strokes_merged": merged,
                  "strokes_out": len(whole),
                  "points_in": sum(s.n_points for s in layers), "points_out": whole.n_points}
    pens = [(n, str(s.meta.get("colour") or "black"), len(s)) for n, s in zip(names, placed)]
    return PlannedJob(profile, layout, whole, gcode, start, None, estimate, job_counts, pens)

