"""`plotter sample`, `animate`, `complete`, `classes`, `morph`: look at what the models draw before plotting.

Thin click layer: sampling helpers are `plotter.models.complete`, pictures are `plotter.sketch.render`
(plain grids) and `plotter.sketch.animate` (GIF/HTML of the pen moving, coloured prefixes). torch is
imported only by the commands that sample.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from plotter.cli.params import CHECKPOINT_FILE, INPUT_FILE
from plotter.errors import PlotterError

OUT = click.Path(dir_okay=False, path_type=Path)


def model_options(
    default_model: str | None = "sketch-rnn", temperature: float | None = None, models: bool = True
) -> Callable:
    """--class/--model/--checkpoint/--temperature/--seed, shared by every sampling command."""

    def deco(fn: Callable) -> Callable:
        opts = [
            click.option("--class", "class_name", default=None, help="What to draw (see `plotter classes`)."),
            click.option(
                "--checkpoint",
                type=CHECKPOINT_FILE,
                default=None,
                help="Model checkpoint [default: checkpoints/<model>-<class>.pt].",
            ),  # fmt: skip
            click.option(
                "--temperature",
                type=float,
                default=temperature,
                show_default=temperature is not None,
                help="Sampling temperature (0, 5]: low = tidy, high = wild"
                + ("." if temperature is not None else " [default: the checkpoint's own, else 0.4]."),
            ),  # fmt: skip
            click.option("--seed", type=int, default=None, help="Random seed: same seed, same drawings."),
        ]
        if models:
            opts.insert(1, click.option("--model", type=click.Choice(["sketch-rnn", "transformer"]),
                                        default=default_model, show_default=default_model is not None,
                                        help=None if default_model else "[default: the better model for the "
                                        "class: the transformer where one knows it]"))  # fmt: skip
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return deco


def picture_options(fn: Callable) -> Callable:
    """Where the pictures go and how they look."""
    opts = [
        click.option("--png", type=OUT, default=None, help="Grid picture (PNG)."),
        click.option("--svg", type=OUT, default=None, help="Grid picture (SVG)."),
        click.option("--gif", type=OUT, default=None, help="Animation of the drawings being drawn (GIF)."),
        click.option(
            "--html", type=OUT, default=None, help="The same animation as a self-contained HTML page."
        ),
        click.option("--json", "json_out", type=OUT, default=None, help="The sketches (our JSON format)."),
        click.option(
            "--cell",
            type=click.IntRange(32, 2000),
            default=200,
            show_default=True,
            help="Pixels per drawing.",
        ),  # fmt: skip
        click.option(
            "--frames",
            type=click.IntRange(2, 500),
            default=48,
            show_default=True,
            help="GIF frames (the last one holds the finished drawing).",
        ),  # fmt: skip
        click.option("--fps", type=click.FloatRange(1, 50), default=16, show_default=True, help="GIF speed."),
        click.option(
            "--seconds",
            type=click.FloatRange(0.5, 600),
            default=6,
            show_default=True,
            help="HTML animation length.",
        ),  # fmt: skip
        click.option("--no-travel", is_flag=True, help="Hide pen-up moves (shown faint by default)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def write_pictures(
    sketches: Sequence[Any], opts: dict, default: Path | None, captions: Sequence[str] | None = None,
    cols: int | None = None, coloured: bool = False,
) -> list[Path]:  # fmt: skip
    """Write every picture asked for (the PNG at `default` if none was); returns the paths written."""
    from plotter.sketch.animate import Style, render_panels, write_gif, write_grid_svg, write_html
    from plotter.sketch.moves import moves_from_sketch

    targets = {k: opts.get(k) for k in ("png", "svg", "gif", "html", "json_out")}
    if not any(targets.values()) and default is not None:
        targets["png"] = default
    panels = [moves_from_sketch(s) for s in sketches]
    style = Style(cell=opts["cell"], travel=not opts["no_travel"], captions=captions, cols=cols)
    written = []
    if targets["png"]:
        path = targets["png"]
        if coloured or not sketches:
            _save_png(render_panels(panels, style), path)
        else:
            from plotter.sketch.render import render_png

            render_png(list(sketches), path, cell=opts["cell"], cols=cols, captions=captions, padding=0.07)
        written.append(path)
    if targets["svg"]:
        written.append(write_grid_svg(panels, targets["svg"], style))
    if targets["gif"]:
        written.append(
            write_gif(panels, targets["gif"], opts["frames"], round(1000 / opts["fps"]), style=style)
        )
    if targets["html"]:
        written.append(write_html(panels, targets["html"], opts["seconds"], style))
    if targets["json_out"]:
        from plotter.sketch.io import write_json

        written.append(write_json(list(sketches), targets["json_out"]))
    for p in written:
        click.echo(f"wrote {p}")
    return written


def _save_png(img: Any, path: Path) -> None:
    try:
        img.save(path, format="PNG")
    except OSError as exc:
        raise PlotterError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _sample_batches(model: Any, n: int, batch: int, opts: dict, class_name: str | None) -> list[Any]:
    """n sketches in batches with a progress bar; batch i uses seed + i so a seed repeats exactly.
    With --best-of K each is the best clean one of K (plotter.models.best_of; batch i: seed + 1000 i)."""
    out: list[Any] = []
    starts = list(range(0, n, batch))
    gen = _best_of_sampler(model, opts, class_name) if (opts.get("best_of") or 1) > 1 else None
    with click.progressbar(length=n, label="sampling", file=sys.stderr, show_pos=True) as bar:
        for i, start in enumerate(starts):
            k = min(batch, n - start)
            if gen is not None:
                out += gen(k, i)
            else:
                seed = None if opts["seed"] is None else opts["seed"] + i
                out += model.generate(k, temperature=opts["temperature"], class_name=class_name, seed=seed)
            bar.update(k)
    return out


def _best_of_sampler(model: Any, opts: dict, class_name: str | None) -> Callable[[int, int], list[Any]]:
    """(count, batch index) -> count sketches, each the best of --best-of candidates."""
    import numpy as np

    from plotter.job.models import ModelCache
    from plotter.models.best_of import best_of

    score = ModelCache().scorer(class_name or "")
    base = opts["seed"] if opts["seed"] is not None else int(np.random.SeedSequence().entropy % 2**31)

    def draw(count: int, seed: int) -> list[Any]:
        return model.generate(count, temperature=opts["temperature"], class_name=class_name, seed=seed)

    return lambda count, i: best_of(draw, score, count, int(opts["best_of"]), base + 1000 * i)


# ------------------------------------------------------------------------------------------ commands
@click.command()
@model_options(default_model=None)
@click.option("-n", "n", type=click.IntRange(1, 1024), default=16, show_default=True, help="How many.")
@click.option(
    "--batch", type=click.IntRange(1, 1024), default=16, show_default=True, help="Sketches per batch."
)
@click.option("--best-of", "best_of", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Sample K per sketch; drop knots and cut-off ones; keep the classifier's best for it.")
@picture_options
def sample(**opts: Any) -> None:
    """Sample sketches and write a grid (PNG/SVG), an animation of them being drawn (GIF/HTML) or JSON.

    `--class cat,dog,apple` draws n of each, one class per row: from one checkpoint that knows them all,
    else from each class's own. With no output option, writes <class>-samples.png.
    """
    from plotter.job.models import check_classes, checkpoints_for, load
    from plotter.job.params import pick_model
    from plotter.models.complete import resolve_class
    from plotter.models.sampling import resolve_temperature

    wanted = [c.strip() for c in (opts["class_name"] or "").split(",") if c.strip()] or [None]
    kind = opts["model"] or pick_model(wanted[0], opts["checkpoint"])
    groups = checkpoints_for(kind, wanted, opts["checkpoint"])  # type: ignore[arg-type]
    for path, group in groups.items():  # every name checked before torch loads anything
        check_classes(path, group)  # type: ignore[arg-type]
    drawn: dict[object, list] = {}
    for path, group in groups.items():
        model = load(kind, group[0], path)
        tau = resolve_temperature(model, opts["temperature"])
        for asked in group:
            name = resolve_class(model, asked)
            click.echo(f"{model.kind} {_shown(name)} x{opts['n']} at temperature {tau:g}", err=True)
            drawn[asked] = [name, _sample_batches(model, opts["n"], opts["batch"], opts, name)]
    names = [drawn[c][0] for c in wanted]
    sketches = [s for c in wanted for s in drawn[c][1]]
    captions = [drawn[c][0] or "" for c in wanted for _ in range(opts["n"])]
    empty = sum(s.is_empty() for s in sketches)
    ended = sum(bool(s.meta.get("ended", True)) for s in sketches)
    click.echo(f"{len(sketches)} sketches, {ended} ended by themselves, {empty} empty", err=True)
    several = len(names) > 1
    default = Path(f"{'-'.join(n or 'sketch' for n in names)}-samples.png")
    write_pictures(sketches, opts, default, captions if several else None, opts["n"] if several else None)


def _shown(name: str | None) -> str:
    return name or "(unnamed class)"


@click.command()
@click.argument("file", type=INPUT_FILE)
@click.option(
    "--simulate", is_flag=True, help="G-code: show what the simulated GRBL does (refused lines stop it)."
)
@click.option("--limit", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Sketch files: animate at most this many drawings.")  # fmt: skip
@picture_options
def animate(file: Path, simulate: bool, limit: int, **opts: Any) -> None:
    """Watch FILE being drawn: a .gcode program (the plot before it happens), a simulator trace SVG
    (`plotter sim --trace t.svg`), or a sketch file (our JSON, SVG, .ndjson, .npz).

    With no output option, writes FILE's name with .gif.
    """
    from plotter.grbl.sim.dryrun import gcode_moves
    from plotter.sketch.animate import Style, write_gif, write_grid_svg, write_html
    from plotter.sketch.moves import GCODE_SUFFIXES

    if file.suffix.lower() not in GCODE_SUFFIXES:
        from plotter.sketch.io import read_sketches

        sketches = read_sketches(file, limit=limit)
        if len(sketches) == 1 and opts["cell"] == 200:
            opts["cell"] = 480  # one page or one drawing: bigger than a grid cell
        if not any(opts[k] for k in ("png", "svg", "gif", "html", "json_out")):
            opts["gif"] = file.with_suffix(".gif")
        write_pictures(sketches, opts, None)
        return
    if opts["json_out"]:
        raise click.BadParameter("a G-code program has no sketches to write as JSON", param_hint="--json")
    panels = [gcode_moves(file, simulate=simulate)]
    down = sum(m.length for m in panels[0] if m.down)
    up = sum(m.length for m in panels[0] if not m.down)
    click.echo(f"{file.name}: {down:.0f} mm drawn, {up:.0f} mm travel, "
               f"{sum(m.down for m in panels[0])} pen-down runs", err=True)  # fmt: skip
    cell = opts["cell"] if opts["cell"] != 200 else 600
    style = Style(cell=cell, travel=not opts["no_travel"], line_width=1.5)
    if not any(opts[k] for k in ("png", "svg", "gif", "html")):
        opts["gif"] = file.with_suffix(".gif")
    written = []
    if opts["gif"]:
        written.append(write_gif(panels, opts["gif"], opts["frames"], round(1000 / opts["fps"]), style=style))
    if opts["html"]:
        written.append(write_html(panels, opts["html"], opts["seconds"], style, title=file.name))
    if opts["svg"]:
        written.append(write_grid_svg(panels, opts["svg"], style))
    if opts["png"]:
        from plotter.sketch.animate import render_panels

        _save_png(render_panels(panels, style), opts["png"])
        written.append(opts["png"])
    for p in written:
        click.echo(f"wrote {p}")


@click.command()
@click.argument("partial", type=INPUT_FILE)
@model_options()
@click.option("-n", "--n", "n", type=click.IntRange(1, 64), default=6, show_default=True, help="Completions.")
@click.option("--index", type=int, default=0, show_default=True, help="Which drawing of a multi-sketch file.")
@click.option("--size", type=float, default=None,
              help="Scale the partial so its longest side is this many data pixels (the data's box is 255) "
                   "[default: shrink only if larger].")  # fmt: skip
@click.option("--simplify", type=click.FloatRange(0, 50), default=2.0, show_default=True,
              help="RDP tolerance in data pixels, as Quick, Draw! data was (0 = off).")  # fmt: skip
@picture_options
def complete(partial: Path, **opts: Any) -> None:
    """Continue the partial drawing PARTIAL (SVG, our JSON, or a Quick, Draw! .ndjson line) n ways.

    The grid shows the given strokes in black and the model's continuation in orange.
    With no output option, writes PARTIAL's name with -completed.png.
    """
    from plotter.job.models import load
    from plotter.models.complete import complete_sketches, resolve_class
    from plotter.sketch.io import read_sketches

    user = read_sketches(partial, index=opts["index"])[0]
    model = load(opts["model"], opts["class_name"], opts["checkpoint"])
    name = resolve_class(model, opts["class_name"])
    click.echo(
        f"completing {partial.name} ({len(user)} strokes) {opts['n']} ways with {model.kind}", err=True
    )
    out = complete_sketches(model, user, opts["n"], opts["temperature"], name, opts["seed"],
                            size=opts["size"], simplify=opts["simplify"])  # fmt: skip
    write_pictures(out, opts, partial.with_name(f"{partial.stem}-completed.png"), coloured=True)


@click.command()
@click.argument("checkpoint", required=False, type=CHECKPOINT_FILE)
@click.option(
    "--all", "show_all", is_flag=True, help="With no CHECKPOINT: list every class, not the first few."
)
def classes(checkpoint: Path | None, show_all: bool) -> None:
    """List what CHECKPOINT can draw (one class per line); with none, what each shipped checkpoint draws."""
    from plotter.job.models import checkpoint_info, shipped_checkpoints

    if checkpoint is not None:
        info = checkpoint_info(checkpoint)
        count = len(info["classes"])
        click.echo(f"{checkpoint}: {info['kind']}, {count} class{'' if count == 1 else 'es'}", err=True)
        for name in info["classes"]:
            click.echo(name)
        return
    found = shipped_checkpoints()
    if not found:
        raise PlotterError("no checkpoints found (checkpoints/ or $PLOTTER_CHECKPOINTS); pass CHECKPOINT")
    for path in found:
        try:
            info = checkpoint_info(path)
        except PlotterError as exc:
            click.echo(f"{path}: unreadable ({exc})")
            continue
        names = info["classes"]
        shown = names if show_all or len(names) <= 8 else [*names[:8], f"... (+{len(names) - 8} more)"]
        word = "class" if len(names) == 1 else "classes"
        note = "" if info["draws"] else " (judges drawings; does not draw)"
        if info["temperature"] is not None:
            note += f" (default temperature {info['temperature']:g})"
        click.echo(f"{path}  {info['kind']}  {len(names)} {word}{note}: {', '.join(shown)}")


@click.command()
@click.argument("a", required=False, type=click.Path(path_type=Path))
@click.argument("b", required=False, type=click.Path(path_type=Path))
@model_options(temperature=0.1, models=False)
@click.option("--steps", type=click.IntRange(2, 64), default=8, show_default=True, help="Panels in the row.")
@click.option("--seeds", default=None, metavar="SA,SB",
              help="Without A, B: endpoints z ~ N(0, I) from two seeds [default: seed,seed+1].")  # fmt: skip
@picture_options
def morph(a: Path | None, b: Path | None, **opts: Any) -> None:
    """Morph sketch A into sketch B through Sketch-RNN's latent space (spherical interpolation of z).

    A and B are sketch files (first drawing; FILE#N for the N-th). Without them, two random latents.
    With no output option, writes morph.png.
    """
    import numpy as np

    from plotter.job.models import load
    from plotter.models.complete import latents, random_latents, resolve_class
    from plotter.models.complete import morph as do_morph

    if (a is None) != (b is None):
        raise click.UsageError("give two sketch files A and B, or none (random endpoints from --seeds)")
    model = load("sketch-rnn", opts["class_name"], opts["checkpoint"])
    name = resolve_class(model, opts["class_name"])
    seed = 0 if opts["seed"] is None else opts["seed"]
    if a is not None:
        za, zb = latents(model, [_read_one(a), _read_one(b)])
    else:
        za, zb = random_latents(model, _seeds(opts["seeds"], seed))
    row = do_morph(model, za, zb, opts["steps"], opts["temperature"], name, seed)
    click.echo(f"latent distance |za - zb| = {float(np.linalg.norm(za - zb)):.2f}", err=True)
    write_pictures(
        row, opts, Path("morph.png"), captions=[f"t={s.meta['t']:.2f}" for s in row], cols=len(row)
    )


def _seeds(text: str | None, seed: int) -> list[int]:
    if text is None:
        return [seed, seed + 1]
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 2:
        raise click.BadParameter(f"expected two integers like 3,7, got {text!r}", param_hint="--seeds")
    return vals


def _read_one(path: Path) -> Any:
    """The first drawing of a file, or the N-th with FILE#N."""
    from plotter.sketch.io import read_sketches

    text, index = str(path), 0
    if "#" in text and not path.exists():
        text, _, num = text.rpartition("#")
        if not num.isdigit():
            raise click.BadParameter(f"{path}: after # comes a drawing number, e.g. cats.ndjson#3")
        index = int(num)
    return read_sketches(text, index=index)[0]
