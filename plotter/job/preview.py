"""Page previews (`draw`, `export`, the daemon's `draw --svg`): the planned page in paper coordinates, with
the paper's edge and the bed's (dashed), each pen in its colour, pen-up travel when asked.

Why the edges: a preview without them cannot show where the drawing sits on the sheet, or the sheet on the
machine (a margin, an `--offset`, a sheet larger than the bed). Why one function: `draw` and `export` used to
differ (travel on in one, off in the other; a page frame in one); now both call this, `--travel/--no-travel`.
"""

from __future__ import annotations

from pathlib import Path

from plotter.job.plan import PlannedJob

PAPER = (120, 120, 120)
BED = (120, 150, 205)


def page_frame(job: PlannedJob) -> tuple[tuple[float, float, float, float], list]:
    """(canvas (x, y, w, h), outlines [(name, box, dashed)]) in paper mm: paper and bed, with a 2 % edge."""
    px, py, pw, ph = job.layout.paper_box
    bed = job.profile.bed
    boxes = [("paper", (0.0, 0.0, pw, ph), False), ("bed", (-px, -py, bed.width, bed.height), True)]
    x0 = min(b[0] for _, b, _ in boxes)
    y0 = min(b[1] for _, b, _ in boxes)
    x1 = max(b[0] + b[2] for _, b, _ in boxes)
    y1 = max(b[1] + b[3] for _, b, _ in boxes)
    pad = 0.02 * max(x1 - x0, y1 - y0)
    return (x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), boxes


def write_page_preview(job: PlannedJob, path: str | Path, *, travel: bool = True) -> Path:
    """The planned page as SVG (mm, a layer per pen) or PNG (1200 px on the long side), by suffix."""
    px, py, _, _ = job.layout.paper_box
    on_paper = job.sketch.translate(-px, -py)
    start = (job.start[0] - px, job.start[1] - py)
    canvas, boxes = page_frame(job)
    pens = getattr(job, "pens", None) or None
    path = Path(path)
    if path.suffix.lower() == ".png":
        from plotter.sketch.render import render_png

        cx, cy, cw, ch = canvas
        scale = 1200 / max(cw, ch)
        colours = [c for _, c, n in pens for _ in range(n)] if pens else "black"
        outlines = [(box, PAPER if name == "paper" else BED, dashed) for name, box, dashed in boxes]  # type: ignore
        return render_png(on_paper, path, cell=(max(8, round(cw * scale)), max(8, round(ch * scale))),
                          frame=(cx, cy, cx + cw, cy + ch), padding=0.0, line_width=max(1.0, 0.35 * scale),
                          show_travel=travel, start=start, color=colours, outlines=outlines)  # fmt: skip
    from plotter.sketch.svg import write_svg

    return write_svg(on_paper, path, page=canvas, travel=travel, start=start, pens=pens, outlines=boxes)
