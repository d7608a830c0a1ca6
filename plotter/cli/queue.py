"""`plotter queue FILE.gcode|FILE.svg`: put a file on the daemon's queue (vpype's output, or a layered SVG).

Thin: a `.gcode` goes as it is (the daemon checks it against GRBL's rules); an SVG is planned here first with
its layers as pens (`plotter.job.layers`), so the queued job keeps its pen changes and physical size.
"""

from __future__ import annotations

from pathlib import Path

import click

from plotter.cli.jobs import common, connect
from plotter.cli.params import INPUT_FILE, PAPER, verbose_option


@click.command()
@click.argument("file", type=INPUT_FILE)
@common
@click.option("--device", "-d", default="any", show_default=True, help="Daemon device name, or any.")
@click.option("--profile", default="grbl-servo", show_default=True, help="SVG: firmware profile to plan for.")
@click.option("--paper", type=PAPER, default="a4", show_default=True, help="SVG: paper.")
@click.option("--fit", is_flag=True, help="SVG: fit the drawing to the paper instead of keeping its size.")
@click.option("--hold", is_flag=True, help="Queue it held: it waits for `plotter resume ID`.")
@verbose_option
def queue(file: Path, config_path: str | None, socket_path: str | None, device: str, profile: str,
          paper: str, fit: bool, hold: bool) -> None:  # fmt: skip
    """Queue a G-code or SVG file on the daemon (the first free plotter takes it)."""
    from plotter.sketch.io import sniff_format

    if file.suffix.lower() in (".gcode", ".nc", ".ngc", ".gc") or sniff_format(file) != "svg":
        gcode = file.read_text(encoding="ascii", errors="replace")
    else:
        from plotter.gcode import load_profile
        from plotter.job.layers import plan_layers
        from plotter.job.plan import JobOptions
        from plotter.sketch.svglayers import read_svg_layers

        job = plan_layers(read_svg_layers(file), load_profile(profile),
                          JobOptions(paper=paper, job_name=file.stem), fit=fit)
        gcode = "\n".join(job.gcode)
        if len(job.pens) > 1:
            click.echo(f"{len(job.pens)} pens: {', '.join(n for n, _, _ in job.pens)} (pauses between)")
    client = connect(config_path, socket_path)
    with client:
        row = client.call("submit", kind="gcode", gcode=gcode, device=device, hold=hold)
    click.echo(f"job {row['id']} queued on {device}: {row.get('lines_total', '?')} lines ({file.name})")
