"""Choose a multi-class transformer's knot cure (pen temperature, knot cap) on seeds no report uses.

Usage:

    python scripts/sampling_cure.py CHECKPOINT [--every 7] [-n 16] [--pen-taus 0.4,0.7,1.0] [--caps 0,6]
                                    [--set]

Samples `-n` sketches of every `--every`-th class (sampling seeds 5000 + class position, which no report
uses) at the file's own temperature for each (pen temperature, knot cap) pair and rates them with the
yardstick classifier (top-1 on the asked class), the share that ended by itself, and the share best-of
would accept (ended, no knot). The pick: the best top-1 among pairs ending >= 99 %, else the best ending.
`--set` records it in the checkpoint's "sampling" entry (`checkpoint.set_sampling`), which `draw`, `sample`,
`evaluate` and daemon jobs then use. Why a pen temperature: temperature divides the pen logits too, so at
tau 0.4 an end or lift probability under one half is pushed toward zero and samples run on to the length
limit; the offsets keep their low temperature, the pen choice is made at its own.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from plotter.job.models import _load_classifier
from plotter.models.best_of import verdict
from plotter.models.checkpoint import load_model, set_sampling


def rate(model: torch.nn.Module, clf: object, names: list[str], n: int) -> dict:
    hits, ended, clean = [], [], []
    for i, name in enumerate(names):
        sk = model.generate(n, class_name=name, seed=5000 + i)
        logits, _ = clf.predict(clf.rasterize(sk))
        hits.append(float(np.mean(logits.argmax(1) == clf.class_index(name))))
        ended += [bool(s.meta["ended"]) for s in sk]
        clean += [verdict(s).clean for s in sk]
    return {"top1": float(np.mean(hits)), "ended": float(np.mean(ended)), "clean": float(np.mean(clean))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--every", type=int, default=7, help="every k-th class (7: 50 of 345)")
    ap.add_argument("-n", type=int, default=16, help="samples per class and setting")
    ap.add_argument("--pen-taus", default="0.4,0.7,1.0")
    ap.add_argument("--caps", default="0,6")
    ap.add_argument("--set", action="store_true", help="record the pick in the checkpoint")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, clf = load_model(args.checkpoint), _load_classifier()
    names = model.classes[:: args.every]
    rows = []
    for pen in [float(x) for x in args.pen_taus.split(",")]:
        for cap in [int(x) for x in args.caps.split(",")]:
            model.pen_temperature, model.knot_cap = pen, cap
            t0 = time.process_time()
            r = {"pen_temperature": pen, "knot_cap": cap, **rate(model, clf, names, args.n)}
            rows.append(r)
            print(f"pen tau {pen:g} cap {cap}: top-1 {r['top1']:.3f} ended {r['ended']:.3f} "
                  f"accepted {r['clean']:.3f} ({time.process_time() - t0:.0f} CPU s)", flush=True)
    ok = [r for r in rows if r["ended"] >= 0.99]
    best = max(ok, key=lambda r: r["top1"]) if ok else max(rows, key=lambda r: r["ended"])
    print(f"pick: pen temperature {best['pen_temperature']:g}, knot cap {best['knot_cap']} "
          f"({len(names)} classes x {args.n} samples, seeds 5000+)")
    if args.set:
        how = f"scripts/sampling_cure.py --every {args.every} -n {args.n} (seeds 5000+)"
        set_sampling(args.checkpoint, best["knot_cap"], best["pen_temperature"], how)
        print(f"recorded in {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
