"""`plotter draw`: sample sketches from a trained model and draw them, in one command.

With a daemon running, the job goes to its queue (the model is already loaded there) and this command follows
it; otherwise everything runs here. No --device (or --dry-run) means the simulated plotter: the G-code, a
preview, and a picture of what the simulated machine actually drew are written, with its machine time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from plotter.cli.params import INPUT_FILE, PAPER, layout_options, pop_layout, travel_option, verbose_option
from plotter.errors import JobError, PlotterError

EXIT_CANCELLED, EXIT_TERMINATED = 130, 143  # README: a job cancelled with Ctrl-C / stopped by SIGTERM

DEFAULT_PROFILE = "grbl-servo"
FINAL = ("done", "failed", "cancelled", "interrupted")


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@click.command()
@click.option(
    "--class", "class_name", required=True, help="What to draw (a class the model knows, e.g. cat)."
)
@click.option(
    "--model",
    type=click.Choice(["sketch-rnn", "transformer"]),
    default=None,
    help="Which model samples [default: the better one for the class: the transformer where one knows it].",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="Model checkpoint [default: checkpoints/<model>-<class>.pt].",
)
@click.option("-n", "n", type=click.IntRange(1, 64), default=1, show_default=True, help="How many sketches.")
@click.option("--grid", default=None, help="COLSxROWS cells on the page [default: near-square].")
@click.option(
    "--temperature", type=float, default=None,
    help="Sampling temperature (0, 5] [default: the checkpoint's own; 0.4 if it has none].",
)
@click.option("--seed", type=int, default=None, help="Random seed: the same seed draws the same sketches.")
@click.option("--best-of", "best_of", type=click.IntRange(1, 32), default=8, show_default=True,
              help="Sample K per sketch; drop knots and cut-off ones; keep the one the classifier rates best "
              "as the class (1 = the raw model).")
@click.option(
    "--device", "-d", default=None, help="Serial port or URL; with a daemon, one of its device names."
)
@click.option(
    "--profile",
    default=lambda: os.environ.get("PLOTTER_PROFILE", DEFAULT_PROFILE),
    show_default=DEFAULT_PROFILE,
    help="Firmware profile name or YAML path ($PLOTTER_PROFILE).",
)
@click.option(
    "--paper",
    type=PAPER,
    default=None,
    help="a3, a4, a5, letter, ... or WxH mm [default: a4; with a daemon: the device's paper].",
)
@click.option("--dry-run", is_flag=True, help="Run on the simulated plotter (the default without --device).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before drawing.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="G-code file to write [default for a dry run: <class>.gcode].",
)
@click.option(
    "--svg",
    type=click.Path(dir_okay=False),
    default=None,
    help="Preview of the planned page, .svg or .png [default: <output>.preview.svg].",
)
@click.option("--no-daemon", is_flag=True, help="Run here even if a daemon is running.")
@click.option(
    "--complete",
    "partial",
    type=INPUT_FILE,
    default=None,
    help="Continue this partial drawing (SVG, JSON, .ndjson) n ways instead of starting afresh.",
)
@click.option("--socket", "socket_path", default=None, help="Daemon control socket.")
@layout_options
@travel_option
@verbose_option
def draw(**opts: Any) -> None:  # fmt: skip
    """Sample sketches of a class and draw them (or simulate drawing them) stroke by stroke.

    Ctrl-C while drawing pauses (feed hold) and asks whether to resume or cancel.
    """
    from plotter.job.params import DrawParams, pick_model

    model = opts["model"] or pick_model(opts["class_name"], opts["checkpoint"])
    params = DrawParams.from_dict({
        "class": opts["class_name"], "model": model, "checkpoint": opts["checkpoint"], "n": opts["n"],
        "grid": opts["grid"], "temperature": opts["temperature"], "seed": opts["seed"],
        "layout": pop_layout(opts), "best_of": opts["best_of"],
    })  # fmt: skip
    if opts["checkpoint"] and not Path(opts["checkpoint"]).is_file():
        raise PlotterError(f"checkpoint {opts['checkpoint']} does not exist")
    client = None
    if not (opts["dry_run"] or opts["no_daemon"] or opts["partial"]):  # a daemon job carries no partial
        from plotter.daemon.client import find_daemon

        socket_path = opts["socket_path"]
        if socket_path is None and os.environ.get("PLOTTERD_CONFIG"):  # same lookup as `plotter jobs`
            from plotter.daemon.config import load_config

            socket_path = load_config(os.environ["PLOTTERD_CONFIG"]).socket
        client = find_daemon(socket_path)
    if client is not None:
        with client:
            _via_daemon(client, params, opts)
    else:
        _in_process(params, opts)


# ---------------------------------------------------------------------- in this process
def _in_process(params: Any, opts: dict) -> None:
    from plotter.job.draw import is_simulated, open_machine, plan_draw, write_gcode, write_preview

    device = opts["device"]
    opts = {**opts, "paper": opts["paper"] or "a4"}
    simulate = opts["dry_run"] or is_simulated(device)
    if simulate and device is None:
        click.echo("no --device given: dry run on the simulated plotter", err=True)
    sim_url = device if simulate and (device or "").startswith("grblsim://") else None
    machine = None if simulate else open_machine(device, params.profile or opts["profile"])  # fail fast
    try:
        click.echo(f"sampling {params.n} {params.class_name} sketch(es) with {params.model}...", err=True)
        if opts.get("partial"):  # --complete: plotter.models.complete continues the user's strokes
            from plotter.job.draw import plan_completion

            plan = plan_completion(params, opts["partial"], opts["profile"], opts["paper"])
        else:
            plan = plan_draw(params, opts["profile"], opts["paper"])
        out = Path(opts["output"] or f"{params.class_name}.gcode")
        stem = out.with_suffix("")
        if simulate or opts["output"]:
            write_gcode(plan, out)
            click.echo(f"g-code     {out} ({len(plan.lines)} lines)")
        preview = write_preview(plan, opts["svg"] or f"{stem}.preview.svg", opts["travel"])
        click.echo(f"preview    {preview}")
        click.echo(f"estimate   {_hms(plan.estimate_s)} ({plan.profile}, paper {plan.paper})")
        if not simulate and not opts["yes"]:  # a simulation moves no pen: nothing to confirm
            click.confirm(f"Draw it on {device}?", default=True, abort=True)
        if machine is None:
            machine = open_machine(sim_url, plan.profile)
        _stream_here(plan, machine, device, simulate, stem)
    finally:
        if machine is not None:
            machine[0].close()


def _stream_here(plan: Any, machine: tuple, device: str | None, simulate: bool, stem: Path) -> None:
    from plotter.gcode.bed import check_program_bed, check_soft_limits, machine_bed
    from plotter.grbl.control import soft_limit_offset
    from plotter.job.draw import simulation_report

    port, streamer = machine
    settings = streamer.info.settings if streamer.info is not None else None
    check_program_bed(plan.lines, machine_bed(plan.profile, settings))  # before the first byte
    if settings:  # and where GRBL's soft limits allow it
        wco = soft_limit_offset(streamer.link, settings, streamer.info.status)
        check_soft_limits(plan.lines, machine_bed(plan.profile), settings, wco)
    journal = None
    if not simulate:
        from plotter.grbl.journal import Journal, JsonLinesSink

        journal_path = stem.with_suffix(".journal.jsonl")
        journal_path.unlink(missing_ok=True)
        journal = Journal(JsonLinesSink(journal_path))
    try:
        result, terminated = _follow_stream(streamer, plan, journal)
        if result is not None and result.status == "cancelled":
            click.echo("cancelled: GRBL reset in hold (position kept), pen lifted")
            if journal is not None:
                _write_gcode_for_resume(plan, stem)
                hint = f"plotter stream {stem}.gcode -d {device} --resume {journal.sink.path}"
                click.echo(f"resume with: {hint}", err=True)
            raise SystemExit(EXIT_TERMINATED if terminated else EXIT_CANCELLED)
        if simulate:
            report = simulation_report(port, plan, Path(f"{stem}.drawn.svg"), Path(f"{stem}.drawn.png"))
            for f in report.files:
                click.echo(f"drawn      {f}")
            gap = ""
            if report.estimate_s:
                gap = f" ({100 * (report.machine_time_s / report.estimate_s - 1):+.1f}% vs estimate)"
            click.echo(
                f"machine    {_hms(report.machine_time_s)} simulated{gap}, estimate {_hms(report.estimate_s)}"
            )
            click.echo(f"           {report.drawn_mm:.0f} mm drawn, {report.travel_mm:.0f} mm travel, "
                       f"{report.pen_lifts} pen lifts, starved {report.starved_s:.2f} s")  # fmt: skip
        else:
            click.echo(f"done in {_hms(result.elapsed_s)}")
    except PlotterError as exc:
        if journal is not None:
            _write_gcode_for_resume(plan, stem)
            hint = f"; resume with: plotter stream {stem}.gcode -d {device} --resume {journal.sink.path}"
            # one line, exit 1: GRBL's errors carry a result, so type(exc)(text) cannot rebuild them
            raise click.ClickException(f"{exc}{hint}") from None
        raise


def _write_gcode_for_resume(plan: Any, stem: Path) -> None:
    if not stem.with_suffix(".gcode").exists():
        plan.job.write_gcode(stem.with_suffix(".gcode"))


def _follow_stream(streamer: Any, plan: Any, journal: Any) -> tuple[Any, bool]:
    """Progress line while the stream runs on its thread; Ctrl-C (a real SIGINT) = feed hold, then resume
    or cancel; SIGTERM cancels. Returns (result, whether SIGTERM ended it)."""
    from plotter.cli.stream import _Bar, _run_interruptible

    bar = _Bar("drawing", plan.estimate_s, True)
    try:
        return _run_interruptible(streamer, lambda: streamer.stream(plan.lines, journal=journal,
                                                                    on_progress=bar), bar)
    finally:
        bar.close()


# ---------------------------------------------------------------------- through the daemon
def _daemon_device(client: Any, device: str | None) -> str:
    if device is None:
        return "any"
    rows = client.call("devices")
    for row in rows:
        if device in (row["name"], row["port"]):
            return row["name"]
    names = ", ".join(f"{r['name']} ({r['port']})" for r in rows)
    raise JobError(f"the running daemon owns {names}; {device} is not one of them (or use --no-daemon)")


def _daemon_model(client: Any, checkpoint: str) -> str:
    offered = ((client.call("ping") or {}).get("offers") or {}).get("models") or {}
    if checkpoint in offered:
        return checkpoint
    want = Path(checkpoint).expanduser().resolve()
    for name, path in offered.items():
        if Path(path).expanduser().resolve() == want:
            return name
    names = ", ".join(offered) or "none"
    raise JobError(
        f"the running daemon does not offer {checkpoint} (its models: {names}); add it to the daemon "
        f"config's models: or use --no-daemon"
    )


def _via_daemon(client: Any, params: Any, opts: dict) -> None:
    device = _daemon_device(client, opts["device"])
    params_dict = params.to_dict()
    if params.checkpoint:  # the daemon takes a model *name* from its config: find the one for this file
        params_dict["checkpoint"] = _daemon_model(client, params.checkpoint)
    if opts["paper"]:  # else each device plans for the paper its config says is loaded
        params_dict["paper"] = opts["paper"]
    if opts["profile"] != DEFAULT_PROFILE:
        params_dict["profile"] = opts["profile"]
    job = client.call("submit", kind="draw", params=params_dict, device=device, hold=not opts["yes"])
    est = (job.get("stats") or {}).get("estimate_total_s")
    click.echo(f"job {job['id']} on {device} (daemon): {job['lines_total']} lines, estimate {_hms(est)}")
    if opts["output"] or opts["svg"]:
        _daemon_files(client, job, opts)
    if not opts["yes"]:
        if not click.confirm("Draw it?", default=True):
            client.call("cancel", id=job["id"])
            raise click.Abort()
        job = client.call("resume", id=job["id"])
    _follow_job(client, job)


def _daemon_files(client: Any, job: dict, opts: dict) -> None:
    full = client.call("show", id=job["id"], gcode=True)
    if opts["output"]:
        Path(opts["output"]).write_text(full["gcode"] + "\n", encoding="ascii")
        click.echo(f"g-code     {opts['output']}")
    if opts["svg"]:
        from plotter.job.draw import DrawPlan, write_preview
        from plotter.job.pipeline import plan_sketches, sketches_from_json

        p = full["params"]
        stats = full.get("stats") or {}
        profile, paper = stats.get("planned_profile", DEFAULT_PROFILE), stats.get("planned_paper", "a4")
        planned = plan_sketches(sketches_from_json(p["sketches"]), profile, paper, p.get("grid"),
                                layout=p.get("layout"))
        preview = write_preview(DrawPlan(None, profile, paper, [], planned), opts["svg"], opts["travel"])
        click.echo(f"preview    {preview}")


def _follow_job(client: Any, job: dict) -> None:
    with click.progressbar(
        length=max(1, job["lines_total"]), label=f"job {job['id']}", file=sys.stderr
    ) as bar:
        shown = 0
        while job["state"] not in FINAL and job.get("pause_reason") != "device-lost":
            try:
                job = client.call("wait", id=job["id"], updated=job["updated"], timeout=10)
            except KeyboardInterrupt:
                job = _daemon_interrupt(client, job)
            bar.update(max(0, job["acked"] - shown))
            shown = max(shown, job["acked"])
    msg = f"job {job['id']}: {job['state']}"
    if job.get("error"):
        msg += f": {job['error']}"
    click.echo(msg)
    if job["state"] in ("failed", "interrupted") or job.get("pause_reason") == "device-lost":
        raise JobError(f"job {job['id']} stopped; continue it with `plotter resume {job['id']}`")


def _daemon_interrupt(client: Any, job: dict) -> dict:
    click.echo("\npausing (feed hold)...", err=True)
    job = client.call("pause", id=job["id"])
    try:
        choice = click.prompt("paused: [r]esume, [c]ancel or [d]etach (keep it paused)",
                              type=click.Choice(["r", "c", "d"]), default="r", err=True)  # fmt: skip
    except (KeyboardInterrupt, click.Abort):
        choice = "c"
    if choice == "d":
        click.echo(f"job {job['id']} stays paused; `plotter resume {job['id']}` continues it")
        raise SystemExit(0)
    return client.call("resume" if choice == "r" else "cancel", id=job["id"])
