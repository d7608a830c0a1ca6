"""Stroke data for both models: load by class, split, normalize, and batch by length.

Why it looks like this: sketch-rnn style training is dominated by padding on a CPU, so batches are built from
length buckets and padded only to the batch's own maximum. Every sketch is kept as normalized stroke-3
(float32, offsets divided by one scale = std of all training offsets); stroke-5 tensors are built per batch.

Batch layout (T = longest sketch in the batch, in points):
    y[b, :n]    real points as stroke-5 (dx, dy, p1, p2, p3=0)
    y[b, n]     end-of-sketch row (0, 0, 0, 0, 1)       <- comes *after* the last point
    y[b, n+1:]  padding rows (0, 0, 0, 0, 1)
    x           = [start token (0, 0, 1, 0, 0), y[:, :-1]] (teacher forcing input)
    mask[b, t]  = 1 for t <= n (points and the end row), 0 for padding; an optional 4th stroke-3 column
                  (augment.insert_scribble, insert_repeat) zeroes the mask on rows that are inputs only
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plotter.errors import DataError, UnknownClassError
from plotter.models.batch import START_TOKEN, Batch, make_batch  # noqa: F401 - the models own the layout
from plotter.training.augment import Augment

MAX_LEN = 250  # sketches with more points are dropped (sketch-rnn's max_seq_len)
CLAMP = 1000.0  # raw offsets are clamped to +-CLAMP (data units) before normalization


@dataclass
class SplitData:
    """Raw (un-normalized, clamped, length-filtered) stroke-3 arrays per split, with class ids."""

    classes: list[str]
    train: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    train_ids: list[int] = field(default_factory=list)
    valid_ids: list[int] = field(default_factory=list)
    test_ids: list[int] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    @property
    def longest(self) -> int:
        """Points in the longest sketch of any split: what a model's block (and augmentation) must hold."""
        return max((len(s) for s in (*self.train, *self.valid, *self.test)), default=0)

    def split(self, name: str) -> tuple[list[np.ndarray], list[int]]:
        if name not in ("train", "valid", "test"):
            raise DataError(f"unknown split {name!r}; expected train, valid or test")
        return getattr(self, name), getattr(self, f"{name}_ids")


