"""`plotter evaluate CHECKPOINT`: the yardstick of issue 4, one command for both models.

Thin layer: options, progress bars and printing; the measuring lives in `plotter.training.evaluate`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

DEFAULT_CLASSIFIER = "checkpoints/classifier-345.pt"  # in the checkout unless it exists where you are
DATA_CANDIDATES = ("../shared/data/quickdraw", "../../shared/data/quickdraw")  # cwd, then the checkout


def _default_data() -> str | None:
    env = os.environ.get("PLOTTER_DATA")
    if env:
        return env
    from plotter.job.params import CHECKOUT

    found = next((c for c in DATA_CANDIDATES if Path(c).is_dir()), None)
    beside = CHECKOUT.parent / "shared" / "data" / "quickdraw"
    return found or (str(beside) if beside.is_dir() else None)


class _Bars:
    """One click progress bar per phase (NLL, sampling, classifying), advanced by (done, total) reports."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.phase, self.bar, self.done = enabled, None, None, 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            err = sys.stderr
            self.bar = click.progressbar(length=total, label=f"{phase:<20}", file=err)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False), required=False)
@click.option("--classifier", "classifier_path", default=DEFAULT_CLASSIFIER, show_default=True,
              help="The 345-class raster classifier that judges samples.")
@click.option("--data", type=click.Path(), default=None,
              help="Quick, Draw! data directory or file [default: $PLOTTER_DATA, ../shared/data/quickdraw].")
@click.option("--class", "class_name", default=None, help="Class to judge (default: the model's only class).")
@click.option("-n", "--samples", "n", type=click.IntRange(2, 100_000), default=1000, show_default=True,
              help="Samples to draw.")
@click.option("-t", "--temperature", type=click.FloatRange(0.01, 5.0), default=None,
              help="Sampling temperature [default: the checkpoint's own; 0.4 if it has none].")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (batch k uses seed + k).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/evaluate",
              show_default=True, help="Where the JSON report and the sample grid PNG go.")
@click.option("--grid", "grid_size", type=click.IntRange(1, 400), default=64, show_default=True,
              help="Samples shown in the PNG grid.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the summary.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--real-baseline", is_flag=True,
              help="Judge real training drawings instead of a model (what a perfect model would score).")
@click.option("--classes", "classes_spec", default=None, metavar="all|A,B,...",
              help="Per-class report of a multiclass checkpoint: every class it draws (all) or those named.")
@click.option("--per-class", type=click.IntRange(2, 10_000), default=50, show_default=True,
              help="With --classes: samples per class.")
@click.option("--grid-classes", default=None, metavar="A,B,...",
              help="With --classes: rows of the sample grid [default: cat + 11 spread from best to worst].")
@click.option("--compare-dir", type=click.Path(file_okay=False), default="checkpoints/eval",
              show_default=True,
              help="With --classes: single-class reports (*-report.json) to set the cat row beside.")
@click.option("--best-of", "best_of", type=click.IntRange(1, 32), default=1, show_default=True,
              help="With --classes: judge what `draw --best-of K` delivers (the raw model is K = 1).")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="torch CPU threads [default: up to 4].")
@click.option("--split", type=click.Choice(["test", "valid"]), default="test", show_default=True,
              help="Real drawings to judge against; valid chooses among checkpoints without the test set.")
