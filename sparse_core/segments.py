"""Row sets as arithmetic-progression segments: the exact counting core.

Every structured pattern describes the keys of query row i as a few disjoint arithmetic
progressions ("segments"): {start + t*step : 0 <= t < count}. Intersections of progressions are
progressions again (Chinese remainder theorem), so nnz, per-row degree, causal clipping, unions
(a sweep over sorted endpoints, or inclusion-exclusion for strided parts) and per-block counts
are all exact with O(rows x segments) memory and no O(n^2) anything. The same representation
is used one level up, with key *blocks* as elements.
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
        """The last element of each row's progression (meaningless where count is 0)."""
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
    """Elements per row of a disjoint segment list."""
    out = np.zeros(rows, dtype=np.int64)
    for s in segs:
        out += s.count
    return out


class ColumnSet:
    """Keys that are the same for every row (up to a per-row interval), known by a closed-form count.

    `count_in(lo, hi)` gives |set ∩ [lo, hi)| per row in O(1); iterating materialises the
    segments, which only small outputs (dense masks, tiles) ever need.
    """

    def __init__(self, count_in, materialise, rows: int, limit: np.ndarray | None = None):
        self.count_in = count_in
        self._materialise = materialise
        self.rows = rows
        self.limit = limit  # per-row exclusive upper bound (causal), or None
        self._segs: list[Seg] | None = None

    def clipped_count(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """|set ∩ [lo, hi)| per row, with the row's own limit applied."""
        if self.limit is not None:
            hi = np.minimum(hi, self.limit)
        return np.where(hi > lo, self.count_in(lo, np.maximum(hi, lo)), 0)

    def segs(self) -> list[Seg]:
        """The explicit segments (costly for long sequences)."""
        if self._segs is None:
            self._segs = self._materialise()
        return self._segs

    def __iter__(self):
        return iter(self.segs())

    def __len__(self):
        return len(self.segs())


def sort_pairs(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's (lo, hi) pairs sorted by lo. Packs both into one int64 when they fit (a plain
    sort is several times faster than argsort + gathers)."""
    real = lo < np.iinfo(np.int64).max // 8
    if lo.size and int(np.where(real, hi, 0).max(initial=0)) < (1 << 30) and int(lo.min(initial=0)) >= 0:
        code = np.where(real, (lo << 31) | hi, np.iinfo(np.int64).max)
        code.sort(axis=1)
        done = code == np.iinfo(np.int64).max
        big = np.iinfo(np.int64).max // 4
        return np.where(done, big, code >> 31), np.where(done, big, code & ((1 << 31) - 1))
    order = np.argsort(lo, axis=1, kind="stable")
    return np.take_along_axis(lo, order, axis=1), np.take_along_axis(hi, order, axis=1)


IE_MAX_TERMS = 5  # inclusion-exclusion over at most 2^5 - 1 subsets
SWEEP_CELLS = 1 << 21  # rows x intervals held at once by the interval sweep
BITMAP_CELLS = 1 << 24  # rows x keys held at once by the bitmap count


def _is_intervals(segs) -> bool:
    return not isinstance(segs, ColumnSet) and all(s.step == 1 or int(s.count.max(initial=0)) <= 1 for s in segs)


def _count_term(parts: list, rows: int) -> np.ndarray:
    """|intersection of parts| per row, using one closed-form part when there is one."""
    closed = [p for p in parts if isinstance(p, ColumnSet)]
    if len(closed) == 1:
        rest = [p for p in parts if p is not closed[0]]
        if not rest:
            return closed[0].clipped_count(np.zeros(rows, dtype=np.int64), np.full(rows, np.iinfo(np.int64).max // 4))
        inner = intersect_all(rest)
        if _is_intervals(inner):
            out = np.zeros(rows, dtype=np.int64)
            for s in inner:
                hi = s.start + np.where(s.step == 1, s.count, np.minimum(s.count, 1))
                out += np.where(s.count > 0, closed[0].clipped_count(s.start, hi), 0)
            return out
    return total(intersect_all([list(p) for p in parts]), rows)


NETWORK_MAX_SEGS = 10  # up to this many intervals a row, a sorting network over columns beats np.sort per row
_EMPTY = np.iinfo(np.int64).max


def disjoint_pieces(segs: list[Seg], sl: slice) -> tuple[np.ndarray, np.ndarray] | None:
    """The union of a few intervals per row as disjoint pieces [lo, hi), laid out (slot, row); empty where hi <= lo.

    Each interval is packed as (start << 31) | end (shifted so the chunk's smallest start is 0),
    sorted across slots by an odd-even transposition network (every operation runs along rows,
    several times faster than np.sort on short rows), then each piece starts where the running
    end of the earlier ones left off. None where the chunk's span does not fit 31 bits.
    """
    m = len(segs)
    starts = [s.start[sl] for s in segs]
    lengths = [s.count[sl] if s.step == 1 else np.minimum(s.count[sl], 1) for s in segs]
    rows = len(starts[0])
    base, top = None, None
    for st, ln in zip(starts, lengths, strict=True):
        live = ln > 0
        if live.any():
            lo_, hi_ = int(st[live].min()), int((st + ln)[live].max())
            base = lo_ if base is None else min(base, lo_)
            top = hi_ if top is None else max(top, hi_)
    if base is None:
        return np.zeros((m, rows), dtype=np.int64), np.zeros((m, rows), dtype=np.int64)
    if top - base >= (1 << 30):
        return None
    code = np.empty((m, rows), dtype=np.int64)
    for c, (st, ln) in enumerate(zip(starts, lengths, strict=True)):
        row = code[c]
        np.subtract(st, base, out=row)
        np.left_shift(row, 31, out=row)
        row |= st + ln - base
        row[ln <= 0] = _EMPTY  # sorts last, and its end (2^31 - 1) lies below its start: an empty piece
    tmp = np.empty(rows, dtype=np.int64)
    for rnd in range(m):
        for i in range(rnd % 2, m - 1, 2):
            a, b = code[i], code[i + 1]
            np.minimum(a, b, out=tmp)
            np.maximum(a, b, out=b)
            a[...] = tmp
    hi = code & ((1 << 31) - 1)
    lo = code >> 31
    if m > 1:
        np.maximum(lo[1:], np.maximum.accumulate(hi, axis=0)[:-1], out=lo[1:])
    lo += base
    hi += base
    return lo, hi


def _union_by_network(segs: list[Seg], sl: slice) -> np.ndarray | None:
    """|union| per row for a few intervals a row (see disjoint_pieces); None where the span is too wide."""
    pieces = disjoint_pieces(segs, sl)
    if pieces is None:
        return None
    lo, hi = pieces
    np.subtract(hi, lo, out=hi)
    np.maximum(hi, 0, out=hi)
    return hi.sum(axis=0)


def _union_of_intervals(flat: list[list[Seg]], rows: int) -> np.ndarray:
    """|union of step-1 intervals| per row by a sweep: sort by start, add what passes the running end."""
    segs = [s for term in flat for s in term]
    out = np.zeros(rows, dtype=np.int64)
    step = max(1, SWEEP_CELLS // max(1, len(segs)))
    big = np.iinfo(np.int64).max // 4
    for lo_row in range(0, rows, step):
        sl = slice(lo_row, lo_row + step)
        if len(segs) <= NETWORK_MAX_SEGS:
            counted = _union_by_network(segs, sl)
            if counted is not None:
                out[sl] = counted
                continue
        lo = np.stack([s.start[sl] for s in segs], axis=1)
        length = np.stack([np.where(s.step == 1, s.count[sl], np.minimum(s.count[sl], 1)) for s in segs], axis=1)
        hi = np.where(length > 0, lo + length, big)
        lo = np.where(length > 0, lo, big)
        lo, hi = sort_pairs(lo, hi)
        reach = np.maximum.accumulate(hi, axis=1)
        before = np.empty_like(reach)
        before[:, 0] = np.iinfo(np.int64).min // 4
        before[:, 1:] = reach[:, :-1]
        add = np.where(lo < big, np.maximum(hi - np.maximum(lo, before), 0), 0)
        out[sl] = add.sum(axis=1)
    return out


def _union_by_bitmap(flat: list[list[Seg]], rows: int, universe: int) -> np.ndarray:
    out = np.zeros(rows, dtype=np.int64)
    step = max(1, BITMAP_CELLS // max(1, universe))
    for lo_row in range(0, rows, step):
        sl = slice(lo_row, lo_row + step)
        hit = np.zeros((min(rows, lo_row + step) - lo_row, universe), dtype=bool)
        for term in flat:
            part = [Seg(s.start[sl], s.step, s.count[sl]) for s in term]
            r, k = enumerate_keys(part, universe)
            ok = (k >= 0) & (k < universe)
            hit[r[ok], k[ok]] = True
        out[sl] = hit.sum(axis=1)
    return out


def count_union(terms: list[list[list[Seg]]], rows: int, universe: int | None = None) -> np.ndarray:
    """|T1 u T2 u ...| per row, where each term is an intersection of disjoint segment lists.

    One term: its intersection. All intervals: a sweep over sorted endpoints. Few terms:
    inclusion-exclusion (every intersection of progressions is a progression, so each summand
    is exact). Many strided terms: a bitmap over the `universe` of keys when that is small.
    """
    if len(terms) == 1:
        return _count_term(terms[0], rows)
    if not any(isinstance(p, ColumnSet) for t in terms for p in t):
        flat = [intersect_all(t) for t in terms]
        if all(_is_intervals(f) for f in flat):
            return _union_of_intervals(flat, rows)
    if len(terms) <= IE_MAX_TERMS:
        out = np.zeros(rows, dtype=np.int64)
        for size in range(1, len(terms) + 1):
            sign = 1 if size % 2 else -1
            for subset in combinations(terms, size):
                parts: list = []
                for term in subset:
                    for part in term:
                        if not any(part is p for p in parts):
                            parts.append(part)
                out += sign * _count_term(parts, rows)
        return out
    if universe is not None and rows * universe <= (1 << 30):
        return _union_by_bitmap([intersect_all([list(p) for p in t]) for t in terms], rows, universe)
    from .params import PatternError

    raise PatternError(
        f"this combination expands into {len(terms)} union terms with strided parts; exact counting is "
        f"limited to {IE_MAX_TERMS} such terms at this length: combine fewer layers or use a shorter n",
        "too_many_terms",
        terms=len(terms),
        limit=IE_MAX_TERMS,
    )


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
