"""Summary columns: j mod l >= l - c (Sparse Transformer, fixed).

The same columns for every query, so counts come in closed form (a ColumnSet) instead of one
segment per column: exact and O(rows) whatever l and c are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import ColumnSet, Seg, interval, singletons
from .base import FOREVER, Primitive, block_bounds, nblocks


def _first_summary_at_or_after(a: np.ndarray, stride: int, summary: int) -> np.ndarray:
    r = a % stride
    return np.where(r >= stride - summary, a, a + (stride - summary - r))


@dataclass(frozen=True, eq=False)
class SummaryColumns(Primitive):
    """The last c tokens of every l-block are summary columns that every query attends."""

    stride: int
    summary: int
    interval_segments = False
    formula = "kv_idx % {stride} >= {stride} - {summary}"

    def _below(self, x: np.ndarray) -> np.ndarray:
        """Summary columns in [0, x)."""
        l, c = self.stride, self.summary
        x = np.maximum(x, 0)
        return (x // l) * c + np.maximum(x % l - (l - c), 0)

    def segments(self, rows, n):
        limit = np.minimum(rows + 1, n) if self.causal else np.full(len(rows), n)

        def count_in(lo, hi):
            hi = np.minimum(hi, limit)
            return np.where(hi > lo, self._below(hi) - self._below(lo), 0)

        def bitmap(sl, universe):
            keys = np.arange(universe, dtype=np.int64)
            return ((keys % self.stride >= self.stride - self.summary) & (keys < n))[None, :] & (
                keys[None, :] < limit[sl, None]
            )

        def contains(at, keys):
            return (keys % self.stride >= self.stride - self.summary) & (keys < limit[at]) & (keys >= 0)

        return ColumnSet(
            count_in,
            lambda: self._explicit(rows, n, limit),
            len(rows),
            slots=self.materialised_slots(n),
            bitmap=bitmap,
            contains=contains,
        )

    def _explicit(self, rows, n, limit):
        l, c = self.stride, self.summary
        periods = -(-n // l)
        if c <= periods:  # one progression per summary offset
            segs = []
            for offset in range(l - c, l):
                count = np.where(limit > offset, (limit - 1 - offset) // l + 1, 0)
                segs.append(Seg(np.full(len(rows), offset, dtype=np.int64), l, count))
            return segs
        segs = []  # one interval per period
        for t in range(periods):
            lo = t * l + l - c
            segs.append(interval(lo, np.minimum(limit, (t + 1) * l), len(rows)))
        return segs

    def block_segments(self, brows, n, block):
        nb = nblocks(n, block)
        kb = np.arange(nb, dtype=np.int64)
        klo, khi = block_bounds(kb, n, block)
        holds = _first_summary_at_or_after(klo, self.stride, self.summary) <= khi
        cum = np.concatenate([[0], np.cumsum(holds)])
        rows = len(brows)
        if self.causal:  # key blocks before the query's own, plus its own if a summary column <= the last query
            _, qhi = block_bounds(brows, n, block)
            own = (_first_summary_at_or_after(brows * block, self.stride, self.summary) <= qhi).astype(np.int64)
            limit = brows
        else:
            own = np.zeros(rows, dtype=np.int64)
            limit = np.full(rows, nb)

        def count_in(lo, hi):
            top = np.clip(np.minimum(hi, limit), 0, nb)
            lo_c = np.clip(lo, 0, nb)
            inside = np.where(top > lo_c, cum[top] - cum[lo_c], 0)
            return inside + own * ((lo <= brows) & (brows < hi) & self.causal)

        def explicit():
            table = np.where(holds[None, :] & (kb[None, :] < limit[:, None]), kb[None, :], -1)
            table = np.concatenate([table, np.where(own > 0, brows, -1)[:, None]], axis=1)
            return singletons(table)

        def bitmap(sl, universe):
            kbs = np.arange(universe, dtype=np.int64)
            pad = np.zeros(universe, dtype=bool)
            pad[: min(universe, nb)] = holds[: min(universe, nb)]
            out = pad[None, :] & (kbs[None, :] < limit[sl, None])
            if self.causal:
                out |= (kbs[None, :] == brows[sl, None]) & (own[sl, None] > 0)
            return out

        def contains(at, kbs):
            inside = (kbs >= 0) & (kbs < nb)
            out = inside & holds[np.clip(kbs, 0, nb - 1)] & (kbs < limit[at])
            if self.causal:
                out |= (kbs == brows[at]) & (own[at] > 0)
            return out

        return ColumnSet(count_in, explicit, rows, slots=int(holds.sum()) + 1, bitmap=bitmap, contains=contains)

    def block_segment_count(self, n, block):
        """One closed-form count per block row."""
        return 1

    def block_cost_estimate(self, n, block):
        """One closed-form count per block row, over a prefix table of the key blocks."""
        return 2 * (-(-n // block))

    def segment_count(self, n):
        return 1

    def materialised_slots(self, n):
        """Segments per row when the closed form cannot serve (one per summary offset, or one per period)."""
        return max(1, min(self.summary, -(-n // self.stride)))

    def kv_rows(self, cols):
        is_summary = cols % self.stride >= self.stride - self.summary
        return [interval(cols, np.where(is_summary, cols + FOREVER, cols), len(cols))]
