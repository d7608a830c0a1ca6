"""Train the 345-class yardstick classifier, reproducibly, on one CPU thread.

    python -m plotter.training.classifier_train --data ../shared/data/quickdraw \
        --out checkpoints/classifier-345.pt

Why these choices: every class gets a fixed, seeded held-out split (10 %, at most `test_cap`) chosen by the
class *name*, so the split does not move when classes are added; the `cat` class of the packed file also holds
cat.npz's official valid/test drawings, which are removed by content hash, because the real-cat ceiling of
`plotter evaluate` is measured on cat.npz's test split and must be unseen. Rasters are drawn once up front
(~0.1 ms each), then a one-cycle AdamW schedule runs a fixed number of epochs; progress goes to the log.
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from plotter.errors import DataError
from plotter.training.classifier import ClassifierConfig, SketchCNN, save_classifier, to_input
from plotter.training.raster import RasterSpec, rasterize

Log = Callable[[str], None]


@dataclass
class TrainConfig:
    """The schedule; saved in the checkpoint's provenance so a run can be repeated exactly."""

    train_per_class: int = 2700
    test_frac: float = 0.1
    test_cap: int = 300
    epochs: int = 2
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 0
    threads: int = 1


def sketch_hash(s3: np.ndarray) -> bytes:
    """Content hash of a stroke-3 drawing (int16 bytes), to match drawings across files."""
    return hashlib.blake2b(np.ascontiguousarray(s3, dtype=np.int16).tobytes(), digest_size=16).digest()


def resolve_data(data: str | Path) -> tuple[Path, Path | None]:
    """(quickdraw.npz, cat.npz or None) from a directory or the packed file itself."""
    p = Path(data)
    packed = p / "quickdraw.npz" if p.is_dir() else p
    if not packed.is_file():
        raise DataError(f"no packed Quick, Draw! file at {packed} (expected quickdraw.npz)")
    cat = packed.with_name("cat.npz")
    return packed, (cat if cat.is_file() else None)


def packed_classes(npz: np.lib.npyio.NpzFile) -> list[str]:
    """Class names of a packed file (`<class>__offsets` keys), sorted."""
    names = sorted(k[: -len("__offsets")] for k in npz.files if k.endswith("__offsets"))
    if not names:
        raise DataError("the packed file holds no `<class>__offsets` arrays")
    return names


def read_class(npz: np.lib.npyio.NpzFile, name: str) -> list[np.ndarray]:
    """All stroke-3 drawings of one class of the packed file."""
    o, x = npz[f"{name}__offsets"], npz[f"{name}__data"]
    return [x[o[i] : o[i + 1]] for i in range(len(o) - 1)]


def cat_holdout_hashes(cat_npz: Path | None) -> set[bytes]:
    """Hashes of cat.npz's valid + test drawings (never trained on: the ceiling is measured there)."""
    if cat_npz is None:
        return set()
    d = np.load(cat_npz, allow_pickle=True, encoding="latin1")
    return {sketch_hash(s) for split in ("valid", "test") for s in d[split]}


