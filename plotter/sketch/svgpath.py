"""SVG path data (`d`) -> polylines, with curves flattened to a distance tolerance.

Why a parser of our own: svgwrite only writes, and the sketch package must stay light. Curves are split into
the fewest uniform segments whose error is under `tol` (the bound max|B''| / (8 n^2)); arcs use the SVG
spec's endpoint-to-centre conversion (SVG 1.1, appendix F.6.5).

Hostile input: every number must be finite, points are kept as one array per command (not one per point)
and counted against `max_points`, and scanning is linear in the length of `d` (a megabyte of path data
once took minutes: `done()` copied the rest of the string at every command).
"""

from __future__ import annotations

import math
import re

import numpy as np

from plotter.errors import SketchFormatError

_TOKEN = re.compile(r"\s*(?:,\s*)?([MmLlHhVvZzCcSsQqTtAa]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_FLAG = re.compile(r"\s*(?:,\s*)?([01])")  # no nested \s*: no quadratic backtracking
_REST = re.compile(r"[\s,]*\Z")
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "Z": 0, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7}


class _Cursor:
    def __init__(self, d: str) -> None:
        self.d, self.pos = d, 0

    def done(self) -> bool:
        return _REST.match(self.d, self.pos) is not None

    def peek_command(self) -> str | None:
        m = _TOKEN.match(self.d, self.pos)
        return m.group(1) if m and m.group(1).isalpha() else None

    def command(self) -> str:
        m = _TOKEN.match(self.d, self.pos)
        if not m or not m.group(1).isalpha():
            raise SketchFormatError(f"path data: expected a command at {self.d[self.pos : self.pos + 12]!r}")
        self.pos = m.end()
        return m.group(1)

    def number(self) -> float:
        m = _TOKEN.match(self.d, self.pos)
        if not m or m.group(1).isalpha():
            raise SketchFormatError(f"path data: expected a number at {self.d[self.pos : self.pos + 12]!r}")
        self.pos = m.end()
        value = float(m.group(1))
        if not math.isfinite(value):
            raise SketchFormatError(f"path data: number out of range: {m.group(1)[:24]}")
        return value

    def flag(self) -> float:
        m = _FLAG.match(self.d, self.pos)
        if not m:
            raise SketchFormatError(
                f"path data: expected an arc flag at {self.d[self.pos : self.pos + 12]!r}"
            )
        self.pos = m.end()
        return float(m.group(1))

    def has_number(self) -> bool:
        m = _TOKEN.match(self.d, self.pos)
        return bool(m) and not m.group(1).isalpha()


def _segments(dd: float, k: float, tol: float) -> int:
    n = math.sqrt(k * dd / (8 * tol)) if dd > 0 else 1.0
    return max(1, int(math.ceil(n))) if n < 256 else 256  # overflow (inf) or nan: the most segments


def cubic(p0, p1, p2, p3, tol: float) -> np.ndarray:
    """Points of a cubic Bezier after p0 (p0 excluded), error <= tol."""
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2, p3))
    dd = max(np.linalg.norm(p0 - 2 * p1 + p2), np.linalg.norm(p1 - 2 * p2 + p3))
    t = np.linspace(0, 1, _segments(dd, 6, tol) + 1)[1:, None]
    u = 1 - t
    return u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3


