"""Memory arithmetic shared by every page: GPU presets, what dense prefill holds, the longest prompt that fits.

One definition, so the same question gets the same number everywhere. Dense prefill with naive
attention holds, at its peak, the score matrices of ONE layer (all query heads, n x n values in the
model's dtype) plus the KV cache of EVERY layer (K and V, kv_heads x d_head values per token).
Weights, activations and the allocator's slack are not counted: the figures are lower bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import scaling
from .cost import ModelConfig
from .patterns.base import Expr

GIB = 1 << 30
MAX_N = 1 << 20  # the engine's largest n; sparse fits are searched up to here


@dataclass(frozen=True)
class GPU:
    """A GPU's name and memory, for the memory-budget figures."""

    name: str
    memory_gib: float

    @property
    def memory_bytes(self) -> int:
        """Device memory in bytes (GiB as nvidia-smi reports it, rounded)."""
        return int(self.memory_gib * GIB)


GPUS = (GPU("RTX 4090", 24), GPU("A100 / H100", 80), GPU("H200", 141))
REFERENCE_GPU = GPUS[1]  # the budget Learn and Cost use by default: 80 GiB


def gib_to_bytes(gib: float) -> int:
    """A budget typed in GiB, in whole bytes."""
    return int(gib * GIB)


def score_bytes_per_layer(model: ModelConfig, n) -> np.ndarray | int:
    """Dense score matrices of one layer: heads x n x n values in the model's dtype (n may be an array)."""
    n = np.asarray(n, dtype=np.float64) if not isinstance(n, int) else n
    return model.heads * model.dtype_bytes * n * n


def kv_bytes_per_token(model: ModelConfig) -> int:
    """K and V of one token in every layer: 2 x layers x kv_heads x d_head values."""
    return 2 * model.layers * model.kv_heads * model.d_head * model.dtype_bytes


def kv_cache_bytes(model: ModelConfig, n) -> np.ndarray | int:
    """The whole model's dense KV cache for n tokens (n may be an array)."""
    n = np.asarray(n, dtype=np.float64) if not isinstance(n, int) else n
    return kv_bytes_per_token(model) * n


def dense_prefill_bytes(model: ModelConfig, n) -> np.ndarray | int:
    """Peak memory of naive dense prefill: one layer's score matrices plus the whole KV cache."""
    return score_bytes_per_layer(model, n) + kv_cache_bytes(model, n)


def largest_dense_n(model: ModelConfig, budget_bytes: float) -> int:
    """Largest n with dense_prefill_bytes(model, n) <= budget, in closed form (exact integer root).

    Solves a n^2 + b n <= B with a = heads x dtype bytes and b = KV bytes per token.
    """
    budget = math.floor(budget_bytes)
    if budget < 1:
        return 0
    a, b = model.heads * model.dtype_bytes, kv_bytes_per_token(model)
    n = (math.isqrt(b * b + 4 * a * budget) - b) // (2 * a)
    # isqrt floors the root, so n is at most one off: settle it on the exact integer inequality
    while a * (n + 1) ** 2 + b * (n + 1) <= budget:
        n += 1
    while n > 0 and a * n * n + b * n > budget:
        n -= 1
    return n


def largest_n(expr: Expr, model: ModelConfig, budget_bytes: float, sparse: bool) -> int:
    """Longest prompt whose prefill fits the budget: dense in closed form, sparse by the engine's exact
    bisection (capped at MAX_N, so a result of MAX_N means 'at least')."""
    if not sparse:
        return largest_dense_n(model, budget_bytes)
    return scaling.largest_n_within(expr, model, budget_bytes, True, MAX_N)


def format_bytes(value: float) -> str:
    """Bytes in binary units, as GPU memory is quoted: 85899345920 -> '80 GiB'."""
    for power, unit in ((5, "PiB"), (4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if abs(value) >= 1 << (10 * power):
            return f"{value / (1 << (10 * power)):.3g} {unit}"
    return f"{value:.0f} B"


def context_gain(dense_n: int, sparse_n: int) -> float:
    """How many times longer a prompt the sparse pattern fits than dense attention."""
    return sparse_n / max(dense_n, 1)
