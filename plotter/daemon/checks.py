"""The validation a daemon start runs, as one function that `plotter daemon --check` runs too.

Why: `--check` used to print the config back and pass a misspelt profile, paper `a9` or an `http.host` the
start then could not bind; a check that agrees with the start is the only useful kind.
"""

from __future__ import annotations

import socket
from pathlib import Path

from plotter.daemon.config import ConfigError, DaemonConfig
from plotter.errors import PlotterError


def check_config(config: DaemonConfig) -> None:
    """Every device's profile and paper, the extra profiles, the models, the HTTP address and the socket path
    are usable; the first problem is one `ConfigError` line naming the field. Creates and deletes nothing."""
    from plotter.gcode import load_profile
    from plotter.plan.layout import parse_paper

    for dev in config.devices:
        try:
            load_profile(dev.profile)
            parse_paper(dev.paper)
        except PlotterError as exc:
            raise ConfigError(f"devices.{dev.name}: {exc}") from None
    for name in config.profiles:
        try:
            load_profile(name)
        except PlotterError as exc:
            raise ConfigError(f"profiles: {exc}") from None
    for name in config.papers:
        try:
            parse_paper(name)
        except PlotterError as exc:
            raise ConfigError(f"papers: {exc}") from None
    for name, path in config.models.items():
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"models.{name}: checkpoint {path} does not exist")
    for name in config.preload:
        if name not in config.models and not Path(name).expanduser().is_file():
            raise ConfigError(f"preload: {name!r} is neither a model name in models: nor a checkpoint file")
    if config.http.enabled:
        check_bind(config.http.host)
    from plotter.daemon.sockdir import inspect_socket_path

    try:
        inspect_socket_path(Path(config.socket))
    except PlotterError as exc:
        raise ConfigError(f"socket: {exc}") from None


def check_bind(host: str) -> None:
    """Can this process listen on `host` at all (an address family the machine has)? Port 0: nothing taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
    except OSError as exc:
        raise ConfigError(f"http.host: cannot listen on {host}: {exc.strerror or exc}") from None
