"""Local search on a pen-up tour: 2-opt and or-opt moves that may reverse strokes, over neighbour lists.

A tour is an open path: node 0 is the pen's start point, nodes 1..n are strokes, each entered at A[k] and
left at B[k] (its two ends, swapped when the stroke is drawn reversed). The pen-up cost is the sum of
e[k] = |B[k] - A[k+1]|; there is no return leg.

Why it is fast in numpy: every round evaluates *all* candidate moves at once as arrays, where the candidates
for a node come from its stroke's k nearest strokes (a KD-tree over both ends), so a round costs O(n k)
array work and no Python loop per node. The improving moves are then applied best first, as many as touch
disjoint stretches of the tour (such moves do not change each other's gain), and the round repeats until
no move improves. Every step is a pure function of the input, so results are reproducible.

`plotter.plan.local.Local` then runs iterated local search on plain Python lists: a kick changes a handful
of edges, and re-optimising around them is cheaper per move in scalar Python than in array set-up.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

_GAIN = 1e-9  # a move must save more than this (mm) to count: no churning on rounding error
MAX_SEGMENT = 3  # or-opt moves segments of 1..MAX_SEGMENT strokes
K_OR = 4  # or-opt tries the first K_OR neighbours of a segment's ends


def _dist(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.abs(p - q)  # points are complex x + iy: one hypot per pair, no (N, 2) gathers


def neighbour_table(S: np.ndarray, E: np.ndarray, start: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n + 1, k) distinct strokes nearest to each stroke's ends (row n: nearest to the start point), and
    each point's reach (2n + 1,): S ends, E ends, start; how far its share of the list surely extends.

    Both ends' nearest-end lists are merged nearest-first, the stroke itself and repeats dropped, so each
    candidate costs one evaluation. A move whose new edge from a point is shorter than its reach is seen
    by the lists; only longer ones need the full 2-opt pass.
    """
    n = len(S)
    ends = np.concatenate([S, E])  # end i belongs to stroke i % n
    kk = min(k + 2, len(ends))
    dist, idx = cKDTree(ends).query(np.vstack([ends, start[None, :]]), k=kk)
    dist, idx = np.asarray(dist).reshape(-1, kk), np.asarray(idx).reshape(-1, kk) % n
    width = max(1, min(k, n - 1))
    both_d = np.concatenate([dist[:n], dist[n : 2 * n]], axis=1)
    both_i = np.concatenate([idx[:n], idx[n : 2 * n]], axis=1)
    order = np.argsort(both_d, axis=1, kind="stable")
    rows = np.vstack([np.take_along_axis(both_i, order, axis=1), np.resize(idx[2 * n], (1, 2 * kk))])
    own = np.append(np.arange(n), -1)[:, None]
    seen = (rows[:, :, None] == rows[:, None, :]) & np.tri(2 * kk, k=-1, dtype=bool)[None]
    ok = ~seen.any(axis=2) & (rows != own)  # first time in the row, and not the stroke itself
    ok[~ok.any(axis=1), 0] = True  # nothing else near (one stroke): the row refers to itself
    first = np.argsort(~ok, axis=1, kind="stable")  # valid entries first, in distance order
    count = ok.sum(axis=1, keepdims=True)
    table = np.take_along_axis(rows, np.take_along_axis(first, np.arange(width)[None, :] % count, 1), 1)
    return table, dist[:, min(k // 2, kk - 1)]


class Tour:
    """Mutable tour over strokes with ends S (n, 2) and E (n, 2), starting at `start`."""

    def __init__(
        self,
        S: np.ndarray,
        E: np.ndarray,
        start: np.ndarray,
        seq: np.ndarray,
        rev: np.ndarray,
        k: int = 8,
        flip: bool = True,
        near: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.S, self.E, self.n, self.flip_ok = S, E, len(S), flip
        self.node = np.concatenate([[-1], seq]).astype(np.int64)  # stroke at each node, -1 = start
        self.rev = np.concatenate([[False], rev]).astype(bool)
        self.start = np.asarray(start, dtype=np.float64)
        self.near = neighbour_table(S, E, self.start, k) if near is None else near  # or reuse a Tour's
        self.nbr, self.reach = self.near
        self.k_or = K_OR
        self._rebuild()
        self.dirty = np.ones(self.n + 1, dtype=bool)  # nodes whose moves need (re-)evaluation

    def _rebuild(self) -> None:
        st, rv = self.node[1:], self.rev[1:]
        S = self.S[:, 0] + 1j * self.S[:, 1]
        E = self.E[:, 0] + 1j * self.E[:, 1]
        z0 = complex(self.start[0], self.start[1])
        self.A = np.concatenate([[z0], np.where(rv, E[st], S[st])])  # (n + 1,) complex entry points
        self.B = np.concatenate([[z0], np.where(rv, S[st], E[st])])  # (n + 1,) complex exit points
        self.pos = np.empty(self.n + 1, dtype=np.int64)
        self.pos[st] = np.arange(1, self.n + 1)
        self.pos[self.n] = 0  # the start "stroke" row of the neighbour table sits at node 0
        self.sid = np.where(self.node < 0, self.n, self.node)  # neighbour-table row of each node
        self.e = np.abs(self.B[:-1] - self.A[1:])  # (n,) pen-up move after node k
        self.e_ext = np.append(self.e, 0.0)  # after the last node: nothing

    def cost(self) -> float:
        return float(self.e.sum())

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        return self.node[1:].copy(), self.rev[1:].copy()

    # ------------------------------------------------------------------ move evaluation (all at once)
    def _two_opt_moves(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Deltas of 2-opt moves (lo, hi): reverse nodes lo+1..hi, new edges B[lo]-B[hi], A[lo+1]-A[hi+1]."""
        n = self.n
        rows = rows[rows < n]
        i = rows[:, None]
        near_i, near_next = self.pos[self.nbr[self.sid[rows]]], self.pos[self.nbr[self.sid[rows + 1]]] - 1
        j = np.concatenate([near_i, near_next, np.full((len(rows), 1), n)], axis=1)
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        inner = hi < n
        hi1 = np.minimum(hi + 1, n)
        delta = (
            _dist(self.B[lo], self.B[hi])
            + np.where(inner, _dist(self.A[lo + 1], self.A[hi1]), 0.0)
            - self.e_ext[hi]
            - self.e[lo]
        )
        delta[lo == hi] = np.inf
        r, c = np.nonzero(delta < -_GAIN)
        return delta[r, c], lo[r, c], hi[r, c]

    def _or_opt_moves(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Deltas of moving nodes s..s+L-1 (L = 1..MAX_SEGMENT) to after node p, either way round (flip)."""
        n = self.n
        lengths = range(1, min(MAX_SEGMENT, n) + 1)
        s = np.concatenate([rows[(rows >= 1) & (rows <= n - L + 1)] for L in lengths])
        hi = np.concatenate([rows[(rows >= 1) & (rows <= n - L + 1)] + L - 1 for L in lengths])
        hi1 = np.minimum(hi + 1, n)
        gain = self.e[s - 1] + np.where(hi < n, self.e_ext[hi] - _dist(self.B[s - 1], self.A[hi1]), 0.0)
        nb = self.nbr[:, : self.k_or]
        near = np.concatenate([self.pos[nb[self.sid[s]]], self.pos[nb[self.sid[hi]]]], axis=1)
        m = len(s)
        p = np.concatenate([near, near - 1, np.zeros((m, 1), np.int64), np.full((m, 1), n)], axis=1)
        inner = p < n
        Bp, Ap1 = self.B[p], self.A[np.minimum(p + 1, n)]
        a, b = self.A[s][:, None], self.B[hi][:, None]
        base = self.e_ext[p] + gain[:, None]
        delta = _dist(Bp, a) + np.where(inner, _dist(b, Ap1), 0.0) - base
        flip = np.zeros(delta.shape, dtype=bool)
        if self.flip_ok:
            bwd = _dist(Bp, b) + np.where(inner, _dist(a, Ap1), 0.0) - base
            flip = bwd < delta
            delta = np.where(flip, bwd, delta)
        delta[(p >= s[:, None] - 1) & (p <= hi[:, None])] = np.inf
        r, c = np.nonzero(delta < -_GAIN)
        return delta[r, c], s[r], hi[r], p[r, c], flip[r, c]

    # ------------------------------------------------------------------ applying moves
    def _reverse(self, a: int, b: int) -> None:
        sl = slice(a, b + 1)
        self.node[sl] = self.node[sl][::-1]
        self.rev[sl] = ~self.rev[sl][::-1]

    def _move(self, s: int, hi: int, after: int, flip: bool) -> None:
        idx = np.arange(self.n + 1)
        seg = idx[s : hi + 1][::-1] if flip else idx[s : hi + 1]
        rest = np.concatenate([idx[:s], idx[hi + 1 :]])
        cut = int(np.searchsorted(rest, after)) + 1
        order = np.concatenate([rest[:cut], seg, rest[cut:]])
        self.node = self.node[order]
        self.rev = self.rev[order]
        if flip:
            at = np.flatnonzero(np.isin(order, seg))
            self.rev[at] = ~self.rev[at]

    def step(self) -> bool:
        """One round: evaluate the candidate moves of dirty nodes, apply the best disjoint improving ones.

        A node is dirty when the tour changed near it since it was last evaluated (don't-look bits): a
        clean node's moves were not improving last round, and nothing they depend on has moved.
        """
        rows = np.flatnonzero(self.dirty)
        self.dirty[:] = False
        parts = []  # columns: delta, interval lo, interval hi, kind, x, y, z, flip
        if self.flip_ok:
            d, lo, hi = self._two_opt_moves(rows)
            zero = np.zeros(len(d), dtype=np.int64)
            parts.append((d, lo, hi + 1, zero, lo + 1, hi, zero, zero))
        d, s, h, p, f = self._or_opt_moves(rows)
        parts.append((d, np.minimum(s - 1, p), np.maximum(h + 1, p + 1), np.ones_like(s), s, h, p, f))
        cols = [np.concatenate(c) for c in zip(*parts)] if parts else []
        if not cols or len(cols[0]) == 0:
            return False
        order = np.lexsort(cols[::-1][:-1] + [cols[0]])  # best delta first, ties broken by the move itself
        busy = bytearray(self.n + 2)
        clashed = []
        for _, a, b, kind, x, y, z, f in zip(*(c[order].tolist() for c in cols)):
            if busy.find(1, a, b + 1) >= 0:  # clashes with a better move: look again next round
                clashed += (a, x, y)
                continue
            busy[a : b + 1] = b"\x01" * (b + 1 - a)
            if kind == 0:
                self._reverse(x, y)
            else:
                self._move(x, y, z, bool(f))
        self.dirty[clashed] = True
        self._rebuild()
        self._touch(np.frombuffer(bytes(busy), dtype=np.uint8).astype(bool))
        return True

    def _touch(self, changed: np.ndarray) -> None:
        """Mark dirty the changed nodes, their tour neighbours, and nodes whose near strokes changed."""
        ch = np.flatnonzero(changed[: self.n + 1])
        if len(ch) == 0:
            return
        lo, hi = np.maximum(ch - 1, 0), np.minimum(ch + 1, self.n)
        self.dirty[lo] = self.dirty[ch] = self.dirty[hi] = True
        moved = np.zeros(self.n + 1, dtype=bool)
        moved[self.sid[ch]] = True
        self.dirty[self.pos[np.flatnonzero(moved[self.nbr].any(axis=1))]] = True

    def improve(self, deadline: float) -> bool:
        """Rounds until none improves (True) or the wall clock passes `deadline` (False).

        The clock is read between rounds only, so a run that finishes in time depends on its input alone.
        """
        while True:
            if time.perf_counter() > deadline:
                return False
            if not self.step():
                return True

    def full_two_opt(self, deadline: float) -> bool:
        """One pass of 2-opt from every long move to *all* others: each one's best, the disjoint applied.

        Neighbour lists miss improving moves around long jumps, where many ends are closer than the jump;
        a full pass catches those. Only moves longer than their ends' reach can hide such a move (an
        improving 2-opt has a new edge shorter than the old edge it replaces), so only those rows are
        scanned: O(n) each, in row blocks to bound memory. It runs after the cheap rounds have converged,
        and they then resume from the nodes it changed. True if it changed the tour.
        """
        n = self.n
        st, rv = self.node[1:], self.rev[1:]
        out_end = np.concatenate([[2 * n], np.where(rv, st, st + n)])  # reach row of B[k]
        in_end = np.where(rv, st + n, st)  # of A[k + 1]
        far = self.e > np.minimum(self.reach[out_end[:-1]], self.reach[in_end])
        cand = np.flatnonzero(far)  # edges a shorter replacement may hide from the lists
        best_d, best_j = np.zeros(n), np.zeros(n, dtype=np.int64)
        block = max(1, 2**20 // (n + 1))
        for r0 in range(0, len(cand), block):
            if time.perf_counter() > deadline:
                return False
            rows = cand[r0 : r0 + block]
            i = rows[:, None]
            j = np.arange(n + 1)[None, :]
            j1 = np.minimum(j + 1, n)
            delta = np.abs(self.B[i] - self.B[j]) - self.e[i]
            delta += np.where(j < n, np.abs(self.A[i + 1] - self.A[j1]) - self.e_ext[j], 0.0)
            delta[j == i] = np.inf
            k = np.argmin(delta, axis=1)
            best_j[rows], best_d[rows] = k, delta[np.arange(len(rows)), k]
        rows = np.flatnonzero(best_d < -_GAIN)
        if len(rows) == 0:
            return False
        busy, changed = bytearray(n + 2), np.zeros(n + 2, dtype=bool)
        for r in rows[np.lexsort((rows, best_d[rows]))].tolist():
            i, j = min(r, int(best_j[r])), max(r, int(best_j[r]))
            if busy.find(1, i, j + 2) >= 0:
                continue
            busy[i : j + 2] = b"\x01" * (j + 2 - i)
            self._reverse(i + 1, j)
            changed[i : j + 2] = True
        self._rebuild()
        self._touch(changed)
        return True

    def optimise(self, deadline: float) -> bool:
        """Neighbour-list rounds to a local optimum, then full 2-opt passes until neither improves."""
        while True:
            if not self.improve(deadline):
                return False
            if not self.flip_ok or not self.full_two_opt(deadline):
                return time.perf_counter() <= deadline
