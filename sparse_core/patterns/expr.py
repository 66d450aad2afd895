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

import functools
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from ..segments import Seg, enumerate_keys, intersect, interval

FOREVER = 1 << 40  # "every later row": a row count no sequence reaches (n <= 2^20)


class NeedsNError(LookupError):
    """A formula refers to n (for example the last block), and n is not known."""


KV_CHUNK = 1 << 16  # keys whose reading rows are intersected at once
KV_PAIRS = 1 << 22  # (row, key) pairs a decode-cache count may test against random tables
# work units per listed pair (the listing branch, each pair listed once: _DrawnListing): its row's table drawn, the
# pair handed to its chunk of keys and matched against the other parts' rows. Measured in fresh processes (one BLAS
# thread, load 0.5-2): randomᶜ(1) ∩ longformer(1,028,978, every token global) at 929,573, 1 M pairs: 0.08 s (it
# listed them once a chunk before, 0.30-0.44 s, priced 30 units a pair a chunk: 467 M units);
# randomᶜ(4) ∩ windowᶜ(10^6) at 2^20, 4 M pairs: 0.20 s (1.3-1.5 s before); randomᶜ(64) ∩ windowᶜ(65,000), 4.2 M:
# 0.16-0.42 s. 4 units a pair is ~100 ns at the worst of these. Where a row's draw repeats keys (n below
# KV_SLOW_POPULATION x r^2) it sorts and redraws: randomᶜ(256) ∩ windowᶜ(16,000) at 100,000, 4.1 M pairs, 0.30-0.68 s
KV_PAIR_WORK = 4
KV_SLOW_LIST = 2
# The candidate branch, priced by what it does: each candidate pair is sorted into row order and looked up
# (KV_CANDIDATE_WORK), compared with each drawn key of its row (KV_COMPARES_PER_UNIT compares a unit), and each
# distinct row's table is drawn once (KV_DRAW_WORK a key; a random-blocks part draws per pair). Measured here
# (one BLAS thread, no huge pages): (dilatedᶜ(14,254, 3,623) ∪ windowᶜ) ∩ randomᶜ(64) at 42 tokens, 0.6 M
# candidates on as many distinct rows, 38 M keys drawn: 1.34 s (35 ns a key); random(227) ∩ neighborhoodᶜ(1,016,
# 63) ∩ longformer at 30 tokens, the same number of candidates on ~6 k rows: 0.07 s (priced 53 M units before,
# a candidate and 227 compares at 129 units); bigbirdᶜ(1,431) ∩ random(236) at 130, 84 M compares: 0.20 s.
# Set so that each of these runs at 15-17 ns a unit, as the rest of the price does at its worst
KV_CANDIDATE_WORK = 4
KV_COMPARES_PER_UNIT = 8
KV_DRAW_WORK = 2
# A row's table draws r distinct keys of its i + 1; where a repeat is likely (i + 1 below KV_SLOW_POPULATION x r^2)
# the draw sorts and redraws: fixed(8,192, 5) ∩ dilatedᶜ(800,000, 4,096) ∩ randomᶜ(40) at 16,374 drew ~0.8 M rows'
# tables in 21 s, ~600 ns a key against ~30 on the fast path
KV_SLOW_POPULATION = 8
KV_SLOW_DRAW = 20
# a random-blocks pick on the slow path: its draw is per pair and the population a few dozen blocks, so the redraw
# costs ~3x the fast draw (three bigbird decode terms at 281-336 tokens ran 44 ns a unit priced at the fast rate)
KV_SLOW_BLOCK_DRAW = 4
# (pair, drawn key) cells a decode-cache test compares at once (random_keys.pairs_in_chunks). Unbounded, the test held
# P x r of them: 256 MB for the ~0.5 M candidates of block(698, 1) ∩ randomᶜ(56) at 2,112 tokens (seed 32)
DECODE_CELLS = 1 << 20
# bytes a candidate (row, key) pair holds while tested: its key and row, the key's column, the row order and the
# answer. dilatedᶜ(168,000, 4,096) ∩ dilatedᶜ(168,000, 4,095) ∩ randomᶜ(1) at 100,000 held 159 MB for 4.1 M pairs
KV_PAIR_BYTES = 44
KV_CHUNK_CELL_BYTES = 24  # a chunk's cells: 20-24 MB measured above the candidates at r = 4 and r = 10


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
    out: list[tuple] = []
    seen: list[frozenset] = []
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


