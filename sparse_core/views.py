"""What a figure needs, bounded in size whatever n is: token-level masks for small n, pooled
block densities for large n, and row-degree profiles binned to a fixed width."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import block_layout, block_pair_counts, dense_mask
from .patterns.base import Expr, Primitive

TOKEN_VIEW_MAX_N = 2048  # above this the view pools blocks
POOLED_CELLS = 512  # pooled views are at most this many blocks on a side
DENSITY_BUDGET_ROWS = 1 << 20  # exact pooled densities cost kept blocks x block rows


@dataclass
class MaskView:
    """What a mask figure draws: token cells for small n, pooled block densities for large n."""

    image: np.ndarray  # (h, w): bool for token views, float density in [0, 1] for pooled views
    pooled: bool
    block: int  # tokens per cell (1 for token views)
    n: int
    exact_density: bool = True  # False: pooled cells only say kept / not kept


def mask_view(expr: Expr, n: int, vectors=None, max_token_n: int = TOKEN_VIEW_MAX_N) -> MaskView:
    """The mask as a bounded image: exact tokens up to max_token_n, pooled blocks beyond."""
    if n <= max_token_n:
        return MaskView(dense_mask(expr, n, vectors), False, 1, n)
    block = 1 << int(np.ceil(np.log2(n / POOLED_CELLS)))
    pooled = getattr(expr, "pooled_counts", None) if isinstance(expr, Primitive) else None
    if pooled is not None and not expr.data_dependent:  # the primitive counts its own cells exactly
        return MaskView(_density(pooled(n, block), n, block), True, block, n)
    layout = block_layout(expr, n, block, vectors)
    kept = layout.dense()
    qi, kj = np.nonzero(kept)
    if expr.data_dependent or len(qi) * block > DENSITY_BUDGET_ROWS:  # pooled density would re-score all pairs
        return MaskView(kept.astype(float), True, block, n, exact_density=False)
    counts = np.zeros(kept.shape, dtype=np.int64)
    counts[qi, kj] = block_pair_counts(expr, n, block, qi, kj)
    return MaskView(_density(counts, n, block), True, block, n)


def _density(counts: np.ndarray, n: int, block: int) -> np.ndarray:
    """Kept pairs per cell over the cell's area (edge cells are smaller)."""
    sides = np.minimum(np.arange(1, counts.shape[0] + 1) * block, n) - np.arange(counts.shape[0]) * block
    return counts / (sides[:, None] * sides[None, :])


@dataclass
class DegreeProfile:
    """Row degrees binned to a fixed width: minimum, mean and maximum per bin."""

    start: np.ndarray  # first row of each bin
    low: np.ndarray
    mean: np.ndarray
    high: np.ndarray


def degree_profile(degrees: np.ndarray, bins: int = 1024) -> DegreeProfile:
    """Row degrees summarised in at most `bins` bins."""
    n = len(degrees)
    edges = np.linspace(0, n, min(bins, n) + 1).astype(np.int64)
    edges = np.unique(edges)
    starts = edges[:-1]
    return DegreeProfile(
        starts,
        np.minimum.reduceat(degrees, starts),
        np.add.reduceat(degrees, starts) / np.diff(edges),
        np.maximum.reduceat(degrees, starts),
    )
