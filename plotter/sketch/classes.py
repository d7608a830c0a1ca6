"""One rule for class names everywhere: case, spaces, underscores and hyphens do not matter.

Why: Quick, Draw! names its classes "alarm clock", file names say `alarm_clock`, people type `Alarm Clock`;
`draw`, `export`, `sample`, `evaluate`, daemon jobs and the dashboard must agree on which names are the same
class, and a suggestion must come from the normalized name (`Cat` is cat, not a typo of hat).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from plotter.errors import UnknownClassError

_SEP = re.compile(r"[\s_\-]+")


def class_key(name: str) -> str:
    """The comparable form: lower case, runs of spaces/underscores/hyphens one space, trimmed."""
    return _SEP.sub(" ", str(name).strip().lower()).strip()


def match_class(name: str, classes: Iterable[str]) -> str | None:
    """The class in `classes` that `name` means (as the checkpoint or data spells it), or None."""
    key = class_key(name)
    return next((c for c in classes if class_key(c) == key), None)


def suggest(name: str, classes: Iterable[str], n: int = 3) -> list[str]:
    """The closest classes to `name`, compared on normalized names."""
    by_key = {class_key(c): c for c in classes}
    return [by_key[k] for k in difflib.get_close_matches(class_key(name), list(by_key), n=n, cutoff=0.6)]


def require_class(name: str, classes: Iterable[str], what: str | None = None) -> str:
    """`match_class` or `UnknownClassError` with the closest names (or some it knows)."""
    classes = list(classes)
    found = match_class(name, classes)
    if found is not None:
        return found
    close = suggest(name, classes)
    hint = f"did you mean {', '.join(close)}?" if close else f"it knows: {', '.join(classes[:10])}"
    raise UnknownClassError(f"unknown class {name!r}; {hint}" + (f" ({what})" if what else ""))