# decode-cache work of the terms before a refusing one that kv_cost may spend to learn whether they keep every key
# (~20 ms at the ~27 ns budget unit; a refusal stays within 50 ms)
KV_PREFIX_WORK = 1 << 19
KV_PREFIX_PASSES = 2048  # and piece meets (~5 us each at any n)
KV_DRAWN_MAX_PIECES = 256  # pieces a term's parts may meet in, a key, for its random candidates to be counted
KV_UNPRICED = 1 << 62  # the work kv_price gives a decode cache it cannot count within a refusal's time
# (piece meet, sampled key) cells all terms' candidate counts may meet, ~11 ns each (interval pieces): randomᶜ(2) ∩
# neighborhood(2, 63) ∩ logsparse ∩ longformerᶜ at 9,010, two terms of 86 meets, 1.06 M cells, is priced in ~12 ms
KV_PRICE_CELLS = 3 << 19
# and piece meets (+ 3 a piece built) over all terms, ~5 us each however few the keys: bigbirds ∩ fixed ∩
# neighborhood(1,024, 60) at 130 tokens built and met 121 pieces in each of 32 terms, 62-124 ms to refuse (a probe)
KV_PRICE_PASSES = 4096


def _keep_every_key(terms: list[tuple], n: int) -> bool:
    """Whether these terms (a causal union's first ones) keep every key in the decode cache, as kv_retained
    counts them in order: a term that follows reads no row of a chunk whose keys are all kept."""
    parts = [term[0] if len(term) == 1 else Intersection(tuple(term)) for term in terms]
    prefix = parts[0] if len(parts) == 1 else Union(tuple(parts))
    if not prefix.causal_mask:  # (every term of a causal mask is causal; kept for safety)
        return False
    from ..params import PatternError

    try:
        return prefix.kv_retained(n) >= n
    except PatternError:
        return False


KV_COST_EXACT = 4096  # last keys whose decode-cache candidates kv_cost counts exactly (the rest are sampled)
KV_HEAD_SAMPLE = 2048  # keys before those sampled evenly


