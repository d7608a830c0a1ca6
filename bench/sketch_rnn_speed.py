"""Sketch-RNN training throughput (steps/s) on real cat batches, per model size and CPU thread count.

Usage: python bench/sketch_rnn_speed.py THREADS[,THREADS] ENC/DEC/Z/BATCH ...
e.g.   python bench/sketch_rnn_speed.py 1,2 128/256/64/100 256/512/128/100
Prints one line per (threads, size): 3 warm-up steps, then 10 timed optimizer steps (augmented, bucketed).
"""

from __future__ import annotations

import sys
import time

import torch

from plotter.models.sketch_rnn import SketchRNN, SketchRNNConfig
from plotter.training.augment import Augment
from plotter.training.data import BucketBatcher, StrokeDataset, compute_scale, load_splits
from plotter.training.loop import TrainConfig

DATA = "../shared/data/quickdraw/cat.npz"


def main(argv: list[str]) -> None:
    threads = [int(t) for t in argv[0].split(",")] if argv else [1]
    sizes = [tuple(map(int, s.split("/"))) for s in argv[1:]] or [(128, 256, 64, 100), (256, 512, 128, 100)]
    d = load_splits(DATA, ["cat"])
    ds = StrokeDataset(d.train, compute_scale(d.train), augment=Augment())
    for th in threads:
        torch.set_num_threads(th)
        for enc, dec, z, bs in sizes:
            torch.manual_seed(0)
            m = SketchRNN(SketchRNNConfig(enc_hidden=enc, dec_hidden=dec, z_size=z))
            opt = m.configure_optimizer(TrainConfig())
            it = BucketBatcher(ds, bs, seed=0, drop_last=True).forever()
            batches = [next(it) for _ in range(13)]
            for i, b in enumerate(batches):
                if i == 3:
                    t0 = time.perf_counter()
                loss = m(b, i)["loss"]
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                opt.step()
            rate = 10 / (time.perf_counter() - t0)
            n = sum(p.numel() for p in m.parameters()) / 1e6
            print(f"threads={th} enc={enc} dec={dec} z={z} batch={bs} params={n:.2f}M: {rate:.2f} steps/s")


if __name__ == "__main__":
    main(sys.argv[1:])
