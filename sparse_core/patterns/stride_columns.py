"""Stride columns: (i - j) mod l == 0 (Sparse Transformer, strided)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import Seg, interval
from .base import FOREVER, Primitive, nblocks, progression_block_segments


@dataclass(frozen=True, eq=False)
class StrideColumns(Primitive):
    """Every key an exact multiple of l away from the query."""

    stride: int
    kv_every_key = True  # key j is read by rows j + t*l forever
    interval_segments = False
    formula = "(q_idx - kv_idx) % {stride} == 0"

    def segments(self, rows, n):
        l = self.stride
        start = rows % l
        count = rows // l + 1 if self.causal else (n - 1 - start) // l + 1
        return [Seg(start, l, count)]

    def block_segments(self, brows, n, block):
        l, nb = self.stride, nblocks(n, block)
        if l % block == 0:  # i - t*l lands exactly t*l/B blocks away
            period = l // block
            start = brows % period
            count = brows // period + 1 if self.causal else (nb - 1 - start) // period + 1
            return [Seg(start, period, count)]
        if l <= block:
            # every block pair holds a difference divisible by l: a pair's differences i - j run over hq + hk - 1
            # consecutive values, at least B >= l (two partial blocks meet only on the diagonal, which holds 0);
            # causal pairs below the diagonal hold only positive ones. One interval, not up to 3·B/gcd(l, B) + 1
            # progressions (strided(11) at 2^20, block 64: 193 slots a block row priced 391 MiB for 5 MB held)
            hi = brows + 1 if self.causal else np.full(len(brows), nb)
            return [interval(0, hi, len(brows))]
        return progression_block_segments(brows, n, block, *self.block_progression(n, block))

    def block_progression(self, n, block):
        """(l, lowest m, highest m) of the key blocks i - m*l where block rows are progressions, else None."""
        l = self.stride
        if l % block == 0 or l <= block:
            return None
        reach = (n - 1) // l + 1
        return l, 0 if self.causal else -reach, reach

    def block_segment_count(self, n, block):
        """Segment slots per block row of block_segments (one when B divides l or l <= B; else at most 3*B/gcd + 1
        progressions)."""
        from math import gcd

        step = self.stride
        if step % block == 0 or step <= block:
            return 1
        return 3 * block // gcd(step, block) + 1

    def block_cost_estimate(self, n, block):
        """Block rows x progression slots: one slot when B divides l or l <= B, else at most 3*B/gcd(l, B)."""
        from math import gcd

        nb = -(-n // block)
        l = self.stride
        return nb if (l % block == 0 or l <= block) else nb * (3 * block // gcd(l, block) + 1)

    def kv_rows(self, cols):
        return [Seg(cols, self.stride, np.full(len(cols), FOREVER // self.stride, dtype=np.int64))]