def _kv_sample(prims, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys counted exactly, keys sampled evenly before them) of a term's decode-cache candidate count: the last
    KV_COST_EXACT keys, or the last KV_CHUNK with summary columns, whose narrow bands of keys an even sample misses."""
    banded = any(type(p).__name__ == "SummaryColumns" for p in prims)
    tail = min(n, KV_CHUNK if banded else KV_COST_EXACT)
    cols_tail = np.arange(n - tail, n, dtype=np.int64)
    head = n - tail
    if not head:
        return cols_tail, cols_tail[:0]
    return cols_tail, np.unique(np.linspace(0, head - 1, min(head, KV_HEAD_SAMPLE)).astype(np.int64))


def _drawn_cost(prims: tuple, drawn: list, n: int) -> tuple[int, int] | None:
    """(work, candidate pairs held at once) of the random-table tests in kv_retained for one term at n tokens;
    None where it refuses.

    Mirrors kv_retained's branches, which it takes per chunk of KV_CHUNK keys: a chunk of at most KV_PAIRS
    candidates (rows >= n - 1 that end) tests each against its row's table; a larger one takes its pairs from the
    random rows' draws, listed once for all such chunks (_DrawnListing). Candidates are counted on the keys
    _kv_sample picks.
    """
    width = sum(max(1, int(getattr(p, "random_keys", getattr(p, "random_blocks", 1)))) for p in drawn)
    cols_tail, cols_head = _kv_sample(prims, n)
    head = n - len(cols_tail)
    chunk_pairs = np.zeros(-(-n // KV_CHUNK), dtype=np.float64)  # candidates of each chunk of keys
    hull = 0.0
    top = -1
    for cols, scale in ((cols_tail, 1.0), (cols_head, head / max(1, len(cols_head)))):
        if not len(cols):
            continue
        rows = [interval(np.maximum(cols, n - 1), cols + FOREVER, len(cols))]
        for p in prims:
            rows = meet(rows, p.kv_rows(cols))
        far = np.zeros(len(cols), dtype=bool)
        for s in rows:
            far |= (s.count > 0) & (s.last >= FOREVER // 2)
        for s in rows:
            count = np.where(far, 0, s.count)
            held = scale * float(count.sum())
            np.add.at(chunk_pairs, cols // KV_CHUNK, scale * count)
            live = count > 0
            if live.any():  # the rows of one piece, over all keys, lie in its hull (keys next to each other share rows)
                last = s.start + s.step * (count - 1)
                lo, hi = int(s.start[live].min()), int(last[live].max())
                step = max(1, int(s.step))
                # a progression's rows are on its residues: (dilatedᶜ(14,254, 3,623) ∪ windowᶜ) ∩ randomᶜ(64) at 42
                # tokens puts each key on its own residue, 0.6 M distinct rows (priced by one residue: 1.36 s at 6 M)
                residues = len(np.unique(s.start[live] % step)) if step > 1 else 1
                if scale > 1:  # the head is sampled: its keys' residues are at most `scale` times the sample's
                    residues = min(step, int(np.ceil(residues * scale)))
                hull += min(held, ((hi - lo) // step + 1) * residues)
            top = max(top, int(np.where(count > 0, s.last, -1).max(initial=-1)))
    span = max(1, top - n + 2)
    driver = next((p for p in drawn if hasattr(p, "decode_pairs")), None)
    work = 0.0
    most = 0
    listed = 0  # pairs the listing branch draws, once for all its chunks (_DrawnListing)
    for pairs in chunk_pairs[chunk_pairs > 0].tolist():
        if pairs <= KV_PAIRS:
            # a random-keys table is drawn once a distinct row (decode_reads takes the pairs in row order): the
            # candidates sit on at most `span` rows (n - 1 .. top) and on at most the pieces' hulls (random(227) ∩
            # neighborhoodᶜ(1,016, 63) ∩ longformer at 30 tokens: 0.3 M candidates, span 128 k rows, hulls 16 k,
            # 12 k distinct rows). A random-blocks pick is drawn once a pair
            rows_drawn = min(pairs, hull, span)
            draws = 0.0
            for p in drawn:
                if hasattr(p, "decode_pairs"):
                    r = max(1, int(p.random_keys))
                    draws += rows_drawn * r * (KV_SLOW_DRAW if n < KV_SLOW_POPULATION * r * r else 1)
                else:
                    # a pick is drawn per pair, and sorted and redrawn where repeats are likely, as random keys are:
                    # its population is the key blocks a decoding row may pick, at most n / b less its window and
                    # global blocks (bigbird(6, 64 random blocks) ∩ longformer ∩ logsparse at 331 tokens: 55 blocks
                    # to pick 64 from, 1.6-2.3 s priced 39.8 M at the fast draw's rate, a probe)
                    r = max(1, int(getattr(p, "random_blocks", 1)))
                    pool = n // max(1, int(getattr(p, "block", 1)))
                    pool -= 2 * int(getattr(p, "window_half", 0)) + 1
                    pool -= int(getattr(p, "global_first", 0)) + int(getattr(p, "global_last", 0))
                    draws += pairs * r * (KV_SLOW_BLOCK_DRAW if pool < KV_SLOW_POPULATION * r * r else 1)
            work += pairs * (KV_CANDIDATE_WORK + width / KV_COMPARES_PER_UNIT) + KV_DRAW_WORK * draws
            most = max(most, int(pairs))
            continue
        # block(2^19, 0) ∩ randomᶜ at 1,048,513: 33.5 M candidates over the sequence, 4.19 M (not more than
        # KV_PAIRS) in each chunk: every chunk tested its candidates (3.5 s) where the price had listed once
        if driver is None or span * driver.random_keys > KV_PAIRS:
            return None
        listed = span * driver.random_keys  # every drawn key up to the last candidate row, at most
    if listed and driver is not None:  # listed once; each pair handed to its chunk of keys, matched by the others
        r = max(1, int(driver.random_keys))
        per_pair = KV_PAIR_WORK * (KV_SLOW_LIST if n < KV_SLOW_POPULATION * r * r else 1)
        work += listed * (per_pair + (width - r) / KV_COMPARES_PER_UNIT)
    # a chunk's arrays are replaced by the next chunk's while still held: two chunks' worth at the peak (dilatedᶜ ∩
    # dilatedᶜ ∩ randomᶜ(1) at 100,000, two chunks: 158 MB held for 4.1 M candidates, 2.6 M in the larger chunk).
    # The listed pairs wait for their chunks beside them (all at once where the first chunk lists every row)
    return int(work), int(min(chunk_pairs.sum(), 2 * most) + listed)


class _DrawnListing:
    """The (row, key) pairs a random part draws on rows n - 1 .. top, decoding, grouped by chunk of KV_CHUNK keys.

    kv_retained's listing branch reads the draws of every row up to the last candidate row of a chunk of keys. Listed
    afresh for each chunk, the same rows were drawn once a chunk: randomᶜ(1) ∩ longformer(1,028,978, every token
    global) at 929,573 drew its ~1 M rows 15 times (0.44 s). Here each row is drawn once, when a chunk first needs it,
    and its pairs wait in their key's chunk; a chunk's pairs are handed over once, as chunks are read in order.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.top = n - 2  # rows n - 1 .. top listed so far
        self.waiting: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def pairs_of_chunk(self, driver, top: int, lo: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, keys) of the pairs drawn by rows n - 1 .. top whose keys lie in the chunk starting at key lo."""
        if top > self.top:
            i, j = driver.decode_pairs(self.top + 1, top)  # (P,) each, in row order
            self.top = top
            # each chunk's pairs picked by a mask, one chunk at a time (at most 16 chunks at 2^20): a sort by chunk
            # would hold its order and the sorted copies at once, ~40 bytes a pair more at the peak
            chunk = np.where(j < self.n, j // KV_CHUNK, -1)  # keys past n are not in the cache
            for c in range(lo // KV_CHUNK, -(-self.n // KV_CHUNK)):
                mine = chunk == c
                if mine.any():
                    self.waiting.setdefault(c, []).append((i[mine], j[mine]))
        for passed in [c for c in self.waiting if c < lo // KV_CHUNK]:  # chunks counted without the listing
            del self.waiting[passed]
        parts = self.waiting.pop(lo // KV_CHUNK, [])
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


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
            if len(term) == 1 and hasattr(term[0], "kv_last_row"):
                # one part whose reading rows of a key end at a known row: kept iff that row is n - 1 or later
                # (neighborhoodᶜ(1,024, 63) at 2^20 met 127 pieces a key: 1.7 s, 258 MB)
                for lo in range(0, n, KV_CHUNK):
                    cols = np.arange(lo, min(n, lo + KV_CHUNK), dtype=np.int64)
                    kept[lo : lo + len(cols)] |= term[0].kv_last_row(cols) >= n - 1
                continue
            drawn = [p for p in term if hasattr(p, "decode_reads")]
            listing = _DrawnListing(n)  # the random rows' draws, listed once for all chunks of keys
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
                i, j = listing.pairs_of_chunk(driver, top, lo)
                inside = live[j - lo]
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
        """Work units of kv_retained at n tokens (see kv_price)."""
        return self.kv_price(n)[0]

    def kv_price(self, n: int) -> tuple[int, int]:
        """(work units, bytes held) of kv_retained at n tokens (keys x intersected row pieces, plus random pairs
        tested; the bytes are the random candidates' arrays, KV_PAIR_BYTES a pair).

        A term with random parts tests the finite (row, key) candidates its other parts allow, each
        against all r drawn keys, or lists the r keys of every row up to the last candidate row:
        `_drawn_cost` counts those candidates the way kv_retained does (exactly on the last keys,
        where they gather; sampled on the rest), so the price and the count take the same branch.
        """
        if self.data_dependent or not self.causal_mask:
            return 0, 0
        total = held = priced_cells = prefix_passes = priced_passes = 0
        terms = _distinct_terms(self)
        for index, prims in enumerate(terms):
            if len(prims) == 1 and prims[0].kv_every_key:
                return total, held
            if len(prims) == 1 and hasattr(prims[0], "kv_last_row"):  # a closed form, a unit a key
                total += n
                continue
            # kv_retained meets the parts in order: part k is one kv_rows build (~13 ns a key here) and one
            # intersect pass (~9 ns a key) per piece the parts before it left, at most the product of their
            # piece counts. A part of one piece is one unit a key, as before (22 ns measured: 3 interval parts
            # x 6 terms at 2^20 ran 0.39-0.42 s at load 30); every further piece 2/5 of a unit (the pass
            # alone): block ∩ logsparseᶜ at 2^20 (1 + 42 passes a key) ran 0.41 s, priced 88 M units by
            # product x parts, now 19 M. Measured at load 30, OMP_NUM_THREADS=1, tools /tmp/h/b2/kv.py.
            prod = passes = 1
            pieces = 0
            for p in prims:
                own = max(1, p.kv_segment_count())
                prod *= own
                passes += prod
                pieces += own
            passes -= 1
            # piece meets (+ 3 a piece built, as priced_passes weighs them) of the terms before this one: 22 terms of
            # three bigbirds ∩ neighborhood(1,024, 63) at 100 tokens built 127 pieces each, 47-80 ms to refuse
            # when only their meets were counted (a probe)
            before, prefix_passes = prefix_passes, prefix_passes + passes + 3 * pieces
            # every piece of a part is built (a unit a key each): neighborhoodᶜ(1,024, 16), 33 pieces a key, ran
            # 0.50 s at 2^20 priced 13.6 M units when a part was one unit whatever its pieces (36 ns a unit)
            units = pieces + 2 * (passes - len(prims)) // 5
            # progressions (dilated, stride rows) meet by congruences: dilated ∩ window ran 29 ns a key and
            # part, stride columns 17-19 ns, intervals 13-22 ns: twice an interval's price keeps a margin
            strided = any(not p.interval_segments for p in prims)
            total += n * units * (2 if strided else 1)
            drawn = [p for p in prims if hasattr(p, "decode_reads")]
            if drawn:
                # counting the candidates meets the parts' pieces on ~6,000 keys: past KV_DRAWN_MAX_PIECES pieces that
                # alone broke the 50 ms a refusal may take (random ∩ neighborhood(2, 63) ∩ logsparse ∩ longformer
                # at 9,010: 11 k intersections, 0.19 s), so such a term is priced as kv_retained's refusal
                # and past KV_PRICE_CELLS (piece meets x sampled keys, over the terms): neighborhood(90, 37) ∩ random(1)
                # ∩ fixed(230, 60) at 20,533 met 75 pieces on every key, two terms, 81 ms to refuse (a probe). Every
                # part after the first meets each piece the ones before it left (passes, not the last product): random ∩
                # neighborhood(512, 56) ∩ longformer ∩ dilated at 4,188 met 113 pieces three times, 32-55 ms to refuse
                # (progressions meet by congruences and list their residues: twice an interval's cells)
                sampled = sum(len(cols) for cols in _kv_sample(prims, n))  # the keys _drawn_cost meets
                priced_cells += passes * sampled * (2 if strided else 1)
                priced_passes += passes + 3 * pieces  # a meet ~5 us, a piece built ~15 us, however few the keys
                affordable = (
                    prod <= KV_DRAWN_MAX_PIECES and priced_cells <= KV_PRICE_CELLS and priced_passes <= KV_PRICE_PASSES
                )
                drawn_price = _drawn_cost(prims, drawn, n) if affordable else None
                if drawn_price is None:
                    # kv_retained refuses, unless the terms before it keep every key already (then it reads
                    # none of this term's rows): dilatedᶜ(2^20, 35) ∪ logsparseᶜ, ∩ random(256) at 1,893 was
                    # priced "refuse" and its decode cache took 2 ms. Counted where those terms are cheap
                    # (and few pieces: two terms of 5,082 pieces at 55 tokens met 10 k times, 56-58 ms to refuse)
                    cheap = total <= KV_PREFIX_WORK and before <= KV_PREFIX_PASSES
                    if index and cheap and _keep_every_key(terms[:index], n):
                        continue
                    return KV_UNPRICED, held  # priced so that the budget refuses first
                total += drawn_price[0]
                # plus one chunk of the test's (pair, drawn key) cells: its tables, gathers and compares
                chunk = KV_CHUNK_CELL_BYTES * DECODE_CELLS if drawn_price[1] else 0
                held = max(held, KV_PAIR_BYTES * drawn_price[1] + chunk)
        return total, held

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
        return -(-work * rows // chunk)  # per row: a last, partial chunk costs its own rows (as limits._plan)

    def __or__(self, other: Expr) -> Expr:
        return Union((self, other))

    def __and__(self, other: Expr) -> Expr:
        return Intersection((self, other))


class PrimitiveContractError(AssertionError):
    """A primitive broke its own contract (a segment outside the keys or blocks, wrong shapes): a bug in it."""


def check_segments(prim: object, method: str, segs: object, rows: int, limit: int, n: int, block: int = 0) -> None:
    """Every Seg has one start and count per row, a step >= 1 and its kept elements inside 0 .. limit-1.

    Without this a wrong segment surfaces far away (an IndexError in a block layout's dense()), naming
    nothing; here the error names the primitive, the method, n, the segment and the first bad row.
    """
    if not isinstance(segs, list):
        return  # a ColumnSet: keys shared by every row, checked by its own closed-form count
    where = f"{prim!r}.{method}(n={n}{f', block={block}' if block else ''})"
    what = "key block" if block else "key"
    for k, s in enumerate(segs):
        if not isinstance(s, Seg):
            raise PrimitiveContractError(f"{where}: item {k} is a {type(s).__name__}, not a Seg")
        if np.shape(s.start) != (rows,) or np.shape(s.count) != (rows,):
            raise PrimitiveContractError(
                f"{where}: segment {k} has start {np.shape(s.start)} and count {np.shape(s.count)}, expected ({rows},)"
            )
        if int(s.step) < 1:
            raise PrimitiveContractError(f"{where}: segment {k} has step {s.step}, expected at least 1")
        if rows == 0:
            continue
        if int(s.count.min()) < 0:
            raise PrimitiveContractError(f"{where}: segment {k} has a negative count")
        kept = s.count > 0
        last = s.start + s.step * (s.count - 1)
        # min/max over the kept rows only: two reductions, no masked copies, on the common (valid) path
        if int(s.start.min(where=kept, initial=0)) >= 0 and int(last.max(where=kept, initial=0)) < limit:
            continue
        low = np.where(kept, s.start, 0)
        high = np.where(kept, last, 0)
        bad = np.flatnonzero((low < 0) | (high >= limit))
        if len(bad):
            r = int(bad[0])
            raise PrimitiveContractError(
                f"{where}: segment {k} lists {what}s {int(low[r])} .. {int(high[r])} on row {r} of this call, "
                f"outside 0 .. {limit - 1}"
            )


def _checked(method, name: str):
    """Wrap a primitive's segments / block_segments with check_segments."""

    @functools.wraps(method)
    def run(self, rows, n, *rest):
        segs = method(self, rows, n, *rest)
        if rest:
            block = int(rest[0])
            check_segments(self, name, segs, len(rows), -(-n // block), n, block)
        else:
            check_segments(self, name, segs, len(rows), n, n)
        return segs

    return run


@dataclass(frozen=True, eq=False)
class Primitive(Expr):
    """One mask of the library. Subclasses set `formula` (or `predicate`) and the segment methods."""

    causal: bool = field(default=False, kw_only=True)
    # Membership of (q_idx, kv_idx) as one expression valid for NumPy arrays and torch tensors;
    # {name} placeholders are filled from formula_values(n). None: a table-driven primitive.
    formula: ClassVar[str | None] = None
    # True when every segment is an interval (step 1), so unions can be counted by a sweep
    interval_segments: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # every primitive's own answers are checked where they are produced (cheap: a few passes per segment)
        for name in ("segments", "block_segments"):
            if name in cls.__dict__ and not getattr(cls.__dict__[name], "__wrapped__", None):
                setattr(cls, name, _checked(cls.__dict__[name], name))

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
    def data_dependent(self) -> bool:  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        return [t for p in self.parts for t in p.terms()]


@dataclass(frozen=True, eq=False)
class Intersection(Expr):
    """Keys kept by every part."""

    parts: tuple[Expr, ...]

    @property
    def data_dependent(self) -> bool:  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        out = [()]
        for p in self.parts:
            out = [a + b for a in out for b in p.terms()]
        return out
