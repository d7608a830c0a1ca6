"""`plotter jobs | pause | resume | cancel | status`: the queue from the command line.

Each command talks to the daemon when one answers on its socket; otherwise it works on the jobs file in this
process (list, hold, release, cancel, requeue) and `status` asks the configured plotters directly.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from plotter.daemon.store import STATES
from plotter.errors import DaemonError

_common = [
    click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), envvar="PLOTTERD_CONFIG",
                 default=None, help="plotterd.yaml: where the socket and the job file are."),
    click.option("--socket", "socket_path", default=None, help="Daemon control socket [default: config]."),
]  # fmt: skip


def common(fn: Any) -> Any:
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


def connect(config_path: str | None, socket_path: str | None) -> Any:
    """The daemon's client when it answers, else a local client on the same jobs file."""
    from plotter.daemon.client import LocalClient, find_daemon
    from plotter.daemon.config import load_config
    from plotter.daemon.lock import config_lock_path

    cfg = load_config(config_path)
    client = find_daemon(socket_path or cfg.socket, config_lock_path(cfg))
    return client if client is not None else LocalClient(cfg)


def _when(ts: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def describe(job: dict) -> str:
    p = job.get("params") or {}
    if job["kind"] == "draw":
        what = f"{p.get('class', '?')} x{p.get('n', 1)} ({p.get('model', 'sketch-rnn')}"
        what += f", seed {p['seed']})" if p.get("seed") is not None else ")"
    else:
        what = str(p.get("file") or "G-code")
    return what


def job_line(job: dict) -> str:
    where = job.get("assigned") or job.get("device") or "any"
    state = job["state"] + (f" ({job['pause_reason']})" if job.get("pause_reason") else "")
    est = (job.get("stats") or {}).get("estimate_total_s")
    est_text = f"{est / 60:5.1f} min" if est else "    -    "
    line = (
        f"{job['id']:>4}  {state:<22} {where:<10} {100 * job['progress']:5.1f}%  {est_text}  "
        f"{_when(job['created'])}  {describe(job)}"
    )
    if job.get("error") and job["state"] in ("failed", "paused", "interrupted"):
        line += f"\n      {job['error']}"
    if job["state"] == "paused" and job.get("pause_reason") == "pen-change":
        pen = (job.get("stats") or {}).get("next_pen", "the next pen")
        line += f"\n      put in {pen}, then `plotter resume {job['id']}`"
    return line


@click.command()
@common
@click.option("-a", "--all", "show_all", is_flag=True, help="Include finished jobs (done, cancelled).")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("-n", "--limit", default=50, show_default=True, help="At most this many jobs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--gcode", "gcode_path", type=click.Path(dir_okay=False), default=None,
              help="With JOB_ID: write the job's G-code to this file.")  # fmt: skip
@click.argument("job_id", type=int, required=False)
def jobs(config_path, socket_path, show_all, states, limit, as_json, gcode_path, job_id) -> None:  # noqa: ANN001
    """List the job queue (queued, running, paused, failed and interrupted jobs by default), or show one job
    with its history (JOB_ID)."""
    wanted = list(states) or (None if show_all else ["queued", "running", "paused", "failed", "interrupted"])
    with connect(config_path, socket_path) as client:
        if job_id is not None:
            job = client.call("show", id=job_id, gcode=bool(gcode_path), events=True)
            _show(job, as_json, gcode_path)
            return
        rows = client.call("list", states=wanted, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no jobs" + ("" if show_all else " (use --all to see finished ones)"))
        return
    click.echo("  ID  STATE                  DEVICE     DONE   ESTIMATE   CREATED      WHAT")
    for job in rows:
        click.echo(job_line(job))


def _show(job: dict, as_json: bool, gcode_path: str | None) -> None:
    if gcode_path:
        from pathlib import Path

        Path(gcode_path).write_text((job.pop("gcode") or "") + "\n", encoding="ascii")
    if as_json:
        job.get("params", {}).pop("sketches", None)
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(job_line(job))
    stats = job.get("stats") or {}
    if stats:
        where = f"{stats.get('planned_profile', '?')} on {stats.get('planned_paper', '?')}"
        click.echo(
            f"      {job['lines_total']} lines, {stats.get('pen_down_mm', 0):.0f} mm pen down, for {where}"
        )
    for ts, state, note in job.get("events", []):
        click.echo(
            f"      {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))}  {state:<11} {note or ''}"
        )
    if gcode_path:
        click.echo(f"      g-code written to {gcode_path}")


@click.command()
@common
@click.argument("job_id", type=int)
@click.option("--at-lift", "at", flag_value="lift", help="Hold at the next pen lift: the pen ends up, off "
              "the paper; resume goes on with the next stroke.")
@click.option("--now", "at", flag_value="now", help="Hold now and lift the pen (a servo pen on M5: GRBL's "
              "spindle stop); resume lowers it where it lifted.")
@click.option("--wait", "wait_s", default=120.0, show_default=True, type=click.FloatRange(0),
              help="--at-lift: seconds to wait for the lift before returning (the pause still comes).")
def pause(config_path, socket_path, job_id: int, at: str | None, wait_s: float) -> None:  # noqa: ANN001
    """Pause a job: a feed hold (the pen stops where it is, on the paper), --at-lift or --now to have the pen
    up; a queued job is held in the queue."""
    with connect(config_path, socket_path) as client:
        job = client.call("pause", id=job_id, **({"at": at} if at else {}))
        if job.get("pending") == "lift":
            click.echo(f"job {job_id}: pausing at the next pen lift...", err=True)
            job = wait_state(client, job, wait_s)
    click.echo(job_line(job))
    if at == "lift" and job["state"] == "running":
        click.echo("still drawing: it pauses at the next pen lift", err=True)


def wait_state(client: Any, job: dict, timeout: float) -> dict:
    """Follow `job` until its state changes (or `timeout` seconds pass): long polls, no sleeps."""
    deadline = time.monotonic() + timeout
    state = job["state"]
    while job["state"] == state and (left := deadline - time.monotonic()) > 0:
        job = client.call("wait", id=job["id"], updated=job["updated"], timeout=min(left, 10.0))
    return job


@click.command()
@common
@click.argument("job_id", type=int)
@click.option(
    "--from-start", is_flag=True, help="Start again from the first line (new paper), not the journal."
)
def resume(config_path, socket_path, job_id: int, from_start: bool) -> None:  # noqa: ANN001
    """Continue a job: cycle start after a pause, or requeue a failed / interrupted / unplugged job from
    its journal (from the last pen-up GRBL is known to have finished, on the same plotter)."""
    with connect(config_path, socket_path) as client:
        if from_start:
            job = client.call("retry", id=job_id, from_journal=False)
        else:
            job = client.call("resume", id=job_id)
        local = client.__class__.__name__ == "LocalClient"
    click.echo(job_line(job))
    if local and job["state"] == "queued":
        click.echo("queued; no daemon is running: start `plotter daemon` to run it", err=True)


@click.command()
@common
@click.argument("job_id", type=int)
def cancel(config_path, socket_path, job_id: int) -> None:  # noqa: ANN001
    """Cancel a job: a running one is held, GRBL soft-reset (position kept) and the pen lifted."""
    with connect(config_path, socket_path) as client:
        job = client.call("cancel", id=job_id)
    click.echo(job_line(job))


@click.command()
@common
@click.option("--device", "port", default=None, help="Ask this port or URL directly (no daemon needed).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--unlock", "unlock", default=None, metavar="DEVICE",
              help="After an alarm, once the machine is safe: the daemon reconnects it with $X.")  # fmt: skip
def status(config_path, socket_path, port, as_json, unlock) -> None:  # noqa: ANN001
    """Plotter status: GRBL state, position, buffer, alarm, and the job each one is running."""
    from plotter.daemon.client import find_daemon
    from plotter.daemon.config import load_config
    from plotter.daemon.lock import config_lock_path

    cfg = load_config(config_path)
    client = None if port else find_daemon(socket_path or cfg.socket, config_lock_path(cfg))
    if unlock and client is None:
        raise DaemonError("--unlock needs a running daemon (without one, `plotter stream --unlock` sends $X)")
    if client is not None:
        with client:
            if unlock:
                client.call("unlock", device=unlock)
                client.call("wait_device", device=unlock, timeout=30)
            rows = client.call("devices")
    else:
        from plotter.daemon.device import probe

        targets = [(port, port)] if port else [(d.name, d.port) for d in cfg.devices]
        rows = [probe(name, p) for name, p in targets]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            click.echo(device_line(row))
    if port and not rows[0].get("connected"):
        raise click.exceptions.Exit(1)  # one port asked for and it is not there: scripts see the failure


def device_line(row: dict) -> str:
    if not row.get("connected"):
        return f"{row['name']:<10} offline   {row.get('port', '')}  {row.get('error') or ''}".rstrip()
    pos = row.get("position")
    pos_text = "X{:.2f} Y{:.2f} Z{:.2f}".format(*pos) if pos else "?"
    buf = row.get("buffer") or {}
    buf_text = f"planner free {buf.get('planner_free')}, rx free {buf.get('rx_free')}" if buf else ""
    job = f"job {row['job']}" if row.get("job") else "idle"
    alarm = f"  ALARM {row['alarm']}" if row.get("alarm") else ""
    return f"{row['name']:<10} {row.get('state', '?'):<8}  {pos_text}  {buf_text}  {job}{alarm}".rstrip()
