"""Global tokens: i < g or j < g (Longformer, ETC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from ..spec import MAX_N, P, PatternDef, register
from .base import FOREVER, Primitive, nblocks


@dataclass(frozen=True, eq=False)
class GlobalTokens(Primitive):
    """The first g tokens attend to and are attended by every token."""

    global_tokens: int
    formula = "(q_idx < {global_tokens}) | (kv_idx < {global_tokens})"

    def segments(self, rows, n):
        g = min(self.global_tokens, n)
        row_hi = rows + 1 if self.causal else np.full(len(rows), n)
        return [interval(0, np.where(rows < g, row_hi, g), len(rows))]

    def block_segments(self, brows, n, block):
        g = min(self.global_tokens, n)
        nb = nblocks(n, block)
        row_hi = brows + 1 if self.causal else np.full(len(brows), nb)
        col_hi = 0 if g == 0 else (g - 1) // block + 1
        if self.causal:
            col_hi = np.minimum(col_hi, brows + 1)
        return [interval(0, np.where(brows * block < g, row_hi, col_hi), len(brows))]

    def kv_rows(self, cols):
        g = self.global_tokens
        return [interval(cols, np.where(cols < g, cols + FOREVER, np.maximum(cols, g)), len(cols))]


def global_param(default: int = 4):
    """The shared `global_tokens` parameter."""
    return P(
        "global_tokens",
        int,
        default,
        0,
        MAX_N,
        "First g tokens attend to and are attended by all.",
        log_scale=True,
        unit="tokens",
    )


register(
    PatternDef(
        "global",
        "global",
        "Global tokens",
        "A few tokens see everything and are seen by everything.",
        "O(n·g)",
        (global_param(),),
        lambda p, c: GlobalTokens(p["global_tokens"], causal=c),
        reference="Global attention (Longformer 2020; ETC 2020)",
    )
)