# ---------------------------------------------------------------------------------------------- readers
def _clean(sketches: Sequence[np.ndarray], max_len: int) -> list[np.ndarray]:
    out = []
    for s in sketches:
        a = np.asarray(s, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0 or len(a) > max_len or not np.isfinite(a).all():
            continue
        a = a.copy()
        a[:, :2] = np.clip(a[:, :2], -CLAMP, CLAMP)
        a[:, 2] = (a[:, 2] > 0.5).astype(np.float32)
        a[-1, 2] = 1.0  # the last point always lifts the pen
        out.append(a)
    return out


def _det_split(
    items: list, key: str, valid_frac: float, test_frac: float, seed: int
) -> tuple[list, list, list]:
    """Deterministic split that does not depend on numpy versions: a permutation seeded from (class, seed)."""
    rng = np.random.default_rng(zlib.crc32(f"{key}:{seed}".encode()))
    idx = rng.permutation(len(items))
    n_test, n_valid = int(round(len(items) * test_frac)), int(round(len(items) * valid_frac))
    test = [items[i] for i in idx[:n_test]]
    valid = [items[i] for i in idx[n_test : n_test + n_valid]]
    train = [items[i] for i in idx[n_test + n_valid :]]
    return train, valid, test


def _read_npz_official(path: Path) -> dict[str, list[np.ndarray]]:
    """train/valid/test object arrays, unpickled with only numpy's array classes allowed (never np.load's
    allow_pickle=True, which runs whatever code a hostile file holds)."""
    from plotter.errors import SketchFormatError
    from plotter.sketch.formats.npz import read_arrays

    try:
        arrays = read_arrays(path, ["train", "valid", "test"])
    except SketchFormatError as exc:
        raise DataError(f"{path}: cannot read as a sketch-rnn .npz ({exc})") from None
    return {k: list(v) for k, v in arrays.items()}


def _npz_keys(path: Path) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as d:
            return set(d.files)
    except Exception as exc:  # not a zip, a bare .npy, a pickle ...
        raise DataError(f"{path}: not an .npz archive ({type(exc).__name__})") from None


def packed_classes(path: Path) -> list[str]:
    """Class names held by a packed quickdraw.npz (`<class>__data` + `<class>__offsets`)."""
    with np.load(path) as d:
        return sorted(k[: -len("__data")] for k in d.files if k.endswith("__data"))


def expand_classes(path: str | Path, names: Sequence[str]) -> list[str]:
    """`--class` values -> class list: comma lists are split, `all` means every class of the packed
    quickdraw.npz (the file itself, or inside the data directory); duplicates dropped, order kept."""
    wanted = [n.strip() for item in names for n in str(item).split(",") if n.strip()]
    if "all" in wanted:
        path = Path(path)
        packed = path / "quickdraw.npz" if path.is_dir() else path
        if packed.suffix != ".npz" or not packed.is_file():
            raise DataError(f"--class all needs a packed quickdraw.npz (or a directory holding one): {path}")
        try:
            every = packed_classes(packed)
        except Exception as exc:  # not a zip, a bare .npy ...
            raise DataError(f"{packed}: cannot list classes ({type(exc).__name__})") from None
        if not every:
            raise DataError(f"{packed} is not a packed quickdraw.npz (no <class>__data arrays)")
        wanted = [w for w in wanted if w != "all"] + every
    return list(dict.fromkeys(wanted))


def _read_packed(path: Path, cls: str) -> list[np.ndarray]:
    try:
        d = np.load(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read .npz ({type(exc).__name__}: {exc})") from None
    with d:
        if f"{cls}__data" not in d.files:
            names = sorted(k[: -len("__data")] for k in d.files if k.endswith("__data"))
            raise UnknownClassError(f"class {cls!r} is not in {path.name}{_suggest(cls, names)}")
        x, o = d[f"{cls}__data"], d[f"{cls}__offsets"]
    return [x[o[i] : o[i + 1]] for i in range(len(o) - 1)]


def _suggest(name: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _read_ndjson(path: Path) -> list[np.ndarray]:
    """Quick, Draw! .ndjson via IO's reader (raw drawings come back simplified like Google's)."""
    from plotter.errors import SketchFormatError
    from plotter.sketch.io import read_sketches

    try:
        return [s.to_stroke3() for s in read_sketches(path) if not s.is_empty()]
    except SketchFormatError as exc:
        raise DataError(str(exc)) from None


def _class_source(path: Path, cls: str) -> Path:
    """Inside a directory prefer `<class>.npz` (official split), then `<class>.ndjson`, then quickdraw.npz."""
    for cand in (f"{cls}.npz", f"{cls}.ndjson", f"full_simplified_{cls}.ndjson", f"full_raw_{cls}.ndjson"):
        if (path / cand).is_file():
            return path / cand
    if (path / "quickdraw.npz").is_file():
        return path / "quickdraw.npz"
    raise UnknownClassError(
        f"no data for class {cls!r} in {path} (looked for {cls}.npz, {cls}.ndjson, quickdraw.npz)"
    )


def load_splits(
    path: str | Path,
    classes: Sequence[str],
    max_len: int = MAX_LEN,
    valid_frac: float = 0.05,
    test_frac: float = 0.05,
    seed: int = 0,
    limit: int | None = None,
    valid_limit: int | None = None,
) -> SplitData:
    """Load `classes` from a directory, a sketch-rnn/packed .npz or an .ndjson into train/valid/test.

    The official split of a sketch-rnn `.npz` is kept; a packed quickdraw.npz next to a `<class>.npz`
    defers to it; otherwise a deterministic split per class. `limit` caps training sketches per class;
    `valid_limit` caps validation sketches per class (345 x 150 would make each validation minutes long).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path {path} does not exist")
    if not classes:
        raise DataError("name at least one class (--class)")
    data = SplitData(classes=list(classes), provenance={"path": str(path), "max_len": max_len, "sources": {}})
    for cid, cls in enumerate(classes):
        src = _class_source(path, cls) if path.is_dir() else path
        if src.suffix == ".npz" and src.name != f"{cls}.npz" and (src.parent / f"{cls}.npz").is_file():
            src = src.parent / f"{cls}.npz"  # prefer the official split over our own
        if src.suffix == ".npz":
            keys = _npz_keys(src)
            packed = f"{cls}__data" in keys or not {"train", "valid", "test"} <= keys
            if packed:
                parts = _det_split(_read_packed(src, cls), cls, valid_frac, test_frac, seed)
                how = f"deterministic split seed={seed}"
            else:
                if src.stem != cls:
                    raise UnknownClassError(
                        f"{src.name} holds one class ({src.stem}); use --class {src.stem}"
                    )
                off = _read_npz_official(src)
                parts, how = (off["train"], off["valid"], off["test"]), "official split"
        elif src.suffix == ".ndjson":
            parts = _det_split(_read_ndjson(src), cls, valid_frac, test_frac, seed)
            how = f"deterministic split seed={seed}"
        else:
            raise DataError(f"{src}: unknown data format (expected a directory, .npz or .ndjson)")
        for name, items in zip(("train", "valid", "test"), parts):
            kept = _clean(items, max_len)
            if name == "train" and limit:
                kept = kept[:limit]
            if name == "valid" and valid_limit:
                kept = kept[:valid_limit]
            getattr(data, name).extend(kept)
            getattr(data, f"{name}_ids").extend([cid] * len(kept))
        data.provenance["sources"][cls] = {"file": str(src), "split": how}
    if not data.train:
        raise DataError(
            f"no usable training sketches (<= {max_len} points) for {', '.join(classes)} in {path}"
        )
    data.provenance["counts"] = {k: len(getattr(data, k)) for k in ("train", "valid", "test")}
    return data


def compute_scale(sketches: Sequence[np.ndarray]) -> float:
    """One normalization scale: std of all training dx and dy together (reused for valid/test/sampling)."""
    offsets = np.concatenate([s[:, :2].reshape(-1) for s in sketches]).astype(np.float64)
    scale = float(offsets.std())
    if not np.isfinite(scale) or scale <= 0:
        raise DataError("training offsets have zero spread; cannot normalize")
    return scale


# ------------------------------------------------------------------------------------ dataset + batches
class StrokeDataset:
    """Normalized stroke-3 sketches (float32); `augment` (train only) is applied on every access."""

    def __init__(
        self,
        sketches: Sequence[np.ndarray],
        scale: float,
        class_ids: Sequence[int] | None = None,
        augment: Augment | None = None,
    ) -> None:
        self.scale = float(scale)
        self.sketches = [
            np.column_stack([s[:, :2] / self.scale, s[:, 2]]).astype(np.float32) for s in sketches
        ]
        self.class_ids = list(class_ids) if class_ids is not None else [0] * len(self.sketches)
        self.augment = augment
        self.lengths = np.array([len(s) for s in self.sketches], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sketches)

    def get(self, i: int, rng: np.random.Generator | None = None) -> np.ndarray:
        s = self.sketches[i]
        if self.augment is not None and rng is not None:
            s = self.augment(s, rng)
        return s


class BucketBatcher:
    """Length-bucketed batches: sort by length, cut into batches, shuffle the batch order each epoch.

    Sketches are shuffled inside runs of similar length first so a batch is not always the same sketches.
    Under DDP each rank takes every `world_size`-th batch (same seed everywhere: disjoint shards).
    """

    def __init__(
        self,
        dataset: StrokeDataset,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        pad_to: int | None = None,
    ) -> None:
        if len(dataset) == 0:
            raise DataError("cannot batch an empty dataset")
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size, self.pad_to = drop_last, rank, world_size, pad_to
        self.epoch = 0

    def _index_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        lengths = self.dataset.lengths
        jitter = rng.random(len(lengths)) if self.shuffle else np.arange(len(lengths)) / len(lengths)
        order = np.lexsort((jitter, lengths))  # by length, random among equal lengths
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and len(batches) > 1 and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self._index_batches(np.random.default_rng(0)))

    def __iter__(self) -> Iterator[Batch]:
        rng = np.random.default_rng((self.seed, self.epoch))
        aug_rng = np.random.default_rng((self.seed, self.epoch, self.rank + 1))
        self.epoch += 1
        ds = self.dataset
        for idx in self._index_batches(rng):
            sk = [ds.get(int(i), aug_rng if self.shuffle else None) for i in idx]
            yield make_batch(sk, [ds.class_ids[int(i)] for i in idx], pad_to=self.pad_to)

    def forever(self) -> Iterator[Batch]:
        """Endless stream of batches across epochs (training)."""
        while True:
            yield from self
