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
from math import gcd, lcm

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

    def __init__(
        self,
        count_in,
        materialise,
        rows: int,
        limit: np.ndarray | None = None,
        slots: int | None = None,
        bitmap=None,
        contains=None,
    ):
        self.count_in = count_in
        self.contains = contains  # contains(row positions, keys) -> bool per pair, without listing the set
        self.bitmap = bitmap  # bitmap(sl, universe) -> (rows in sl, universe) bool, where the owner can draw it
        self._materialise = materialise
        self.rows = rows
        self.limit = limit  # per-row exclusive upper bound (causal), or None
        self.slots = slots  # segments per row once materialised (None: unknown, priced as the universe)
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
# rows x pieces held at once by the fold's sweeps: its sort, running reach and closed-form meets hold ~100 bytes a
# cell, above the folded pieces it keeps for every row; at 2^21 cells (strided(4) ∪ strided(2)) ∩ (dilated(2^20, 2) ∪
# random(8)) at 59,048 held 302 MB (a probe)
FOLD_CELLS = 1 << 20
# rows x keys held at once by the bitmap count. 2^24 was a 64 MB int32 cover per part, faulted in afresh for every
# chunk: (random ∪ neighborhood(32, 60)) ∩ random at 125,166, block 16 ran 1.65 s, 0.36 s at 2^20 (which stays cached)
BITMAP_CELLS = 1 << 20


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
    span: tuple[int, int] | None = None  # (smallest start, largest end) of the chunk's live intervals
    for st, ln in zip(starts, lengths, strict=True):
        live = ln > 0
        if live.any():
            lo_, hi_ = int(st[live].min()), int((st + ln)[live].max())
            span = (lo_, hi_) if span is None else (min(span[0], lo_), max(span[1], hi_))
    if span is None:
        return np.zeros((m, rows), dtype=np.int64), np.zeros((m, rows), dtype=np.int64)
    base, top = span
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


