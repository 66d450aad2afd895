"""Row sets as arithmetic-progression segments: the exact counting core.

Every structured pattern describes the keys of query row i as a few disjoint arithmetic
progressions ("segments"): {start + t*step : 0 <= t < count}. Intersections of progressions are
progressions again (Chinese remainder theorem), so nnz, per-row degree, causal clipping, unions
(inclusion-exclusion) and per-block counts are all exact with O(rows x segments) memory and no
O(n^2) anything. The same representation is used one level up, with key *blocks* as elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product
from math import gcd

import numpy as np


@dataclass(frozen=True)
class Seg:
    """One progression per row: start (R,), count (R,), a step shared by all rows."""

    start: np.ndarray  # (R,) int64
    step: int
    count: np.ndarray  # (R,) int64, 0 means empty

    @property
    def last(self) -> np.ndarray:
        return self.start + self.step * (self.count - 1)


def interval(lo: np.ndarray | int, hi: np.ndarray | int, rows: int) -> Seg:
    """Half-open [lo, hi) per row; empty where hi <= lo."""
    lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (rows,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (rows,))
    return Seg(lo.copy(), 1, np.maximum(hi - lo, 0))


def _crt(s1: int, s2: int) -> tuple[int, int, int]:
    g = gcd(s1, s2)
    m = s2 // g
    inv = pow(s1 // g, -1, m) if m > 1 else 0
    return g, inv, s1 // g * s2


def intersect(a: Seg, b: Seg) -> Seg:
    """Exact intersection of two progressions, row by row."""
    if a.step == 1 and b.step == 1:
        lo = np.maximum(a.start, b.start)
        hi = np.minimum(a.start + a.count, b.start + b.count)
        return Seg(lo, 1, np.where((a.count > 0) & (b.count > 0), np.maximum(hi - lo, 0), 0))
    g, inv, lcm = _crt(a.step, b.step)
    diff = b.start - a.start
    solvable = diff % g == 0
    m = b.step // g
    # x = a.start + a.step*t satisfies x = b.start (mod b.step) when t = (diff/g)*inv (mod m)
    t = ((diff // g) % m * inv) % m if m > 1 else np.zeros_like(diff)
    x = a.start + a.step * t
    lo = np.maximum(a.start, b.start)
    hi = np.minimum(a.last, b.last)
    first = x + (-((x - lo) // lcm)) * lcm  # smallest value >= lo congruent to x
    ok = solvable & (a.count > 0) & (b.count > 0) & (hi >= first)
    count = np.where(ok, (hi - first) // lcm + 1, 0)
    return Seg(first, lcm, count)


def intersect_all(segs: list[list[Seg]]) -> list[Seg]:
    """Intersection of several disjoint segment lists: one segment per combination."""
    out = []
    for combo in product(*segs):
        acc = combo[0]
        for s in combo[1:]:
            acc = intersect(acc, s)
        out.append(acc)
    return out


def total(segs: list[Seg], rows: int) -> np.ndarray:
    out = np.zeros(rows, dtype=np.int64)
    for s in segs:
        out += s.count
    return out


def count_union(terms: list[list[list[Seg]]], rows: int) -> np.ndarray:
    """|T1 u T2 u ...| per row, where each term is an intersection of disjoint segment lists.

    Inclusion-exclusion over subsets of terms: the intersection of a subset is again an
    intersection of segment lists, so every summand is exact.
    """
    out = np.zeros(rows, dtype=np.int64)
    for size in range(1, len(terms) + 1):
        sign = 1 if size % 2 else -1
        for subset in combinations(terms, size):
            parts: list[list[Seg]] = []
            for term in subset:
                for part in term:
                    if not any(part is p for p in parts):
                        parts.append(part)
            out += sign * total(intersect_all(parts), rows)
    return out


def enumerate_keys(segs: list[Seg], max_per_row: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) pairs of every element, for materialising small masks or tiles."""
    rows_out, keys_out = [], []
    for s in segs:
        c = np.minimum(s.count, max_per_row)
        total_elems = int(c.sum())
        if total_elems == 0:
            continue
        row = np.repeat(np.arange(len(c)), c)
        offsets = np.arange(total_elems) - np.repeat(np.cumsum(c) - c, c)
        rows_out.append(row)
        keys_out.append(s.start[row] + s.step * offsets)
    if not rows_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows_out), np.concatenate(keys_out)


def singletons(keys: np.ndarray) -> list[Seg]:
    """Segments for an explicit (R, r) key table; -1 entries and repeats within a row are empty.

    Rows are deduplicated and packed left, so the number of segments is the largest number of
    distinct keys in any row (block rows of random patterns repeat key blocks a lot).
    """
    if keys.shape[1] == 0:
        return [Seg(np.zeros(len(keys), dtype=np.int64), 1, np.zeros(len(keys), dtype=np.int64))]
    keys = np.sort(keys, axis=1)
    dup = np.zeros_like(keys, dtype=bool)
    dup[:, 1:] = keys[:, 1:] == keys[:, :-1]
    valid = (keys >= 0) & ~dup
    width = max(1, int(valid.sum(axis=1).max()))
    if width < keys.shape[1]:
        order = np.argsort(~valid, axis=1, kind="stable")[:, :width]
        keys = np.take_along_axis(keys, order, axis=1)
        valid = np.take_along_axis(valid, order, axis=1)
    return [Seg(keys[:, c].copy(), 1, valid[:, c].astype(np.int64)) for c in range(keys.shape[1])]
