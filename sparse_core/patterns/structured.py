"""Structured primitives: every mask a published pattern is made of.

Semantics (query i, key j, 0-based; causal adds j <= i):
  Window(w)           |i - j| <= w
  Dilated(w, d)       |i - j| <= w*d and (i - j) mod d == 0
  GlobalTokens(g)     i < g or j < g
  Blocks(b, k)        |floor(i/b) - floor(j/b)| <= k
  RandomKeys(r)       r distinct uniform keys per query (seeded)
  StrideColumns(l)    (i - j) mod l == 0                       (Sparse Transformer, strided)
  SummaryColumns(l,c) j mod l >= l - c                         (Sparse Transformer, fixed)
  Sinks(s)            j < s                                    (StreamingLLM attention sinks)
  RandomBlocks(b, r)  r distinct random key blocks per query block (BigBird)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import PatternError
from ..segments import Seg, intersect, interval, singletons
from .base import Primitive, block_bounds, merge_intervals, random_subsets


def _nblocks(n: int, block: int) -> int:
    return -(-n // block)


def _window_reach(w: int, block: int) -> int:
    """How many blocks away a key block can still hold a key within distance w."""
    return 0 if w <= 0 else (w - 1) // block + 1


def _clip(segs: list[Seg], n: int) -> list[Seg]:
    full = interval(0, n, len(segs[0].start))
    return [intersect(s, full) for s in segs]


def _shifted_block_ranges(brows, n, block, shifts, causal):
    """Key blocks hit by keys i - m for i in each query block and each shift m (exact)."""
    qlo, qhi = block_bounds(brows, n, block)
    lo_keys = qlo[:, None] - shifts[None, :]
    hi_keys = qhi[:, None] - shifts[None, :]
    lo_keys = np.maximum(lo_keys, 0)
    hi_keys = np.minimum(hi_keys, n - 1)
    if causal:
        hi_keys = np.minimum(hi_keys, qhi[:, None])
    lo_b = lo_keys // block
    hi_b = np.where(hi_keys >= lo_keys, hi_keys // block + 1, lo_b)
    return merge_intervals(lo_b, hi_b)


MAX_SHIFTS = 1 << 22  # enumeration budget for non-aligned progressions at block level
BITMAP_MAX = 1 << 22  # query blocks x key blocks below which random layouts use a bitmap


@dataclass(frozen=True, eq=False)
class Window(Primitive):
    window: int

    def segments(self, rows, n):
        hi = rows + 1 if self.causal else rows + self.window + 1
        return [interval(np.maximum(rows - self.window, 0), np.minimum(hi, n), len(rows))]

    def block_segments(self, brows, n, block):
        reach = _window_reach(self.window, block)
        hi = brows + 1 if self.causal else brows + reach + 1
        return [interval(np.maximum(brows - reach, 0), np.minimum(hi, _nblocks(n, block)), len(brows))]

    def kv_retained(self, n):
        return min(n, self.window + 1) if self.causal else n


@dataclass(frozen=True, eq=False)
class Dilated(Primitive):
    window: int
    dilation: int

    def segments(self, rows, n):
        w, d = self.window, self.dilation
        count = w + 1 if self.causal else 2 * w + 1
        start = rows - w * d
        return _clip([Seg(start, d, np.full(len(rows), count, dtype=np.int64))], n)

    def block_segments(self, brows, n, block):
        w, d = self.window, self.dilation
        if d <= block:
            # every block pair whose nearest keys are within w*d holds a multiple of d
            return Window(w * d, causal=self.causal).block_segments(brows, n, block)
        shifts = np.arange(0 if self.causal else -w, w + 1, dtype=np.int64) * d
        return _shifted_block_ranges(brows, n, block, shifts, self.causal)

    def kv_retained(self, n):
        return min(n, self.window * self.dilation + 1) if self.causal else n


@dataclass(frozen=True, eq=False)
class GlobalTokens(Primitive):
    global_tokens: int

    def segments(self, rows, n):
        g = min(self.global_tokens, n)
        is_global = rows < g
        row_hi = rows + 1 if self.causal else np.full(len(rows), n)
        return [interval(0, np.where(is_global, row_hi, g), len(rows))]

    def block_segments(self, brows, n, block):
        g = min(self.global_tokens, n)
        nb = _nblocks(n, block)
        holds_global_row = brows * block < g
        row_hi = brows + 1 if self.causal else np.full(len(brows), nb)
        col_hi = 0 if g == 0 else (g - 1) // block + 1
        if self.causal:
            col_hi = np.minimum(col_hi, brows + 1)
        return [interval(0, np.where(holds_global_row, row_hi, col_hi), len(brows))]


@dataclass(frozen=True, eq=False)
class Blocks(Primitive):
    block: int
    neighbors: int = 0

    def segments(self, rows, n):
        b, k = self.block, self.neighbors
        lo = np.maximum((rows // b - k) * b, 0)
        hi = np.minimum((rows // b + k + 1) * b, n)
        if self.causal:
            hi = np.minimum(hi, rows + 1)
        return [interval(lo, hi, len(rows))]

    def block_segments(self, brows, n, block):
        b, k = self.block, self.neighbors
        qlo, qhi = block_bounds(brows, n, block)
        lo = np.maximum((qlo // b - k) * b, 0)
        hi = np.minimum((qhi // b + k + 1) * b, n) - 1
        if self.causal:
            hi = np.minimum(hi, qhi)
        return [interval(lo // block, hi // block + 1, len(brows))]

    def kv_retained(self, n):
        return min(n, (self.neighbors + 1) * self.block) if self.causal else n


@dataclass(frozen=True, eq=False)
class RandomKeys(Primitive):
    random_keys: int
    seed: int = 0

    def key_table(self, rows, n):  # (R, r), -1 where a causal row has fewer keys than r
        population = rows + 1 if self.causal else np.full(len(rows), n)
        return random_subsets(rows, population, self.random_keys, self.seed, salt=1)

    def segments(self, rows, n):
        return singletons(self.key_table(rows, n))

    def block_segments(self, brows, n, block):
        qlo, _ = block_bounds(brows, n, block)
        rows = (qlo[:, None] + np.arange(block)[None, :]).ravel()
        valid = rows < n
        keys = np.where(valid[:, None], self.key_table(np.minimum(rows, n - 1), n), -1)
        key_blocks = np.where(keys >= 0, keys // block, -1).reshape(len(brows), -1)
        nb = _nblocks(n, block)
        if len(brows) * nb <= BITMAP_MAX:  # scatter into a bitmap: cheaper than sorting B*r keys a row
            hit = np.zeros((len(brows), nb + 1), dtype=bool)
            hit[np.arange(len(brows))[:, None], key_blocks] = True  # -1 lands in the spare last column
            key_blocks = np.where(hit[:, :nb], np.arange(nb), -1)
        return singletons(key_blocks)


@dataclass(frozen=True, eq=False)
class StrideColumns(Primitive):
    stride: int

    def segments(self, rows, n):
        l = self.stride  # noqa: E741
        start = rows % l
        count = rows // l + 1 if self.causal else (n - 1 - start) // l + 1
        return [Seg(start, l, count)]

    def block_segments(self, brows, n, block):
        l, nb = self.stride, _nblocks(n, block)  # noqa: E741
        if l % block == 0:  # i - t*l lands exactly t*l/B blocks away
            period = l // block
            start = brows % period
            count = brows // period + 1 if self.causal else (nb - 1 - start) // period + 1
            return [Seg(start, period, count)]
        if block % l == 0:  # every block pair holds a difference divisible by l
            hi = brows + 1 if self.causal else np.full(len(brows), nb)
            return [interval(0, hi, len(brows))]
        reach = (n - 1) // l
        if len(brows) * (2 * reach + 1) > MAX_SHIFTS:
            raise PatternError(
                f"block size {block} and stride {l} do not divide each other; at n={n} the "
                "block layout would need too much enumeration: use a block size that divides "
                "the stride or is a multiple of it"
            )
        shifts = np.arange(0 if self.causal else -reach, reach + 1, dtype=np.int64) * l
        return _shifted_block_ranges(brows, n, block, shifts, self.causal)


def _first_summary_at_or_after(a: np.ndarray, stride: int, summary: int) -> np.ndarray:
    r = a % stride
    return np.where(r >= stride - summary, a, a + (stride - summary - r))


@dataclass(frozen=True, eq=False)
class SummaryColumns(Primitive):
    stride: int
    summary: int

    def segments(self, rows, n):
        l, c = self.stride, self.summary  # noqa: E741
        segs = []
        for offset in range(l - c, l):
            start = np.full(len(rows), offset, dtype=np.int64)
            if self.causal:
                count = np.where(rows >= offset, (rows - offset) // l + 1, 0)
            else:
                count = np.full(len(rows), 0 if offset >= n else (n - 1 - offset) // l + 1)
            segs.append(Seg(start, l, count))
        return segs

    def _holds_summary(self, lo, hi):
        return _first_summary_at_or_after(lo, self.stride, self.summary) <= hi

    def block_segments(self, brows, n, block):
        l, c, nb = self.stride, self.summary, _nblocks(n, block)  # noqa: E741
        qlo, qhi = block_bounds(brows, n, block)
        # Full blocks below `upper` follow the period; block `special` is checked exactly.
        special = brows if self.causal else np.full(len(brows), nb - 1)
        sp_lo = special * block
        sp_hi = np.minimum(sp_lo + block - 1, n - 1)
        if self.causal:
            sp_hi = np.minimum(sp_hi, qhi)
        special_kept = self._holds_summary(sp_lo, sp_hi).astype(np.int64)
        rows = len(brows)
        if block % l == 0:
            periodic = [interval(0, special, rows)]
        elif l % block == 0:
            period = l // block
            periodic = []
            for offset in range((l - c) // block, period):
                count = np.maximum((special - 1 - offset) // period + 1, 0)
                periodic.append(Seg(np.full(rows, offset, dtype=np.int64), period, count))
        else:
            raise PatternError(
                f"block size {block} and stride {l} do not divide each other; "
                "choose a block size that divides the stride or is a multiple of it"
            )
        return periodic + [Seg(special, 1, special_kept)]


@dataclass(frozen=True, eq=False)
class Sinks(Primitive):
    sinks: int

    def segments(self, rows, n):
        hi = np.minimum(self.sinks, n)
        return self._causal_clip([interval(0, hi, len(rows))], rows)

    def block_segments(self, brows, n, block):
        s = min(self.sinks, n)
        hi = 0 if s == 0 else (s - 1) // block + 1
        return self._causal_clip([interval(0, hi, len(brows))], brows)

    def kv_retained(self, n):
        return min(n, self.sinks)


@dataclass(frozen=True, eq=False)
class RandomBlocks(Primitive):
    block: int
    random_blocks: int
    seed: int = 0

    def table(self, qblocks: np.ndarray, n: int) -> np.ndarray:  # (Q, r) key-block ids
        population = qblocks + 1 if self.causal else np.full(len(qblocks), _nblocks(n, self.block))
        return random_subsets(qblocks, population, self.random_blocks, self.seed, salt=2)

    def segments(self, rows, n):
        b = self.block
        picks = self.table(rows // b, n)
        lo = np.where(picks >= 0, picks * b, 0)
        hi = np.where(picks >= 0, np.minimum(lo + b, n), 0)
        segs = [interval(lo[:, c], hi[:, c], len(rows)) for c in range(picks.shape[1])]
        return self._causal_clip(segs or [interval(0, 0, len(rows))], rows)

    def block_segments(self, brows, n, block):
        b = self.block
        qlo, qhi = block_bounds(brows, n, block)
        span = block // b + 2  # query b-blocks that can overlap one query block
        qb = qlo[:, None] // b + np.arange(span)[None, :]
        valid_qb = qb * b <= qhi[:, None]
        picks = self.table(np.minimum(qb, qhi[:, None] // b).ravel(), n).reshape(len(brows), -1)
        valid = np.repeat(valid_qb, self.random_blocks, axis=1) & (picks >= 0)
        lo_key = picks * b
        hi_key = np.minimum(lo_key + b, n) - 1
        if self.causal:
            hi_key = np.minimum(hi_key, qhi[:, None])
        lo_b = np.where(valid, lo_key // block, 0)
        hi_b = np.where(valid & (hi_key >= lo_key), hi_key // block + 1, 0)
        return merge_intervals(lo_b, hi_b)
