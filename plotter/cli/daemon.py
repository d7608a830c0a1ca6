"""`plotter daemon`: run the job queue, the device workers and the control API until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

import click

from plotter.cli.params import verbose_option

log = logging.getLogger("plotter.daemon")


def sd_notify(message: str) -> bool:
    """Tell systemd (Type=notify) we are ready or stopping; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(address)
            s.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify: %s", exc)
            return False
    return True


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PLOTTERD_CONFIG",
    default=None,
    help="plotterd.yaml ($PLOTTERD_CONFIG) [default: one simulated plotter named 'sim'].",
)
@click.option("--socket", "socket_path", default=None, help="Control socket path (overrides the config).")
@click.option("--store", "store_path", default=None,
              help="SQLite job file or postgresql:// URL (overrides the config).")
@click.option("--check", is_flag=True, help="Validate the config, print what would run, and exit.")
@verbose_option
def daemon(config_path: str | None, socket_path: str | None, store_path: str | None, check: bool) -> None:
    """Run the plotter daemon: a persistent SQLite job queue feeding one or more plotters.

    Devices, their ports (a path such as /dev/ttyUSB0 or a grblsim:// URL), profiles and papers come from the
    config file. Stop it with SIGTERM or Ctrl-C: streams are held, the pen lifted, running jobs marked
    interrupted (resume them with `plotter resume JOB`).
    """
    from dataclasses import replace
    from pathlib import Path

    from plotter.daemon.config import load_config
    from plotter.daemon.service import Service

    cfg = load_config(config_path)
    if socket_path:
        cfg = replace(cfg, socket=Path(socket_path))
    if store_path:
        cfg = replace(cfg, store=store_path if "://" in store_path else Path(store_path))
    if check:
        from plotter.daemon.checks import check_config
        from plotter.daemon.store import describe_store

        check_config(cfg)  # exactly what the start checks
        click.echo(f"socket  {cfg.socket}\nstore   {describe_store(cfg.store)}")
        if cfg.farm_host or cfg.lease_s != 15.0:
            click.echo(f"farm    host {cfg.farm_host or '(this host name)'}, lease {cfg.lease_s:g} s")
        if cfg.http.enabled:
            click.echo(f"http    http://{cfg.http.host}:{cfg.http.port}/ (dashboard; API /v1/, bearer token)")
        for d in cfg.devices:
            click.echo(f"device  {d.name}: {d.port} profile={d.profile} paper={d.paper}")
        return
    if not logging.getLogger().handlers or logging.getLogger().level > logging.INFO:
        logging.getLogger("plotter").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    service = Service(cfg)
    try:
        service.start()
        click.echo(f"plotter daemon: {len(cfg.devices)} device(s), socket {cfg.socket}", err=True)
        for server in service.servers:  # the dashboard's address, with the real port when it was 0
            if hasattr(server, "url"):
                click.echo(f"plotter daemon: dashboard {server.url}", err=True)
        sd_notify("READY=1")
        stop.wait()
        sd_notify("STOPPING=1")
    finally:
        service.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo("plotter daemon: stopped", err=True)
