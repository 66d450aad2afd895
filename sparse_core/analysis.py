"""Exact analysis of a mask expression: degrees, dense masks, tiles and block layouts.

Structured patterns never allocate O(n^2): counts come from segments in row chunks. Dense
outputs are refused past DENSE_MAX_N; data-dependent patterns are dense by nature and bounded by
DATA_DEPENDENT_MAX_N.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from math import gcd

import numpy as np

from .params import PatternError
from .patterns import base
from .patterns.base import DataDependent, Expr, Intersection, Primitive, Union, simple_terms
from .patterns.global_blocks import GlobalBlocks
from .patterns.learned import synthetic_qk
from .segments import ColumnSet, Seg, count_union, enumerate_keys, intersect_all, interval, union_pairs

DENSE_MAX_N = 8192  # a dense bool mask of 64 MiB
DATA_DEPENDENT_MAX_N = 4096  # data-dependent patterns score every pair: (n, n) float32
ROW_CHUNK = 1 << 16
# Exact check of intersection blocks: candidate rows x planned work per row (with the block's key
# window as one more part). Past it the layout keeps its candidate blocks and says it is not exact.
REFINE_MAX_WORK = 1 << 22
# Rows x segments one exact count may touch (Expr.cost_estimate). Past it the engine refuses with
# a message instead of running for minutes; request budgets (limits.py) can be tighter.
ENGINE_MAX_CELLS = 1 << 27
# Work units (block_cost) of one exact block layout, about 2 s here; past it stats keep their exact
# element figures and flag the block part as refused.
BLOCK_MAX_WORK = 1 << 24

Vectors = tuple[np.ndarray, np.ndarray]


def check_n(n: int, expr: Expr | None = None) -> None:
    """Refuse n outside 1 .. 2^20 (and past the data-dependent limit for such patterns)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise PatternError(f"n must be a positive whole number, got {n!r}")
    if n > (1 << 20):
        raise PatternError(f"n = {n:,} is above the supported maximum of 1,048,576")
    if expr is not None and expr.data_dependent and n > DATA_DEPENDENT_MAX_N:
        raise PatternError(
            f"data-dependent patterns score every pair, so n is limited to {DATA_DEPENDENT_MAX_N:,} "
            f"(got {n:,}): lower n",
            "data_dependent_n",
            limit=f"{DATA_DEPENDENT_MAX_N:,}",
            n=f"{n:,}",
        )


def _term_segments(expr: Expr, compute) -> list[list[list[Seg]]]:
    cache: dict[int, list[Seg]] = {}
    out = []
    for term in simple_terms(expr):
        parts = []
        for prim in term:
            if id(prim) not in cache:
                cache[id(prim)] = compute(prim)
            parts.append(cache[id(prim)])
        out.append(parts)
    return out


def _count_rows(expr: Expr, n: int, rows: np.ndarray, key_lo=None, key_hi=None) -> np.ndarray:
    if key_lo is None and isinstance(expr, Primitive) and hasattr(expr, "row_count"):
        return expr.row_count(rows, n)
    terms = _term_segments(expr, lambda p: p.segments(rows, n))
    if key_lo is not None:
        window = [interval(key_lo, key_hi, len(rows))]
        terms = [t + [window] for t in terms]
    return count_union(terms, len(rows), universe=n)


def refine_work(expr: Expr, n: int, block: int, candidates: int) -> int:
    """Planned work of re-counting `candidates` intersection blocks exactly (every row of each, with the
    block's key window); block_layout refines only when this is at most REFINE_MAX_WORK."""
    return candidates * min(block, n) * refine_work_per_row(expr, n)


