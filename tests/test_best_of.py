"""Best of K (plotter.models.best_of, wired through plotter.job.pipeline): knots and cut-off sketches are
never the pick, the asked class is kept, a seed reproduces the delivered sketches."""

from __future__ import annotations

import numpy as np
import pytest

from plotter.errors import JobError
from plotter.job.models import ModelCache
from plotter.job.params import DrawParams
from plotter.job.pipeline import sample
from plotter.models.best_of import MAX_TINY_RUN, best_of, longest_tiny_run, pick, verdict
from plotter.sketch import Sketch
from tests.tiny_models import one_torch_thread, save, tiny_transformer  # noqa: F401


def square(size=60.0, ended=True, label="good"):
    pts = np.array([[0, 0], [size, 0], [size, size], [0, size], [0, 0]], dtype=float)
    return Sketch([pts], meta={"ended": ended, "label": label})


def knotted(label="knot"):
    knot = np.cumsum(np.tile([[1.0, 0.5], [-1.0, -0.5]], (MAX_TINY_RUN, 1)), axis=0) + 30
    return Sketch([square().strokes[0], knot], meta={"ended": True, "label": label})


def test_knots_and_cut_offs_are_seen_in_the_strokes():
    assert longest_tiny_run(square()) == 0 and verdict(square()).clean
    assert longest_tiny_run(knotted()) >= MAX_TINY_RUN and not verdict(knotted()).clean
    assert not verdict(square(ended=False)).clean
    assert not verdict(Sketch([], meta={"ended": True})).clean


@pytest.mark.parametrize("bad", [knotted(), square(ended=False)])
def test_a_knotted_or_cut_off_sample_is_never_the_pick_even_when_rated_highest(bad):
    cands = [bad, square(label="a"), square(label="b")]
    assert pick(cands, np.array([0.99, 0.2, 0.3])) == 2
    assert pick([bad, bad], np.array([0.9, 0.8])) is None


def test_best_of_resamples_until_clean_and_marks_the_choice():
    rounds = {0: [knotted(), square(ended=False)], 1: [square(label="late"), knotted()]}
    seen = []

    def draw(count, seed):
        seen.append((count, seed))
        return rounds[seed - 100][:count]

    out = best_of(draw, lambda s: np.ones(len(s)), n=1, k=2, seed=100)
    assert seen == [(2, 100), (2, 101)]
    assert out[0].meta["label"] == "late" and out[0].meta["best_of"] == {"k": 2, "score": 1.0, "round": 1,
                                                                         "clean": True}


def test_best_of_with_no_clean_candidate_says_so():
    out = best_of(lambda c, s: [knotted(), square(ended=False)][:c], lambda s: np.array([0.1, 0.9]), 1, 2, 0,
                  rounds=2)
    assert out[0].meta["best_of"]["clean"] is False and out[0].meta["label"] == "knot"  # ended beats cut off


def test_draw_params_check_best_of():
    assert DrawParams.from_dict({"class": "cat"}).best_of == 1
    assert DrawParams.from_dict({"class": "cat", "best_of": 8}).to_dict()["best_of"] == 8
    for bad in (0, 33, "x"):
        with pytest.raises(JobError, match="best_of"):
            DrawParams.from_dict({"class": "cat", "best_of": bad})


def test_pipeline_best_of_keeps_the_asked_class_and_a_seed_reproduces(tmp_path):
    ckpt = save(tiny_transformer(["cat", "house", "tree"], block=41), tmp_path / "transformer-tiny.pt")
    rated = []

    class Cache(ModelCache):  # the real cache with a stand-in judge: rates longer sketches higher
        def scorer(self, class_name):
            rated.append(class_name)
            return lambda sketches: np.array([s.n_points for s in sketches], dtype=float)

    params = DrawParams.from_dict({"class": "house", "model": "transformer", "checkpoint": str(ckpt), "n": 2,
                                   "seed": 7, "best_of": 4})
    a, b = sample(params, Cache()), sample(params, Cache())
    assert rated == ["house", "house"]
    assert [s.meta["class"] for s in a] == ["house", "house"]
    assert all(s.meta["best_of"]["k"] == 4 for s in a)
    assert [len(s.strokes) for s in a] == [len(s.strokes) for s in b]
    assert all(np.array_equal(p, q) for x, y in zip(a, b) for p, q in zip(x.strokes, y.strokes))
    clean = [s for s in a if s.meta["best_of"]["clean"]]
    assert all(verdict(s).clean for s in clean)
    other = sample(DrawParams.from_dict({**params.to_dict(), "seed": 8}), Cache())
    assert any(not np.array_equal(x.strokes[0], y.strokes[0]) for x, y in zip(a, other))


def test_pipeline_best_of_rates_with_the_shipped_classifier_when_present(tmp_path):
    from plotter.job.models import _load_classifier

    clf = _load_classifier()
    if clf is False:
        pytest.skip("no checkpoints/classifier-345.pt")
    score = ModelCache().scorer("house")
    p = score([square(), knotted()])
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    assert ModelCache().scorer("not-a-class")([square()]).tolist() == [0.0]
