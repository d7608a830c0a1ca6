"""Iterated local search (ILS) on a pen-up tour, in scalar Python: the last few percent after `Tour`.

`Tour`'s numpy rounds stop at a 2-opt/or-opt local optimum. What is left there on a page of sketches is
mostly the route *between* sketches: which sketch follows which, and where each is entered and left. No
single 2-opt or or-opt move changes that, so ILS kicks the tour (a double bridge: two adjacent stretches
swap places), repairs it with best-move descent, and keeps the result if it is shorter. Half the kicks cut
the tour at its long pen-up moves (the jumps between sketches), so that whole stretches between jumps
swap; the other half swap short stretches anywhere. After a kick only a handful of nodes can improve, and
per-move Python is cheaper than array set-up for those. Seeded: the same kicks give the same tour.
"""

from __future__ import annotations

import random
import time

import numpy as np

from plotter.plan.tour import _GAIN, MAX_SEGMENT, Tour

LONG_QUANTILE = 0.85  # a pen-up move longer than this quantile of the local optimum's moves is "long"


class Local:
    """Scalar local search and iterated local search (ILS) on Python lists, for the last few percent.

    The numpy rounds of `Tour` are fast over whole tours; after a kick only a handful of nodes can improve,
    where per-move Python is cheaper than array set-up. Moves: 2-opt and or-opt (segments of 1..3, either
    way round) over the same neighbour lists, best move per node, don't-look bits as a stack of strokes.
    """

    def __init__(self, tour: Tour, k: int = 5, window: int = 10) -> None:
        self.n, self.flip_ok, self.window = tour.n, tour.flip_ok, window
        self.node, self.rev = tour.node.tolist(), tour.rev.tolist()
        self.A, self.B = tour.A.tolist(), tour.B.tolist()
        self.pos, self.nbr = tour.pos.tolist(), tour.nbr[:, :k].tolist()
        self.cost = tour.cost()
        self.long_min = float(np.quantile(tour.e, LONG_QUANTILE)) if self.n else 0.0
        self._long: list[int] | None = None  # edges k (node k -> k + 1) longer than long_min

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.node[1:], dtype=np.int64), np.array(self.rev[1:], dtype=bool)

    def _e(self, k: int) -> float:
        return abs(self.B[k] - self.A[k + 1]) if k < self.n else 0.0

    def _sid(self, k: int) -> int:
        return self.n if k == 0 else self.node[k]

    def _place(self, a: int, items: list[tuple[int, bool, complex, complex]]) -> None:
        """Write (stroke, reversed, entry, exit) items at positions a.. and re-index them."""
        for k, (t, r, x, y) in enumerate(items, a):
            self.node[k], self.rev[k], self.A[k], self.B[k] = t, r, x, y
            self.pos[t] = k

    def _items(self, a: int, b: int, flip: bool = False) -> list[tuple[int, bool, complex, complex]]:
        it = list(zip(self.node[a : b + 1], self.rev[a : b + 1], self.A[a : b + 1], self.B[a : b + 1]))
        return [(t, not r, y, x) for t, r, x, y in reversed(it)] if flip else it

    def _best_move(self, i: int) -> tuple[float, tuple]:
        """The best improving 2-opt / or-opt move touching node i, as (delta, move)."""
        n, A, B, pos, e, nbr = self.n, self.A, self.B, self.pos, self._e, self.nbr
        best, move = -_GAIN, ()
        if self.flip_ok:  # 2-opt: new edges B[lo]-B[j] and A[lo+1]-A[j+1]; one must beat e(lo) alone
            for lo in (i - 1, i):
                if lo < 0 or lo >= n:
                    continue
                ba, a1 = B[lo], A[lo + 1]
                elo = abs(ba - a1)
                for c in nbr[self._sid(lo)]:
                    j = pos[c]
                    d1 = abs(ba - B[j])
                    if d1 < elo and j != lo:
                        d = d1 - elo + (abs(a1 - A[j + 1]) - abs(B[j] - A[j + 1]) if j < n else 0.0)
                        if d < best:
                            best, move = d, (0, min(lo, j) + 1, max(lo, j), 0, False)
                for c in nbr[self.node[lo + 1]]:
                    j = pos[c] - 1
                    aj = A[j + 1]
                    d1 = abs(a1 - aj)
                    if d1 < elo and j != lo:
                        d = d1 - elo + abs(ba - B[j]) - abs(B[j] - aj)
                        if d < best:
                            best, move = d, (0, min(lo, j) + 1, max(lo, j), 0, False)
                d = abs(ba - B[n]) - elo  # reverse the whole tail after lo
                if d < best:
                    best, move = d, (0, lo + 1, n, 0, False)
        if i == 0:
            return best, move
        node, flip_ok = self.node, self.flip_ok
        for L in range(1, MAX_SEGMENT + 1):  # or-opt: move nodes i..i+L-1 to between p and p + 1
            s, h = i, i + L - 1
            if h > n:
                break
            a, b = A[s], B[h]
            gain = e(s - 1) + e(h) - (abs(B[s - 1] - A[h + 1]) if h < n else 0.0)
            if gain <= 0:  # taking the segment out saves nothing: rarely a winning move, skip it
                continue
            # each candidate p comes with the new edge that made it a candidate (the near one), checked
            # first: B[p]-a or b-A[p+1] as it is, B[p]-b or a-A[p+1] flipped
            cands = [(pos[c], False) for c in nbr[node[s]]] + [(pos[c] - 1, False) for c in nbr[node[h]]]
            if flip_ok:
                cands += [(pos[c], True) for c in nbr[node[h]]] + [(pos[c] - 1, True) for c in nbr[node[s]]]
            cands += [(0, False), (n, False)] + ([(0, True), (n, True)] if flip_ok else [])
            for p, f in cands:
                if s - 1 <= p <= h:
                    continue
                x, y = (b, a) if f else (a, b)  # the segment's entry and exit after the move
                bp = B[p]
                if p < n:
                    ap = A[p + 1]
                    base = abs(bp - ap) + gain  # a first new edge longer than base + best cannot win
                    d1 = abs(bp - x)
                    if d1 < base + best:
                        d = d1 + abs(y - ap) - base
                        if d < best:
                            best, move = d, (1, s, h, p, f)
                else:
                    d = abs(bp - x) - gain
                    if d < best:
                        best, move = d, (1, s, h, p, f)
        return best, move

    def _apply(self, move: tuple) -> list[int]:
        """Apply a move; returns the positions whose edges changed."""
        kind, s, h, p, flip = move
        if kind == 0:  # 2-opt: reverse s..h
            self._place(s, self._items(s, h, True))
            return [s - 1, s, h, h + 1]
        seg = self._items(s, h, flip)
        if p > h:
            self._place(s, self._items(h + 1, p) + seg)
            return [s - 1, s, p - (h - s + 1), p - (h - s), p, p + 1]
        self._place(p + 1, seg + self._items(p + 1, s - 1))
        return [p, p + 1, p + h - s + 1, p + h - s + 2, s - 1, h, h + 1]

    def descend(self, dirty: list[int], deadline: float) -> bool:
        """Best-move descent from the dirty strokes until none improves (True) or the deadline (False)."""
        stack, on = list(dirty), set(dirty)
        count = 0
        while stack:
            count += 1
            if (count & 3) == 0 and time.perf_counter() > deadline:
                return False
            t = stack.pop()
            on.discard(t)
            d, move = self._best_move(self.pos[t])
            if not move:
                continue
            self.cost += d
            for k in self._apply(move):
                if 0 <= k <= self.n:
                    sid = self._sid(k)
                    if sid not in on:
                        on.add(sid)
                        stack.append(sid)
        return True

    def _long_edges(self) -> list[int]:
        if self._long is None:
            lo, A, B = self.long_min, self.A, self.B
            self._long = [k for k in range(self.n) if abs(B[k] - A[k + 1]) > lo]
        return self._long

    def kick(self, rng: random.Random) -> list[int]:
        """Double bridge: swap two adjacent stretches of the tour; returns the strokes around the cuts.

        Half the time (when there are enough) the cuts are three long moves 1..3 long moves apart, so
        whole runs of sketches swap; otherwise two stretches of 1..`window` strokes anywhere.
        """
        n, long = self.n, self._long_edges()
        if len(long) >= 4 and rng.random() < 0.5:
            i = rng.randrange(len(long) - 2)
            j = i + 1 + rng.randrange(min(3, len(long) - 2 - i))
            m = j + 1 + rng.randrange(min(3, len(long) - 1 - j))
            p, q, r = long[i] + 1, long[j] + 1, long[m] + 1
        else:
            w = min(self.window, n // 3)
            l1, l2 = rng.randint(1, w), rng.randint(1, w)
            p = rng.randint(1, n - l1 - l2 + 1)
            q, r = p + l1, p + l1 + l2
        l2 = r - q
        before = self._e(p - 1) + self._e(q - 1) + self._e(r - 1)
        self._place(p, self._items(q, r - 1) + self._items(p, q - 1))
        self.cost += self._e(p - 1) + self._e(p + l2 - 1) + self._e(r - 1) - before
        return [self._sid(k) for k in (p - 1, p, p + l2 - 1, p + l2, r - 1, r) if 0 <= k <= n]

    def ils(self, kicks: int, deadline: float, seed: int = 0) -> bool:
        """Kick, descend, keep if shorter; `kicks` times or until the deadline (then False).

        The clock is read between kicks and every few moves, so a run that ends by count depends on its
        input and seed alone; one cut short keeps its last repair only if that is already shorter.
        """
        if self.n < 8:
            return True
        rng = random.Random(seed)
        for _ in range(kicks):
            if time.perf_counter() > deadline:
                return False
            saved = (self.node[:], self.rev[:], self.A[:], self.B[:], self.pos[:], self.cost)
            old = self.cost
            done = self.descend(self.kick(rng), deadline)
            if self.cost >= old - _GAIN:
                self.node, self.rev, self.A, self.B, self.pos, self.cost = saved
            else:
                self._long = None
            if not done:
                return False
        return True
