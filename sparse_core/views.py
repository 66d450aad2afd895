"""What a figure needs, bounded in size whatever n is: token-level masks for small n, pooled
block densities for large n, and row-degree profiles binned to a fixed width."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

from .analysis import (
    _block_counts,
    _chunks,
    _term_segments,
    block_layout,
    block_pair_counts,
    constant_rows,
    dense_mask,
    refine_work,
)
from .patterns.base import Expr, Primitive, simple_terms
from .segments import NETWORK_MAX_SEGS, ColumnSet, disjoint_pieces, intersect_all

TOKEN_VIEW_MAX_N = 2048  # above this the view pools blocks
POOLED_CELLS = 512  # pooled views are at most this many blocks on a side
# exact pooled densities re-count every row of each kept view block with the block's key window: planned
# (analysis.refine_work) at most this many work units (~0.1 s), or the cells say kept / not kept. Bounded by rows
# alone (2^20), the pass could cost three times the request's own row count, which the budget prices
DENSITY_MAX_WORK = 1 << 22
DENSITY_MAX_ROWS = 1 << 20
SWEEP_VIEW_CELLS = 1 << 19  # rows x intervals the one-pass pooled count may sweep
# Exact pooled shares in one sweep where the rows' intervals allow it (BigBird at 2^20: ~25 ms); a switch so
# tests/test_engine_speed_bounds.py can compare it with the block-layout path below.
ONE_PASS_VIEWS = True


@dataclass
class MaskView:
    """What a mask figure draws: token cells for small n, pooled block densities for large n."""

    image: np.ndarray  # (h, w): bool for token views, float density in [0, 1] for pooled views
    pooled: bool
    block: int  # tokens per cell (1 for token views)
    n: int
    exact_density: bool = True  # False: pooled cells only say kept / not kept


def mask_view(
    expr: Expr, n: int, vectors=None, max_token_n: int = TOKEN_VIEW_MAX_N, *, priced: bool = False
) -> MaskView:
    """The mask as a bounded image: exact tokens up to max_token_n, pooled blocks beyond.

    priced: the request budget accepted this request (its view's block layout skips the engine's coarse guard)."""
    if n <= max_token_n:
        return MaskView(dense_mask(expr, n, vectors), False, 1, n)
    block = 1 << int(np.ceil(np.log2(n / POOLED_CELLS)))
    if expr.data_dependent:  # the dense mask is at hand (n is bounded): exact shares from its block sums
        return MaskView(_density(_block_counts(expr, n, block, vectors), n, block), True, block, n)
    pooled = getattr(expr, "pooled_counts", None) if isinstance(expr, Primitive) else None
    if pooled is not None:  # the primitive counts its own cells exactly
        return MaskView(_density(pooled(n, block), n, block), True, block, n)
    if ONE_PASS_VIEWS:
        counts = pooled_by_sweep(expr, n, block)
        if counts is not None:
            return MaskView(_density(counts, n, block), True, block, n)
    layout = block_layout(expr, n, block, vectors, priced=priced)
    kept = layout.dense()
    qi, kj = np.nonzero(kept)
    if not recount_affordable(expr, n, block, len(qi)):  # exact shares would cost too much: kept / not kept
        return MaskView(kept.astype(float), True, block, n, exact_density=False)
    counts = np.zeros(kept.shape, dtype=np.int64)
    counts[qi, kj] = block_pair_counts(expr, n, block, qi, kj)
    return MaskView(_density(counts, n, block), True, block, n)


def recount_affordable(expr: Expr, n: int, block: int, blocks: int, max_rows: int = DENSITY_MAX_ROWS) -> bool:
    """Whether re-counting every row of `blocks` kept blocks exactly (their key windows) stays within bounds: the rows
    alone, and their planned work (DENSITY_MAX_WORK). Unpriced work after a request was accepted: the view's exact
    shares and the FlexAttention script's full blocks."""
    return blocks * block <= max_rows and refine_work(expr, n, block, blocks) <= DENSITY_MAX_WORK


def pooled_by_sweep(expr: Expr, n: int, block: int) -> np.ndarray | None:
    """(nb, nb) exact kept pairs per cell in one pass over the rows, for unions of a few intervals per row.

    Each row's union is cut into disjoint pieces [a, b); the keys a row keeps below x, F(x), are then
    piecewise linear in x, so per query block a difference array of slopes and offsets over the key-block
    edges holds the sum of F at every edge, and a cell's count is the difference of two edges. Rows that
    share their keys (constant runs, bidirectional) are swept once, weighted by the run length. None where
    this does not apply or would touch more than SWEEP_VIEW_CELLS rows x intervals.
    """
    prims = expr.primitives()
    run = gcd(constant_rows(expr, n), block)  # a swept run must not straddle two query blocks
    slots = sum(int(np.prod([max(1, p.segment_count(n)) for p in t])) for t in simple_terms(expr))
    if slots > NETWORK_MAX_SEGS:
        return None
    if run > 1 and not prims[0].causal:
        rows = np.arange(0, n, run, dtype=np.int64)
        weight = (np.minimum(rows + run, n) - rows).astype(np.float64)
    else:
        rows = np.arange(n, dtype=np.int64)
        weight = np.ones(n)
    if len(rows) * slots > SWEEP_VIEW_CELLS:
        return None
    nb = -(-n // block)
    width = nb + 2
    slope = np.zeros(nb * width)
    offset = np.zeros(nb * width)
    for c in _chunks(len(rows)):
        r = rows[c]
        terms = _term_segments(expr, lambda p, r=r: p.segments(r, n))
        if any(isinstance(part, ColumnSet) for t in terms for part in t):
            return None
        segs = [s for t in terms for s in intersect_all([list(part) for part in t])]
        if len(segs) > NETWORK_MAX_SEGS or any(s.step != 1 and int(s.count.max(initial=0)) > 1 for s in segs):
            return None
        pieces = disjoint_pieces(segs, slice(None))
        if pieces is None:
            return None
        lo, hi = pieces
        live = hi > lo
        if (lo[live] < 0).any() or (hi[live] > n).any():
            return None
        qb = np.broadcast_to(r // block, lo.shape)[live]
        w = np.broadcast_to(weight[c], lo.shape)[live]
        a, b = lo[live], hi[live]
        first = qb * width + a // block + 1  # first edge strictly above a
        past = qb * width + (b + block - 1) // block  # first edge at or above b
        size = nb * width
        slope += np.bincount(first, weights=w, minlength=size) - np.bincount(past, weights=w, minlength=size)
        offset += np.bincount(first, weights=-a * w, minlength=size) + np.bincount(past, weights=b * w, minlength=size)
    edges = np.arange(width, dtype=np.float64) * block
    below = np.cumsum(slope.reshape(nb, width), axis=1) * edges + np.cumsum(offset.reshape(nb, width), axis=1)
    return np.rint(np.diff(below[:, : nb + 1], axis=1)).astype(np.int64)


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
