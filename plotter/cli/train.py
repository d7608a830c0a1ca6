"""`plotter train <model>`: one group, one set of shared options, one subcommand per model.

Adding a model is a few lines: a function that builds the model from the loaded data, decorated with
`@train.command(...)` and `@train_options(...)`, which calls `run_training(...)`. torch is imported only when
a command runs, so `plotter --help` stays fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from plotter.cli.params import INPUT_PATH

_SCHEDULES = click.Choice(["exp-decay", "warmup-cosine", "constant"])


def _chance(name: str, text: str) -> Callable:
    """An augmentation probability option: 0 (off) by default, checked to lie in [0, 1]."""
    return click.option(name, default=0.0, type=click.FloatRange(0.0, 1.0), show_default=True, help=text)


def train_options(lr: float, schedule: str, batch_size: int, steps: int, eval_every: int) -> Callable:
    """Options every model's train command shares (defaults differ per model)."""

    def deco(fn: Callable) -> Callable:
        opts = [
            click.option(
                "--data",
                "data_path",
                required=True,
                type=INPUT_PATH,
                help="A directory, a sketch-rnn/packed .npz, or a Quick, Draw! .ndjson.",
            ),
            click.option(
                "--class",
                "classes",
                multiple=True,
                required=True,
                help="Class to train on (repeatable; a comma list; `all` = every class of a packed .npz).",
            ),
            click.option(
                "--out",
                type=click.Path(path_type=Path),
                default=None,
                help="Run directory (default runs/<model>-<classes>).",
            ),
            click.option("--steps", default=steps, show_default=True, help="Optimizer steps at most."),
            click.option("--batch-size", default=batch_size, show_default=True),
            click.option("--lr", default=lr, show_default=True, help="Peak learning rate."),
            click.option("--min-lr", default=1e-5, show_default=True),
            click.option("--lr-schedule", type=_SCHEDULES, default=schedule, show_default=True),
            click.option(
                "--lr-decay", default=0.9999, show_default=True, help="Per-step factor (exp-decay)."
            ),
            click.option("--warmup-steps", default=500, show_default=True, help="Warmup (warmup-cosine)."),
            click.option("--weight-decay", default=0.0, show_default=True),
            click.option("--grad-clip", default=1.0, show_default=True),
            click.option(
                "--eval-every", default=eval_every, show_default=True, help="Steps between validations."
            ),
            click.option(
                "--keep-every",
                default=0,
                type=click.IntRange(min=0),
                show_default=True,
                help="Also keep step-NNNNNN.pt at validations on multiples of this (0 = none).",
            ),
            click.option(
                "--patience",
                default=10,
                show_default=True,
                help="Validations without improvement before stopping (0 = never).",
            ),
            click.option(
                "--max-minutes", type=float, default=None, help="Wall-clock budget; best checkpoint kept."
            ),
            click.option("--seed", default=0, show_default=True),
            click.option("--split-seed", default=0, show_default=True,
                         help="Seed of the per-class train/valid/test split (keep 0: reports use it)."),
            click.option(
                "--threads",
                "num_threads",
                type=click.IntRange(1, 256),
                default=1,
                show_default=True,
                help="torch CPU threads (2 ran 2.7-9x slower than 1 on a CPU shared with other jobs).",
            ),
            click.option(
                "--bf16",
                is_flag=True,
                help="Forward under bfloat16 autocast (AMX CPUs, GPUs); pays from width 256 up.",
            ),
            click.option(
                "--cosine-by-time",
                is_flag=True,
                help="warmup-cosine follows wall-clock progress to --max-minutes when ahead of steps.",
            ),
            click.option("--log-every", default=50, show_default=True, help="Steps between progress lines."),
            click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto."),
            click.option(
                "--limit", type=int, default=None, help="Use at most this many training sketches per class."
            ),
            click.option(
                "--valid-limit",
                type=int,
                default=None,
                help="Use at most this many validation sketches per class (short multiclass validation).",
            ),
            click.option("--resume", is_flag=True, help="Continue the run in --out from its resume.pt."),
            click.option(
                "--init-from",
                type=click.Path(dir_okay=False),
                default=None,
                help="Start from this checkpoint's weights and scale (fine-tuning; sizes must match).",
            ),
            _chance("--flip-prob", "Chance of a horizontal flip (augmentation)."),
            _chance("--scribble-prob",
                    "Chance of a scribble (tiny steps or an extra little stroke) that is never a target."),
            _chance("--repeat-prob", "Chance of a finished stroke drawn again 1-3 times, never a target."),
            click.option(
                "--no-augment",
                is_flag=True,
                help="Train without augmentation (scale, point drop, flip, scribble, repeat).",
            ),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return functools.wraps(fn)(fn)

    return deco


@click.group()
def train() -> None:
    """Train a sketch model on Quick, Draw! strokes (checkpoints, loss curve, resumable; DDP via torchrun)."""


def run_training(kind: str, build: Callable[[Any], Any], opts: dict[str, Any]) -> None:
    """Load data, build the model with `build(split_data)`, run the shared loop, report where things went."""
    import torch

    from plotter.training.augment import Augment
    from plotter.training.data import BucketBatcher, StrokeDataset, compute_scale, load_splits
    from plotter.training.loop import TrainConfig, fit

    is_main = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 talks and renders
    device = opts["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    from plotter.training.data import expand_classes

    classes = expand_classes(opts["data_path"], opts["classes"])  # "cat,dog" and "all" work too
    out = opts["out"] or Path("runs") / f"{kind}-{'-'.join(classes) if len(classes) <= 3 else 'multiclass'}"
    fields = (
        "steps",
        "batch_size",
        "lr",
        "min_lr",
        "lr_schedule",
        "lr_decay",
        "warmup_steps",
        "weight_decay",
        "grad_clip",
        "eval_every",
        "keep_every",
        "patience",
        "max_minutes",
        "seed",
        "num_threads",
        "log_every",
        "bf16",
        "cosine_by_time",
    )
    cfg = TrainConfig(**{k: opts[k] for k in fields}, out=str(out), device=device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    data = load_splits(
        opts["data_path"], classes, seed=opts["split_seed"], limit=opts["limit"],
        valid_limit=opts["valid_limit"],
    )
    if not data.valid:
        raise click.ClickException("the data has no validation sketches")
    init = _init_checkpoint(opts["init_from"], kind, opts["resume"])
    scale = float(init["scale"]) if init else compute_scale(data.train)
    augment = (
        None
        if opts["no_augment"]
        else Augment(flip_prob=opts["flip_prob"], scribble_prob=opts["scribble_prob"],
                     repeat_prob=opts["repeat_prob"], max_len=data.longest)
    )
    train_ds = StrokeDataset(data.train, scale, data.train_ids, augment=augment)
    valid_ds = StrokeDataset(data.valid, scale, data.valid_ids)
    model = build(data)
    model.scale, model.classes = scale, classes
    if init:
        _load_init_weights(model, init, opts["init_from"], classes, grow=bool(opts.get("grow")))
    n_params = sum(p.numel() for p in model.parameters())
    if is_main:
        click.echo(
            f"{kind}: {n_params / 1e6:.2f}M parameters, {len(train_ds)} train / {len(valid_ds)} valid, "
            f"scale {scale:.3f}, device {device}, {torch.get_num_threads()} threads -> {out}"
        )
    meta = {
        **data.provenance,
        "credit": "Quick, Draw! dataset, Google, CC BY 4.0",
        "train": {k: v for k, v in cfg.__dict__.items() if k != "out"},
        "parameters": n_params,
        **({"init_from": str(opts["init_from"])} if init else {}),
    }
    result = fit(
        model,
        BucketBatcher(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True),
        BucketBatcher(valid_ds, cfg.batch_size, shuffle=False),
        cfg,
        meta=meta,
        resume=opts["resume"],
        echo=click.echo if is_main else (lambda _msg: None),
    )
    if not is_main:
        return
    grid = _sample_grid(result.out / "best.pt", result.out / "samples.png")
    click.echo(f"samples: {grid}; loss curve: {result.out / 'loss.png'}")
    click.echo(
        f"stopped ({result.stopped}) at step {result.steps} after {result.minutes:.1f} min; best valid "
        f"{result.best_val:.4f} at step {result.best_step}: {result.out / 'best.pt'}"
    )


def _init_checkpoint(path: str | None, kind: str, resume: bool) -> dict | None:
    """The checkpoint a fine-tune starts from (validated like any checkpoint), or None."""
    if not path:
        return None
    if resume:
        raise click.BadParameter("use either --resume or --init-from", param_hint="--init-from")
    from plotter.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    if ckpt["kind"] != kind:
        msg = f"{path} is a {ckpt['kind']} checkpoint, not {kind}"
        raise click.BadParameter(msg, param_hint="--init-from")
    return ckpt


def _load_init_weights(model: Any, ckpt: dict, path: str, classes: list[str], grow: bool = False) -> None:
    """Copy weights into the freshly built model; a size or class mismatch is one line, not a traceback."""
    if list(ckpt.get("classes") or []) != list(classes):
        raise click.BadParameter(
            f"{path} was trained on {len(ckpt.get('classes') or [])} classes; this run has {len(classes)}",
            param_hint="--init-from",
        )
    try:
        if grow:
            from plotter.models.grow import load_grown

            new = load_grown(model, ckpt["state_dict"])
            click.echo(f"grown from {path}: {len(new)} new tensors start as no-ops")
        else:
            model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:120]
        msg = f"{path} does not fit this model's sizes ({first})"
        raise click.BadParameter(msg, param_hint="--init-from") from None


def _sample_grid(checkpoint: Path, png: Path, n: int = 25, temperature: float = 0.4) -> Path:
    """A 5x5 grid of samples from the best checkpoint: the first thing to look at after a run."""
    from plotter.models.checkpoint import load_model
    from plotter.sketch.render import render_png

    model = load_model(checkpoint)
    sketches = model.generate(n, temperature=temperature, seed=0)
    return render_png(sketches, png, cols=5, cell=160)


@train.command("sketch-rnn")
@train_options(lr=1e-3, schedule="exp-decay", batch_size=100, steps=20_000, eval_every=500)
@click.option(
    "--enc-hidden", default=128, show_default=True, help="Encoder GRU size per direction (paper 256)."
)
@click.option("--dec-hidden", default=256, show_default=True, help="Decoder GRU size (paper 512).")
@click.option("--z-size", default=64, show_default=True, help="Latent size (paper 128).")
@click.option("--mixtures", default=20, show_default=True)
@click.option("--dropout", default=0.1, show_default=True, help="Drop probability on decoder outputs.")
@click.option("--kl-weight", default=0.5, show_default=True)
@click.option("--kl-tolerance", default=0.2, show_default=True)
@click.option(
    "--kl-decay-rate", default=0.99995, show_default=True, help="KL annealing: w -> kl_weight by rate**step."
)
@click.option("--unconditional", is_flag=True, help="Decoder only (no encoder / latent).")
@click.option(
    "--class-embed",
    default=16,
    show_default=True,
    help="Class embedding size fed to the decoder when training on several classes.",
)
def sketch_rnn(**opts: Any) -> None:
    """Train Sketch-RNN (bi-GRU encoder, GRU decoder, Gaussian mixture): best.pt, last.pt, loss.png."""
    from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig

    def build(data: Any) -> SketchRNN:
        n = len(data.classes)
        return SketchRNN(
            SketchRNNConfig(
                enc_hidden=opts["enc_hidden"],
                dec_hidden=opts["dec_hidden"],
                z_size=opts["z_size"],
                n_mixtures=opts["mixtures"],
                dropout=opts["dropout"],
                n_classes=n,
                class_embed=opts["class_embed"] if n > 1 else 0,
                conditional=not opts["unconditional"],
                kl_weight=opts["kl_weight"],
                kl_tolerance=opts["kl_tolerance"],
                kl_decay_rate=opts["kl_decay_rate"],
            )
        )

    run_training("sketch-rnn", build, opts)


@train.command(
    "transformer",  # nanoGPT-style defaults where they differ from the shared ones
    context_settings={"default_map": {"weight_decay": 0.1, "warmup_steps": 150}},
)
@train_options(lr=1e-3, schedule="warmup-cosine", batch_size=64, steps=3_200, eval_every=200)
@click.option("--layers", default=4, show_default=True, help="Transformer blocks (reference 6).")
@click.option("--heads", default=4, show_default=True, help="Attention heads (reference 6).")
@click.option("--embd", default=128, show_default=True, help="Model width (reference 384).")
@click.option("--block-size", type=int, default=None, help="Rows attended; default: longest sketch + 1.")
@click.option("--mixtures", default=20, show_default=True)
@click.option("--dropout", default=0.1, show_default=True)
@click.option(
    "--input-noise",
    default=0.0,
    show_default=True,
    help="Std of Gaussian noise on input offsets, normalized units (training only; against exposure bias).",
)
@click.option(
    "--pen-weight",
    default=1.0,
    show_default=True,
    help="Weight of the pen cross-entropy in the loss (sharper lifts and ends at low temperature).",
)
@click.option(
    "--self-feed",
    default=0.0,
    show_default=True,
    help="Share of input offsets swapped for the model's own samples (scheduled sampling, training only).",
)
@click.option("--self-feed-temperature", default=0.4, show_default=True, help="Temperature of those samples.")
@click.option(
    "--xy-freqs",
    default=0,
    show_default=True,
    help="Feed where the pen is (sum of offsets) as sin/cos at this many scales; 0 = offsets only.",
)
@click.option(
    "--grow",
    is_flag=True,
    help="With --init-from: a smaller checkpoint (fewer --layers, no --xy-freqs) starts this bigger model "
    "as the same function (new parts start as no-ops).",
)
def transformer(**opts: Any) -> None:
    """Train the Sketch Transformer (GPT over strokes, Gaussian mixture): best.pt, last.pt, loss.png.

    Weight decay applies to weight matrices only; checkpoints/README.md has the command behind
    transformer-cat.pt.
    """
    from plotter.models.transformer import SketchTransformer, TransformerConfig

    def build(data: Any) -> SketchTransformer:
        longest = data.longest
        block = opts["block_size"] or longest + 1  # start token + points; the end row is only predicted
        if block < longest + 1:
            raise click.BadParameter(f"must be >= {longest + 1} (longest + 1)", param_hint="--block-size")
        n = len(data.classes)
        cfg = TransformerConfig(
            block_size=block,
            n_layer=opts["layers"],
            n_head=opts["heads"],
            n_embd=opts["embd"],
            dropout=opts["dropout"],
            n_mixtures=opts["mixtures"],
            n_classes=n if n > 1 else 0,
            input_noise=opts["input_noise"],
            self_feed=opts["self_feed"],
            pen_weight=opts["pen_weight"],
            self_feed_temperature=opts["self_feed_temperature"],
            xy_freqs=opts["xy_freqs"],
        )
        if cfg.n_embd % cfg.n_head:
            raise click.BadParameter(f"--embd {cfg.n_embd} is not divisible by --heads {cfg.n_head}")
        return SketchTransformer(cfg)

    run_training("transformer", build, opts)


# the yardstick classifier (issue 4) trains through this group too; hidden: a one-off, not a sketch model
from plotter.cli.evaluate import train_classifier as _train_classifier  # noqa: E402

train.add_command(_train_classifier, "classifier")
