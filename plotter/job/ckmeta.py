"""What a checkpoint says about itself (kind, classes), read without torch.

Why: `plotter draw --class hta` must fail in well under a second, before torch is imported and a model is
loaded (seconds). A torch checkpoint is a zip whose `data.pkl` holds our dict, tensors as references to
other zip entries; unpickling it with every global refused except plain containers and stubs for tensor
rebuilds (the same allow-list idea as `torch.load(weights_only=True)`) gives the metadata and never runs
pickled code. Anything unexpected returns None, and the caller falls back to loading it with torch.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

MAX_PICKLE = 16 << 20  # our metadata pickles are a few KB; a huge one is not ours


class _Stub:
    """Stands for a torch storage type or tensor: accepted and ignored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


def _ignore(*args: object, **kwargs: object) -> None:
    return None


class _MetaUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name.startswith("_rebuild_"):
            return _ignore
        if module == "torch" and (name.endswith("Storage") or name in ("device", "Size")):
            return _Stub
        raise pickle.UnpicklingError(f"global {module}.{name} refused")

    def persistent_load(self, pid: object) -> None:
        return None  # a tensor's storage: not read


def read_meta(path: str | Path) -> dict | None:
    """The checkpoint's top-level dict without its tensors, or None if it cannot be read this way."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1 or z.getinfo(names[0]).file_size > MAX_PICKLE:
                return None
            data = _MetaUnpickler(io.BytesIO(z.read(names[0]))).load()
    except Exception:  # noqa: BLE001 - not a zip, refused global, truncated...: torch decides later
        return None
    return data if isinstance(data, dict) else None


def checkpoint_classes(path: str | Path) -> list[str] | None:
    """The classes a checkpoint draws ([] for a model without class names), or None when unknown."""
    meta = read_meta(path)
    if meta is None or not isinstance(meta.get("classes", []), list):
        return None
    return [str(c) for c in meta.get("classes", [])]
