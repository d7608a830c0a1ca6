"""Click parameter types shared by every command: lengths with units, paper sizes, grids.

Why: makers type `10mm`, `2cm`, `1in` or a bare number meaning mm; one type parses them all, so every
command agrees and a typo gets the same clear message everywhere.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import click

from plotter.errors import LayoutError

UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, '"': 25.4, "pt": 25.4 / 72, "": 1.0}
_LENGTH = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(mm|cm|m|in|\"|pt|)\s*")


def parse_length(text: str) -> float:
    """'10mm' -> 10.0, '2cm' -> 20.0, '1in' -> 25.4, '0.5' -> 0.5 (mm); ValueError otherwise."""
    m = _LENGTH.fullmatch(text.lower())
    if not m:
        raise ValueError(f"{text!r} is not a length; use a number with mm, cm, m, in or pt (bare = mm)")
    return float(m.group(1)) * UNITS_MM[m.group(2)]


class Length(click.ParamType):
    """A length in mm; accepts unit suffixes. `min` bounds it (inclusive)."""

    name = "length"

    def __init__(self, min: float | None = 0.0) -> None:  # noqa: A002 - mirrors click.FloatRange
        self.min = min

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            mm = float(value)
        else:
            try:
                mm = parse_length(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not math.isfinite(mm):
            self.fail(f"{value!r} is not a finite length", param, ctx)
        if self.min is not None and mm < self.min:
            self.fail(f"{value!r} must be at least {self.min:g} mm", param, ctx)
        return mm


class Grid(click.ParamType):
    """'3x3' -> (cols, rows)."""

    name = "COLSxROWS"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple:
        if isinstance(value, tuple):
            return value
        from plotter.plan.layout import parse_grid

        try:
            return parse_grid(str(value))
        except LayoutError as exc:
            self.fail(str(exc), param, ctx)


class PaperSize(click.ParamType):
    """'a4', 'letter', '200x150mm' -> the paper spec, validated early."""

    name = "paper"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from plotter.plan.layout import parse_paper

        try:
            parse_paper(str(value))
        except LayoutError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


class Point(click.ParamType):
    """'10mm,20mm' -> (10.0, 20.0) in mm."""

    name = "X,Y"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple:
        if isinstance(value, tuple):
            return value
        parts = str(value).split(",")
        if len(parts) != 2:
            self.fail(f"{value!r} must be two lengths separated by a comma, e.g. 10mm,20mm", param, ctx)
        try:
            return (parse_length(parts[0]), parse_length(parts[1]))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class InputFile(click.Path):
    """An existing file to read; a missing one is `Error: file PATH does not exist`, exit 1.

    Why not click.Path(exists=True): that is a usage error (exit 2, usage banner), while a missing
    checkpoint, sketch or profile is exit 1 with one line everywhere else; one convention for all inputs.
    """

    def __init__(self, what: str = "file") -> None:
        super().__init__(dir_okay=False, path_type=Path)
        self.what = what

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(str(value))
        if not path.exists():
            raise click.ClickException(f"{self.what} {path} does not exist")
        if path.is_dir():
            raise click.ClickException(f"{path} is a directory, not a {self.what}")
        return path


class InputPath(InputFile):
    """An existing file or directory to read (training data: a folder of .npz/.ndjson or one file)."""

    def __init__(self, what: str = "path") -> None:
        super().__init__(what)
        self.dir_okay = True

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(str(value))
        if not path.exists():
            raise click.ClickException(f"{self.what} {path} does not exist")
        return path


class FiniteFloat(click.ParamType):
    """A float that is not nan or inf (click's float and FloatRange accept nan, which poisons geometry
    silently)."""

    name = "float"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


LENGTH = Length()
INPUT_FILE = InputFile()
CHECKPOINT_FILE = InputFile("checkpoint")
INPUT_PATH = InputPath("data")
FINITE = FiniteFloat()
GRID = Grid()
PAPER = PaperSize()
POINT = Point()


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """`plotter CMD -v` as well as `plotter -v CMD`: the later, larger count wins."""
    if value:
        import logging

        logging.getLogger().setLevel(logging.WARNING - 10 * min(value, 2))
    return value


def verbose_option(f):  # type: ignore[no-untyped-def]
    """`-v/--verbose` on a subcommand (the group has it too; makers type it after the command)."""
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                        help="More log output (-vv for debug).")(f)


def travel_option(f):  # type: ignore[no-untyped-def]
    """Pen-up travel in the page previews of `draw` and `export`: one flag, one default."""
    return click.option("--travel/--no-travel", default=True, show_default=True,
                        help="Show pen-up travel in the previews (faint pink, dashed).")(f)  # fmt: skip


def layout_options(f):  # type: ignore[no-untyped-def]
    """The page-layout options of `export` and `draw`, declared once (same names, defaults and help)."""
    for option in reversed((
        click.option("--landscape/--portrait", default=None,
                     help="Orientation [default: whichever fits the bed]."),
        click.option("--margin", type=LENGTH, default="10mm", show_default=True,
                     help="Empty border on the paper."),
        click.option("--gap", type=LENGTH, default="5mm", show_default=True,
                     help="Space between grid cells."),
        click.option("--rotate", type=FINITE, default=0.0, show_default=True,
                     help="Rotate each sketch (degrees, cw)."),
        click.option("--size", type=LENGTH, default=None,
                     help="Longer side of each sketch [default: fill its cell]."),
        click.option("--offset", type=POINT, default="0,0", show_default=True,
                     help="Paper corner on the bed (X,Y)."),
        click.option("--clip", is_flag=True, help="Cut geometry at the bed edge instead of refusing it."),
    )):  # fmt: skip
        f = option(f)
    return f


LAYOUT_NAMES = ("landscape", "margin", "gap", "rotate", "size", "offset", "clip")


def pop_layout(opts: dict) -> dict:
    """Take the `layout_options` values out of a command's keyword arguments (JSON-ready: offset a list)."""
    layout = {name: opts.pop(name) for name in LAYOUT_NAMES}
    layout["offset"] = list(layout["offset"])
    return layout
