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


# --- the real GRBL 1.1h firmware as a test peer (issue 15; see tests/grbl_firmware.py) -------------------
@pytest.fixture(scope="session")
def grbl_firmware_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """grbl_sim.exe built once per session from ../shared/grbl-sim; skips where it cannot be built."""
    from grbl_firmware import FirmwareUnavailable, build_firmware

    try:
        return build_firmware(tmp_path_factory.mktemp("grbl-build") / "src")
    except FirmwareUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def grbl_firmware(grbl_firmware_exe: Path, tmp_path_factory: pytest.TempPathFactory):
    """Factory: `grbl_firmware({22: 1}, speed=1.0)` -> pty path of a fresh real GRBL (stopped at teardown)."""
    from grbl_firmware import firmware_factory

    start = firmware_factory(grbl_firmware_exe, tmp_path_factory.mktemp("grbl-run"))
    yield start
    start.close()
