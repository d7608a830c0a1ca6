"""Thin click layer. Commands live in their own modules and are imported only when run.

Lazy loading keeps `plotter export` free of torch and fast to start. Every `PlotterError` raised by the
core becomes a one-line `Error: ...` and exit status 1 here, so no user mistake ends in a traceback.
"""

from __future__ import annotations

import importlib

import click

from plotter import __version__
from plotter.errors import PlotterError

EXIT_CANCELLED = 130  # a job cancelled with Ctrl-C (README: exit status)

# command name -> "module:attribute"; a module that is not there yet simply does not list its command.
COMMANDS: dict[str, str] = {
    "export": "plotter.cli.export:export",
    "profiles": "plotter.cli.profiles:profiles",
    "stream": "plotter.cli.stream:stream",
    "sim": "plotter.cli.sim:sim",
    "devices": "plotter.cli.stream:devices",
    "train": "plotter.cli.train:train",
    "evaluate": "plotter.cli.evaluate:evaluate",
    "draw": "plotter.cli.draw:draw",
    "daemon": "plotter.cli.daemon:daemon",
    "jobs": "plotter.cli.jobs:jobs",
    "pause": "plotter.cli.jobs:pause",
    "resume": "plotter.cli.jobs:resume",
    "cancel": "plotter.cli.jobs:cancel",
    "status": "plotter.cli.jobs:status",
    "sample": "plotter.cli.sample:sample",
    "animate": "plotter.cli.sample:animate",
    "complete": "plotter.cli.sample:complete",
    "classes": "plotter.cli.sample:classes",
    "morph": "plotter.cli.sample:morph",
    "pen": "plotter.cli.machine:pen",
    "home": "plotter.cli.machine:home",
    "jog": "plotter.cli.machine:jog",
    "settings": "plotter.cli.machine:settings",
    "console": "plotter.cli.console:console",
    "queue": "plotter.cli.queue:queue",
}


def _load(name: str) -> click.Command | None:
    module_name, attr = COMMANDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attr, None)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if importlib.util.find_spec(COMMANDS[n].split(":")[0]) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return _load(cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PlotterError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:  # Ctrl-C outside a stream (sampling, planning): a cancel, as README says
            click.echo("\ncancelled (Ctrl-C)", err=True)
            raise SystemExit(EXIT_CANCELLED) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plotter")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Draw Quick, Draw! sketches on a GRBL pen plotter, stroke by stroke."""
    import logging

    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