def intersection_candidates(expr: Expr, n: int, block: int) -> int:
    """Block pairs the intersection terms' block sets keep before refinement (what block_layout refines)."""
    nb = -(-n // block)
    brows = np.arange(nb, dtype=np.int64)
    cache: dict[int, list[Seg]] = {}
    terms = []
    for term in simple_terms(expr):
        if len(term) > 1:
            for prim in term:
                if id(prim) not in cache:
                    cache[id(prim)] = prim.block_segments(brows, n, block)
            terms.append([cache[id(prim)] for prim in term])
    if not terms:
        return 0
    return int(BlockLayout(n, block, terms).kept_per_row().sum())


def refine_work_per_row(expr: Expr, n: int) -> int:
    """Planned work of re-counting one row inside one candidate block (the key window is one more part)."""
    chunk = min(n, ROW_CHUNK)
    return max(1, -(-expr.cost_estimate(n, chunk, window=True) // chunk))


def check_cost(expr: Expr, n: int, rows: int | None = None) -> None:
    """Refuse an exact count of `rows` rows (default n) whose planned work is past ENGINE_MAX_CELLS."""
    if expr.data_dependent:
        return
    from . import limits

    # the planner with the parts' steps prices the fold too (Expr.cost_estimate knows no steps)
    cells = min(expr.cost_estimate(n, rows), limits.count_work(expr, n, n if rows is None else rows))
    if cells > ENGINE_MAX_CELLS:
        raise PatternError(
            f"counting this pattern exactly at n = {n:,} would touch about {cells:,} row segments, above the "
            f"engine's limit of {ENGINE_MAX_CELLS:,}: lower n, the number of random keys, or the number of "
            "combined layers",
            "engine_cost",
            cells=f"{cells:,}",
            limit=f"{ENGINE_MAX_CELLS:,}",
            n=f"{n:,}",
        )


def block_cost(expr: Expr, n: int, block: int) -> int:
    """Predicted work of an exact block layout (the block-level counterpart of Expr.cost_estimate)."""
    nb = -(-n // block)
    total_cells = 0
    for term in simple_terms(expr):
        cells = nb
        for p in term:
            est = getattr(p, "block_cost_estimate", None)
            cells = max(cells, est(n, block)) if est else cells * max(1, p.segment_count(n))
        total_cells += cells
    return total_cells * max(1, len(simple_terms(expr)))


def _chunks(total: int, size: int = ROW_CHUNK):
    for lo in range(0, total, size):
        yield np.arange(lo, min(total, lo + size), dtype=np.int64)


def resolve_vectors(n: int, vectors: Vectors | None) -> Vectors:
    """The given (q, k) vectors checked against n, or reproducible synthetic ones."""
    if vectors is None:
        return synthetic_qk(n)
    q, k = vectors
    if q.shape[0] != n or k.shape[0] != n:
        raise PatternError(f"vectors have {q.shape[0]} rows, expected n = {n}")
    return q, k


def row_degree(expr: Expr, n: int, vectors: Vectors | None = None) -> np.ndarray:
    """Keys kept by each query row, exactly. (n,) int64."""
    check_n(n, expr)
    if expr.data_dependent:
        return _mask_degrees(expr, n, vectors).copy()
    run = constant_rows(expr, n)
    causal = expr.primitives()[0].causal
    check_degree_cost(expr, n, run)
    # listing each causal run's own keys costs about one key per row: worth it only past a couple of segments
    if run > 1 and (not causal or _slots(expr, n) > 2):
        last = np.minimum(np.arange(run, n + run, run, dtype=np.int64), n) - 1
        if not causal:  # one row per run stands for all of them (BigBird at 2^20: 64x fewer rows to count)
            deg = np.concatenate([_count_rows(expr, n, last[c]) for c in _chunks(len(last))])
            return np.repeat(deg, run)[:n]
        # the last rows' segments serve twice: their counts, then the keys each run lists (random blocks
        # at 2^20 are drawn once instead of twice)
        if isinstance(expr, Primitive) and hasattr(expr, "row_count"):
            deg = np.concatenate([expr.row_count(last[c], n) for c in _chunks(len(last))])
            return _causal_run_degrees(expr, n, run, last, deg)
        chunk_terms = [_term_segments(expr, lambda p, c=c: p.segments(last[c], n)) for c in _chunks(len(last))]
        deg = np.concatenate(
            [count_union(t, len(c), universe=n) for t, c in zip(chunk_terms, _chunks(len(last)), strict=True)]
        )
        return _causal_run_degrees(expr, n, run, last, deg, chunk_terms)
    return np.concatenate([_count_rows(expr, n, rows) for rows in _chunks(n)])


def check_degree_cost(expr: Expr, n: int, run: int | None = None) -> None:
    """Refuse (check_cost) the rows row_degree would count for a structured expression: one row per constant run
    when runs are not causal, every row otherwise; nothing for a primitive with a closed form per row.
    run: constant_rows(expr, n), where the caller has it already. The budget raises the same refusal."""
    if isinstance(expr, Primitive) and hasattr(expr, "row_count"):
        return
    run = constant_rows(expr, n) if run is None else run
    causal = expr.primitives()[0].causal
    check_cost(expr, n, -(-n // run) if run > 1 and not causal else n)


def _slots(expr: Expr, n: int) -> int:
    return sum(int(np.prod([max(1, p.segment_count(n)) for p in t], dtype=np.float64)) for t in simple_terms(expr))


def constant_rows(expr: Expr, n: int) -> int:
    """A run length r such that the rows of every aligned run [k*r, (k+1)*r) keep one key set T, or T
    clipped to j <= i when every primitive is causal (1: unknown, or causal and bidirectional parts mixed)."""
    prims = expr.primitives()
    if len({p.causal for p in prims}) != 1:
        return 1
    run = 0
    for p in prims:
        own = getattr(p, "constant_rows", None)
        if own is not None:
            k = int(own(n))
        elif isinstance(p, GlobalBlocks):
            k = int(p.block)  # its head and tail end on block edges (or at n); causal rows clip [0, i]
        else:
            return 1
        run = gcd(run, k)
        if run <= 1:
            return 1
    return max(run, 1)


def _causal_run_degrees(
    expr: Expr, n: int, run: int, last: np.ndarray, deg_last: np.ndarray, chunk_terms: list | None = None
) -> np.ndarray:
    """Row i of a run keeps T ∩ [0, i], and its last row L keeps T ∩ [0, L]: so deg(i) = deg(L) minus the
    keys of T in (i, L], which lie inside the run's own rows and are listed once per run."""
    starts = np.arange(len(last), dtype=np.int64) * run
    hit = np.zeros((len(last), run), dtype=bool)
    cover = np.zeros(len(last) * (run + 1), dtype=np.int64)  # interval ends marked +1/-1 along each run
    for index, c in enumerate(_chunks(len(last))):
        window = [interval(starts[c], last[c] + 1, len(c))]
        if chunk_terms is None:
            terms = _term_segments(expr, lambda p, c=c: p.segments(last[c], n))
        else:
            terms = chunk_terms[index]
        for parts in terms:
            for seg in intersect_all(parts + [window]):
                if seg.step == 1:  # an interval: mark its two ends instead of listing its keys
                    live = seg.count > 0
                    if not live.any():
                        continue
                    at = (c[live]) * (run + 1) + seg.start[live] - starts[c[live]]
                    cover += np.bincount(at, minlength=len(cover)) - np.bincount(
                        at + seg.count[live], minlength=len(cover)
                    )
                    continue
                rows, keys = enumerate_keys([seg], run)
                hit[c[0] + rows, keys - starts[c[0] + rows]] = True
    # flat running sums (each run's marks net to zero, so one cumsum serves every run): a per-run cumsum
    # over a short axis is several times slower
    hit |= (np.cumsum(cover).reshape(len(last), run + 1) > 0)[:, :run]
    seen = np.cumsum(hit.ravel(), dtype=np.int64)
    ends = seen[run - 1 :: run]
    after = np.repeat(ends, run) - seen  # keys of T in (i, L] for each row i of the run
    return (np.repeat(deg_last, run) - after)[:n]


def _primitive_dense(prim: Primitive, n: int, vectors: Vectors | None) -> np.ndarray:
    if isinstance(prim, DataDependent):  # the only data-dependent primitives
        q, k = resolve_vectors(n, vectors)
        return prim.dense(q, k)
    mask = np.zeros((n, n), dtype=bool)
    rows = np.arange(n, dtype=np.int64)
    segs = []
    for s in prim.segments(rows, n):
        band = _band(s, rows, n) if s.step == 1 else None
        if band is None:
            segs.append(s)
            continue
        # a band (row i keeps [i + lo, i + hi) clipped to the sequence, as a window does) is a Toeplitz
        # matrix: one line of offsets read as reversed sliding windows, no per-pair work at all
        line = np.zeros(2 * n - 1, dtype=bool)
        line[max(0, n - band[1]) : max(0, min(2 * n - 1, n - band[0]))] = True  # line[n - 1 + i - j]
        mask |= np.lib.stride_tricks.sliding_window_view(line, n)[:, ::-1]
    runs = [s for s in segs if s.step == 1]
    if runs and sum(int(np.minimum(s.count, n).sum()) for s in runs) > n * n // INTERVAL_FILL_SHARE:
        # Listing every kept pair costs two int64 arrays per pair (a full window at 4,096: 8M pairs, ~1 s);
        # an interval is two marks in a difference array instead, and one running sum fills every row.
        segs = [s for s in segs if s.step != 1]
        wide = len(runs) > 127  # a primitive's segments are disjoint, but stay safe if one overlaps itself
        diff = np.zeros((n, n + 1), dtype=np.int32 if wide else np.int8)
        for s in runs:
            live = s.count > 0
            lo = s.start[live]
            hi = np.minimum(lo + s.count[live], n)
            # one mark a row per segment (rows are distinct): a fancy increment is exact, np.add.at ~26x slower
            diff[rows[live], lo] += 1
            diff[rows[live], hi] -= 1
        np.cumsum(diff, axis=1, dtype=diff.dtype, out=diff)
        # OR, never assign: bands drawn above (a row's own key can look like a band) are already in mask
        mask |= diff[:, :n] > 0
    # the rest listed pair by pair, a block of rows at a time: each pair is ~5 int64 temporaries, and dilated(2,048,
    # 2) at 4,096 tokens (8.4 M pairs at once) held 356 MB beside a data-dependent part priced for its masks
    widest = max((int(np.minimum(s.count, n).max(initial=0)) for s in segs), default=0)
    chunk_rows = max(1, DENSE_LIST_PAIRS // max(1, widest * len(segs)))
    for first in range(0, n, chunk_rows):
        part = [Seg(s.start[first : first + chunk_rows], s.step, s.count[first : first + chunk_rows]) for s in segs]
        r, k = enumerate_keys(part, n)
        mask[r + first, k] = True
    return mask


DENSE_LIST_PAIRS = 1 << 20  # (row, key) pairs of a dense mask listed at once


def _band(seg: Seg, rows: np.ndarray, n: int) -> tuple[int, int] | None:
    """(lo, hi) when every row i keeps exactly [i + lo, i + hi) clipped to [0, n), else None."""
    live = seg.count > 0
    if not live.any():
        return None
    lo = int((seg.start[live] - rows[live]).min())
    hi = int((seg.start[live] + seg.count[live] - rows[live]).max())
    want_lo = np.clip(rows + lo, 0, n)
    want_count = np.maximum(np.clip(rows + hi, 0, n) - want_lo, 0)
    if not np.array_equal(np.where(live, seg.count, 0), want_count):
        return None
    return (lo, hi) if np.array_equal(seg.start[live], want_lo[live]) else None


# One explorer rerun asks for the same dense mask several times (row degrees, block layouts at two
# sizes, the view). The mask and what is derived from it are kept for a few expressions, keyed by
# structure, n and a digest of the vectors; a 4,096^2 mask is 16 MiB, so the bound holds two of them.
MASK_MEMO_BYTES = 40 << 20
INTERVAL_FILL_SHARE = 16  # intervals holding more than n^2 / this many pairs are filled by running sums
_mask_memo: OrderedDict[tuple, dict] = OrderedDict()
_mask_memo_lock = threading.Lock()


def clear_mask_memo() -> None:
    """Forget every memoised dense mask (tests, memory pressure)."""
    with _mask_memo_lock:
        _mask_memo.clear()


base.DENSE_MEMO_CLEARERS.append(clear_mask_memo)


def _expr_key(expr: Expr):
    if isinstance(expr, Primitive):
        return type(expr), tuple((f.name, getattr(expr, f.name)) for f in fields(expr))
    if isinstance(expr, (Union, Intersection)):
        return type(expr), tuple(_expr_key(p) for p in expr.parts)
    raise TypeError(f"not a mask expression: {type(expr).__name__}")


def _entry_bytes(entry: dict) -> int:
    return sum(v.nbytes for v in entry.values())


def _mask_entry(expr: Expr, n: int, vectors: Vectors | None) -> dict:
    """The memo entry of this mask: {"mask": read-only (n, n) bool, derived arrays...}."""
    try:
        key = (_expr_key(expr), n, None if vectors is None else tuple(base._digest(v) for v in vectors))
        hash(key)
    except (TypeError, AttributeError):  # unhashable parameters: nothing to key on
        key = None
    if key is not None:
        with _mask_memo_lock:
            entry = _mask_memo.get(key)
            if entry is not None:
                _mask_memo.move_to_end(key)
                return entry
    mask = _build_dense(expr, n, vectors)
    mask.flags.writeable = False
    entry = {"mask": mask}
    if key is not None and mask.nbytes <= MASK_MEMO_BYTES // 2:
        with _mask_memo_lock:
            _mask_memo[key] = entry
            _trim_memo()
    return entry


def _trim_memo() -> None:
    total = sum(_entry_bytes(e) for e in _mask_memo.values())
    while total > MASK_MEMO_BYTES and len(_mask_memo) > 1:
        total -= _entry_bytes(_mask_memo.popitem(last=False)[1])


def _derived(expr: Expr, n: int, vectors: Vectors | None, name, compute) -> np.ndarray:
    """compute(mask), kept beside the memoised mask (read-only: callers copy before changing it)."""
    entry = _mask_entry(expr, n, vectors)
    value = entry.get(name)
    if value is None:
        value = compute(entry["mask"])
        value.flags.writeable = False
        with _mask_memo_lock:
            entry[name] = value
            _trim_memo()
    return value


def _build_dense(expr: Expr, n: int, vectors: Vectors | None) -> np.ndarray:
    terms = simple_terms(expr)
    uses: dict[int, int] = {}
    for term in terms:
        for prim in term:
            uses[id(prim)] = uses.get(id(prim), 0) + 1
    cache: dict[int, np.ndarray] = {}

    def own(prim) -> np.ndarray:  # a mask this call may change in place: no other term reads it
        if id(prim) not in cache:
            cache[id(prim)] = _primitive_dense(prim, n, vectors)
        m = cache[id(prim)]
        return m if uses[id(prim)] == 1 else m.copy()

    out = None
    for term in terms:
        if len(term) == 1:
            acc = own(term[0]) if out is None else cache.get(id(term[0]))
            if acc is None:
                acc = cache[id(term[0])] = _primitive_dense(term[0], n, vectors)
        else:
            acc = own(term[0])
            for prim in term[1:]:
                if id(prim) not in cache:
                    cache[id(prim)] = _primitive_dense(prim, n, vectors)
                acc &= cache[id(prim)]
        if out is None:
            out = acc
        else:
            out |= acc
    if out is None:
        out = np.zeros((n, n), dtype=bool)
    return out


def dense_mask(expr: Expr, n: int, vectors: Vectors | None = None) -> np.ndarray:
    """The full (n, n) boolean mask; refused past DENSE_MAX_N."""
    return _shared_mask(expr, n, vectors).copy()


def _shared_mask(expr: Expr, n: int, vectors: Vectors | None = None) -> np.ndarray:
    """The memoised, read-only dense mask (no copy: for counting)."""
    check_n(n, expr)
    if n > DENSE_MAX_N:
        raise PatternError(
            f"a dense mask at n = {n:,} would take {n * n / 2**20:,.0f} MiB; the limit is "
            f"n = {DENSE_MAX_N:,}: use the block layout instead"
        )
    return _mask_entry(expr, n, vectors)["mask"]


def _row_sums(mask: np.ndarray) -> np.ndarray:
    return mask.view(np.uint8).sum(axis=1, dtype=np.int64)


def _mask_degrees(expr: Expr, n: int, vectors: Vectors | None) -> np.ndarray:
    if n % 8:
        return _derived(expr, n, vectors, "degrees", _row_sums)
    eights = _derived(expr, n, vectors, "eights", _eights)
    return _derived(expr, n, vectors, "degrees", lambda m: eights.sum(axis=1, dtype=np.int64))


def mask_tile(expr: Expr, n: int, row_lo: int, row_hi: int, col_lo: int, col_hi: int) -> np.ndarray:
    """Exact mask of a rectangular region of a structured pattern, for any n (zooming)."""
    check_n(n, expr)
    row_lo, col_lo = max(0, row_lo), max(0, col_lo)
    row_hi, col_hi = min(n, row_hi), min(n, col_hi)
    if (row_hi - row_lo) * (col_hi - col_lo) > DENSE_MAX_N**2:
        raise PatternError("the requested region is too large to draw element by element")
    if expr.data_dependent:
        return _shared_mask(expr, n)[row_lo:row_hi, col_lo:col_hi].copy()
    rows = np.arange(row_lo, row_hi, dtype=np.int64)
    window = [interval(col_lo, col_hi, len(rows))]
    tile = np.zeros((len(rows), col_hi - col_lo), dtype=bool)
    segs_of = {}
    for term in simple_terms(expr):
        parts = []
        for prim in term:
            if id(prim) not in segs_of:
                segs_of[id(prim)] = prim.segments(rows, n)
            parts.append(segs_of[id(prim)])
        r, k = enumerate_keys(intersect_all(parts + [window]), col_hi - col_lo)
        tile[r, k - col_lo] = True
    return tile


@dataclass
class BlockLayout:
    """Which (query block, key block) pairs hold at least one kept pair."""

    n: int
    block: int
    terms: list[list[list[Seg]]]  # block-level segments over all query blocks
    exact: bool = True

    @property
    def n_blocks(self) -> int:
        """Blocks per side (the last may be partial)."""
        return -(-self.n // self.block)

    def kept_per_row(self) -> np.ndarray:
        """Kept key blocks of each query block (computed once)."""
        if getattr(self, "_kept", None) is None:
            # block-level column sets list a (rows, blocks) table: never listed just to price the fold
            self._kept = count_union(self.terms, self.n_blocks, universe=self.n_blocks, list_columns=False)
        return self._kept

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(I, J) of every kept block, sorted."""
        nb = self.n_blocks
        listed = union_pairs(self.terms, nb, nb)  # many strided parts: bitmaps instead of segment products
        if listed is not None:
            return listed // nb, listed % nb
        codes = []
        for term in self.terms:
            closed = [p for p in term if isinstance(p, ColumnSet) and p.contains is not None]
            rest = [p for p in term if not any(p is c for c in closed)]
            if closed and rest:  # list the other parts' blocks, then ask the column sets (no (rows, nb) table)
                r, k = enumerate_keys(intersect_all(rest), nb)
                for c in closed:
                    keep = c.contains(r, k)
                    r, k = r[keep], k[keep]
            else:
                r, k = enumerate_keys(intersect_all(term), nb)
            codes.append(r * nb + k)
        if not codes:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # sort, then drop repeats: np.unique hashes, which is ~100x slower on millions of random codes
        code = np.sort(np.concatenate(codes))
        keep = np.ones(len(code), dtype=bool)
        keep[1:] = code[1:] != code[:-1]
        code = code[keep]
        return code // nb, code % nb

    def dense(self) -> np.ndarray:
        """(nb, nb) boolean layout; refused past DENSE_MAX_N blocks."""
        nb = self.n_blocks
        if nb > DENSE_MAX_N:
            raise PatternError(f"{nb:,} × {nb:,} blocks is too many to draw; use a larger block size")
        out = np.zeros((nb, nb), dtype=bool)
        i, j = self.pairs()
        out[i, j] = True
        return out

    def executed_pairs(self) -> int:
        """Pairs a block-sparse kernel computes: every kept block in full, B x B.

        FlexAttention pads the sequence to a multiple of the block size, so the partial last
        block costs a whole block too (the padded pairs are computed, then masked).
        """
        return int(self.kept_per_row().sum()) * self.block * self.block


def pairs_by_row(i: np.ndarray, j: np.ndarray, rows: int, width: int | None = None, fill: int = -1):
    """Group (i, j) pairs into a (rows, width) table of j per row, padded with `fill`.

    Returns (count per row, table); width defaults to the longest row.
    """
    per_row = np.bincount(i, minlength=rows)
    width = int(per_row.max(initial=0)) if width is None else width
    table = np.full((rows, width), fill, dtype=np.int64)
    order = np.argsort(i, kind="stable")
    i, j = i[order], j[order]
    slot = np.arange(len(i)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    table[i, slot] = j
    return per_row, table


def _layout_from_pairs(n: int, block: int, i: np.ndarray, j: np.ndarray) -> list[list[list[Seg]]]:
    """Kept block pairs as one term of runs: each row's consecutive key blocks are one interval.

    A table of single blocks is (rows, widest row): a global row keeps every block, so at 2^20 tokens
    and block 64 it was 16,384 x 16,384 int64 (2 GiB, a minute here). Runs keep global rows to one slot.
    """
    nb = -(-n // block)
    if len(i) == 0:
        return [[[interval(0, 0, nb)]]]
    code = np.sort(np.asarray(i, dtype=np.int64) * nb + np.asarray(j, dtype=np.int64))
    fresh = np.ones(len(code), dtype=bool)
    fresh[1:] = code[1:] != code[:-1]
    code = code[fresh]
    i, j = code // nb, code % nb
    starts = np.ones(len(code), dtype=bool)
    starts[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1] + 1)
    lengths = np.diff(np.append(np.flatnonzero(starts), len(code)))
    _, first = pairs_by_row(i[starts], j[starts], nb)
    _, size = pairs_by_row(i[starts], lengths, nb, fill=0)
    return [[[Seg(first[:, c].copy(), 1, size[:, c].copy()) for c in range(first.shape[1])]]]


def _eights(mask: np.ndarray) -> np.ndarray:
    """(n, n / 8) uint8: kept keys in each run of eight columns (n a multiple of 8).

    Eight 0/1 bytes are summed at once: their uint64 word times 0x0101... holds the sum in its top byte.
    """
    words = np.ascontiguousarray(mask).view(np.uint64)
    out = np.multiply(words, np.uint64(0x0101010101010101))
    np.right_shift(out, np.uint64(56), out=out)
    return out.astype(np.uint8)


def _dense_block_counts(mask: np.ndarray, block: int, eights: np.ndarray | None = None) -> np.ndarray:
    """(nb, nb) kept pairs per block of a dense mask (edge blocks padded with zeros), in a narrow dtype."""
    n = mask.shape[0]
    nb = -(-n // block)
    pad = nb * block - n
    width = nb * block
    area = block * block
    total = np.uint8 if area < (1 << 8) else np.uint16 if area < (1 << 16) else np.int32
    if n % 8 == 0 and block % 8 == 0:
        e = _eights(mask) if eights is None else eights
        if pad:
            e = np.pad(e, ((0, pad), (0, pad // 8)))
        per_row = e.reshape(width, nb, block // 8).sum(axis=2, dtype=total) if block > 8 else e.astype(total)
    else:
        u = mask.view(np.uint8)
        if pad:
            u = np.pad(u, ((0, pad), (0, pad)))
        per_row = u.reshape(width, nb, block).sum(axis=2, dtype=total)
    return per_row.reshape(nb, block, nb).sum(axis=1, dtype=total)


def _block_counts(expr: Expr, n: int, block: int, vectors: Vectors | None) -> np.ndarray:
    """Kept pairs per block of a memoised dense mask (its eight-column sums shared by every block size)."""
    eights = _derived(expr, n, vectors, "eights", _eights) if n % 8 == 0 and block % 8 == 0 else None
    return _derived(expr, n, vectors, ("blocks", block), lambda m: _dense_block_counts(m, block, eights))


def block_pair_counts(
    expr: Expr, n: int, block: int, qi: np.ndarray, kj: np.ndarray, vectors: Vectors | None = None
) -> np.ndarray:
    """Exact number of kept pairs inside each listed block (qi[t], kj[t])."""
    if expr.data_dependent:
        return _block_counts(expr, n, block, vectors)[qi, kj].astype(np.int64)
    out = np.zeros(len(qi), dtype=np.int64)
    span = min(block, n)  # a block wider than the sequence holds only n rows (block 2^20 at n = 65,536)
    if span > ROW_CHUNK:
        # a block of more rows than a chunk: its rows a chunk at a time (mistralᶜ ∩ fixed at 574,858 tokens, block
        # 2^20, counted its one block's rows at once: 449 MB)
        for t, (bi, bj) in enumerate(zip(qi.tolist(), kj.tolist(), strict=True)):
            key_lo, key_hi = bj * block, min(bj * block + block, n)
            for lo in range(bi * block, min(bi * block + span, n), ROW_CHUNK):
                rows = np.arange(lo, min(lo + ROW_CHUNK, bi * block + span, n), dtype=np.int64)
                out[t] += int(_count_rows(expr, n, rows, key_lo, key_hi).sum())  # one key window for every row
        return out
    step = max(1, ROW_CHUNK // span)
    offs = np.arange(span, dtype=np.int64)
    for lo in range(0, len(qi), step):
        bi, bj = qi[lo : lo + step], kj[lo : lo + step]
        rows = (bi[:, None] * block + offs[None, :]).ravel()
        valid = rows < n
        rows_c = np.minimum(rows, n - 1)
        key_lo = np.repeat(bj * block, span)
        key_hi = np.minimum(key_lo + block, n)
        counts = _count_rows(expr, n, rows_c, key_lo, key_hi) * valid
        out[lo : lo + step] = counts.reshape(len(bi), span).sum(axis=1)
    return out


def block_layout(
    expr: Expr, n: int, block: int = 128, vectors: Vectors | None = None, *, priced: bool = False
) -> BlockLayout:
    """Exact block layout for any n (intersections are refined by exact counting when affordable).

    priced: the caller's request budget (limits.check_budget) accepted this layout, pricing it by the plan the
    engine runs; the engine's own coarse guard (block_cost against BLOCK_MAX_WORK) is then skipped. That guard
    multiplies cells by the number of terms and declined layouts the budget priced as affordable: the block part of
    5 of 133 requests accepted at the budget's edge, and the Explorer's mask view of accepted requests (an error
    in place of the page), each of which built in 10-340 ms with the guard lifted."""
    check_n(n, expr)
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise PatternError(f"block size must be a positive whole number, got {block!r}")
    if block > n:  # one block either way: the layout at block n is the same, and nothing is padded to 2^20
        wide = block_layout(expr, n, n, vectors, priced=priced)
        return BlockLayout(n, block, wide.terms, wide.exact)
    work = 0 if expr.data_dependent or priced else block_cost(expr, n, block)
    if work > BLOCK_MAX_WORK:
        raise PatternError(
            f"the exact block layout of this pattern at n = {n:,} and block size {block:,} would cost about "
            f"{work:,} work units, above the engine's limit of {BLOCK_MAX_WORK:,}: lower n or the number of "
            "random keys, or change the block size",
            "block_cost",
            n=f"{n:,}",
            block=f"{block:,}",
            work=f"{work:,}",
            limit=f"{BLOCK_MAX_WORK:,}",
        )
    nb = -(-n // block)
    if expr.data_dependent:
        i, j = np.nonzero(_block_counts(expr, n, block, vectors))
        return BlockLayout(n, block, _layout_from_pairs(n, block, i, j))
    brows = np.arange(nb, dtype=np.int64)
    terms = _term_segments(expr, lambda p: p.block_segments(brows, n, block))
    exact_terms = [t for t, raw in zip(terms, simple_terms(expr), strict=True) if len(raw) == 1]
    loose_terms = [t for t, raw in zip(terms, simple_terms(expr), strict=True) if len(raw) > 1]
    if not loose_terms:
        return BlockLayout(n, block, terms)
    # Intersecting block sets over-approximates: check those candidate blocks exactly.
    loose = BlockLayout(n, block, loose_terms)
    if refine_work(expr, n, block, int(loose.kept_per_row().sum())) > REFINE_MAX_WORK:
        unrefined = BlockLayout(n, block, terms, exact=False)
        if not exact_terms:  # the same terms, just counted: stats would count them again (0.58 s of 1.06-1.47 s for
            unrefined._kept = loose.kept_per_row()  # longformer ∩ fixedᶜ at 425,225, block 1: a probe)
        return unrefined
    ci, cj = loose.pairs()
    keep = block_pair_counts(expr, n, block, ci, cj) > 0
    refined = _layout_from_pairs(n, block, ci[keep], cj[keep])
    return BlockLayout(n, block, exact_terms + refined)
