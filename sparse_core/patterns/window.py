"""Sliding window: |i - j| <= w (Image Transformer, Longformer; causal: the recent tokens)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from ..spec import MAX_N, P, PatternDef, register
from .base import Primitive, nblocks, window_reach


@dataclass(frozen=True, eq=False)
class Window(Primitive):
    """Keys within distance `window` of the query (a negative window keeps nothing)."""

    window: int
    formula = "abs(q_idx - kv_idx) <= {window}"

    def segments(self, rows, n):
        if self.window < 0:
            return [interval(0, 0, len(rows))]
        hi = rows + 1 if self.causal else rows + self.window + 1
        return [interval(np.maximum(rows - self.window, 0), np.minimum(hi, n), len(rows))]

    def block_segments(self, brows, n, block):
        if self.window < 0:
            return [interval(0, 0, len(brows))]
        reach = window_reach(self.window, block)
        hi = brows + 1 if self.causal else brows + reach + 1
        return [interval(np.maximum(brows - reach, 0), np.minimum(hi, nblocks(n, block)), len(brows))]

    def kv_rows(self, cols):
        return [interval(cols, cols + max(self.window + 1, 0), len(cols))]

    def kv_reach(self):
        return max(self.window + 1, 0)


def tokens_param(default: int, en: str):
    """The shared `window` parameter: W tokens on each side, the query itself included."""
    return P("window", int, default, 0, MAX_N, en, log_scale=True, unit="tokens")


def from_tokens(tokens: int, causal: bool) -> Window:
    """A window of W tokens per side (query included) as a distance window: |i - j| <= W - 1."""
    return Window(tokens - 1, causal=causal)


register(
    PatternDef(
        "window",
        "local",
        "Sliding window",
        "Each token attends to the W tokens on each side, itself included.",
        "O(n·w)",
        (tokens_param(64, "Tokens on each side, the token itself included: keeps |i − j| < W."),),
        lambda p, c: from_tokens(p["window"], c),
        reference="Local attention (Image Transformer, Parmar et al. 2018; Longformer 2020)",
    )
)
