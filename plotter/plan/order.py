"""Order strokes to minimise pen-up travel: greedy nearest neighbour, then 2-opt/or-opt with reversal.

Pen-up travel is pure overhead on a plotter (time, and a chance for the pen to drag). The greedy pass walks
from the pen's start to the nearest free stroke end (a KD-tree over both ends of every stroke, rebuilt as
strokes are used up), drawing the stroke backwards when its far end was nearer. `plotter.plan.tour` then
improves the path with 2-opt and or-opt moves that reverse strokes too, within a time budget. With `kicks`,
a second local search from a greedy matching (`plotter.plan.matching`) runs if it fits, and iterated local
search (`plotter.plan.local`) continues from the better one; an exact dynamic programme then picks every
stroke's direction for the final order. The result is never worse than the input order, and `OrderStats`
reports a minimum-spanning-tree lower bound (computed when read) so a user can see how far from optimal
the plan can at most be; `held_karp_bound` is a tighter (slower, O(n^2) per step) bound for benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay, QhullError, cKDTree

from plotter.errors import PlotterError
from plotter.plan.local import Local
from plotter.plan.matching import greedy_matching_order
from plotter.plan.tour import Tour
from plotter.sketch import Sketch

# time kept back from the kicks for the direction pass and the copy: fixed + per stroke
_FINISH_S, _FINISH_S_PER_STROKE = 2e-4, 6e-6


class OrderError(PlotterError):
    """Bad ordering parameters (start point, time budget)."""


@dataclass(frozen=True)
class OrderStats:
    """Pen-up travel (sketch units) before and after ordering, the MST lower bound, and the time taken.

    The bound is computed on first access: it is a report, not part of the search, so it stays out of
    `seconds` and out of the time budget (on a 25-sketch page it costs ~8 % of a vpype-sized budget).
    """

    pen_up_before: float
    pen_up_after: float
    n_strokes: int
    seconds: float
    ends: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def mst_lower_bound(self) -> float:
        if self.ends is None:
            return 0.0
        S, E, start = self.ends
        return mst_lower_bound(S, E, start)


def _ends(sketch: Sketch) -> tuple[np.ndarray, np.ndarray]:
    S = np.array([s[0] for s in sketch.strokes], dtype=np.float64).reshape(-1, 2)
    E = np.array([s[-1] for s in sketch.strokes], dtype=np.float64).reshape(-1, 2)
    return S, E


def pen_up_travel(S: np.ndarray, E: np.ndarray, start: np.ndarray, seq: np.ndarray, rev: np.ndarray) -> float:
    """Travel from `start` through strokes `seq` (drawn reversed where `rev`), no return leg."""
    if len(seq) == 0:
        return 0.0
    A = np.where(rev[:, None], E[seq], S[seq])
    B = np.where(rev[:, None], S[seq], E[seq])
    pts_from = np.vstack([start, B[:-1]])
    return float(np.sqrt(((A - pts_from) ** 2).sum(axis=1)).sum())


def greedy_order(
    S: np.ndarray, E: np.ndarray, start: np.ndarray, reverse: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour walk over stroke ends; returns (stroke order, reversed flags).

    Each step takes the first free entry of the current end's precomputed nearest-ends list (one batched
    KD-tree query); only when all of those are used does it ask the tree again, skipping used ends, with
    the tree rebuilt over the remaining ends whenever half of its points are used.
    """
    n = len(S)
    pts = np.concatenate([S, E]) if reverse else S  # point i is an end of stroke i % n
    free = np.ones(n, dtype=bool)
    seq = np.empty(n, dtype=np.int64)
    rev = np.zeros(n, dtype=bool)
    tree = cKDTree(pts)
    kk = min(16, len(pts))
    exits = np.concatenate([E, S]) if reverse else E  # where the pen is after stroke t (+ n: reversed)
    near = np.asarray(tree.query(exits, k=kk)[1]).reshape(len(exits), kk).tolist()
    row = np.atleast_1d(tree.query(np.asarray(start, dtype=np.float64), k=kk)[1]).tolist()
    ids, live = np.arange(len(pts)), len(pts)
    here = np.asarray(start, dtype=np.float64)
    for step in range(n):
        p = next((q for q in row if free[q % n]), None)
        k = 4 * kk
        while p is None:  # every listed end is used: ask the tree of remaining ends
            if live * 2 < len(ids):
                ids = ids[free[ids % n]]
                tree = cKDTree(pts[ids])
            kq = min(k, len(ids))
            hit = ids[np.atleast_1d(tree.query(here, k=kq)[1])]
            ok = hit[free[hit % n]]
            p = int(ok[0]) if len(ok) else None
            k *= 4
        t = p % n
        seq[step], rev[step], free[t] = t, p >= n, False
        live -= 2 if reverse else 1
        here = S[t] if rev[step] else E[t]
        row = near[t + n if rev[step] else t]
    return seq, rev


