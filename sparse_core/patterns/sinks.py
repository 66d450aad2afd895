"""Attention sinks: j < s (StreamingLLM keeps the first tokens forever)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import interval
from .base import FOREVER, Primitive


@dataclass(frozen=True, eq=False)
class Sinks(Primitive):
    """Every query attends the first s tokens."""

    sinks: int
    formula = "kv_idx < {sinks}"

    def segments(self, rows, n):
        return self._causal_clip([interval(0, min(self.sinks, n), len(rows))], rows)

    def block_segments(self, brows, n, block):
        s = min(self.sinks, n)
        return self._causal_clip([interval(0, 0 if s == 0 else (s - 1) // block + 1, len(brows))], brows)

    def kv_rows(self, cols):
        return [interval(cols, np.where(cols < self.sinks, cols + FOREVER, cols), len(cols))]
