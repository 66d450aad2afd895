"""Exact block and segment arithmetic shared by the primitives' `segments` and `block_segments`."""

from __future__ import annotations

from math import gcd

import numpy as np

from ..segments import Seg, intersect, interval, sort_pairs


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


def _residue_tables(n: int, block: int, d: int, mlo: int, mhi: int):
    """The residue runs of progression_block_segments, the same for every block row: (full rows' table, the partial
    last query block's table, d/g, full key columns, blocks, mlo, mhi clipped to the sequence), each table (runs, 3)
    of (residue, first u, last u); or None where no m lies in [mlo, mhi] within the sequence."""
    nb = nblocks(n, block)
    h = n - (nb - 1) * block
    reach = (n - 1) // d + 1
    mlo, mhi = max(mlo, -reach), min(mhi, reach)
    if mhi < mlo:
        return None
    g = gcd(d, block)
    period_m, period_d = block // g, d // g
    full_cols = nb if h == block else nb - 1

    def residues(up: int) -> np.ndarray:
        # the m0 that some m in [mlo, mhi] reaches: all of a period, or the range's own when it is shorter (stride 217
        # at block 2^20 is a period of 2^20 m0 values, 0.39 s to sort, for 9,700 strides within 2^20 tokens)
        if mhi - mlo + 1 >= period_m:
            m0 = np.arange(period_m, dtype=np.int64)
        else:
            m0 = np.arange(mlo, mhi + 1, dtype=np.int64) % period_m
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
    return full, last, period_d, full_cols, nb, mlo, mhi


def progression_block_shape(n: int, block: int, d: int, mlo: int, mhi: int) -> tuple[int, int, int]:
    """(slots a block row, step, widest step x count) of progression_block_segments, from its residue tables alone:
    the same for every block row, and an upper bound on what the built rows' segments (clipped to the sequence)
    hold. Pricing built a block row instead, ~23 us a slot: 1,450 slots for a dilation just above a coprime block,
    four such layers 110-194 ms to refuse (a probe)."""
    tables = _residue_tables(n, block, d, mlo, mhi)
    if tables is None:
        return 1, 1, 1
    full, last, period_d, full_cols, nb, _, _ = tables
    slots = max(len(full), len(last)) + (1 if full_cols < nb else 0)
    most = max((int((t[:, 2] - t[:, 1]).max()) + 1 for t in (full, last) if len(t)), default=0)
    most = min(most, -(-full_cols // period_d))  # the built rows are clipped to the full key blocks
    # as segments.shape_of reads a segment list: the lcm of the steps of segments holding 2+ keys, and the widest
    # step x count (a step counts even where a segment holds one key)
    span = max(1, period_d * most if period_d > 1 else most)
    return max(1, slots), period_d if most >= 2 else 1, span


def progression_block_segments(brows: np.ndarray, n: int, block: int, d: int, mlo: int, mhi: int) -> list[Seg]:
    """Key blocks holding a key i - m*d (i in the query block, mlo <= m <= mhi), exactly.

    Full blocks depend only on the block distance δ = qb - kb, and the δ that some m*d reaches
    repeat with period d/g (g = gcd(d, B)) every B/g values of m; so a row is at most 3*B/g
    progressions whatever the window. The partial last query block and last key block are
    checked on their own.
    """
    rows = len(brows)
    tables = _residue_tables(n, block, d, mlo, mhi)
    if tables is None:
        return [interval(0, 0, rows)]
    full, last, period_d, full_cols, nb, mlo, mhi = tables
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