def _part_bitmap(part, sl: slice, height: int, universe: int) -> np.ndarray:
    """(height, universe) bool: the keys one part keeps in rows sl. Intervals are two marks in a
    difference array filled by one running sum; progressions are listed key by key; a ColumnSet is
    read from its closed form, every key at once."""
    if isinstance(part, ColumnSet):
        if part.bitmap is not None:
            return part.bitmap(sl, universe)
        out = np.zeros((height, universe), dtype=bool)
        step = max(1, BITMAP_CELLS // max(1, part.rows))
        for k0 in range(0, universe, step):  # (keys, all rows) at a time against the rows' own limits
            keys = np.arange(k0, min(universe, k0 + step), dtype=np.int64)[:, None]
            lo = np.broadcast_to(keys, (len(keys), part.rows))
            out[:, k0 : k0 + len(keys)] = (part.clipped_count(lo, lo + 1) > 0).T[sl]
        return out
    cover = None  # (rows, keys + 1) int32: +1 at starts, -1 past ends; only where some segment holds 2+ keys
    base = np.arange(height, dtype=np.int64) * (universe + 1)
    hit = None
    for s in part:
        start, count = s.start[sl], s.count[sl]
        if int(count.max(initial=0)) <= 1:  # single keys (random parts: r of them a row): set, not marked
            live = np.flatnonzero((count > 0) & (start >= 0) & (start < universe))
            if hit is None:
                hit = np.zeros((height, universe), dtype=bool)
            hit[live, start[live]] = True
            continue
        if s.step == 1:
            if cover is None:
                cover = np.zeros((height, universe + 1), dtype=np.int32)
            flat_cover = cover.ravel()
            live = count > 0
            lo = np.clip(start[live], 0, universe)
            hi = np.clip(start[live] + count[live], 0, universe)
            # one mark a row per segment, so no index repeats within a call: a plain fancy increment is exact, and
            # ~26x faster than np.add.at (68 ns an element here: 512 interval slots a row ran 46 ns a bitmap unit)
            flat_cover[base[live] + lo] += 1
            flat_cover[base[live] + hi] -= 1
            continue
        r, k = enumerate_keys([Seg(start, s.step, count)], universe)
        ok = (k >= 0) & (k < universe)
        if hit is None:
            hit = np.zeros((height, universe), dtype=bool)
        hit[r[ok], k[ok]] = True
    if cover is None:  # single keys and listed progressions only: no running sum (random parts' key blocks)
        return hit if hit is not None else np.zeros((height, universe), dtype=bool)
    # in place and in int32: numpy's default cumsum widens to int64, 3.7x slower on (3,000, 3,001) cells here
    np.cumsum(cover, axis=1, dtype=np.int32, out=cover)
    filled = cover[:, :universe] > 0
    if hit is not None:
        filled |= hit
    return filled


def _union_by_bitmap(terms: list[list], rows: int, universe: int, codes: list | None = None) -> np.ndarray:
    """|union of intersections| per row on (rows, universe) bitmaps in row chunks: one bitmap per
    distinct part, ANDed within a term and ORed across terms. No product of segment lists is formed,
    so the cost is rows x universe x parts whatever the nesting. With `codes`, also appends the
    row * universe + key code of every kept cell."""
    out = np.zeros(rows, dtype=np.int64)
    step = max(1, BITMAP_CELLS // max(1, universe))
    for lo_row in range(0, rows, step):
        sl = slice(lo_row, lo_row + step)
        height = min(rows, lo_row + step) - lo_row
        maps: dict[int, np.ndarray] = {}
        union: np.ndarray | None = None
        for term in terms:
            acc: np.ndarray | None = None
            for part in term:
                if id(part) not in maps:
                    maps[id(part)] = _part_bitmap(part, sl, height, universe)
                acc = maps[id(part)].copy() if acc is None else np.logical_and(acc, maps[id(part)], out=acc)
            if acc is not None:  # a term always has a part; an empty one keeps nothing
                union = acc if union is None else np.logical_or(union, acc, out=union)
        if union is None:  # no terms: nothing kept
            continue
        out[sl] = union.sum(axis=1)
        if codes is not None:
            codes.append(np.flatnonzero(union) + lo_row * universe)
    return out


def union_pairs(terms: list[list], rows: int, universe: int) -> np.ndarray | None:
    """Sorted row * universe + key codes of the union's cells by bitmaps, or None where intersecting
    the terms' segment lists is cheaper (union_plan's choice)."""
    shapes = [[shape_of(id(p), p, universe, list_columns=False) for p in t] for t in terms]
    if union_plan(shapes, rows, universe)[0] != "bitmap":
        return None
    codes: list = []
    _union_by_bitmap(terms, rows, universe, codes)
    return np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)


# -- choosing how to count a union, and what it costs --------------------------------------------
# One work unit is one row x segment-slot step of intersect / sweep (measured 30-60 million per CPU
# second here). The bitmap count touches one byte per (row, key) cell and lists every element of
# every term: cells are vectorised byte operations, about BITMAP_CELLS_PER_UNIT to a unit.
BITMAP_CELLS_PER_UNIT = 16
ELEMENTS_PER_UNIT = 4
SWEEP_FACTOR = 3  # the sweep sorts and scans every interval: about three passes
PASS_WORK = {"interval": 1, "progression": 3, "columns": 2}
# An interval intersect pass (two maxima, a minimum and a clip per row: ~2 ns here) against a unit of the
# sweep (~12 ns a row and result segment, measured with 1-4 parts a term at load 20): within a sweep, passes
# are priced at a quarter of a unit
INTERVAL_PASS_SHARE = 4


@dataclass(frozen=True)
class PartShape:
    """What counting needs to know of one part of a term: its identity, segment slots and kind."""

    key: object
    slots: int
    kind: str  # "interval" (step 1 or single keys), "progression", or "columns" (a ColumnSet)
    # for the fold count: the lcm of the part's segment steps (1: intervals, 0: unknown) and the widest
    # extent of one segment in keys (step x count; 0: unknown)
    step: int = 0
    span: int = 0
    # every segment holds at most one key a row (random keys and blocks): its bitmap is set key by key, with no
    # running sum over the cells (_part_bitmap)
    singles: bool = False


FOLD_COLUMN_SLOTS = 64  # a column set of at most this many segments a row is listed to price the fold count


def _steps_and_span(segs: list[Seg]) -> tuple[int, int]:
    """(lcm of the steps of segments holding 2+ keys somewhere, widest step x count) of a segment list."""
    step, span = 1, 1
    for s in segs:
        most = int(s.count.max(initial=0))
        if s.step > 1 and most > 1:
            step = lcm(step, s.step)
        span = max(span, s.step * most if s.step > 1 else most)
    return step, span


def shape_of(key, segs, universe: int | None, list_columns: bool = True) -> PartShape:
    """The shape of an actual part (a segment list or a ColumnSet). list_columns: a column set of few
    segments may be listed to learn its steps (block-level column sets list a (rows, blocks) table: not them)."""
    if isinstance(segs, ColumnSet):
        slots = segs.slots if segs.slots is not None else max(1, universe or 1)
        step = span = 0
        if list_columns and slots <= FOLD_COLUMN_SLOTS:  # few segments: list them (the fold would anyway)
            step, span = _steps_and_span(segs.segs())
        return PartShape(key, slots, "columns", step, span)
    step, span = _steps_and_span(segs)
    kind = "interval" if _is_intervals(segs) else "progression"
    singles = all(int(s.count.max(initial=0)) <= 1 for s in segs)
    return PartShape(key, max(1, len(segs)), kind, step, span, singles)


def _term_slots(parts: list[PartShape]) -> int:
    """Segment slots per row an intersection holds at once (what its tables weigh)."""
    prod = 1
    for p in parts:
        if p.kind != "columns" or sum(q.kind == "columns" for q in parts) > 1:
            prod *= p.slots
    return prod


def _term_cost(parts: list[PartShape]) -> tuple[int, bool]:
    """(work per row, result is intervals) of counting one intersection the way _count_term does."""
    closed = [p for p in parts if p.kind == "columns"]
    rest = [p for p in parts if p.kind != "columns"]
    prod = 1
    for p in rest:
        prod *= p.slots
    if len(closed) == 1 and (not rest or all(p.kind == "interval" for p in rest)):
        return prod * PASS_WORK["columns"], False  # the closed-form count per interval of the rest
    for p in closed:
        prod *= p.slots
    # every part after the first is one intersect pass over the product so far; a progression's pass solves
    # congruences and a column set's counts in closed form, each several interval passes (measured ~3-4x)
    passes = sum(PASS_WORK[p.kind] for p in parts[1:]) or 1
    return prod * passes, not closed and all(p.kind == "interval" for p in rest)


def union_plan(terms: list[list[PartShape]], rows: int, universe: int | None) -> tuple[str, int, int]:
    """(method, work units, largest segment table per row) of counting a union of intersections.

    The same function chooses the engine's method (count_union) and prices a request before it
    runs (limits), so a price is the work the engine will do. Methods: one term; a sweep over
    sorted intervals; inclusion-exclusion over at most IE_MAX_TERMS terms; a bitmap over the keys
    when rows x universe is small; "refuse" when none fits.
    """
    costs = [_term_cost(t) for t in terms]
    options = []
    if len(terms) == 1:
        options.append(("term", rows * costs[0][0], _term_slots(terms[0])))
    elif all(iv for _, iv in costs):
        # the sweep reads the terms' results (a term's product of slots), not its parts: intersecting intervals
        # is paid once per term of several parts, at INTERVAL_PASS_SHARE of a unit per pass, and the sort and
        # scan once per result segment (a 4-layer intersection priced its three intersect passes at the
        # sweep's factor: 12 units a row for 59 ns, where a union of single parts runs at ~12 ns a unit)
        held = sum(_term_slots(t) for t in terms)
        inter = sum(w for (w, _), t in zip(costs, terms, strict=True) if len(t) > 1) // INTERVAL_PASS_SHARE
        # up to NETWORK_MAX_SEGS intervals a row a sorting network runs along rows (~1.5x faster); past it each
        # row is sorted, log(held) passes
        options.append(("sweep", rows * (inter + _sweep_factor(held, NETWORK_MAX_SEGS) * held), held))
    elif len(terms) <= IE_MAX_TERMS:
        work = peak = 0
        for size in range(1, len(terms) + 1):
            for subset in combinations(terms, size):
                merged = {p.key: p for t in subset for p in t}
                w, _ = _term_cost(list(merged.values()))
                work += w
                peak = max(peak, _term_slots(list(merged.values())))
        options.append(("ie", rows * work, peak))
    if len(terms) > 1:
        fold = _fold_cost(terms)
        if fold is not None:
            options.append(("fold", rows * fold[0], fold[1]))
    if universe is not None and rows * universe <= BITMAP_MAX_CELLS:
        parts = {p.key: p for t in terms for p in t}
        # per distinct part: its marks and one running sum (progressions list every key they hold);
        # per term and part: one AND or OR over the cells
        # an interval part's bitmap is marked and summed (2 passes a cell); single keys and progressions are set key by
        # key (their elements priced apart, `strided`), and a column set draws its own: one pass a cell
        summed = sum(2 if p.kind == "interval" and not p.singles else 1 for p in parts.values())
        cells = rows * universe * (summed + sum(len(t) for t in terms))
        strided = sum(1 for p in parts.values() if p.kind == "progression")
        listed = rows * sum(p.slots for p in parts.values() if p.kind != "columns")
        # a progression's keys are listed and set one by one, 25-32 ns each (~4/3 of a unit): a row holds up to
        # universe / step of them (step 2: half the cells; strided(2) ∪ dilated(2) ∪ ... at 4,613 ran 0.9-1.4 s priced
        # 40 M units at a quarter of a unit a cell, a probe)
        keys = sum(rows * universe * 4 // (3 * max(1, p.step)) for p in parts.values() if p.kind == "progression")
        work = cells // BITMAP_CELLS_PER_UNIT + rows * universe * strided // ELEMENTS_PER_UNIT + 2 * listed + keys
        options.append(("bitmap", work, max(p.slots for p in parts.values())))
    if not options:
        return "refuse", 0, 0
    return min(options, key=lambda o: o[1])


BITMAP_MAX_CELLS = 1 << 30
FOLD_MAX_PERIOD = 1 << 40  # folded coordinates (residue x length + quotient) stay far inside int64
FOLD_CROSS = 2  # one (interval piece, progression piece) pair of the fold: two ceiling divisions and clips


def _fold_cost(terms: list[list[PartShape]]) -> tuple[int, int] | None:
    """(work per row, segment slots per row) of the fold count, or None where a part's steps are unknown.

    Each term is intersected into progressions (as a product of its parts); a term whose result has
    step L_t and at most c keys per segment holds c <= ceil(span / L_t) for every part. With L the lcm of
    the terms' steps, a step-L_t progression is min(L / L_t, c) progressions of step L, each an interval
    of one residue class; the sweep merges those, then every disjoint interval piece meets every
    disjoint progression piece once (closed form).
    """
    split = _fold_split(terms)
    if split is None:
        return None
    period, inter, pieces, singles, progs = split
    if not progs:  # intervals and a few keys a row (no lcm): one sweep over them all, no piece pairs
        held = singles + pieces
        # _union_of_intervals' own switch: past NETWORK_MAX_SEGS it sorts each row. Priced at the fold's
        # FOLD_NETWORK_SEGS, folds of 11-32 intervals a row ran 16-21 ns a unit where the others run 4-9: a_shape ∪
        # windowᶜ ∪ logsparseᶜ ∪ a_shape at 462,848 (25 a row) took 0.79-1.00 s accepted at 40 M units (edge search)
        return inter + _sweep_factor(held, NETWORK_MAX_SEGS) * held, held
    expanded = singles + sum(slots * min(period // steps, most) for slots, steps, most in progs)
    held = expanded + pieces
    # up to FOLD_NETWORK_SEGS pieces a row the sorting network runs along rows, as the interval sweep's does
    sweep = _sweep_factor(held, FOLD_NETWORK_SEGS) * held
    return inter + sweep + FOLD_CROSS * pieces * expanded, held + sum(s for s, _, _ in progs)


def _sweep_factor(held: int, network_max: int) -> int:
    """Passes a row's sweep makes over each of its `held` intervals: a sorting network's up to `network_max` of
    them (the switch of the code that runs it), a sort's log(held) past it."""
    return SWEEP_FACTOR - 1 if held <= network_max else SWEEP_FACTOR + held.bit_length() // 2


def _fold_split(terms: list[list[PartShape]]) -> tuple[int, int, int, int, list] | None:
    """(period, intersect passes, interval pieces, single keys, [(slots, step, keys a segment)] of the progressions)
    a row, as _union_by_fold splits the terms; None where a part's steps are unknown."""
    period, inter, pieces, singles, progs = 1, 0, 0, 0, []
    for parts in terms:
        slots, steps, most = 1, 1, None
        for p in parts:
            if p.step <= 0 or p.span <= 0 or (p.kind == "columns" and p.slots > FOLD_COLUMN_SLOTS):
                return None  # steps unknown (shape_of lists a column set only up to FOLD_COLUMN_SLOTS)
            slots *= p.slots
            steps = lcm(steps, p.step)
        for p in parts:
            # a part's keys lie within `span` positions, so a step-L progression holds at most ceil(span / L) of them;
            # span // L + 1 was one more where L divides span, and the branch below is not monotone: dilated(16) ∩ a
            # random block of 64 keys was priced as one progression piece (c = 5) where the engine split each into 4
            # single keys, 2 s accepted at 40 M units (a probe)
            c = -(-p.span // steps)
            most = c if most is None else min(most, c)
        inter += slots * max(1, sum(PASS_WORK[p.kind] for p in parts[1:]))
        if (most or 0) <= FOLD_SPLIT:
            singles += slots * (most or 1)  # a few keys a segment: one folded piece per key
        elif steps == 1:
            pieces += slots
        else:
            progs.append((slots, steps, most or 1))
            period = lcm(period, steps)
            if period > FOLD_MAX_PERIOD:
                return None
    return period, inter, pieces, singles, progs


def _sweep_pieces(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint pieces of (rows, m) intervals [lo, hi) (empty ones hold lo = hi = a sentinel): (start, length)."""
    lo, hi = sort_pairs(lo, hi)
    reach = np.maximum.accumulate(hi, axis=1)
    before = np.empty_like(reach)
    before[:, 0] = np.iinfo(np.int64).min // 4
    before[:, 1:] = reach[:, :-1]
    start = np.maximum(lo, before)
    return start, np.maximum(hi - start, 0)


FOLD_SPLIT = 4  # a progression of at most this many keys a row is folded key by key
FOLD_NETWORK_SEGS = 32  # up to this many pieces a row, the sorting network along rows beats a sort per row


def _pieces(segs: list[Seg], sl: slice) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint pieces (start, length) of the union of intervals (single keys for steps above 1), laid out
    (slot, row); length 0 where a slot holds nothing."""
    if len(segs) <= FOLD_NETWORK_SEGS:
        got = disjoint_pieces(segs, sl)
        if got is not None:
            lo, hi = got
            length = np.maximum(hi - lo, 0)
            return np.where(length > 0, lo, 0), length
    big = np.iinfo(np.int64).max // 4
    lo = np.stack([s.start[sl] for s in segs], axis=1)
    length = np.stack([s.count[sl] if s.step == 1 else np.minimum(s.count[sl], 1) for s in segs], axis=1)
    start, length = _sweep_pieces(np.where(length > 0, lo, big), np.where(length > 0, lo + length, big))
    length = np.where(start < big, length, 0)
    return np.where(length > 0, start, 0).T, length.T


def _first_at_or_past(a: np.ndarray, bound: np.ndarray, period: int, c: np.ndarray) -> np.ndarray:
    """min(max(ceil((bound - a) / period), 0), c) elementwise (broadcast), computed in one array."""
    t = np.subtract(a, bound)
    np.floor_divide(t, period, out=t)
    np.negative(t, out=t)
    np.maximum(t, 0, out=t)
    np.minimum(t, c, out=t)
    return t


def _union_by_fold(flat: list[list[Seg]], rows: int) -> np.ndarray:
    """|union| per row of the terms' segment lists, exactly, with no inclusion-exclusion.

    Intervals are merged into disjoint pieces I by a sweep. Progressions are split by residue modulo
    L, the lcm of their steps: each becomes step-L progressions (a single key is one), and a step-L
    progression {a + tL} is the interval [r*M + q, r*M + q + count) in folded coordinates
    (r = a mod L, q = a div L), so a second sweep merges them into disjoint pieces F. Then
    |I u F| = |I| + |F| - sum over piece pairs of |interval n progression|, each in closed form.
    """
    segs = [s for term in flat for s in term]
    most = [int(s.count.max(initial=0)) for s in segs]
    # single keys join the folded sweep (one piece each) rather than meet every progression piece; so do the
    # keys of a progression of at most FOLD_SPLIT keys a row, whose step would otherwise enter the lcm (a
    # stride of 1,041,253 holds 2 keys a row at 2^20, and lcm(28, 1,041,253) split stride 28 into 37,449)
    ivs = [s for s, m in zip(segs, most, strict=True) if s.step == 1 and m > 1]
    progs = [s for s, m in zip(segs, most, strict=True) if s.step > 1 and m > FOLD_SPLIT]
    # (segment, t): the t-th key of a segment of at most FOLD_SPLIT keys a row, a single key
    single_keys = [
        (s, t)
        for s, m in zip(segs, most, strict=True)
        if m == 1 or (s.step > 1 and 1 < m <= FOLD_SPLIT)
        for t in range(m)
    ]
    if not progs:
        singles = [Seg(s.start + t * s.step, 1, (s.count > t).astype(np.int64)) for s, t in single_keys]
        return _union_of_intervals([ivs + singles], rows) if ivs or singles else np.zeros(rows, dtype=np.int64)
    period = 1
    for s in progs:
        period = lcm(period, s.step)
    # step-`period` pieces, as (segment, first key's offset t, keys a residue class holds as count // k): built a chunk
    # of rows at a time below. Built for every row at once they held 16 bytes a row a piece, twice (longformer(2,
    # 2^20) ∪ dilatedᶜ(988,249, 4,037) at 2^20, block 64: 487 pieces over 16,384 block rows, 256 MB before the sweep)
    subs: list[tuple[Seg, int, int]] = [(s, t, 0) for s, t in single_keys]
    top = 1
    for s, t in single_keys:
        live = s.count > t
        if live.any():
            top = max(top, int(s.start[live].max()) + t * s.step + 1)
    for s in progs:
        k = period // s.step
        live = s.count > 0
        if live.any():
            top = max(top, int((s.start + s.step * s.count)[live].max()))
        for j in range(min(k, int(s.count.max(initial=0)))):
            subs.append((s, j, k))
    width = top // period + 2  # more than any quotient + count, so residue classes never touch

    def folded_rows(sl: slice) -> list[Seg]:
        out = []
        for s, j, k in subs:
            a = s.start[sl] + j * s.step
            c = (s.count[sl] > j).astype(np.int64) if k == 0 else np.maximum((s.count[sl] - j + k - 1) // k, 0)
            live = c > 0
            safe = np.where(live, a, 0)
            out.append(Seg((safe % period) * width + safe // period, 1, np.where(live, c, 0)))
        return out

    out = np.zeros(rows, dtype=np.int64)
    held = len(subs) + len(ivs)
    step = max(1, FOLD_CELLS // max(1, held, len(subs) * len(ivs)))
    for lo_row in range(0, rows, step):
        sl = slice(lo_row, lo_row + step)
        flo, flen = _pieces(folded_rows(sl), slice(None))  # (slot, row)
        kept = flen.sum(axis=0)
        if ivs:
            ilo, ilen = _pieces(ivs, sl)
            kept += ilen.sum(axis=0)
            a = np.where(flen > 0, (flo // width) + (flo % width) * period, 0)[None, :, :]
            c = flen[None, :, :]
            lo3, hi3 = ilo[:, None, :], (ilo + ilen)[:, None, :]
            # t_lo, t_hi: the first t with a + t*L >= lo (>= hi), clipped to [0, c], in place: np.clip with an array
            # bound and fresh temporaries took 120 ns a (piece, piece, row) cell (longformer(2, 2^20) ∪ dilatedᶜ
            # at 2^20, block 64: 0.5 s of its 0.85 s block count)
            t_lo = _first_at_or_past(a, lo3, period, c)
            t_hi = _first_at_or_past(a, hi3, period, c)
            np.subtract(t_hi, t_lo, out=t_hi)
            np.maximum(t_hi, 0, out=t_hi)
            kept -= t_hi.sum(axis=(0, 1))
        out[sl] = kept
    return out


def count_union(
    terms: list[list[list[Seg]]], rows: int, universe: int | None = None, list_columns: bool = True
) -> np.ndarray:
    """|T1 u T2 u ...| per row, where each term is an intersection of disjoint segment lists.

    One term: its intersection. All intervals: a sweep over sorted endpoints. Otherwise the
    cheaper of inclusion-exclusion over few terms (every intersection of progressions is a
    progression, so each summand is exact) and a bitmap over the `universe` of keys, as
    union_plan prices them.
    """
    shapes = [[shape_of(id(p), p, universe, list_columns) for p in t] for t in terms]
    method, _, _ = union_plan(shapes, rows, universe)
    if method == "term":
        return _count_term(terms[0], rows)
    if method == "sweep":
        return _union_of_intervals([intersect_all(t) for t in terms], rows)
    if method == "ie":
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
    if method == "fold":
        return _union_by_fold([intersect_all([list(p) for p in t]) for t in terms], rows)
    if method == "bitmap" and universe is not None:  # union_plan offers bitmaps only over a known universe
        return _union_by_bitmap(terms, rows, universe)
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
