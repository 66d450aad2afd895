"""Block / banded attention: |floor(i/b) - floor(j/b)| <= k (Qiu et al. 2019)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from ..spec import MAX_N, P, PatternDef, register
from .base import Primitive, block_bounds


@dataclass(frozen=True, eq=False)
class Blocks(Primitive):
    """Keys in the query's block of b tokens and k neighbouring blocks on each side."""

    block: int
    neighbors: int = 0
    formula = "abs(q_idx // {block} - kv_idx // {block}) <= {neighbors}"

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

    def constant_rows(self, n):
        """Rows in aligned runs of this length keep one key set (causal: that set clipped to j <= i)."""
        return self.block

    def kv_rows(self, cols):
        return [interval(cols, (cols // self.block + self.neighbors + 1) * self.block, len(cols))]

    def kv_reach(self):
        return (self.neighbors + 1) * self.block


register(
    PatternDef(
        "block",
        "block",
        "Block / banded",
        "Tokens attend within their block and k neighbouring blocks.",
        "O(n·b)",
        (
            P("block", int, 64, 1, MAX_N, "Block size b.", log_scale=True, unit="tokens"),
            P("neighbors", int, 0, 0, 4096, "Neighbouring blocks on each side (0 = block-diagonal).", unit="blocks"),
        ),
        lambda p, c: Blocks(p["block"], p["neighbors"], causal=c),
        reference="Blockwise attention (Qiu et al. 2019)",
    )
)
