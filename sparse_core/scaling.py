"""How cost grows with n: exact curves from the engine, fitted slopes, memory budgets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cost import ModelConfig, Stats, model_cost, stats
from .patterns.base import Expr

SCALING_NS = [1 << e for e in range(8, 21)]  # 256 ... 1,048,576


@dataclass
class CurvePoint:
    """Stats and whole-model costs at one n."""

    n: int
    stats: Stats
    model: dict[str, float]


def curve(expr: Expr, model: ModelConfig, ns: list[int] = SCALING_NS, block: int = 128) -> list[CurvePoint]:
    """Exact stats and model costs at each n."""
    out = []
    for n in ns:
        s = stats(expr, n, block, model.d_head)
        out.append(CurvePoint(n, s, model_cost(s, model)))
    return out


def fitted_slope(ns, values) -> float:
    """Slope of log(value) against log(n) over the upper half of the range (the asymptote)."""
    x, y = np.log(np.asarray(ns, dtype=float)), np.log(np.maximum(np.asarray(values, dtype=float), 1e-300))
    half = len(x) // 2
    return float(np.polyfit(x[half:], y[half:], 1)[0]) if len(x) - half >= 2 else float("nan")


def prefill_memory(point: CurvePoint, model: ModelConfig, sparse: bool) -> float:
    """Bytes for naive attention that materialises one layer's scores, plus the whole KV cache."""
    m = point.model
    scores = m["score_bytes_sparse_per_layer"] if sparse else m["score_bytes_dense_per_layer"]
    kv = m["kv_cache_bytes_sparse"] if sparse else m["kv_cache_bytes_dense"]
    return scores + kv


def largest_n_within(expr: Expr, model: ModelConfig, budget_bytes: float, sparse: bool, limit: int = 1 << 20) -> int:
    """Largest n (to a power-of-two-then-bisect precision of 1 token) whose prefill memory fits."""

    def fits(n: int) -> bool:
        if not sparse:  # closed form: n^2 scores per head + KV cache of n tokens
            kv = 2 * model.layers * model.kv_heads * model.d_head * model.dtype_bytes * n
            return model.heads * model.dtype_bytes * n * n + kv <= budget_bytes
        s = stats(expr, n, 128, model.d_head)
        p = CurvePoint(n, s, model_cost(s, model))
        return prefill_memory(p, model, True) <= budget_bytes

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    if hi > limit:
        return limit
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
