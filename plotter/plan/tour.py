"""Local search on a pen-up tour: 2-opt and or-opt moves that may reverse strokes, over neighbour lists.

A tour is an open path: node 0 is the pen's start point, nodes 1..n are strokes, each entered at A[k] and
left at B[k] (its two ends, swapped when the stroke is drawn reversed). The pen-up cost is the sum of
e[k] = |B[k] - A[k+1]|; there is no return leg.

Why it is fast in numpy: every round evaluates *all* candidate moves at once as arrays, where the candidates
for a node come from its stroke's k nearest strokes (a KD-tree over both ends), so a round costs O(n k)
array work and no Python loop per node. The improving moves are then applied best first, as many as touch
disjoint stretches of the tour (such moves do not change each other's gain), and the round repeats until
no move improves. Every step is a pure function of the input, so results are reproducible.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

_GAIN = 1e-9  # a move must save more than this (mm) to count: no churning on rounding error
MAX_SEGMENT = 3  # or-opt moves segments of 1..MAX_SEGMENT strokes


def _dist(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.abs(p - q)  # points are complex x + iy: one hypot per pair, no (N, 2) gathers


def neighbour_table(S: np.ndarray, E: np.ndarray, start: np.ndarray, k: int) -> np.ndarray:
    """(n + 1, 2k') strokes near each stroke (row n: near the start), from both of its ends."""
    n = len(S)
    ends = np.concatenate([S, E])  # end i belongs to stroke i % n
    kk = min(k + 1, len(ends))
    tree = cKDTree(ends)
    _, idx = tree.query(np.vstack([ends, start[None, :]]), k=kk)
    idx = np.asarray(idx).reshape(-1, kk) % n
    table = np.concatenate([idx[:n], idx[n : 2 * n]], axis=1)
    start_row = np.concatenate([idx[2 * n], idx[2 * n]])
    return np.vstack([table, start_row])


class Tour:
    """Mutable tour over strokes with ends S (n, 2) and E (n, 2), starting at `start`."""

    def __init__(
        self,
        S: np.ndarray,
        E: np.ndarray,
        start: np.ndarray,
        seq: np.ndarray,
        rev: np.ndarray,
        k: int = 6,
        flip: bool = True,
    ) -> None:
        self.S, self.E, self.n, self.flip_ok = S, E, len(S), flip
        self.node = np.concatenate([[-1], seq]).astype(np.int64)  # stroke at each node, -1 = start
        self.rev = np.concatenate([[False], rev]).astype(bool)
        self.start = np.asarray(start, dtype=np.float64)
        self.nbr = neighbour_table(S, E, self.start, k)
        self._rebuild()

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
    def _two_opt_moves(self) -> tuple[np.ndarray, ...]:
        """Deltas of 2-opt moves (lo, hi): reverse nodes lo+1..hi, new edges B[lo]-B[hi], A[lo+1]-A[hi+1]."""
        n = self.n
        i = np.arange(n)[:, None]
        near_i, near_next = self.pos[self.nbr[self.sid[:-1]]], self.pos[self.nbr[self.sid[1:]]] - 1
        j = np.concatenate([near_i, near_next, np.full((n, 1), n)], axis=1)
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

    def _or_opt_moves(self, length: int) -> tuple[np.ndarray, ...]:
        """Deltas of moving nodes s..s+length-1 to after node p, forwards or reversed (flip flag)."""
        n = self.n
        s = np.arange(1, n - length + 2)
        hi = s + length - 1
        hi1 = np.minimum(hi + 1, n)
        gain = self.e[s - 1] + np.where(hi < n, self.e_ext[hi] - _dist(self.B[s - 1], self.A[hi1]), 0.0)
        near = np.concatenate([self.pos[self.nbr[self.sid[s]]], self.pos[self.nbr[self.sid[hi]]]], axis=1)
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
        """One round: evaluate every candidate move, apply the best disjoint improving ones."""
        moves = []  # (delta, lo_node, hi_node, kind, args)
        if self.flip_ok:
            d, lo, hi = self._two_opt_moves()
            moves += [(d[g], lo[g], hi[g] + 1, 0, (lo[g] + 1, hi[g])) for g in range(len(d))]
        for length in range(1, MAX_SEGMENT + 1):
            if length > self.n:
                break
            d, s, h, p, f = self._or_opt_moves(length)
            lo, hi = np.minimum(s - 1, p), np.maximum(h + 1, p + 1)
            moves += [(d[g], lo[g], hi[g], 1, (s[g], h[g], p[g], f[g])) for g in range(len(d))]
        if not moves:
            return False
        moves.sort(key=lambda m: (m[0], m[1], m[2], m[3]))
        busy = np.zeros(self.n + 2, dtype=bool)
        for _, a, b, kind, args in moves:
            if busy[a : b + 1].any():
                continue
            busy[a : b + 1] = True
            if kind == 0:
                self._reverse(int(args[0]), int(args[1]))
            else:
                self._move(int(args[0]), int(args[1]), int(args[2]), bool(args[3]))
        self._rebuild()
        return True

    def improve(self, deadline: float) -> bool:
        """Rounds until none improves (True) or the wall clock passes `deadline` (False).

        The clock is read between rounds only, so a run that finishes in time depends on its input alone.
        """
        while self.step():
            if time.perf_counter() > deadline:
                return False
        return True
