"""Greedy-matching construction of a pen-up path: a second, different starting point for local search.

Nearest neighbour (`order.greedy_order`) decides one move at a time from where the pen is, so its last
moves are long jumps back across the page. Greedy matching instead takes pen-up moves shortest first over
the whole page (each stroke end joined at most once, no cycle; the Kruskal-style "greedy" TSP heuristic),
then joins the fragments the same way. Local search from the two starts ends in different local optima;
on pages of sketches neither is better on every page, and the better of the two is on average ~1-2 %
shorter than either (bench/results/optimizer.md), for about the price of one more local search.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _link_greedy(
    i: np.ndarray, j: np.ndarray, d: np.ndarray, link: list[int], group: list[int], parent: list[int]
) -> int:
    """Take candidate moves (i, j) shortest first where both ends are free and no cycle forms; count taken."""
    taken, order = 0, np.argsort(d, kind="stable")
    for a, b in zip(i[order].tolist(), j[order].tolist()):
        if link[a] >= 0 or link[b] >= 0:
            continue
        ra, rb = _find(parent, group[a]), _find(parent, group[b])
        if ra == rb:
            continue
        parent[ra] = rb
        link[a], link[b] = b, a
        taken += 1
    return taken


def greedy_matching_order(
    S: np.ndarray, E: np.ndarray, start: np.ndarray, k: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Stroke order and reversed flags of a greedy-matching path from `start` (strokes may be reversed).

    Points: S ends 0..n-1, E ends n..2n-1, the start 2n (it may be joined once, so it ends the path).
    Candidates are each point's k nearest points (one KD-tree query); the fragments left are then
    joined over all pairs of their free ends (few: about one fragment per ten strokes).
    """
    n = len(S)
    pts = np.vstack([S, E, np.asarray(start, dtype=np.float64)[None, :]])
    m = 2 * n + 1
    group = (np.arange(m) % n).tolist()  # a stroke's two ends are one node; the start is node n
    group[2 * n] = n
    link, parent = [-1] * m, list(range(n + 1))
    kk = min(k + 1, m)
    dist, idx = cKDTree(pts).query(pts, k=kk)
    i = np.repeat(np.arange(m), kk)
    j, d = np.asarray(idx).reshape(-1), np.asarray(dist).reshape(-1)
    own = np.asarray(group)
    keep = (i < j) & (own[i] != own[j])
    edges = _link_greedy(i[keep], j[keep], d[keep], link, group, parent)
    if edges < n:  # join the fragments: all pairs of free ends
        free = np.array([p for p in range(m) if link[p] < 0], dtype=np.int64)
        a, b = np.triu_indices(len(free), 1)
        fa, fb = free[a], free[b]
        ok = own[fa] != own[fb]
        fa, fb = fa[ok], fb[ok]
        _link_greedy(fa, fb, np.sqrt(((pts[fa] - pts[fb]) ** 2).sum(axis=1)), link, group, parent)
    seq, rev = np.empty(n, dtype=np.int64), np.zeros(n, dtype=bool)
    p = 2 * n
    for step in range(n):  # walk from the start: enter a stroke at link[p], leave at its other end
        q = link[p]
        t = q % n
        seq[step], rev[step] = t, q >= n
        p = t if q >= n else t + n
    return seq, rev
