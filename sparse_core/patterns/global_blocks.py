"""Global blocks at both ends (BigBird ITC: the first and the last block attend and are attended by all)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from .base import FOREVER, NeedsNError, Primitive, block_bounds, nblocks

NO_TAIL = 1 << 62


@dataclass(frozen=True, eq=False)
class GlobalBlocks(Primitive):
    """Tokens of the first `first` and the last `last` blocks of b tokens are global."""

    block: int
    first: int
    last: int = 0
    formula = "(q_idx < {head}) | (kv_idx < {head}) | (q_idx >= {tail}) | (kv_idx >= {tail})"

    def bounds(self, n: int) -> tuple[int, int]:
        """First token after the head blocks, first token of the tail blocks (n when none)."""
        nb = nblocks(n, self.block)
        head = min(self.first * self.block, n)
        tail = n if self.last == 0 else min(max((nb - self.last) * self.block, head), n)
        return head, tail

    def formula_values(self, n):
        if n is None:
            if self.last:
                raise NeedsNError("the last blocks depend on n")
            return {"head": self.first * self.block, "tail": NO_TAIL}
        head, tail = self.bounds(n)
        return {"head": head, "tail": tail if tail < n else NO_TAIL}

    def segments(self, rows, n):
        head, tail = self.bounds(n)
        glob = (rows < head) | (rows >= tail)
        row_hi = rows + 1 if self.causal else np.full(len(rows), n)
        first = interval(0, np.where(glob, row_hi, head), len(rows))
        tail_hi = 0 if self.causal else n
        second = interval(np.where(glob, 0, tail), np.where(glob, 0, tail_hi), len(rows))
        return [first, second]

    def block_segments(self, brows, n, block):
        head, tail = self.bounds(n)
        nb = nblocks(n, block)
        qlo, qhi = block_bounds(brows, n, block)
        glob = (qlo < head) | (qhi >= tail)
        head_b = -(-head // block)
        row_hi = brows + 1 if self.causal else np.full(len(brows), nb)
        head_hi = np.minimum(head_b, brows + 1) if self.causal else head_b
        first = interval(0, np.where(glob, row_hi, head_hi), len(brows))
        tail_lo = max(tail // block, head_b) if tail < n else nb
        second = interval(np.where(glob, 0, tail_lo), np.where(glob | self.causal, 0, nb), len(brows))
        return [first, second]

    def segment_count(self, n):
        return 2

    @property
    def kv_every_key(self) -> bool:  # type: ignore[override]
        return self.last > 0  # decoding, the newest row lies in a tail block, which reads every key

    def kv_rows(self, cols):
        """Head keys: every later row. Decoding, the newest row lies in the last block, so with tail blocks
        it is global and reads every key; without them a later row reads the head only."""
        if self.last > 0:
            return [interval(cols, cols + FOREVER, len(cols))]
        head = self.first * self.block
        return [interval(cols, np.where(cols < head, cols + FOREVER, cols), len(cols))]
