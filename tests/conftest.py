"""Shared fixtures. Tests make their own small sketches; real data in ../shared is optional."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plotter.sketch import Sketch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "quickdraw"


@pytest.fixture
def square() -> Sketch:
    """A unit square drawn as one closed stroke plus a diagonal, in px."""
    return Sketch(
        [np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]), np.array([[0, 0], [10, 10]])], unit="px"
    )


@pytest.fixture
def shared_cats() -> Path:
    path = SHARED_DATA / "cat.npz"
    if not path.exists():
        pytest.skip("../shared/data/quickdraw/cat.npz is not present")
    return path


@pytest.fixture
def shared_quickdraw() -> Path:
    path = SHARED_DATA / "quickdraw.npz"
    if not path.exists():
        pytest.skip("../shared/data/quickdraw/quickdraw.npz is not present")
    return path
