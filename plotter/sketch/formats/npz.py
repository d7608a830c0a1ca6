"""sketch-rnn `.npz` files: `train`/`valid`/`test` object arrays of int16 stroke-3, or our packed layout.

Why a restricted unpickler: object arrays in `.npz` are stored as pickles, and `np.load(allow_pickle=True)`
on a downloaded file can run arbitrary code. We read the pickle ourselves and allow only the few numpy
globals an array of arrays needs (`_reconstruct`, `ndarray`, `dtype`), so a hostile file is refused.
The packed layout (`<class>__data` int16 [P, 3] + `<class>__offsets` int64 [n + 1]) needs no pickle.
"""

from __future__ import annotations

import difflib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from plotter.errors import SketchFormatError, UnknownClassError
from plotter.sketch.core import Sketch

SPLITS = ("train", "valid", "test")

try:  # numpy >= 2 moved the core module; old pickles name either
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a sketch file") from None


def _read_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    """Read one `.npy` member; object arrays go through the restricted unpickler.

    Why the wide `except`: a damaged header or pickle can fail in any of a dozen ways (tokenize errors in
    the header, TypeError/OverflowError/MemoryError from forged pickle opcodes, a pickle of an int); each
    is a malformed file to the user, reported as one line that names the member.
    """
    try:
        with archive.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            fmt = np.lib.format
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            _shape, _fortran, dtype = reader(fh)
            if dtype.hasobject:
                arr = _SafeUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
            else:
                arr = None
        if arr is None:
            with archive.open(member) as fh:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
    except pickle.UnpicklingError:
        raise  # the refusal of a hostile global, reported by the caller
    except Exception as exc:  # noqa: BLE001 - see docstring
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        where = f"{_name(archive)}: {member}"
        raise SketchFormatError(f"{where} is not a readable .npy array ({reason})") from None
    if not isinstance(arr, np.ndarray):
        where = f"{_name(archive)}: {member}"
        raise SketchFormatError(f"{where} holds a pickled {type(arr).__name__}, not an array")
    return arr


def read_arrays(path: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    """Named arrays of an .npz through the restricted unpickler: training data never runs code from a file."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [n for n in names if f"{n}.npy" not in members]
            if missing:
                raise SketchFormatError(f"{Path(path).name}: no {', '.join(missing)} array")
            return {n: _read_member(archive, f"{n}.npy") for n in names}
    except pickle.UnpicklingError as exc:
        raise SketchFormatError(f"{Path(path).name}: {exc}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise SketchFormatError(f"{Path(path).name}: not an .npz archive ({type(exc).__name__})") from None


def _name(archive: zipfile.ZipFile) -> str:
    return Path(archive.filename or "archive").name


def _stroke3(arr: object, name: str, i: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2 or a.shape[1] != 3 or a.dtype.kind not in "iuf":
        raise SketchFormatError(f"{name}: drawing {i} is not stroke-3 rows (N, 3), got {a.shape} {a.dtype}")
    return a


def _pick(count: int, limit: int | None, index: int | list[int] | None, name: str) -> list[int]:
    if index is not None:
        wanted = [index] if isinstance(index, int) else list(index)
        for i in wanted:
            if not -count <= i < count:
                raise SketchFormatError(f"{name}: index {i} is out of range (file holds {count} drawings)")
        return [i % count for i in wanted]
    return list(range(count if limit is None else min(limit, count)))


def normalize_class(name: str) -> str:
    """'Alarm clock' -> 'alarm_clock', the key style of the packed file."""
    return name.strip().lower().replace(" ", "_")


def read_npz(
    path: Path,
    *,
    split: str | None = None,
    class_name: str | None = None,
    limit: int | None = None,
    index: int | list[int] | None = None,
) -> list[Sketch]:
    """Read sketches from either `.npz` layout; unit "px", meta names the source, split/class and index."""
    name = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SketchFormatError(f"{name}: not a readable .npz archive ({exc})") from None
    with archive:
        members = {m[:-4]: m for m in archive.namelist() if m.endswith(".npy")}
        try:
            if any(k.endswith("__offsets") for k in members):
                return _read_packed(archive, members, name, class_name, limit, index)
            return _read_splits(archive, members, name, split, class_name, limit, index)
        except (ValueError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            raise SketchFormatError(f"{name}: malformed .npz ({exc})") from None


def _read_splits(archive, members, name, split, class_name, limit, index) -> list[Sketch]:
    present = [s for s in SPLITS if s in members]
    if not present:
        raise SketchFormatError(
            f"{name}: no sketch arrays found (expected train/valid/test or <class>__data/__offsets)"
        )
    split = split or ("test" if "test" in present else present[0])
    if split not in present:
        raise SketchFormatError(f"{name}: no split {split!r}; this file has {', '.join(present)}")
    data = _read_member(archive, members[split])
    if data.dtype != object and data.ndim != 1:
        raise SketchFormatError(f"{name}: split {split!r} is not an array of drawings")
    label = _one_class(name, class_name)
    out = []
    for i in _pick(len(data), limit, index, name):
        meta = {"source": name, "split": split, "index": i, "class": label}
        out.append(Sketch.from_stroke3(_stroke3(data[i], name, i), meta=meta))
    return out


def _one_class(name: str, class_name: str | None) -> str:
    """A sketch-rnn file holds one class, named by the file (`cat.npz`, `sketchrnn_cat.full.npz`).

    A `--class` that is not that class is refused, so `cat.npz --class dog` cannot quietly give cats.
    """
    stem = Path(name).name.split(".")[0]
    own = stem.removeprefix("sketchrnn_")
    if class_name is None:
        return own
    if class_name.strip().lower() not in (own.lower(), stem.lower()):
        raise SketchFormatError(
            f"{name}: holds one class ({own!r}), not {class_name!r}; "
            "drop --class or use the packed quickdraw.npz"
        )
    return own


def _read_packed(archive, members, name, class_name, limit, index) -> list[Sketch]:
    classes = sorted(k[: -len("__offsets")] for k in members if k.endswith("__offsets"))
    if class_name is None:
        if len(classes) != 1:
            raise SketchFormatError(f"{name}: holds {len(classes)} classes; choose one with --class")
        key = classes[0]
    else:
        key = normalize_class(class_name)
        if key not in classes:
            close = difflib.get_close_matches(key, classes, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownClassError(f"{name}: no class {class_name!r}{hint}")
    if f"{key}__data" not in members:
        raise SketchFormatError(f"{name}: {key}__offsets has no matching {key}__data")
    offsets = _read_member(archive, members[f"{key}__offsets"])
    data = _read_member(archive, members[f"{key}__data"])
    if offsets.ndim != 1 or len(offsets) < 1 or data.ndim != 2 or data.shape[1] != 3:
        raise SketchFormatError(f"{name}: {key}__data/__offsets do not have the packed shapes")
    if offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 1):
        raise SketchFormatError(f"{name}: {key}__offsets do not partition {key}__data")
    out = []
    for i in _pick(len(offsets) - 1, limit, index, name):
        meta = {"source": name, "class": key, "index": i}
        out.append(Sketch.from_stroke3(data[offsets[i] : offsets[i + 1]], meta=meta))
    return out