def evaluate(checkpoint: str | None, classifier_path: str, data: str | None, class_name: str | None, n: int,
             temperature: float | None, seed: int, out_dir: str, grid_size: int, as_json: bool, quiet: bool,
             real_baseline: bool, classes_spec: str | None, per_class: int, grid_classes: str | None,
             compare_dir: str, best_of: int, threads: int | None, split: str) -> None:
    """Judge a model checkpoint: held-out NLL, recognizability, diversity and termination of its samples.

    Recognizability is the share of N samples at temperature T that the classifier puts in the target class,
    beside the same share for real held-out drawings (the ceiling); diversity is the mean pairwise distance
    in the classifier's feature space beside real drawings'. Targets: ratio >= 0.85, diversity within 10 %,
    >= 99 % of samples ending by themselves. With --real-baseline (and --class), real training drawings
    stand in for samples, which calibrates the targets.

    With --classes (all, or a comma list), a multiclass checkpoint is judged per class instead: --per-class
    samples of each, beside the classifier's accuracy on that class's real held-out drawings; writes a JSON
    report, a markdown table, a ratio histogram and a labelled sample grid under --out.
    """
    import json

    import torch

    from plotter.errors import DataError
    from plotter.training.classifier import load_classifier
    from plotter.training.evaluate import RealDrawings
    from plotter.training.evaluate import evaluate as run_evaluate

    if best_of > 1 and classes_spec is None:
        raise click.UsageError("--best-of judges a multiclass checkpoint per class: add --classes")
    if classes_spec is not None and split != "test":
        raise click.UsageError("--classes judges against each class's test drawings; drop --split")
    if classes_spec is not None and (class_name or real_baseline or checkpoint is None):
        raise click.UsageError("--classes needs a CHECKPOINT and goes without --class / --real-baseline")
    if real_baseline == (checkpoint is not None):
        raise click.UsageError("give a CHECKPOINT, or --real-baseline --class NAME (not both)")
    if real_baseline and not class_name:
        raise click.UsageError("--real-baseline needs --class NAME")
    data = data or _default_data()
    if data is None:
        raise DataError("no data found: pass --data PATH or set PLOTTER_DATA (see the data README)")
    torch.set_num_threads(threads or max(1, min(4, os.cpu_count() or 1)))
    from plotter.job.params import in_checkout

    checkpoint = str(in_checkout(checkpoint)) if checkpoint else checkpoint
    compare_dir = str(in_checkout(compare_dir))
    clf = load_classifier(in_checkout(classifier_path))
    bars = _Bars(enabled=not quiet)
    if classes_spec is not None:
        _per_class(checkpoint, clf, data, classes_spec, per_class, temperature, seed, out_dir, grid_classes,
                   compare_dir, as_json, bars, best_of)
        return
    model = RealDrawings.load(data, class_name, seed) if real_baseline else None
    name = f"real-{class_name}.train" if real_baseline else checkpoint
    try:
        report = run_evaluate(name, clf, data, class_name, n=n, temperature=temperature, seed=seed,
                              out_dir=out_dir, progress=bars, grid_size=grid_size, model=model, split=split)
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(report.summary())
    top1 = report.classifier.get("test_top1") or 0.0
    click.echo(f"  classifier: {classifier_path} (held-out top-1 over 345 classes {top1:.3f})")
    for what, path in report.files.items():
        click.echo(f"  {what.replace('_', ' ')}: {path}")


def _per_class(checkpoint: str, clf: object, data: str, spec: str, per_class: int, temperature: float | None,
               seed: int, out_dir: str, grid_classes: str | None, compare_dir: str, as_json: bool,
               bars: _Bars, best_of: int = 1) -> None:
    """`--classes`: the per-class report of a multiclass checkpoint (issue 7)."""
    import json

    from plotter.models.checkpoint import load_model
    from plotter.training.class_report import summary_lines, write_outputs
    from plotter.training.evaluate_classes import evaluate_classes, resolve_classes

    model = load_model(checkpoint)
    names = resolve_classes(model, spec)  # a typo fails here, before minutes of sampling
    grid = None
    if grid_classes:
        grid = resolve_classes(model, grid_classes)
        missing = [g for g in grid if g not in names]
        if missing:
            raise click.BadParameter(f"{', '.join(missing)} not among --classes", param_hint="--grid-classes")
    click.echo(f"judging {len(names)} classes x {per_class} samples of {checkpoint}", err=True)
    judged: object = model
    if best_of > 1:  # what draw delivers; reports named <stem>-best<K>-classes-...
        from plotter.models.best_of import BestOfSampler
        from plotter.training.classifier import class_scorer

        judged = BestOfSampler(model, lambda name: class_scorer(clf, name), best_of)
        checkpoint = str(Path(checkpoint).with_name(f"{Path(checkpoint).stem}-best{best_of}.pt"))
    try:
        rep = evaluate_classes(checkpoint, clf, data, names, per_class, temperature, seed, progress=bars,
                               model=judged, compare_dir=compare_dir)
    finally:
        bars.close()
    write_outputs(rep, out_dir, grid)
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=1))
        return
    for line in summary_lines(rep):
        click.echo(line)
    click.echo(f"time: {rep.timing['total_s']:.0f} s (sampling {rep.timing['sampling_s']:.0f} s, "
               f"classifying {rep.timing['classifying_s']:.0f} s, data {rep.timing['loading_s']:.0f} s)")
    for what, path in rep.files.items():
        click.echo(f"  {what}: {path}")


@click.command("classifier", hidden=True)
@click.option("--data", required=True, type=click.Path(exists=True), help="Directory with quickdraw.npz.")
@click.option("--out", default=DEFAULT_CLASSIFIER, show_default=True, type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(1, 100), default=2, show_default=True)
@click.option("--train-per-class", type=click.IntRange(1), default=2700, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_classifier(data: str, out: str, epochs: int, train_per_class: int, seed: int) -> None:
    """Train the 345-class raster classifier `plotter evaluate` judges with (one CPU thread, ~25-40 min)."""
    from plotter.training.classifier_train import TrainConfig
    from plotter.training.classifier_train import train_classifier as run

    run(data, out, TrainConfig(epochs=epochs, train_per_class=train_per_class, seed=seed), log=click.echo)
