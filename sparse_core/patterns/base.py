"""Mask expressions: primitives (exact row and block segments), unions and intersections.

A primitive answers its questions exactly, vectorised over rows:
  formula                      membership as one pointwise expression of q_idx and kv_idx
  segments(rows, n)            which keys each query row keeps          (element level)
  block_segments(brows, n, B)  which key blocks each query block keeps  (block level)
  kv_rows(cols)                which later rows attend each key         (decode cache)
  segment_count(n)             segments per row: the cost of counting   (budgets)
Causality is handled inside each primitive, so every answer stays exact for causal variants.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from ..segments import Seg, enumerate_keys, intersect, interval, sort_pairs

MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
FOREVER = 1 << 40  # "every later row": a row count no sequence reaches (n <= 2^20)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)


class NeedsNError(LookupError):
    """A formula refers to n (for example the last block), and n is not known."""


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Counter-based hash: reproducible random numbers for any counter, in any chunking."""
    with np.errstate(over="ignore"):
        z = np.asarray(x).astype(np.uint64) + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _stream_key(seed: int, salt: int) -> np.uint64:
    return splitmix64(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(salt))[()]


def uniform_draws(key: np.uint64, ids: np.ndarray, first: int, count: int, bound: np.ndarray) -> np.ndarray:
    """Independent unbiased draws in [0, bound) per id, numbered first .. first+count-1; -1 if rejected.

    Each (seed, id, draw) gets its own splitmix64 output from one combined counter, and Lemire's
    multiply-shift maps its top 32 bits onto [0, bound) with the biased zone rejected.
    """
    draw = np.arange(first, first + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        counter = (ids.astype(np.uint64)[:, None] << np.uint64(22)) + draw[None, :]
        bits = splitmix64(counter * _GAMMA ^ key) >> np.uint64(32)
        s = np.maximum(bound, 1).astype(np.uint64)[:, None]
        m = bits * s
    low = m & np.uint64(0xFFFFFFFF)
    value = (m >> np.uint64(32)).astype(np.int64)
    value[bound <= 0] = -1
    # Lemire: only a low part below s can fall in the biased zone, so the modulo runs on few cells
    near = np.nonzero(low < s)
    if len(near[0]):
        sn = s[near[0], 0] if s.shape[1] == 1 else s[near]
        threshold = (np.uint64(1 << 32) - sn) % sn
        value[near] = np.where(low[near] >= threshold, value[near], -1)
    return value


def _first_distinct(draws: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First `want` distinct valid values of each row, in draw order; and how many were found."""
    order = np.argsort(draws, axis=1, kind="stable")
    srt = np.take_along_axis(draws, order, axis=1)
    first = np.ones_like(srt, dtype=bool)
    first[:, 1:] = srt[:, 1:] != srt[:, :-1]
    first &= srt >= 0
    is_first = np.zeros_like(first)
    np.put_along_axis(is_first, order, first, axis=1)
    rank = np.cumsum(is_first, axis=1)
    keep = is_first & (rank <= want[:, None])
    return np.where(keep, draws, -1), np.minimum(rank[:, -1], want)


_SUBSET_CELLS = 1 << 21  # draws held at once while sampling subsets
FLOYD_MAX_R = 32  # up to here Floyd's algorithm (r draws, r^2/2 compares) beats sorting


def random_subsets(ids: np.ndarray, population: np.ndarray, r: int, seed: int, salt: int) -> np.ndarray:
    """A uniform min(r, population)-subset of range(population[i]) per id, as an (R, r) table, -1 padded.

    Small r: Floyd's algorithm, one independent unbiased draw per (seed, id, step). Large r: the
    first distinct values of a sequence of independent uniform draws (a uniform subset too),
    choosing the keys to leave out where more than half the population is taken. Every row
    depends only on (seed, salt, id), so any chunking gives the same table.
    """
    ids = np.asarray(ids, dtype=np.int64)
    population = np.asarray(population, dtype=np.int64)
    out = np.full((len(ids), r), -1, dtype=np.int64)
    if r == 0 or len(ids) == 0:
        return out
    key = _stream_key(seed, salt)
    take = np.minimum(r, np.maximum(population, 0))
    if r <= FLOYD_MAX_R:
        step = max(1, _SUBSET_CELLS // r)
        for lo in range(0, len(ids), step):
            sl = slice(lo, lo + step)
            out[sl] = _floyd(key, ids[sl], population[sl], take[sl], r)
        return out
    dense = 2 * take > population  # cheaper to choose what to leave out
    step = max(1, _SUBSET_CELLS // (2 * r + 16))
    for lo in range(0, len(ids), step):
        sl = slice(lo, lo + step)
        pid, pop, want = ids[sl], population[sl], take[sl]
        sparse_rows = np.flatnonzero(~dense[sl])
        if len(sparse_rows):
            out[lo + sparse_rows] = _draw_subsets(key, pid[sparse_rows], pop[sparse_rows], want[sparse_rows], r)
        dense_rows = np.flatnonzero(dense[sl])
        if len(dense_rows):
            out[lo + dense_rows] = _complement_subsets(key, pid[dense_rows], pop[dense_rows], want[dense_rows], r)
    return out


def _floyd(key, ids, pop, take, r):
    """Floyd: for j = P-take .. P-1 draw u in [0, j]; keep u, or j when u is already kept."""
    out = np.full((len(ids), r), -1, dtype=np.int64)
    for k in range(r):
        j = pop - take + k
        active = k < take
        u = uniform_draws(key, ids, k, 1, np.where(active, j + 1, 0))[:, 0]
        attempt = 1
        while True:  # a rejected draw (probability < 2^-11) is redrawn from a fresh counter
            redo = np.flatnonzero(active & (u < 0))
            if len(redo) == 0:
                break
            u[redo] = uniform_draws(key, ids[redo], k + (attempt << 10), 1, j[redo] + 1)[:, 0]
            attempt += 1
        if k:
            repeat = (out[:, :k] == u[:, None]).any(axis=1)
            u = np.where(repeat, j, u)
        out[:, k] = np.where(active, u, -1)
    return out


def _draw_subsets(key, ids, pop, want, r):
    table = np.full((len(ids), r), -1, dtype=np.int64)
    todo = np.arange(len(ids))
    draws = np.zeros((len(ids), 0), dtype=np.int64)
    used = 0
    extra = r + 8
    while len(todo):
        fresh = uniform_draws(key, ids[todo], used, extra, pop[todo])
        draws = np.concatenate([draws[todo] if draws.shape[0] != len(todo) else draws, fresh], axis=1)
        picked, found = _first_distinct(draws, want[todo])
        done = found >= want[todo]
        rows = todo[done]
        vals = picked[done]
        vals = np.sort(np.where(vals >= 0, vals, np.iinfo(np.int64).max), axis=1)[:, :r]
        table[rows] = np.where(vals == np.iinfo(np.int64).max, -1, vals)
        used += extra
        todo, draws = todo[~done], draws[~done]
        extra *= 2
    return table


def _complement_subsets(key, ids, pop, want, r):
    width = int(pop.max())
    leave = pop - want
    gone = _draw_subsets(key, ids, pop, leave, max(1, int(leave.max(initial=0))))
    mask = np.arange(width)[None, :] < pop[:, None]
    rows = np.repeat(np.arange(len(ids)), gone.shape[1])
    cols = gone.ravel()
    ok = cols >= 0
    mask[rows[ok], cols[ok]] = False
    vals = np.where(mask, np.arange(width)[None, :], np.iinfo(np.int64).max)
    vals = np.sort(vals, axis=1)[:, :r]
    vals = np.where(vals == np.iinfo(np.int64).max, -1, vals)
    if vals.shape[1] < r:
        vals = np.pad(vals, ((0, 0), (0, r - vals.shape[1])), constant_values=-1)
    return vals


def nblocks(n: int, block: int) -> int:
    """Number of blocks of size `block` covering n tokens (the last may be partial)."""
    return -(-n // block)


def window_reach(w: int, block: int) -> int:
    """How many blocks away a key block can still hold a key within distance w."""
    return 0 if w <= 0 else (w - 1) // block + 1


def clip(segs: list[Seg], n: int) -> list[Seg]:
    """Segments restricted to keys 0 .. n-1."""
    full = interval(0, n, len(segs[0].start))
    return [intersect(s, full) for s in segs]


def block_bounds(brows: np.ndarray, n: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token of each query block (the last block may be partial)."""
    return brows * block, np.minimum((brows + 1) * block, n) - 1


def merge_intervals(lo: np.ndarray, hi: np.ndarray) -> list[Seg]:
    """Union of m half-open intervals per row as disjoint step-1 segments. lo, hi: (R, m)."""
    if lo.shape[1] == 0:
        return [Seg(np.zeros(len(lo), dtype=np.int64), 1, np.zeros(len(lo), dtype=np.int64))]
    big = np.iinfo(np.int64).max // 4
    empty = hi <= lo
    lo = np.where(empty, big, lo)
    hi = np.where(empty, big, hi)
    lo, hi = sort_pairs(lo, hi)
    reach = np.maximum.accumulate(hi, axis=1)
    starts = np.ones_like(lo, dtype=bool)
    starts[:, 1:] = lo[:, 1:] > reach[:, :-1]
    # the end of each run is the reach just before the next run starts (or the row's last reach)
    nxt = np.where(starts, np.arange(lo.shape[1])[None, :], lo.shape[1])
    next_start = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
    after = np.empty_like(next_start)
    after[:, :-1] = next_start[:, 1:]
    after[:, -1] = lo.shape[1]
    run_end = np.take_along_axis(reach, after - 1, axis=1)
    valid = starts & (lo < big)
    count = np.where(valid, run_end - lo, 0)
    width = max(1, int(valid.sum(axis=1).max(initial=0)))
    if width < lo.shape[1]:  # pack each row's runs to the left: one segment slot per run, not per input
        order = np.argsort(~valid, axis=1, kind="stable")[:, :width]
        lo = np.take_along_axis(lo, order, axis=1)
        count = np.take_along_axis(count, order, axis=1)
    lo = np.where(count > 0, lo, 0)
    return [Seg(lo[:, c].copy(), 1, count[:, c].copy()) for c in range(lo.shape[1])]


def shifted_block_ranges(brows, n, block, shifts, causal):
    """Key blocks hit by keys i - m for i in each query block and each of a few shifts m (exact)."""
    shifts = np.asarray(shifts, dtype=np.int64)
    shifts = shifts[(shifts > -n) & (shifts < n)]
    if causal:
        shifts = shifts[shifts >= 0]
    qlo, qhi = block_bounds(brows, n, block)
    lo_keys = np.maximum(qlo[:, None] - shifts[None, :], 0)
    hi_keys = np.minimum(qhi[:, None] - shifts[None, :], n - 1)
    if causal:
        hi_keys = np.minimum(hi_keys, qhi[:, None])
    lo_b = lo_keys // block
    hi_b = np.where(hi_keys >= lo_keys, hi_keys // block + 1, lo_b)
    return merge_intervals(lo_b, hi_b)


def stack_chunks(chunks: list[list[Seg]]) -> list[Seg]:
    """Segment lists of consecutive row chunks joined into one list (padded with empty segments)."""
    if len(chunks) == 1:
        return chunks[0]
    width = max(len(c) for c in chunks)
    out = []
    for slot in range(width):
        starts, counts, steps = [], [], set()
        for c in chunks:
            rows = len(c[0].start)
            if slot < len(c):
                starts.append(c[slot].start)
                counts.append(c[slot].count)
                steps.add(c[slot].step)
            else:
                starts.append(np.zeros(rows, dtype=np.int64))
                counts.append(np.zeros(rows, dtype=np.int64))
        if len(steps) > 1:
            raise ValueError("chunks disagree on a segment's step")
        out.append(Seg(np.concatenate(starts), steps.pop() if steps else 1, np.concatenate(counts)))
    return out


KV_CHUNK = 1 << 16  # keys whose reading rows are intersected at once
KV_PAIRS = 1 << 22  # (row, key) pairs a decode-cache count may test against random tables
KV_PAIR_WORK = 16  # work units per pair tested: its row's table drawn, looked up and matched (~0.4 us here)


def _same_key(p) -> tuple:
    return type(p), tuple((f.name, getattr(p, f.name)) for f in fields(p))


def _key_of(p):
    try:
        key = _same_key(p)
        hash(key)
        return key
    except TypeError:  # unhashable parameters: only the object itself is known to equal itself
        return ("id", id(p))


def _distinct_terms(expr) -> list[tuple]:
    """The terms with equal primitives (same type and parameters: the same mask) counted once."""
    out = []
    for term in expr.terms():
        parts: dict = {}
        for p in term:
            parts.setdefault(_key_of(p), p)
        out.append(tuple(parts.values()))
    return out


def simple_terms(expr) -> list[tuple]:
    """The union of intersections with repeats removed and absorbed terms dropped: the same mask.

    Equal primitives in a term are one (A ∩ A = A), equal terms are one, and a term whose parts
    include all of another term's parts is inside it (A ∪ (A ∩ B) = A). fixed ∩ fixed expands to 4
    terms and simplifies to 2 (window ∪ summary); nothing here lists a segment.
    """
    keyed = []
    for term in _distinct_terms(expr):
        keys = frozenset(_key_of(p) for p in term)
        keyed.append((keys, term))
    out, seen = [], []
    for keys, term in sorted(keyed, key=lambda kt: len(kt[0])):  # smaller terms absorb larger ones
        if any(k <= keys for k in seen):
            continue
        seen.append(keys)
        out.append(term)
    order = {id(t): i for i, (_, t) in enumerate(keyed)}
    return sorted(out, key=lambda t: order[id(t)])  # first-use order, as terms() gives


def meet(a: list[Seg], b: list[Seg]) -> list[Seg]:
    """Intersection of two disjoint progression lists, dropping pieces that are empty on every row."""
    out = []
    for x in a:
        for y in b:
            z = intersect(x, y)
            if z.count.any():
                out.append(z)
    return out or [Seg(a[0].start, 1, np.zeros_like(a[0].count))]


class Expr:
    """A mask expression over query index i and key index j."""

    data_dependent: bool = False

    def terms(self) -> list[tuple[Primitive, ...]]:
        """Disjunctive normal form: a union of intersections of primitives."""
        raise NotImplementedError

    def primitives(self) -> list[Primitive]:
        """Every distinct primitive of the expression, in first-use order."""
        seen: list[Primitive] = []
        for term in self.terms():
            for p in term:
                if not any(p is q for q in seen):
                    seen.append(p)
        return seen

    @property
    def causal_mask(self) -> bool:
        """True when every term keeps only j <= i."""
        return all(any(p.causal for p in term) for term in self.terms())

    def kv_retained(self, n: int) -> int:
        """Distinct keys 0..n-1 that the newest query (row n-1) or any later one attends: the decode cache.

        Decoding, row i is the newest query of a sequence of i + 1 tokens, so a later row reads the
        mask at its own length. Exact for every union, intersection and nesting: per term, the rows
        >= n - 1 that may read key j are the intersection of the parts' `kv_rows` (progressions meet
        in progressions), pruned of pieces empty for the whole chunk. Random parts are read from their
        own tables on the finitely many rows the other parts allow; where those rows never end (or a
        term is random alone), some later row reads key j almost surely, so j is kept. A bidirectional
        or data-dependent mask keeps all n.
        """
        if self.data_dependent or not self.causal_mask:
            return n
        kept = np.zeros(n, dtype=bool)
        for term in _distinct_terms(self):
            if len(term) == 1 and term[0].kv_every_key:
                return n  # one part that alone reads every key forever: no need to list rows
            drawn = [p for p in term if hasattr(p, "decode_reads")]
            for lo in range(0, n, KV_CHUNK):
                cols = np.arange(lo, min(n, lo + KV_CHUNK), dtype=np.int64)
                live = ~kept[lo : lo + len(cols)]
                if not live.any():
                    continue
                rows = [interval(np.maximum(cols, n - 1), cols + FOREVER, len(cols))]
                for p in term:  # a random part's own kv_rows say which keys it can ever draw
                    rows = meet(rows, p.kv_rows(cols))
                if not drawn:
                    kept[lo : lo + len(cols)] |= sum(s.count for s in rows) > 0
                    continue
                far = np.zeros(len(cols), dtype=bool)  # rows without end: a later draw picks j almost surely
                for s in rows:
                    far |= (s.count > 0) & (s.last >= FOREVER // 2)
                kept[lo : lo + len(cols)] |= far
                finite = [Seg(s.start, s.step, np.where(far, 0, s.count)) for s in rows]
                if sum(int(s.count.sum()) for s in finite) <= KV_PAIRS:
                    # few (row, key) candidates: ask the random parts about each
                    ci, i = enumerate_keys(finite, KV_PAIRS)  # counts already bounded by KV_PAIRS in all
                    ok = np.ones(len(i), dtype=bool)
                    for p in drawn:
                        ok &= p.decode_reads(i, cols[ci])
                    kept[lo + ci[ok]] = True
                    continue
                # many candidates (random keys within a wide window): list what the random rows draw instead
                driver = next((p for p in drawn if hasattr(p, "decode_pairs")), None)
                top = max(int(np.where(s.count > 0, s.last, -1).max(initial=-1)) for s in finite)
                if driver is None or (top - n + 2) * driver.random_keys > KV_PAIRS:
                    from ..params import PatternError

                    raise PatternError(
                        f"the decode cache of this combination at n = {n:,} would test more than {KV_PAIRS:,} "
                        "random (row, key) pairs: lower n, the window or the random keys",
                        "kv_cost",
                        n=f"{n:,}",
                        limit=f"{KV_PAIRS:,}",
                    )
                i, j = driver.decode_pairs(n - 1, top)
                inside = (j >= cols[0]) & (j <= cols[-1]) & live[np.clip(j - cols[0], 0, len(cols) - 1)]
                i, j = i[inside], j[inside]
                ok = np.zeros(len(i), dtype=bool)
                pos = j - cols[0]
                for s in finite:
                    at = i - s.start[pos]
                    ok |= (at >= 0) & (at % s.step == 0) & (at // s.step < s.count[pos])
                for p in drawn:
                    if p is not driver:
                        ok &= p.decode_reads(i, j)
                kept[j[ok]] = True
        return int(kept.sum())

    def kv_cost(self, n: int) -> int:
        """Work units of kv_retained at n tokens (keys x intersected row pieces, plus random pairs tested).

        A term with random parts tests the rows its other parts allow: fewer than reach^2 / 2 pairs
        (keys near the end times rows within reach), or reach x r keys drawn, whichever the count uses.
        """
        if self.data_dependent or not self.causal_mask:
            return 0
        total = 0
        for prims in _distinct_terms(self):
            if len(prims) == 1 and prims[0].kv_every_key:
                return total
            prod = 1
            for p in prims:
                prod *= max(1, p.kv_segment_count())
            # progressions (dilated, stride rows) meet by congruences: ~3x an interval's pass
            strided = any(not p.interval_segments for p in prims)
            total += n * prod * len(prims) * (3 if strided else 1)
            drawn = [p for p in prims if hasattr(p, "decode_reads")]
            reaches = [p.kv_reach() for p in prims if p not in drawn]
            reaches = [r for r in reaches if r is not None]
            if drawn and reaches:
                reach = min(min(reaches), n)
                pairs = min(reach, n) * reach
                if pairs > KV_PAIRS:
                    pairs = reach * max(int(getattr(p, "random_keys", 1 << 30)) for p in drawn)
                    if pairs > KV_PAIRS:
                        return 1 << 62  # kv_retained refuses: priced so that the budget refuses first
                total += KV_PAIR_WORK * pairs
        return total

    def cost_estimate(self, n: int, rows: int | None = None, window: bool = False) -> int:
        """Work units of counting `rows` rows (default n) of this expression exactly at n tokens.

        The union planner (segments.union_plan) prices the method the engine will use: one term,
        a sweep over intervals, inclusion-exclusion, or per-part bitmaps. window: every term also
        meets a key window (the exact count inside a block).
        """
        from ..segments import PartShape, union_plan

        rows = n if rows is None else rows
        shapes = []
        for term in simple_terms(self):
            parts = []
            for p in term:
                if hasattr(p, "materialised_slots"):
                    parts.append(PartShape(_key_of(p), int(p.materialised_slots(n)), "columns"))
                else:
                    kind = "interval" if p.interval_segments else "progression"
                    parts.append(PartShape(_key_of(p), max(1, int(p.segment_count(n))), kind))
            if window:
                parts.append(PartShape("key window", 1, "interval"))
            shapes.append(parts)
        chunk = max(1, min(rows, 1 << 16))
        method, work, _ = union_plan(shapes, chunk, n)
        if method == "refuse":
            return 1 << 62
        return work * -(-rows // chunk)

    def __or__(self, other: Expr) -> Expr:
        return Union((self, other))

    def __and__(self, other: Expr) -> Expr:
        return Intersection((self, other))


@dataclass(frozen=True, eq=False)
class Primitive(Expr):
    """One mask of the library. Subclasses set `formula` (or `predicate`) and the segment methods."""

    causal: bool = field(default=False, kw_only=True)
    # Membership of (q_idx, kv_idx) as one expression valid for NumPy arrays and torch tensors;
    # {name} placeholders are filled from formula_values(n). None: a table-driven primitive.
    formula: ClassVar[str | None] = None
    # True when every segment is an interval (step 1), so unions can be counted by a sweep
    interval_segments: ClassVar[bool] = True

    def terms(self):
        return [(self,)]

    def formula_values(self, n: int | None) -> dict:
        """Values for the formula's placeholders (the dataclass fields, plus any derived from n)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def source(self, n: int | None = None) -> str | None:
        """Pointwise source of the mask (FlexAttention mask_mod body), or None for table-driven ones."""
        if self.formula is None:
            return None
        try:
            text = self.formula.format(**self.formula_values(n))
        except NeedsNError:
            return None
        return f"({text}) & (kv_idx <= q_idx)" if self.causal else text

    def predicate(self, q_idx, kv_idx, n: int):
        """Pointwise membership for broadcastable index arrays (NumPy or torch)."""
        text = self.source(n)
        if text is None:
            raise NotImplementedError(f"{type(self).__name__} has no formula")
        return eval(text, {"abs": abs}, {"q_idx": q_idx, "kv_idx": kv_idx})  # noqa: S307 - from validated ints

    def segments(self, rows: np.ndarray, n: int) -> list[Seg]:
        """Keys of each query row as disjoint progressions."""
        raise NotImplementedError

    def block_segments(self, brows: np.ndarray, n: int, block: int) -> list[Seg]:
        """Key blocks holding at least one kept key, per query block, as disjoint progressions."""
        raise NotImplementedError

    def kv_rows(self, cols: np.ndarray) -> list[Seg]:
        """Rows i >= j that attend key j, per key (causal use); FOREVER-long when unbounded."""
        return [interval(cols, cols + FOREVER, len(cols))]

    def segment_count(self, n: int) -> int:
        """Segments per row that `segments` returns at n tokens (the counting cost per row)."""
        return 1

    def kv_segment_count(self) -> int:
        """Progressions per key that `kv_rows` returns (the decode-cache count's cost per key)."""
        return 1

    # True when, decoding, some later row reads every key (a stride, logsparse, random keys)
    kv_every_key: ClassVar[bool] = False

    def kv_reach(self) -> int | None:
        """How many rows after key j the last row reading it can lie (None: no bound, some row forever)."""
        return None

    def cost_estimate(self, n: int, rows: int | None = None, window: bool = False) -> int:
        """Rows x segments an exact count of `rows` rows (default n) touches at n tokens (for request budgets)."""
        return (n if rows is None else rows) * max(1, self.segment_count(n)) * (2 if window else 1)

    def _causal_clip(self, segs: list[Seg], rows: np.ndarray) -> list[Seg]:
        if not self.causal:
            return segs
        limit = interval(0, rows + 1, len(rows))
        return [intersect(s, limit) for s in segs]


@dataclass(frozen=True, eq=False)
class Union(Expr):
    """Keys kept by any of the parts."""

    parts: tuple[Expr, ...]

    @property
    def data_dependent(self):  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        return [t for p in self.parts for t in p.terms()]


@dataclass(frozen=True, eq=False)
class Intersection(Expr):
    """Keys kept by every part."""

    parts: tuple[Expr, ...]

    @property
    def data_dependent(self):  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        out = [()]
        for p in self.parts:
            out = [a + b for a in out for b in p.terms()]
        return out


# One explorer rerun asks for the same data-dependent mask three times (row degrees, block layout,
# view), each scoring all n^2 pairs again. A few masks are kept, keyed by the pattern's parameters
# and a digest of the vectors: a 4096^2 mask is 16 MiB, so the bound holds about two of them.
DENSE_MEMO_BYTES = 40 << 20
_dense_memo: OrderedDict[tuple, np.ndarray] = OrderedDict()
_dense_memo_lock = threading.Lock()
# Other memos of dense masks built from these (analysis keeps whole expressions): cleared together.
DENSE_MEMO_CLEARERS: list = []


def _digest(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    h = hashlib.blake2b(repr((a.dtype.str, a.shape)).encode(), digest_size=16)
    h.update(a.view(np.uint8) if a.size else b"")
    return h.digest()


def clear_dense_memo() -> None:
    """Forget every memoised data-dependent mask (tests, memory pressure)."""
    with _dense_memo_lock:
        _dense_memo.clear()
    for clear in DENSE_MEMO_CLEARERS:
        clear()


def _memoised(method):
    """Wrap a `dense(q, k)` so equal parameters and equal vectors score once; callers get a private copy."""

    def dense(self, q, k):
        q, k = np.asarray(q), np.asarray(k)
        try:
            params = tuple((f.name, getattr(self, f.name)) for f in fields(self))
            key = (type(self), params, _digest(q), _digest(k))
            hash(key)
        except TypeError:  # unhashable parameters: nothing to key on
            return method(self, q, k)
        with _dense_memo_lock:
            hit = _dense_memo.get(key)
            if hit is not None:
                _dense_memo.move_to_end(key)
        if hit is not None:
            return hit.copy()
        mask = method(self, q, k)
        if mask.nbytes <= DENSE_MEMO_BYTES // 2:
            kept = mask.copy()
            kept.flags.writeable = False
            with _dense_memo_lock:
                _dense_memo[key] = kept
                total = sum(m.nbytes for m in _dense_memo.values())
                while total > DENSE_MEMO_BYTES and len(_dense_memo) > 1:
                    total -= _dense_memo.popitem(last=False)[1].nbytes
        return mask

    dense.__doc__ = method.__doc__
    dense.__name__ = method.__name__
    dense.__qualname__ = method.__qualname__
    dense.__wrapped__ = method
    return dense


class DataDependent(Primitive):
    """A pattern chosen from the tokens' query/key vectors; materialised densely (n is bounded).

    Subclasses define `dense(q, k)`; it is memoised (see DENSE_MEMO_BYTES), so it must depend on the
    dataclass fields and the vectors only.
    """

    data_dependent = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "dense" in cls.__dict__:
            cls.dense = _memoised(cls.__dict__["dense"])

    def dense(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:  # (n, n) bool
        """The (n, n) mask chosen from these vectors."""
        raise NotImplementedError

    def segments(self, rows, n):  # pragma: no cover - the engine routes these through dense()
        raise TypeError("data-dependent patterns are evaluated densely")

    block_segments = segments


def progression_block_segments(brows: np.ndarray, n: int, block: int, d: int, mlo: int, mhi: int) -> list[Seg]:
    """Key blocks holding a key i - m*d (i in the query block, mlo <= m <= mhi), exactly.

    Full blocks depend only on the block distance δ = qb - kb, and the δ that some m*d reaches
    repeat with period d/g (g = gcd(d, B)) every B/g values of m; so a row is at most 3*B/g
    progressions whatever the window. The partial last query block and last key block are
    checked on their own.
    """
    from math import gcd

    rows = len(brows)
    nb = nblocks(n, block)
    h = n - (nb - 1) * block
    reach = (n - 1) // d + 1
    mlo, mhi = max(mlo, -reach), min(mhi, reach)
    if mhi < mlo:
        return [interval(0, 0, rows)]
    g = gcd(d, block)
    period_m, period_d = block // g, d // g
    full_cols = nb if h == block else nb - 1

    def residues(up: int) -> np.ndarray:
        m0 = np.arange(period_m, dtype=np.int64)
        dlo = -((-(m0 * d - up + 1)) // block)
        dhi = (m0 * d + block - 1) // block
        ulo = -((-(mlo - m0)) // period_m)
        uhi = (mhi - m0) // period_m
        out = []
        for k in range(3):
            v = dlo + k
            ok = (v <= dhi) & (ulo <= uhi)
            r = v % period_d
            u0 = (v - r) // period_d
            out.append(np.stack([r[ok], (u0 + ulo)[ok], (u0 + uhi)[ok]], axis=1))
        e = np.concatenate(out)
        if len(e) == 0:
            return e
        e = e[np.lexsort((e[:, 1], e[:, 0]))]
        # merge u-intervals of one residue that touch or overlap: a running maximum of the ends
        # that restarts at each residue (residues are sorted, so an offset per residue does it)
        big, shift = 1 << 24, 1 << 22
        key = e[:, 0] * big + e[:, 2] + shift
        prev = np.full(len(e), -1, dtype=np.int64)
        prev[1:] = np.maximum.accumulate(key)[:-1]
        same = np.zeros(len(e), dtype=bool)
        same[1:] = e[1:, 0] == e[:-1, 0]
        prev_end = prev - e[:, 0] * big - shift
        starts = ~same | (e[:, 1] > prev_end + 1)
        at = np.flatnonzero(starts)
        return np.stack([e[at, 0], e[at, 1], np.maximum.reduceat(e[:, 2], at)], axis=1)

    full = residues(block)
    last = residues(h) if h != block else full
    slots = max(len(full), len(last))
    is_last = brows == nb - 1
    segs = []
    cols = interval(0, full_cols, rows)
    for c in range(slots):

        def pick(table, c=c):
            if c >= len(table):
                return np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64)
            r, a, b = table[c]
            return brows - (r + b * period_d), np.full(rows, b - a + 1, dtype=np.int64)

        s_full, c_full = pick(full)
        s_last, c_last = pick(last)
        seg = Seg(np.where(is_last, s_last, s_full), period_d, np.where(is_last, c_last, c_full))
        segs.append(intersect(seg, cols))
    if full_cols < nb:  # the partial last key block, checked exactly per query block
        qlo, qhi = block_bounds(brows, n, block)
        dlo = qlo - (n - 1)
        dhi = qhi - (nb - 1) * block
        first = np.maximum(-((-dlo) // d), mlo)
        lastm = np.minimum(dhi // d, mhi)
        segs.append(Seg(np.full(rows, nb - 1, dtype=np.int64), 1, (first <= lastm).astype(np.int64)))
    return segs or [interval(0, 0, rows)]
