"""Options and set-up shared by the scripts that choose on the validation split (pick_checkpoint.py,
temperature_sweep.py): which data, class, judge, how many samples and seeds."""

from __future__ import annotations

import argparse

import torch

from plotter.training.evaluate import ValidationJudge


def validation_parser(doc: str, samples_help: str) -> argparse.ArgumentParser:
    """A parser with CHECKPOINT... and the options every validation choice takes."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", default="../shared/data/quickdraw/cat.npz")
    ap.add_argument("--class", dest="class_name", default="cat")
    ap.add_argument("--classifier", default="checkpoints/classifier-345.pt")
    ap.add_argument("-n", type=int, default=1000, help=samples_help)
    ap.add_argument("--seeds", type=int, default=2, help="sampling seeds 5000, 5100, ...")
    ap.add_argument("--threads", type=int, default=1)
    return ap


def validation_judge(args: argparse.Namespace) -> ValidationJudge:
    """The judge those options describe (torch threads set first: judging real drawings already samples)."""
    torch.set_num_threads(args.threads)
    return ValidationJudge(args.classifier, args.data, args.class_name)
