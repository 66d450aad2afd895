"""LogSparse (Li et al. 2019, "Enhancing the Locality and Breaking the Memory Bottleneck of
Transformer on Time Series Forecasting"): each cell attends itself and the cells at distances
1, 2, 4, 8, ... before it, so a row keeps about log2(i) + 2 keys. The paper's pattern is causal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import Seg, interval
from ..spec import PatternDef, register
from .base import Primitive, shifted_block_ranges


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Number of powers of two <= x (0 for x = 0), exactly, for int64 arrays."""
    out = np.zeros(len(x), dtype=np.int64)
    for k in range(_MAX_POWER):
        out += x >= (1 << k)
    return out


_MAX_POWER = 41  # 2^41 > any distance the engine sees (n <= 2^20), also for the decode cache


@dataclass(frozen=True, eq=False)
class LogSparse(Primitive):
    """Keys at distance 0 or a power of two (causal: only earlier keys)."""

    kv_every_key = True  # key j is read by row j + 2^k for every k
    # d & (d - 1) == 0 holds exactly for d = 0 and the powers of two
    formula = "(abs(q_idx - kv_idx) & (abs(q_idx - kv_idx) - 1)) == 0"

    def _distances(self, n: int) -> list[int]:
        return [1 << k for k in range(max(1, n).bit_length()) if (1 << k) < n]

    def segments(self, rows, n):
        segs = [interval(rows, rows + 1, len(rows))]
        for dist in self._distances(n):
            before = rows - dist
            segs.append(Seg(before, 1, (before >= 0).astype(np.int64)))
            if not self.causal:
                after = rows + dist
                segs.append(Seg(after, 1, (after < n).astype(np.int64)))
        return segs

    def row_count(self, rows, n):
        """Keys per row in closed form: itself plus each power of two that fits before (and after)."""
        before = _bit_length(rows)
        if self.causal:
            return 1 + before
        return 1 + before + _bit_length(np.maximum(n - 1 - rows, 0))

    def block_segments(self, brows, n, block):
        dists = np.array(self._distances(n), dtype=np.int64)
        shifts = np.concatenate([[0], dists] if self.causal else [[0], dists, -dists])
        return shifted_block_ranges(brows, n, block, shifts, self.causal)

    def kv_rows(self, cols):
        later = [Seg(cols + (1 << k), 1, np.ones(len(cols), dtype=np.int64)) for k in range(_MAX_POWER)]
        return [interval(cols, cols + 1, len(cols)), *later]

    def kv_segment_count(self):
        """One progression for the key itself and one per power of two."""
        return 1 + _MAX_POWER

    def segment_count(self, n):
        return 1 + (1 if self.causal else 2) * len(self._distances(n))


register(
    PatternDef(
        "logsparse",
        "local",
        "LogSparse",
        "Each token attends itself and the tokens 1, 2, 4, 8, … positions before it.",
        "O(n·log n)",
        (),
        lambda p, c: LogSparse(causal=True),
        causal="always",
        reference="LogSparse Transformer (Li et al. 2019)",
    )
)