def mst_lower_bound(S: np.ndarray, E: np.ndarray, start: Sequence[float]) -> float:
    """Weight of a minimum spanning tree over {start} + strokes, edge = closest pair of their ends.

    Why it bounds every pen-up path from below: such a path visits the start and every stroke once, so its
    pen-up moves form a spanning path (a spanning tree) over these nodes, and each move is at least as long
    as the closest-ends distance between the two nodes it joins. So the path costs at least this tree.
    Computed exactly in O(n log n): the tree is the Euclidean MST of all ends with each stroke's two ends
    joined at zero cost, and a Euclidean MST uses only Delaunay edges (a non-Gabriel edge is the longest
    side of a triangle), which stays true with the zero-cost edges added.
    """
    n = len(S)
    if n == 0:
        return 0.0
    pts = np.vstack([np.asarray(start, dtype=np.float64)[None, :], S, E])  # 0 start, 1..n S, n+1..2n E
    uniq, inv = np.unique(pts, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    rows, cols = [inv[1 : n + 1]], [inv[n + 1 :]]  # each stroke's own two ends, at zero cost
    try:
        tri = Delaunay(uniq)
        for a, b in ((0, 1), (1, 2), (0, 2)):
            rows.append(tri.simplices[:, a])
            cols.append(tri.simplices[:, b])
        rows.append(tri.coplanar[:, 0])  # points qhull left out: joined to their nearest vertex
        cols.append(tri.coplanar[:, 2])
        if len(tri.coplanar):  # and to their nearest points: qhull's "nearest vertex" is within its tolerance
            kq = min(4, len(uniq))
            near = np.asarray(cKDTree(uniq).query(uniq[tri.coplanar[:, 0]], k=kq)[1]).reshape(-1, kq)
            rows.append(np.repeat(tri.coplanar[:, 0], kq))
            cols.append(near.reshape(-1))
    except (QhullError, ValueError):  # fewer than 3 distinct or collinear points: all pairs
        r, c = np.triu_indices(len(uniq), 1)
        rows.append(r)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    w = np.sqrt(((uniq[r] - uniq[c]) ** 2).sum(axis=1))
    w[:n] = 0.0
    keep = r != c
    r, c, w = np.minimum(r, c)[keep], np.maximum(r, c)[keep], w[keep]
    if len(r) == 0:  # every end on one point
        return 0.0
    first = np.lexsort((w, c, r))  # coo_matrix sums duplicates: keep each pair once, at its least weight
    r, c, w = r[first], c[first], w[first]
    once = np.concatenate([[True], (np.diff(r) != 0) | (np.diff(c) != 0)])
    tiny = 1e-300  # csgraph reads an explicit 0 as "no edge"
    graph = coo_matrix((np.maximum(w[once], tiny), (r[once], c[once])), shape=(len(uniq), len(uniq)))
    tree = minimum_spanning_tree(graph.tocsr())
    return float(np.where(tree.data > 1e-200, tree.data, 0.0).sum())


def default_kicks(n_strokes: int) -> int:
    """ILS kicks `plan_job` spends on a page: 2 per stroke (at most 4000).

    A count, not a time, so the same page gives the same plan on any machine (the time budget stays as a
    cap, binding only on a slow machine: ~0.2 s for a page of 100 sketches, 500 strokes, here). At this
    effort the plan is ~0.89x vpype's two-opt pen-up on pages of 9, 25 and 100 sketches.
    """
    return min(2 * max(int(n_strokes), 0), 4000)


def _check(start: Sequence[float], time_budget_s: float, kicks: int) -> np.ndarray:
    try:
        st = np.asarray(start, dtype=np.float64).reshape(2)
    except (TypeError, ValueError) as exc:
        raise OrderError(f"start must be an (x, y) pair, got {start!r}") from exc
    if not np.all(np.isfinite(st)):
        raise OrderError(f"start must be finite, got {start!r}")
    if not (isinstance(time_budget_s, (int, float)) and time_budget_s >= 0 and not math.isnan(time_budget_s)):
        raise OrderError(f"time budget must be a number of seconds >= 0, got {time_budget_s!r}")
    if not (isinstance(kicks, int) and kicks >= 0):
        raise OrderError(f"kicks must be a whole number >= 0, got {kicks!r}")
    return st


def order_strokes(
    sketch: Sketch,
    start: Sequence[float] = (0.0, 0.0),
    time_budget_s: float = 1.0,
    reverse: bool = True,
    kicks: int = 0,
    seed: int = 0,
) -> tuple[Sketch, OrderStats]:
    """Reorder (and, with `reverse`, flip) strokes to shorten pen-up travel from `start`.

    Drawn geometry is unchanged; only the order and direction of strokes change. The greedy pass always
    runs; the 2-opt/or-opt improvement stops at a local optimum or when `time_budget_s` (wall clock, from
    the call) is spent. `kicks` > 0 then adds up to that many iterated-local-search perturbations (drawn
    from `seed`: the same input, kicks and seed give the same plan unless the budget cuts them short),
    stopping a little before the budget so that the final direction pass and the copy fit in it. With a
    budget of the time `vpype linesort --two-opt` takes, that is what beats it (bench/results/optimizer.md).
    A plan worse than the input is never returned.
    """
    t0 = time.perf_counter()
    st = _check(start, time_budget_s, kicks)
    if not isinstance(seed, int):
        raise OrderError(f"seed must be a whole number, got {seed!r}")
    deadline = t0 + float(time_budget_s)
    n = len(sketch.strokes)
    S, E = _ends(sketch)
    ident, no_rev = np.arange(n), np.zeros(n, dtype=bool)
    before = pen_up_travel(S, E, st, ident, no_rev)
    if n < 2:
        after = before
        seq, rev = ident, no_rev
    else:
        seq, rev = _search(S, E, st, reverse, deadline, kicks, seed)
        if reverse:
            rev = best_directions(S, E, st, seq)
        after = pen_up_travel(S, E, st, seq, rev)
        if after > before:
            seq, rev, after = ident, no_rev, before
    out = _reordered(sketch, seq, rev)
    stats = OrderStats(
        pen_up_before=before,
        pen_up_after=after,
        n_strokes=n,
        seconds=time.perf_counter() - t0,
        ends=(S, E, st),
    )
    return out, stats


def _search(
    S: np.ndarray, E: np.ndarray, st: np.ndarray, reverse: bool, deadline: float, kicks: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Local search from the greedy walk; with kicks, also from a greedy matching, then ILS on the better.

    The second start runs only if another local search of the same length fits before the deadline, so
    a generous budget (kicks counted, not timed) always takes the same path.
    """
    t1 = time.perf_counter()
    tour = Tour(S, E, st, *greedy_order(S, E, st, reverse), flip=reverse)
    if not tour.optimise(deadline):
        return tour.order()
    if kicks == 0:
        return tour.order()
    ils_deadline = deadline - _FINISH_S - _FINISH_S_PER_STROKE * len(S)
    if reverse and len(S) >= 8 and 2 * time.perf_counter() - t1 < ils_deadline:
        seq2, rev2 = greedy_matching_order(S, E, st)
        other = Tour(S, E, st, seq2, rev2, near=tour.near)
        if other.optimise(deadline) and other.cost() < tour.cost() - 1e-9:
            tour = other
    local = Local(tour)
    local.ils(int(kicks), ils_deadline, seed=seed)
    return local.order()


def _reordered(sketch: Sketch, seq: np.ndarray, rev: np.ndarray) -> Sketch:
    """A copy of `sketch` with strokes in order `seq`, reversed where `rev`.

    The strokes come from a Sketch, so they are already valid (N, 2) float arrays: skip re-validating each
    (on a page of 500 strokes that was ~2 % of a vpype-sized time budget).
    """
    src = sketch.strokes
    out = Sketch([], unit=sketch.unit, meta=dict(sketch.meta))
    out.strokes = [src[t][::-1].copy() if r else src[t].copy() for t, r in zip(seq.tolist(), rev.tolist())]
    return out


def _prim(W: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Dense Prim over a symmetric (m, m) weight matrix: (tree weight, parent of each node, node order)."""
    m = len(W)
    best, parent = W[0].copy(), np.zeros(m, dtype=np.int64)
    done = np.zeros(m, dtype=bool)
    done[0] = True
    best[0] = np.inf
    total = 0.0
    for _ in range(m - 1):
        v = int(np.argmin(best))
        total += best[v]
        done[v] = True
        best[v] = np.inf
        closer = (W[v] < best) & ~done
        best[closer], parent[closer] = W[v][closer], v
    return total, parent, done


def held_karp_bound(
    S: np.ndarray, E: np.ndarray, start: Sequence[float], upper: float, iters: int = 300
) -> float:
    """A Held–Karp (1-tree + subgradient) lower bound on pen-up travel; tighter than the MST bound.

    Why it is valid: the pen-up problem is a travelling-salesman *tour* over every stroke end, the start and
    a dummy node D, in which each stroke's two ends are joined (cost 0, forced), D is joined to the start
    (forced) and to the last end (cost 0). For any node penalties pi, every such tour weighs at least the
    cheapest 1-tree containing the forced edges under costs c_ij + pi_i + pi_j, minus 2 sum(pi): a tour is
    such a 1-tree with every degree 2. Contracting each stroke to one node, that 1-tree is an MST over
    strokes + start (edge = cheapest penalised end pair) plus D's two edges. Subgradient steps on pi (from
    `upper`, a known tour length) tighten it; the best value seen is returned. Dense O(n^2) per step.
    """
    n = len(S)
    if n == 0:
        return 0.0
    st = np.asarray(start, dtype=np.float64)
    P = np.vstack([S, E, st[None, :]])  # ends: S_i = i, E_i = n + i, start = 2n
    pi = np.zeros(2 * n + 1)
    best, lam, stall = -np.inf, 2.0, 0
    ends = [(a, b) for a in (0, n) for b in (0, n)]
    D = [np.sqrt(((P[a : a + n, None] - P[None, b : b + n]) ** 2).sum(-1)) for a, b in ends]
    Ds = np.sqrt(((P[: 2 * n] - st) ** 2).sum(-1))  # start to every end
    for _ in range(iters):
        C = np.stack([D[k] + pi[a : a + n, None] + pi[None, b : b + n] for k, (a, b) in enumerate(ends)])
        pick = np.argmin(C, axis=0)
        W = np.empty((n + 1, n + 1))
        W[:n, :n] = np.take_along_axis(C, pick[None], 0)[0]
        cs = Ds + pi[: 2 * n] + pi[2 * n]
        spick = np.where(cs[:n] <= cs[n:], 0, n)
        W[n, :n] = W[:n, n] = np.minimum(cs[:n], cs[n:])
        W[n, n] = np.inf
        np.fill_diagonal(W, np.inf)
        mst, parent, _ = _prim(np.roll(np.roll(W, 1, 0), 1, 1))  # the start as Prim's root (index 0)
        last = int(np.argmin(pi[: 2 * n]))  # D's edge to the path's end
        value = mst + pi[: 2 * n].sum() + pi[2 * n] + pi[last] - 2 * pi.sum()
        deg = np.ones(2 * n + 1)  # forced stroke edges; the start's forced edge to D
        deg[last] += 1
        for child in range(1, n + 1):  # tree edges, back in un-rolled indices (start = n)
            u, v = child - 1, int(parent[child]) - 1
            u, v = (n if u < 0 else u), (n if v < 0 else v)
            if u == n or v == n:
                t = v if u == n else u
                deg[2 * n] += 1
                deg[t + spick[t]] += 1
            else:
                k = pick[u, v]
                deg[u + ends[k][0]] += 1
                deg[v + ends[k][1]] += 1
        if value > best + 1e-9:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 10:
                lam, stall = lam / 2, 0
        g = deg - 2
        norm = float((g * g).sum())
        if norm == 0 or lam < 1e-4:
            break
        pi += lam * max(upper - value, 1e-9) / norm * g
    return float(max(best, 0.0))


def best_directions(S: np.ndarray, E: np.ndarray, start: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """For a fixed stroke order, the direction of every stroke that minimises pen-up travel (exact DP).

    Local moves flip one stroke or one stretch at a time; the DP over (stroke, direction) finds the best
    joint choice in O(n): cost[t][r] = best travel up to stroke t drawn with direction r.
    """
    n = len(seq)
    if n == 0:
        return np.zeros(0, dtype=bool)
    a = (S[seq, 0] + 1j * S[seq, 1]).tolist()  # entry when forward = exit when reversed
    b = (E[seq, 0] + 1j * E[seq, 1]).tolist()
    z = complex(start[0], start[1])
    fwd, bwd = abs(z - a[0]), abs(z - b[0])  # travel so far ending at b[t] (fwd) or a[t] (bwd)
    back = []
    for t in range(1, n):
        x, y = a[t], b[t]  # forward: enter x leave y; reversed: enter y leave x
        ff, bf = fwd + abs(b[t - 1] - x), bwd + abs(a[t - 1] - x)
        fb, bb = fwd + abs(b[t - 1] - y), bwd + abs(a[t - 1] - y)
        back.append((bf < ff, bb < fb))
        fwd, bwd = min(ff, bf), min(fb, bb)
    rev = np.zeros(n, dtype=bool)
    r = bwd < fwd
    for t in range(n - 1, -1, -1):
        rev[t] = r
        if t:
            r = back[t - 1][1] if r else back[t - 1][0]
    return rev
