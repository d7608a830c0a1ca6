"""`plotter export`: sketch files -> laid-out, optimized G-code (plus SVG/PNG previews and stats).

Thin on purpose: reading is `plotter.sketch.io`, everything else is `plotter.job.plan.plan_job`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from plotter.cli.params import GRID, LENGTH, PAPER, layout_options, travel_option

DEFAULT_PROFILE = "grbl-servo"


def read_inputs(
    inputs: tuple[str, ...], split: str | None, class_name: str | None, limit: int | None, index: int | None
) -> list:
    """All sketches from all inputs, in order (`limit` and `index` apply per file)."""
    from plotter.sketch.io import read_sketches

    sketches = []
    for path in inputs:
        sketches += read_sketches(path, split=split, class_name=class_name, limit=limit, index=index)
    return sketches


def write_previews(job, svg: str | None, png: str | None, travel: bool) -> list[str]:  # type: ignore[no-untyped-def]
    """SVG (mm) and PNG previews of the planned page with its paper and bed edges (`job.preview`)."""
    from plotter.job.preview import write_page_preview

    return [str(write_page_preview(job, path, travel=travel)) for path in (svg, png) if path]


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", required=True, help="G-code file to write ('-' for stdout).")
@click.option(
    "--profile",
    default=lambda: os.environ.get("PLOTTER_PROFILE", DEFAULT_PROFILE),
    show_default=DEFAULT_PROFILE,
    help="Firmware profile name or YAML path ($PLOTTER_PROFILE).",
)
@click.option(
    "--paper", type=PAPER, default="a4", show_default=True, help="a3, a4, a5, letter, ... or WxH mm."
)
@click.option("--grid", type=GRID, default=None, help="COLSxROWS cells, one sketch per cell [default: auto].")
@click.option("--pages", is_flag=True, help="More sketches than cells: one file per page (out-1.gcode, ...).")
@layout_options
@click.option(
    "--merge-tolerance", type=LENGTH, default="0.5mm", show_default=True, help="Join ends (0: off)."
)
@click.option("--simplify", type=LENGTH, default="0.1mm", show_default=True, help="RDP tolerance (0: off).")
@click.option("--no-optimize", is_flag=True, help="Keep the drawing order (no pen-up optimization).")
@click.option("--time-budget", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help="Seconds.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False),
              help="Write an SVG preview (mm: the page, its paper and bed edges).")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Write a PNG preview.")
@travel_option
@click.option("--stats", is_flag=True, help="Print counts, pen-up travel and the time estimate.")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), help="sketch-rnn .npz split.")
@click.option("--class", "class_name", help="Class in a packed .npz, or `word` in .ndjson.")
@click.option("--limit", type=click.IntRange(1), help="First N drawings of each input.")
@click.option("--index", type=int, help="Only drawing number N of each input.")
@click.option("--layer", "layers", multiple=True, metavar="NAME",
              help="SVG: plot only this layer (name or number; repeatable) [default: all, one pen each].")
@click.option("--fit", is_flag=True, help="SVG: fit the drawing to the paper instead of keeping its size.")
def export(
    inputs: tuple[str, ...],
    output: str,
    profile: str,
    svg_path: str | None,
    png_path: str | None,
    travel: bool,
    stats: bool,
    split: str | None,
    class_name: str | None,
    limit: int | None,
    index: int | None,
    pages: bool,
    layers: tuple[str, ...],
    fit: bool,
    **layout: object,
) -> None:
    """Lay out sketches on paper and write G-code for a GRBL plotter.

    INPUT files: sketch-rnn .npz, Quick, Draw! .ndjson, plotter .json or .svg.
    """
    from plotter.gcode import load_profile
    from plotter.job.plan import JobOptions, plan_job, plan_pages

    prof = load_profile(profile)
    svg_in = len(inputs) == 1 and _is_svg(inputs[0])
    if layers and not svg_in:
        raise click.UsageError("--layer needs one SVG input", None)
    sketches = [] if svg_in else read_inputs(inputs, split, class_name, limit, index)
    options = JobOptions(
        paper=str(layout["paper"]),
        landscape=layout["landscape"],  # type: ignore[arg-type]
        margin=float(layout["margin"]),  # type: ignore[arg-type]
        grid=layout["grid"],  # type: ignore[arg-type]
        gap=float(layout["gap"]),  # type: ignore[arg-type]
        rotate=float(layout["rotate"]),  # type: ignore[arg-type]
        size=layout["size"],  # type: ignore[arg-type]
        offset=layout["offset"],  # type: ignore[arg-type]
        clip=bool(layout["clip"]),
        merge_tolerance=float(layout["merge_tolerance"]),  # type: ignore[arg-type]
        simplify=float(layout["simplify"]),  # type: ignore[arg-type]
        optimize=not layout["no_optimize"],
        time_budget_s=float(layout["time_budget"]),  # type: ignore[arg-type]
        estimate=stats,
        job_name=Path(inputs[0]).stem if len(inputs) == 1 else f"{len(inputs)} files",
    )
    if svg_in:  # layers become pens; the file's physical size is kept unless --fit
        from plotter.job.layers import plan_layers
        from plotter.sketch.svglayers import read_svg_layers, select_layers

        jobs = [plan_layers(select_layers(read_svg_layers(inputs[0]), layers), prof, options, fit=fit)]
    else:
        jobs = plan_pages(sketches, prof, options) if pages else [plan_job(sketches, prof, options)]
    info = sys.stderr if output == "-" else sys.stdout
    for number, job in enumerate(jobs, start=1):
        suffix = f"-{number}" if len(jobs) > 1 else ""
        if output == "-":
            click.echo("\n".join(job.gcode))
            written = []
        else:
            written = [str(job.write_gcode(page_path(output, suffix)))]
        written += write_previews(job, page_path(svg_path, suffix), page_path(png_path, suffix), travel)
        if len(jobs) > 1:
            click.echo(f"page {number}/{len(jobs)}: {job.counts['sketches']} sketches", file=info)
        if written:
            click.echo(f"wrote {', '.join(written)} ({len(job.gcode)} G-code lines)", file=info)
        if len(job.pens) > 1:
            names = ", ".join(f"{i} {name} ({colour}, {n} strokes)" for i, (name, colour, n) in
                              enumerate(job.pens, start=1))
            click.echo(f"pens: {names}; the plot pauses (M0) for each pen change", file=info)
        if stats:
            for line in job.summary():
                click.echo(line, file=info)


def _is_svg(path: str) -> bool:
    from plotter.sketch.io import sniff_format

    return Path(path).is_file() and sniff_format(Path(path)) == "svg"


def page_path(path: str | None, suffix: str) -> str | None:
    """'cats.gcode' + '-2' -> 'cats-2.gcode' (None stays None)."""
    if path is None or not suffix:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}{suffix}{p.suffix}"))
