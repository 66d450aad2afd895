"""Dilated window: |i - j| <= w*d and (i - j) mod d == 0 (Longformer's dilated sliding window)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import Seg, interval
from ..spec import P, PatternDef, register
from .base import Primitive, clip, progression_block_segments
from .window import Window, tokens_param


@dataclass(frozen=True, eq=False)
class Dilated(Primitive):
    """Every d-th key up to w*d away (w steps on each side; negative w keeps nothing)."""

    window: int
    dilation: int
    interval_segments = False
    formula = "(abs(q_idx - kv_idx) <= {reach}) & ((q_idx - kv_idx) % {dilation} == 0)"

    def formula_values(self, n):
        return {"reach": self.window * self.dilation, "dilation": self.dilation}

    def segments(self, rows, n):
        w, d = self.window, self.dilation
        if w < 0:
            return [interval(0, 0, len(rows))]
        count = w + 1 if self.causal else 2 * w + 1
        return clip([Seg(rows - w * d, d, np.full(len(rows), count, dtype=np.int64))], n)

    def block_segments(self, brows, n, block):
        w, d = self.window, self.dilation
        if w < 0:
            return [interval(0, 0, len(brows))]
        if d <= block:
            # every block pair whose nearest keys are within w*d holds a multiple of d
            return Window(w * d, causal=self.causal).block_segments(brows, n, block)
        return progression_block_segments(brows, n, block, *self.block_progression(n, block))

    def block_progression(self, n, block):
        """(d, lowest m, highest m) of the key blocks i - m*d where block rows are progressions, else None."""
        w, d = self.window, self.dilation
        if w < 0 or d <= block:
            return None
        return d, 0 if self.causal else -w, w

    def block_segment_count(self, n, block):
        """Segment slots per block row of block_segments (at most 3*B/gcd + 1 progressions)."""
        from math import gcd

        step = self.dilation
        if step <= block:
            return 1
        return 3 * block // gcd(step, block) + 1

    def block_cost_estimate(self, n, block):
        """Block rows x progression slots: at most 3*B/gcd(d, B) slots per block row, whatever w is."""
        from math import gcd

        nb = -(-n // block)
        d = self.dilation
        return nb if d <= block else nb * (3 * block // gcd(d, block) + 1)

    def kv_rows(self, cols):
        return [Seg(cols, self.dilation, np.full(len(cols), max(self.window + 1, 0), dtype=np.int64))]

    def kv_reach(self):
        return max(self.window * self.dilation + 1, 0)


register(
    PatternDef(
        "dilated",
        "local",
        "Dilated window",
        "A window with gaps: every d-th key up to w·d away.",
        "O(n·w)",
        (
            tokens_param(16, "Keys on each side, the token itself included, counted in dilated steps."),
            P("dilation", int, 2, 1, 4096, "Gap d between kept keys.", unit="gap"),
        ),
        lambda p, c: Dilated(p["window"] - 1, p["dilation"], causal=c),
        reference="Dilated sliding window (Longformer, Beltagy et al. 2020)",
    )
)
