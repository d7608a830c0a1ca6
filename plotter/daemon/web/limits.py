"""Limits on what an HTTP client may send: one place, so the web app and the JSON API refuse the same things.

Why: the dashboard's port may face a workshop LAN. A client must not pin memory (huge or endless bodies),
the parser (deeply nested JSON, thousand-digit numbers) or connections (headers or a body sent one byte a
minute) or the server (thousands of connections). Each limit is one clear error, never a traceback and
never a half-handled request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from plotter.errors import JobError


@dataclass(frozen=True)
class Limits:
    max_body: int = 16 * 1024 * 1024  # bytes: a G-code job can be large
    max_depth: int = 32  # JSON nesting (a draw job's sketches are 6 deep)
    max_number: int = 40  # characters in one JSON number literal
    header_timeout_s: float = 10.0  # a connection must finish its request line and headers within this
    body_timeout_s: float = 30.0  # ... and its body within this
    keep_alive_s: int = 5  # an idle keep-alive connection is closed after this
    max_connections: int = 256  # served at once (event streams included); beyond: 503


LIMITS = Limits()


class RequestTooLarge(JobError):
    """The body exceeds `Limits.max_body` (HTTP 413)."""


def _number(text: str, limit: int, kind: type) -> object:
    if len(text) > limit:
        raise JobError(f"request has a number {len(text)} characters long (at most {limit})")
    return kind(text)


def parse_json(raw: bytes, limits: Limits = LIMITS) -> object:
    """Decode a request body under the limits; `JobError` names what was wrong."""
    if len(raw) > limits.max_body:
        raise RequestTooLarge(f"request too large ({len(raw)} bytes, at most {limits.max_body})")
    try:
        data = json.loads(
            raw,
            parse_int=lambda s: _number(s, limits.max_number, int),
            parse_float=lambda s: _number(s, limits.max_number, float),
        )
    except RecursionError:
        raise JobError(f"request is nested too deeply (at most {limits.max_depth} levels)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JobError(f"request is not JSON: {exc}") from None
    if _depth(data) > limits.max_depth:
        raise JobError(f"request is nested too deeply (at most {limits.max_depth} levels)")
    return data


def _depth(value: object) -> int:
    """Nesting depth without recursion (a hostile body must not exhaust the stack here either)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, d = todo.pop()
        if isinstance(item, dict):
            deepest = max(deepest, d)
            todo.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, d)
            todo.extend((v, d + 1) for v in item)
    return deepest
