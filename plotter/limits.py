"""Limits on everything read from outside: JSON requests, YAML files, drawings. Pure, torch-free, no I/O.

Why one module: the daemon's Unix socket, its HTTP layer (whatever framework serves it), the config and
profile loaders and the sketch readers must refuse the same hostile input the same way, with one line
that names the limit, never a traceback, a hung thread or a process that eats all memory:

- JSON (`parse_json`): at most `MAX_REQUEST_BYTES`, nested at most `MAX_JSON_DEPTH` deep (checked by a
  linear scan *before* the recursive parser runs, so a 100,000-deep `[[[[...` cannot blow the stack), numbers
  at most `MAX_NUMBER_CHARS` characters (int('9' * 5000) is slow and refused by Python 3.11+ with a
  ValueError), no NaN/Infinity.
- YAML (`load_yaml`): at most `MAX_YAML_BYTES`, nested at most `MAX_YAML_DEPTH`, at most `MAX_YAML_ALIASES`
  aliases and `MAX_YAML_NODES` nodes once aliases are expanded (a "billion laughs" file is ~30 lines that
  expand to 10^9 nodes: refused while composing, before anything is built or printed).
- Drawings (`check_points`): at most `MAX_POINTS_PER_DRAWING` points in one drawing and
  `MAX_POINTS_PER_PAGE` on one page (planning time grows with both).
- `short(value)`: values quoted in error messages are cut to one short line.
"""

from __future__ import annotations

import json
import math
from typing import Any

from plotter.errors import InputLimitError

MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a G-code job can be large; anything beyond this is refused
MAX_JSON_DEPTH = 32  # our requests nest 5 deep (sketch -> stroke -> point -> coordinate)
MAX_NUMBER_CHARS = 40  # a float64 needs at most ~25 characters; an int64 20
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000
MAX_POINTS_PER_DRAWING = 50_000  # Quick, Draw! drawings have a few hundred; a detailed SVG path some 10^4
MAX_POINTS_PER_PAGE = 250_000  # 10^6 points took 199 s to plan; beyond, split the input (--limit, --pages)


def short(value: object, width: int = 60) -> str:
    """`repr(value)` cut to `width` characters: an error line must stay one line, whatever it quotes."""
    try:
        text = repr(value) if not isinstance(value, (dict, list)) or _small(value) else _shape(value)
    except RecursionError:
        text = _shape(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def _small(value: dict | list) -> bool:
    return len(value) <= 8 and all(not isinstance(v, (dict, list)) for v in _values(value))


def _values(value: dict | list) -> list:
    return list(value.values()) if isinstance(value, dict) else list(value)


def _shape(value: object) -> str:
    if isinstance(value, dict):
        return f"a mapping of {len(value)} entries"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return type(value).__name__


# ------------------------------------------------------------------------------------------------ JSON
def json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> int:
    """Deepest nesting of `[`/`{` outside strings, stopping once past `limit` (linear, no recursion)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _number(kind: type, limit: int = MAX_NUMBER_CHARS) -> Any:
    def parse(text: str) -> Any:
        if len(text) > limit:
            raise InputLimitError(f"a number has {len(text)} characters (at most {limit})")
        value = kind(text)
        if not math.isfinite(value):
            raise InputLimitError(f"number {text} is out of range")
        return value

    return parse


def _constant(text: str) -> Any:
    raise InputLimitError(f"{text} is not a JSON number")


def parse_json(raw: bytes | str, what: str = "request", *, max_bytes: int = MAX_REQUEST_BYTES,
               max_depth: int = MAX_JSON_DEPTH, max_number: int = MAX_NUMBER_CHARS) -> Any:
    """Decode untrusted JSON within the limits above (or a transport's own, `plotter.daemon.limits`);
    anything else is one `InputLimitError` line."""
    if len(raw) > max_bytes:
        raise InputLimitError(f"{what} too large: {len(raw)} bytes (at most {max_bytes})")
    if json_depth(raw, max_depth) > max_depth:
        raise InputLimitError(f"{what} nested too deeply (at most {max_depth} levels)")
    number = {"parse_int": _number(int, max_number), "parse_float": _number(float, max_number)}
    try:
        return json.loads(raw, **number, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputLimitError(f"{what} is not JSON: {str(exc).splitlines()[0][:120]}") from None
    except (RecursionError, ValueError) as exc:  # belt and braces: the scan above should catch these
        raise InputLimitError(f"{what} refused: {str(exc)[:120]}") from None


# ------------------------------------------------------------------------------------------------ YAML
def load_yaml(text: str, source: str = "YAML") -> Any:
    """`yaml.safe_load` with size, depth, alias and expanded-size limits (`InputLimitError` naming `source`).

    YAML syntax errors still raise `yaml.YAMLError`, so callers keep their own messages for those."""

    if len(text) > MAX_YAML_BYTES:
        raise InputLimitError(f"{source}: {len(text)} characters (at most {MAX_YAML_BYTES})")
    loader = _bounded_loader_class()(text)
    loader.limit_source = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_LOADER: Any = None


def _bounded_loader_class() -> Any:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """Counts depth and aliases while composing and the expanded size of the document before
        constructing it, so a hostile file is refused before it costs memory or time."""

        limit_source = "YAML"

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise InputLimitError(f"{self.limit_source}: more than {MAX_YAML_ALIASES} YAML aliases")
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise InputLimitError(
                        f"{self.limit_source}: nested too deeply (at most {MAX_YAML_DEPTH})"
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_document(self, node: Any) -> Any:
            size = _expanded_size(node, {})
            if size > MAX_YAML_NODES:
                raise InputLimitError(
                    f"{self.limit_source}: expands to more than {MAX_YAML_NODES} values (aliases)"
                )
            return super().construct_document(node)

    _LOADER = BoundedLoader
    return _LOADER


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes after expanding aliases (shared nodes counted each time), memoized: linear in distinct nodes."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_YAML_NODES + 1  # a cycle (recursive alias) counts as too large
    value = node.value
    total = 1
    if isinstance(value, list):
        for item in value:
            parts = item if isinstance(item, tuple) else (item,)
            for part in parts:
                total += _expanded_size(part, memo)
                if total > MAX_YAML_NODES:
                    break
    memo[key] = total
    return total


# -------------------------------------------------------------------------------------------- drawings
def check_points(count: int, what: str, limit: int) -> None:
    """Refuse a drawing (`MAX_POINTS_PER_DRAWING`) or page (`MAX_POINTS_PER_PAGE`) with too many points."""
    if count > limit:
        raise InputLimitError(f"{what} has {count:,} points (at most {limit:,})")
