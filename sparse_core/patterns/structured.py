"""Structured primitives, re-exported: each one lives in its own module of this package.

Semantics (query i, key j, 0-based; causal adds j <= i):
  Window(w)                |i - j| <= w                                  window.py
  Dilated(w, d)            |i - j| <= w*d and (i - j) mod d == 0         dilated.py
  GlobalTokens(g)          i < g or j < g                                global_tokens.py
  GlobalBlocks(b, f, l)    i or j in the first f or last l blocks        global_blocks.py
  Blocks(b, k)             |floor(i/b) - floor(j/b)| <= k                blocks.py
  RandomKeys(r)            r distinct uniform keys per query (seeded)    random_keys.py
  StrideColumns(l)         (i - j) mod l == 0     (Sparse Transformer)   stride_columns.py
  SummaryColumns(l, c)     j mod l >= l - c       (Sparse Transformer)   summary_columns.py
  Sinks(s)                 j < s                  (StreamingLLM)         sinks.py
  RandomBlocks(b, r, ...)  r random key blocks per query block (BigBird) random_blocks.py
  LogSparse()              i - j = 0 or a power of two (Li et al. 2019)  logsparse.py
"""

from __future__ import annotations

from .base import block_bounds, merge_intervals, random_subsets
from .blocks import Blocks
from .dilated import Dilated
from .global_blocks import GlobalBlocks
from .global_tokens import GlobalTokens
from .logsparse import LogSparse
from .random_blocks import RandomBlocks
from .random_keys import RandomKeys
from .sinks import Sinks
from .stride_columns import StrideColumns
from .summary_columns import SummaryColumns
from .window import Window

__all__ = [
    "Blocks",
    "Dilated",
    "GlobalBlocks",
    "GlobalTokens",
    "LogSparse",
    "RandomBlocks",
    "RandomKeys",
    "Sinks",
    "StrideColumns",
    "SummaryColumns",
    "Window",
    "block_bounds",
    "merge_intervals",
    "random_subsets",
]
