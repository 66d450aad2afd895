"""BigBird's random blocks, as the reference implementation draws them.

google-research/bigbird `bigbird_block_rand_mask` (and transformers' `_bigbird_block_rand_mask`):
each query block that is not global picks r distinct key blocks uniformly among the blocks that
are neither in its sliding window nor global. Causal variant (not in the reference): among the
earlier blocks outside the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from .base import FOREVER, Primitive, block_bounds, merge_intervals, nblocks, stack_chunks
from .random_keys import fast_subsets, packed_blocks, pairs_in_chunks, table_predicate

SPAN_CELLS = 1 << 20  # candidate intervals held at once while building a block layout
WHOLE_TABLE_CELLS = 1 << 22  # a whole-sequence table of at most this many picks is drawn once and kept
_TABLES: dict[int, tuple] = {}  # the last whole-sequence table (primitive, n, table)


@dataclass(frozen=True, eq=False)
class RandomBlocks(Primitive):
    """r random key blocks per query block of b tokens, excluding window and global blocks."""

    block: int
    random_blocks: int
    seed: int = 0
    window_half: int = 0  # sliding blocks on each side that random blocks avoid
    global_first: int = 0  # global blocks at the start, avoided
    global_last: int = 0  # global blocks at the end, avoided

    def _allowed(self, qb: np.ndarray, n: int):
        """(population, first allowed block, excluded span start, excluded span length) per query block."""
        nb = nblocks(n, self.block)
        head, tail, h = self.global_first, max(nb - self.global_last, self.global_first), self.window_half
        is_global = (qb < head) | (qb >= tail)
        if self.causal:
            pop = np.clip(np.minimum(qb - h, tail) - head, 0, None)
            ex_lo = np.full(len(qb), tail)
            ex_len = np.zeros(len(qb), dtype=np.int64)
        else:
            ex_lo = np.clip(qb - h, head, tail)
            ex_len = np.clip(qb + h + 1, head, tail) - ex_lo
            pop = (tail - head) - ex_len
        return np.where(is_global, 0, pop), head, ex_lo, ex_len

    def table(self, qblocks: np.ndarray, n: int) -> np.ndarray:
        """(Q, r) key-block ids per query block, -1 where fewer blocks are allowed."""
        pop, head, ex_lo, ex_len = self._allowed(qblocks, n)
        idx = fast_subsets(qblocks, pop, self.random_blocks, self.seed, salt=2)
        kb = head + idx
        kb = np.where(kb >= ex_lo[:, None], kb + ex_len[:, None], kb)
        return np.where(idx >= 0, kb, -1)

    def predicate(self, q_idx, kv_idx, n):
        keep = table_predicate(
            lambda rows: self.table(rows, n), np.asarray(q_idx) // self.block, kv_idx, lambda k: k // self.block
        )
        return keep & (np.asarray(kv_idx) <= np.asarray(q_idx)) if self.causal else keep

    def _tables_for(self, qb: np.ndarray, n: int) -> np.ndarray:
        """Tables for many (repeated, nearly sorted) query blocks, each block drawn once per n."""
        if len(qb) == 0:
            return np.zeros((0, self.random_blocks), dtype=np.int64)
        nb = nblocks(n, self.block)
        if nb * self.random_blocks <= WHOLE_TABLE_CELLS:  # small enough: draw every block once and keep it
            cached = _TABLES.get(id(self))
            if cached is None or cached[0] is not self or cached[1] != n:
                cached = (self, n, self.table(np.arange(nb, dtype=np.int64), n))
                _TABLES.clear()  # one table at a time keeps memory bounded (<= 2^20 x r)
                _TABLES[id(self)] = cached
            return cached[2][qb]
        lo, hi = int(qb.min()), int(qb.max())
        if hi - lo + 1 > 2 * len(qb):
            return self.table(qb, n)
        return self.table(np.arange(lo, hi + 1, dtype=np.int64), n)[qb - lo]

    def segments(self, rows, n):
        b = self.block
        picks = self._tables_for(rows // b, n)
        lo = np.where(picks >= 0, picks * b, 0)
        hi = np.where(picks >= 0, np.minimum(lo + b, n), 0)
        segs = [interval(lo[:, c], hi[:, c], len(rows)) for c in range(picks.shape[1])]
        return self._causal_clip(segs or [interval(0, 0, len(rows))], rows)

    def block_segments(self, brows, n, block):
        span = block // self.block + 2
        step = max(1, SPAN_CELLS // (span * max(1, self.random_blocks)))
        return stack_chunks([self._block_chunk(brows[i : i + step], n, block) for i in range(0, len(brows), step)])

    def _block_chunk(self, brows, n, block):
        b = self.block
        qlo, qhi = block_bounds(brows, n, block)
        span = block // b + 2  # query b-blocks that can overlap one query block
        qb = qlo[:, None] // b + np.arange(span)[None, :]
        valid_qb = qb * b <= qhi[:, None]
        picks = self._tables_for(np.minimum(qb, qhi[:, None] // b).ravel(), n).reshape(len(brows), -1)
        valid = np.repeat(valid_qb, self.random_blocks, axis=1) & (picks >= 0)
        lo_key = picks * b
        hi_key = np.minimum(lo_key + b, n) - 1
        if self.causal:
            hi_key = np.minimum(hi_key, qhi[:, None])
        valid &= hi_key >= lo_key
        if b <= block:  # a pick touches at most two key blocks: list their ids, cheaper than merging intervals
            first = np.where(valid, lo_key // block, -1)
            second = np.where(valid & (hi_key // block != lo_key // block), hi_key // block, -1)
            return packed_blocks(np.concatenate([first, second], axis=1))
        lo_b = np.where(valid, lo_key // block, 0)
        hi_b = np.where(valid, hi_key // block + 1, 0)
        return merge_intervals(lo_b, hi_b)

    def segment_count(self, n):
        return max(1, self.random_blocks)

    def kv_rows(self, cols):
        """Every later row may draw the block of key j, except the head's global blocks (never drawn)."""
        drawable = (cols >= self.global_first * self.block) & (self.random_blocks > 0)
        return [interval(cols, np.where(drawable, cols + FOREVER, cols), len(cols))]

    def decode_reads(self, i, j):
        """Whether row i, decoding (a sequence of i + 1 tokens, so its block is the last), reads key j <= i."""
        return pairs_in_chunks(self._decode_reads, i, j, self.random_blocks)

    def _decode_reads(self, i, j):
        qb = i // self.block
        nb = qb + 1  # the newest row's block is the last one: it fixes the global tail and the allowed set
        head, h = self.global_first, self.window_half
        tail = np.maximum(nb - self.global_last, head)
        if self.causal:
            pop = np.clip(np.minimum(qb - h, tail) - head, 0, None)
            ex_lo, ex_len = tail, np.zeros(len(qb), dtype=np.int64)
        else:
            ex_lo = np.clip(qb - h, head, tail)
            ex_len = np.clip(qb + h + 1, head, tail) - ex_lo
            pop = (tail - head) - ex_len
        pop = np.where((qb < head) | (qb >= tail), 0, pop)
        idx = fast_subsets(qb, pop, self.random_blocks, self.seed, salt=2)  # the same draw as table()
        kb = head + idx
        kb = np.where(kb >= ex_lo[:, None], kb + ex_len[:, None], kb)
        picks = np.where(idx >= 0, kb, -1)
        return (picks == (j // self.block)[:, None]).any(axis=1)

    def constant_rows(self, n):
        """Rows in aligned runs of this length keep one key set (causal: that set clipped to j <= i)."""
        return self.block

    def block_cost_estimate(self, n, block):
        """Candidate intervals merged to find the kept key blocks."""
        return nblocks(n, block) * (block // self.block + 2) * max(1, self.random_blocks)