def quadratic(p0, p1, p2, tol: float) -> np.ndarray:
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    t = np.linspace(0, 1, _segments(float(np.linalg.norm(p0 - 2 * p1 + p2)), 2, tol) + 1)[1:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def arc(p0, rx, ry, phi_deg, large, sweep, p1, tol: float) -> np.ndarray:
    """Elliptical arc from p0 to p1 (SVG endpoint parameterization), p0 excluded."""
    (x1, y1), (x2, y2) = p0, p1
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0 or (x1 == x2 and y1 == y2):
        return np.array([[x2, y2]], dtype=np.float64)
    phi = math.radians(phi_deg)
    c, s = math.cos(phi), math.sin(phi)
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    xp, yp = c * dx + s * dy, -s * dx + c * dy
    lam = (xp / rx) ** 2 + (yp / ry) ** 2
    if lam > 1:
        rx, ry = rx * math.sqrt(lam), ry * math.sqrt(lam)
    num = max(0.0, rx * rx * ry * ry - rx * rx * yp * yp - ry * ry * xp * xp)
    den = rx * rx * yp * yp + ry * ry * xp * xp
    coef = math.sqrt(num / den) if den > 0 else 0.0  # den underflows to 0 for endpoints 1e-320 apart
    coef = -coef if large == sweep else coef
    cxp, cyp = coef * rx * yp / ry, -coef * ry * xp / rx
    cx, cy = c * cxp - s * cyp + (x1 + x2) / 2, s * cxp + c * cyp + (y1 + y2) / 2
    th1 = math.atan2((yp - cyp) / ry, (xp - cxp) / rx)
    dth = math.atan2((-yp - cyp) / ry, (-xp - cxp) / rx) - th1
    if sweep and dth < 0:
        dth += 2 * math.pi
    elif not sweep and dth > 0:
        dth -= 2 * math.pi
    if not math.isfinite(dth):
        raise SketchFormatError("path data: an arc whose numbers are out of range")
    r = max(rx, ry)
    step = 2 * math.acos(max(-1.0, 1 - tol / r)) if tol < r else math.pi / 2
    n = max(2, int(math.ceil(abs(dth) / max(step, 1e-3))))
    t = th1 + dth * np.linspace(0, 1, n + 1)[1:]
    ex, ey = rx * np.cos(t), ry * np.sin(t)
    pts = np.column_stack([cx + c * ex - s * ey, cy + s * ex + c * ey])
    pts[-1] = (x2, y2)
    return pts


class _Polyline:
    """The current subpath as one array per command, and the running point count across the whole path."""

    def __init__(self, max_points: int | None) -> None:
        self.chunks: list[np.ndarray] = []
        self.n = 0
        self.total = 0
        self.max_points = max_points

    def add(self, seg: np.ndarray) -> None:
        seg = np.asarray(seg, dtype=np.float64).reshape(-1, 2)
        self.chunks.append(seg)
        self.n += len(seg)
        self.total += len(seg)
        if self.max_points is not None and self.total > self.max_points:
            raise SketchFormatError(
                f"path data: more than {self.max_points:,} points after flattening (simplify it first)"
            )

    def take(self, out: list[np.ndarray]) -> None:
        """End the subpath: keep it if it has two points or more."""
        if self.n > 1:
            out.append(np.concatenate(self.chunks))
        self.chunks, self.n = [], 0


def _segment(up: str, rel: bool, a: list[float], pos: np.ndarray, last_ctrl, last_cmd: str, tol: float):
    """One drawing command -> (points after pos, new pen position, control point for S/T)."""
    base = pos if rel else np.zeros(2)
    new_ctrl = None
    if up == "L" or (up == "T" and last_cmd not in ("Q", "T")):
        target = base + a[:2]
        if up == "T":
            new_ctrl = pos.copy()
        seg = target[None]
    elif up == "H":
        target = np.array([a[0] + (pos[0] if rel else 0.0), pos[1]])
        seg = target[None]
    elif up == "V":
        target = np.array([pos[0], a[0] + (pos[1] if rel else 0.0)])
        seg = target[None]
    elif up == "C":
        c1, c2, target = base + a[0:2], base + a[2:4], base + a[4:6]
        seg, new_ctrl = cubic(pos, c1, c2, target, tol), c2
    elif up == "S":
        c1 = 2 * pos - last_ctrl if last_ctrl is not None and last_cmd in ("C", "S") else pos
        c2, target = base + a[0:2], base + a[2:4]
        seg, new_ctrl = cubic(pos, c1, c2, target, tol), c2
    elif up == "Q":
        c1, target = base + a[0:2], base + a[2:4]
        seg, new_ctrl = quadratic(pos, c1, target, tol), c1
    elif up == "T":
        c1 = 2 * pos - last_ctrl
        target = base + a[:2]
        seg, new_ctrl = quadratic(pos, c1, target, tol), c1
    else:  # A
        target = base + a[5:7]
        seg = arc(pos, a[0], a[1], a[2], bool(a[3]), bool(a[4]), target, tol)
    return seg, np.asarray(target, dtype=np.float64), new_ctrl


def flatten_path(d: str, tol: float = 0.1, max_points: int | None = None) -> list[np.ndarray]:
    """Path data -> list of (N, 2) polylines (one per subpath); `SketchFormatError` past `max_points`."""
    cur = _Cursor(d)
    out: list[np.ndarray] = []
    poly = _Polyline(max_points)
    pos = np.zeros(2)
    start = np.zeros(2)
    last_ctrl: np.ndarray | None = None
    last_cmd = ""
    cmd = ""
    while not cur.done():
        cmd = cur.command() if cur.peek_command() else ("L" if cmd == "M" else "l" if cmd == "m" else cmd)
        if not cmd:
            raise SketchFormatError("path data must start with a command (M)")
        up = cmd.upper()
        if up == "Z":
            if poly.n:
                poly.add(start)
            pos = start.copy()
            poly.take(out)
            last_ctrl, last_cmd = None, "Z"
            continue
        if up == "A":
            a = [cur.number(), cur.number(), cur.number(), cur.flag(), cur.flag(), cur.number(), cur.number()]
        else:
            a = [cur.number() for _ in range(_ARGS[up])]
        if up == "M":
            poly.take(out)
            pos = (pos if cmd.islower() else np.zeros(2)) + a[:2]
            start = pos.copy()
            poly.add(pos)
            last_ctrl = None
        else:
            if not poly.n:
                poly.add(pos)
            seg, pos, last_ctrl = _segment(up, cmd.islower(), a, pos, last_ctrl, last_cmd, tol)
            poly.add(seg)
        last_cmd = up
    poly.take(out)
    return out