def split_indices(n: int, name: str, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(test, train) indices of one class, seeded by (seed, crc32(name)): class order does not matter."""
    rng = np.random.default_rng([cfg.seed, zlib.crc32(name.encode())])
    perm = rng.permutation(n)
    n_test = min(cfg.test_cap, max(1, int(round(n * cfg.test_frac)))) if n > 1 else 0
    return perm[:n_test], perm[n_test : n_test + cfg.train_per_class]


def _head_sha1(path: Path) -> str:
    """SHA-1 of the first MiB: identifies the data file version cheaply."""
    with open(path, "rb") as fh:
        return hashlib.sha1(fh.read(1 << 20)).hexdigest()


def build_dataset(data: str | Path, cfg: TrainConfig, spec: RasterSpec, log: Log = print) -> dict:
    """Rasterize the train/test splits of every class: uint8 images and int64 labels, plus provenance."""
    packed, cat_npz = resolve_data(data)
    npz = np.load(packed)
    classes = packed_classes(npz)
    excluded = cat_holdout_hashes(cat_npz)
    parts: dict[str, list] = {"xtr": [], "ytr": [], "xte": [], "yte": []}
    n_excluded, t0 = 0, time.time()
    for ci, name in enumerate(classes):
        sketches = read_class(npz, name)
        if name == "cat" and excluded:
            keep = [s for s in sketches if sketch_hash(s) not in excluded]
            n_excluded, sketches = len(sketches) - len(keep), keep
        test, train = split_indices(len(sketches), name, cfg)
        for key, idx in (("xte", test), ("xtr", train)):
            imgs = np.zeros((len(idx), spec.size, spec.size), np.uint8)
            for j, i in enumerate(idx):
                imgs[j] = rasterize(sketches[i], spec)
            parts[key].append(imgs)
            parts["y" + key[1:]].append(np.full(len(idx), ci, np.int64))
        if (ci + 1) % 25 == 0 or ci + 1 == len(classes):
            log(f"rasterized {ci + 1}/{len(classes)} classes ({time.time() - t0:.0f} s)")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["classes"] = classes
    out["provenance"] = {
        "data": f"{packed.name} (Quick, Draw! dataset, Google, CC BY 4.0)",
        "packed_sha1_head": _head_sha1(packed),
        "cat_holdout_excluded": n_excluded,
        "cat_holdout_source": "cat.npz valid+test, matched by int16 content hash" if cat_npz else "none",
        "n_train": int(len(out["ytr"])),
        "n_test": int(len(out["yte"])),
        "train": asdict(cfg),
    }
    return out


@torch.no_grad()
def accuracy(
    model: SketchCNN, x: np.ndarray, y: np.ndarray, batch: int = 1024
) -> tuple[float, float, np.ndarray]:
    """(top-1, top-5, per-class top-1) on uint8 images."""
    model.eval()
    hit1, hit5 = np.zeros(len(y), bool), np.zeros(len(y), bool)
    for i in range(0, len(y), batch):
        logits = model(to_input(x[i : i + batch]))
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.numpy()
        yy = y[i : i + batch]
        hit1[i : i + batch] = top5[:, 0] == yy
        hit5[i : i + batch] = (top5 == yy[:, None]).any(axis=1)
    n_cls = model.config.n_classes
    per = np.bincount(y, weights=hit1, minlength=n_cls) / np.maximum(np.bincount(y, minlength=n_cls), 1)
    return float(hit1.mean()) if len(y) else 0.0, float(hit5.mean()) if len(y) else 0.0, per


def fit(
    model: SketchCNN, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, log: Log = print, log_every: int = 200
) -> list[float]:
    """One-cycle AdamW over `cfg.epochs`; returns the mean training loss of each epoch."""
    gen = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = math.ceil(len(y) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, steps_per_epoch * cfg.epochs), pct_start=0.15
    )
    yt, losses, t0, step = torch.as_tensor(y), [], time.time(), 0
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(y), generator=gen)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            logits = model(to_input(x[idx.numpy()]))  # (B, C)
            loss = F.cross_entropy(logits, yt[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            step += 1
            if step % log_every == 0:
                rate = step * cfg.batch_size / (time.time() - t0)
                log(f"epoch {epoch + 1}/{cfg.epochs} step {step}/{steps_per_epoch * cfg.epochs} "
                    f"loss {float(loss):.3f} ({rate:.0f} img/s, {time.time() - t0:.0f} s)")
        losses.append(total / max(1, steps_per_epoch))
    return losses


def train_classifier(
    data: str | Path, out: str | Path, cfg: TrainConfig | None = None, spec: RasterSpec | None = None,
    log: Log = print,
) -> dict:
    """Build the data, train, measure held-out top-1/top-5 and save the checkpoint; returns the metrics."""
    cfg, spec = cfg or TrainConfig(), spec or RasterSpec(line_width=1.5)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    ds = build_dataset(data, cfg, spec, log)
    log(f"data: {len(ds['ytr'])} train / {len(ds['yte'])} test rasters in {time.time() - t0:.0f} s")
    model = SketchCNN(ClassifierConfig(n_classes=len(ds["classes"]), size=spec.size))
    model.to(memory_format=torch.channels_last)
    t1 = time.time()
    losses = fit(model, ds["xtr"], ds["ytr"], cfg, log)
    top1, top5, per = accuracy(model, ds["xte"], ds["yte"])
    classes = ds["classes"]
    metrics = {
        "test_top1": top1, "test_top5": top5, "train_loss_per_epoch": losses,
        "train_seconds": round(time.time() - t1, 1), "total_seconds": round(time.time() - t0, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "per_class_top1": {c: round(float(a), 4) for c, a in zip(classes, per)},
    }
    log(f"held-out top-1 {top1:.4f}  top-5 {top5:.4f}  ({metrics['train_seconds']:.0f} s training)")
    if "cat" in classes:
        log(f"held-out top-1 on cat: {per[classes.index('cat')]:.4f}")
    save_classifier(out, model, classes, spec, metrics, ds["provenance"])
    log(f"saved {out}")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """Command line for the one reproducible training run (see the module docstring)."""
    import argparse

    ap = argparse.ArgumentParser(description="Train the 345-class classifier used by `plotter evaluate`.")
    ap.add_argument("--data", required=True, help="directory with quickdraw.npz (and cat.npz)")
    ap.add_argument("--out", default="checkpoints/classifier-345.pt")
    ap.add_argument("--size", type=int, default=28)
    for f, v in asdict(TrainConfig()).items():
        ap.add_argument("--" + f.replace("_", "-"), type=type(v), default=v)
    args = vars(ap.parse_args(argv))
    cfg = TrainConfig(**{f: args[f] for f in asdict(TrainConfig())})
    try:
        train_classifier(args["data"], args["out"], cfg, RasterSpec(size=args["size"], line_width=1.5),
                         log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    except DataError as exc:
        raise SystemExit(f"Error: {exc}") from None


if __name__ == "__main__":
    main()
