"""Data pipeline: loading, split, normalization, stroke-5 batches and augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from plotter.errors import DataError, UnknownClassError
from plotter.training.augment import Augment, drop_points
from plotter.training.data import BucketBatcher, StrokeDataset, compute_scale, load_splits, make_batch


def _s3(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.column_stack([rng.integers(-20, 20, (n, 2)), np.zeros(n)]).astype(np.int16)
    a[n // 2, 2] = 1
    a[-1, 2] = 1
    return a


@pytest.fixture
def packed(tmp_path):
    sk = [_s3(5 + i % 7, i) for i in range(40)] + [_s3(300, 99)]  # the last one is too long
    lens = np.array([len(s) for s in sk])
    path = tmp_path / "quickdraw.npz"
    np.savez(path, dog__data=np.concatenate(sk), dog__offsets=np.r_[0, np.cumsum(lens)])
    return path


def test_packed_split_is_deterministic_disjoint_and_drops_long(packed):
    a = load_splits(packed, ["dog"], valid_frac=0.1, test_frac=0.1)
    b = load_splits(packed, ["dog"], valid_frac=0.1, test_frac=0.1)
    assert (len(a.train), len(a.valid), len(a.test)) == (len(b.train), len(b.valid), len(b.test))
    assert all(np.array_equal(x, y) for x, y in zip(a.train, b.train))
    assert len(a.train) + len(a.valid) + len(a.test) == 40  # 300-point sketch dropped
    keys = {x.tobytes() for x in a.train}
    assert not keys & {x.tobytes() for x in a.valid + a.test}


def test_unknown_class_suggests(packed):
    with pytest.raises(UnknownClassError, match="did you mean dog"):
        load_splits(packed, ["dgo"])


def test_official_npz_split_kept_and_preferred_next_to_packed(tmp_path, packed):
    obj = lambda k: np.array([_s3(6, k), _s3(8, k + 1)], dtype=object)  # noqa: E731
    np.savez(tmp_path / "dog.npz", train=obj(0), valid=obj(10), test=obj(20))
    d = load_splits(packed, ["dog"])
    assert d.provenance["sources"]["dog"]["split"] == "official split"
    assert len(d.train) == len(d.valid) == len(d.test) == 2
    assert np.array_equal(d.valid[0][:, :2], _s3(6, 10)[:, :2])


def test_ndjson_simplified_reader(tmp_path):
    rec = {"word": "cat", "recognized": True, "drawing": [[[0, 10, 20], [0, 5, 0]], [[30, 40], [30, 40]]]}
    path = tmp_path / "cat.ndjson"
    path.write_text("\n".join(json.dumps(rec) for _ in range(20)) + "\n")
    d = load_splits(tmp_path, ["cat"])
    s = d.train[0]
    assert s.shape == (5, 3) and s[:, 2].tolist() == [0, 0, 1, 0, 1]
    assert np.cumsum(s[:, :2], 0)[3].tolist() == [30, 30]


def test_bad_paths_are_data_errors(tmp_path):
    with pytest.raises(DataError):
        load_splits(tmp_path / "missing", ["cat"])
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        load_splits(tmp_path / "x.npz", ["cat"])


def test_scale_and_clamp():
    big = np.array([[5000, -5000, 1]], dtype=np.float32)
    from plotter.training.data import _clean

    assert _clean([big], 250)[0][0, :2].tolist() == [1000, -1000]
    sk = [_s3(10, i).astype(np.float32) for i in range(5)]
    s = compute_scale(sk)
    ds = StrokeDataset(sk, s)
    allxy = np.concatenate([x[:, :2].ravel() for x in ds.sketches])
    assert abs(allxy.std() - 1.0) < 1e-5


def test_stroke5_batch_layout():
    a = np.array([[1, 2, 0], [3, 4, 1]], np.float32)
    b = np.array([[5, 6, 1], [7, 8, 0], [9, 1, 1], [2, 2, 1]], np.float32)
    batch = make_batch([a, b], [0, 1])
    assert batch.x.shape == batch.y.shape == (2, 5, 5)
    y, x = batch.y.numpy(), batch.x.numpy()
    assert y[0, :2].tolist() == [[1, 2, 1, 0, 0], [3, 4, 0, 1, 0]]
    assert y[0, 2:].tolist() == [[0, 0, 0, 0, 1]] * 3  # end row after the last point, then padding
    assert x[:, 0].tolist() == [[0, 0, 1, 0, 0]] * 2 and np.array_equal(x[:, 1:], y[:, :-1])
    assert batch.mask.numpy().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch.lengths.tolist() == [2, 4] and batch.class_ids.tolist() == [0, 1]


def test_bucket_batches_cover_everything_and_pad_little():
    sk = [_s3(n, n).astype(np.float32) for n in range(3, 60)]
    ds = StrokeDataset(sk, 10.0)
    seen, pad = 0, 0
    for batch in BucketBatcher(ds, 8, seed=1):
        seen += len(batch)
        pad += int((1 - batch.mask).sum())
    assert seen == len(sk)
    assert pad <= 7 * 28  # 8 consecutive lengths per batch pad 0+1+..+7 rows; random batches pad ~1000
    shards = [sum(len(b) for b in BucketBatcher(ds, 8, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert sum(shards) == len(sk)


def test_augment_keeps_pen_structure_and_absolute_points():
    rng = np.random.default_rng(0)
    s = np.column_stack([np.ones(40), np.zeros(40), np.zeros(40)]).astype(np.float32)
    s[19, 2] = s[-1, 2] = 1
    d = drop_points(s, 0.5, rng)
    assert len(d) < len(s)
    assert d[:, 2].sum() == 2 and d[-1, 2] == 1
    assert np.allclose(d[:, :2].sum(0), s[:, :2].sum(0))  # the end point does not move
    out = Augment(scale=0.15, drop_prob=0.0, flip_prob=1.0)(s, rng)
    assert np.all(out[:, 0] < 0) and np.all(np.abs(out[:, 0]) >= 0.85) and np.all(np.abs(out[:, 0]) <= 1.15)


def test_scribbles_are_context_only_and_every_real_point_stays_put():
    from plotter.training.augment import insert_scribble

    rng = np.random.default_rng(3)
    s = np.column_stack([np.ones(12), np.zeros(12), np.zeros(12)]).astype(np.float32)
    s[5, 2] = s[-1, 2] = 1
    real_xy = np.cumsum(s[:, :2], axis=0)
    kinds = set()
    for _ in range(40):
        out = insert_scribble(s, rng, max_len=40)
        k = len(out) - len(s)
        assert 4 <= k <= 24 and len(out) <= 40
        inserted = out[:, 3] == 0
        assert inserted.sum() == k
        first = int(np.flatnonzero(inserted)[0])
        np.testing.assert_allclose(np.cumsum(out[:, :2], axis=0)[~inserted], real_xy, atol=1e-5)
        assert np.array_equal(out[~inserted, 2], s[:, 2])  # real rows keep their pen states, in order
        if out[first - 1, 2] == 0:  # inside a stroke: pen down throughout, a closed loop
            kinds.add("mid-stroke")
            assert np.all(out[inserted, 2] == 0) and first < len(out) - 1
        else:  # after a lift: one extra little stroke, lifted at its end
            kinds.add("extra stroke")
            assert out[first + k - 1, 2] == 1 and np.all(out[first : first + k - 1, 2] == 0)
        batch = make_batch([out])
        assert torch.equal(batch.mask[0, :-1], torch.from_numpy(out[:, 3]))  # inserted rows: context only
        assert batch.mask[0, -1] == 1  # the end row still trained
    assert kinds == {"mid-stroke", "extra stroke"}
    assert insert_scribble(s, rng, max_len=14).shape == (12, 4)  # no room: nothing inserted, all targets
    aug = Augment(scale=0.0, drop_prob=0.0, scribble_prob=1.0, max_len=20)
    assert len(aug(s, rng)) > len(s)


def test_repeated_strokes_are_context_only_copies_and_real_points_stay_put():
    from plotter.training.augment import insert_repeat, insert_scribble

    rng = np.random.default_rng(5)
    s = np.column_stack([np.ones(12), np.arange(12) % 3 - 1.0, np.zeros(12)]).astype(np.float32)
    s[4, 2] = s[8, 2] = s[-1, 2] = 1  # strokes drawn by rows 1-4, 6-8 and 10-11 (rows 0, 5, 9 move to them)
    strokes = {5: s[1:5, :2], 9: s[6:9, :2], 12: s[10:12, :2]}  # keyed by the row after the stroke
    real_xy = np.cumsum(s[:, :2], axis=0)
    after_last = 0
    for _ in range(60):
        out = insert_repeat(s, rng, max_len=40)
        inserted = out[:, 3] == 0
        k = int(inserted.sum())
        assert k >= 3 and len(out) == len(s) + k and len(out) <= 40  # a move and 2+ drawn rows per copy
        np.testing.assert_allclose(np.cumsum(out[:, :2], axis=0)[~inserted], real_xy, atol=1e-5)
        assert np.array_equal(out[~inserted, 2], s[:, 2])
        first = int(np.flatnonzero(inserted)[0])
        assert out[first - 1, 2] == 1  # a copy starts after a finished stroke, with a pen-up move
        ins = out[inserted]
        lifts = np.flatnonzero(ins[:, 2] == 1)
        assert lifts[-1] == k - 1 and 1 <= len(lifts) <= 3  # each copy lifted at its end
        copy, seg = ins[1: lifts[0] + 1, :2], strokes[first]  # the first copy redraws the stroke before it
        assert copy.shape == seg.shape and np.abs(copy - seg).max() < 0.15 * np.abs(seg).max() + 0.2
        after_last += first == len(s)
        batch = make_batch([out])
        assert torch.equal(batch.mask[0, :-1], torch.from_numpy(out[:, 3]))
        both = insert_scribble(out, rng, max_len=60)  # chained: earlier context rows stay context
        assert (both[:, 3] == 0).sum() >= k
    assert after_last > 0  # the last stroke repeated too: then the end row follows the copies
    assert insert_repeat(s, rng, max_len=14).shape == (12, 4)  # no room: nothing inserted


def test_real_cats_official_split(shared_cats):
    d = load_splits(shared_cats, ["cat"])
    assert (len(d.train), len(d.valid), len(d.test)) == (6274, 368, 368)
    assert 20 < compute_scale(d.train) < 50


class _Hostile:
    """A pickled object whose unpickling would create a marker file (what a forged .npz can do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_hostile_official_npz_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Hostile(str(marker))
    path = tmp_path / "cat.npz"
    np.savez(path, train=evil, valid=evil, test=evil)
    with pytest.raises(DataError, match="refusing to load"):
        load_splits(path, ["cat"])
    assert not marker.exists()
