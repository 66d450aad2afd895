"""The exact cost model: FLOPs, score-matrix bytes and KV-cache bytes, dense vs sparse.

Per head and per kept (query, key) pair: QK^T costs 2*d FLOPs and AV another 2*d, so attention
FLOPs are 4*d*pairs and sparse/dense = nnz/n^2 exactly. Softmax is reported apart, at
SOFTMAX_FLOPS_PER_PAIR (max, subtract, exp, sum, divide).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .analysis import block_layout, check_n, row_degree
from .params import PatternError
from .patterns.base import Expr

SOFTMAX_FLOPS_PER_PAIR = 5
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}
INDEX_BYTES = 4  # int32 column / block indices
ROW_POINTER_BYTES = 8


@dataclass(frozen=True)
class ModelConfig:
    """A model's attention shape: layers, heads, KV heads, head size and storage dtype."""

    layers: int = 1
    heads: int = 1
    kv_heads: int = 1
    d_head: int = 64
    dtype: str = "fp32"

    def __post_init__(self):
        for name in ("layers", "heads", "kv_heads", "d_head"):
            if getattr(self, name) < 1:
                raise PatternError(f"{name} must be at least 1")
        if self.heads % self.kv_heads:
            raise PatternError("heads must be a multiple of kv_heads")
        if self.dtype not in DTYPE_BYTES:
            raise PatternError(f"dtype must be one of {', '.join(DTYPE_BYTES)}")

    @property
    def dtype_bytes(self) -> int:
        """Bytes per stored value."""
        return DTYPE_BYTES[self.dtype]

    @property
    def head_count(self) -> int:
        """Attention heads over all layers."""
        return self.layers * self.heads


MODEL_PRESETS = {
    "one head (d=64)": ModelConfig(),
    "BERT-base": ModelConfig(12, 12, 12, 64, "fp32"),
    "Llama-2-7B": ModelConfig(32, 32, 32, 128, "fp16"),
    "Llama-3-8B (GQA)": ModelConfig(32, 32, 8, 128, "bf16"),
    "Mistral-7B (GQA)": ModelConfig(32, 32, 8, 128, "bf16"),
    "Llama-3-70B (GQA)": ModelConfig(80, 64, 8, 128, "bf16"),
}


@dataclass
class Stats:
    """Exact per-head figures of one pattern at one n."""

    n: int
    nnz: int
    density: float
    degree_min: int
    degree_mean: float
    degree_max: int
    degree_last: int  # keys the newest token attends to: the per-token decode cost
    block_size: int
    n_blocks: int
    kept_blocks: int
    block_density: float
    block_exact: bool
    executed_pairs: int
    block_waste: float  # executed pairs that are masked out, as a share of executed
    d_head: int
    flops_dense: int
    flops_sparse: int
    flops_block: int
    softmax_flops_dense: int
    softmax_flops_sparse: int
    speedup_ideal: float
    speedup_block: float
    score_bytes_dense: int
    score_bytes_sparse: int
    score_bytes_block: int
    kv_tokens_dense: int
    kv_tokens_sparse: int  # distinct keys 0..n-1 that row n-1 or any later row attends (exact)
    block_available: bool = True  # False: the block figures are 0 because the layout was refused
    block_message: str = ""  # why the block layout was refused (element figures stay exact)

    def to_dict(self) -> dict:
        """Every field, for JSON."""
        return asdict(self)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("inf")


def stats(
    expr: Expr,
    n: int,
    block: int = 128,
    d_head: int = 64,
    score_dtype: str = "fp32",
    vectors=None,
    degrees: np.ndarray | None = None,
    *,
    priced: bool = False,
) -> Stats:
    """Exact per-head statistics; never O(n^2) for structured patterns.

    priced: the request budget accepted this request (see analysis.block_layout)."""
    check_n(n, expr)
    if d_head < 1:
        raise PatternError("d_head must be at least 1")
    deg = row_degree(expr, n, vectors) if degrees is None else degrees
    nnz = int(deg.sum())
    nb = -(-n // block)
    try:
        layout = block_layout(expr, n, block, vectors, priced=priced)
        kept_blocks = int(layout.kept_per_row().sum())
        executed = layout.executed_pairs()
        exact, available, message = layout.exact, True, ""
        # let the layout go before the decode cache is counted (the budget prices them apart: a 100 MB layout held
        # under the cache's 290 MB made 394 MB, a probe of the budget on 2026-12-06)
        del layout
    except PatternError as e:  # element-level figures stay exact; only the block part is refused
        kept_blocks, executed, exact, available, message = 0, 0, False, False, str(e)
    degree_min, degree_mean, degree_max, degree_last = int(deg.min()), float(deg.mean()), int(deg.max()), int(deg[-1])
    del deg
    kv_sparse = expr.kv_retained(n)
    value_bytes = DTYPE_BYTES[score_dtype]
    return Stats(
        n=n,
        nnz=nnz,
        density=nnz / n / n,
        degree_min=degree_min,
        degree_mean=degree_mean,
        degree_max=degree_max,
        degree_last=degree_last,
        block_size=block,
        n_blocks=nb,
        kept_blocks=kept_blocks,
        block_density=kept_blocks / nb / nb,
        block_exact=exact,
        executed_pairs=executed,
        block_waste=1 - _ratio(nnz, executed) if executed else 0.0,
        d_head=d_head,
        flops_dense=4 * d_head * n * n,
        flops_sparse=4 * d_head * nnz,
        flops_block=4 * d_head * executed,
        softmax_flops_dense=SOFTMAX_FLOPS_PER_PAIR * n * n,
        softmax_flops_sparse=SOFTMAX_FLOPS_PER_PAIR * nnz,
        speedup_ideal=_ratio(n * n, nnz),
        speedup_block=_ratio(n * n, executed) if available else 0.0,
        score_bytes_dense=value_bytes * n * n,
        score_bytes_sparse=(value_bytes + INDEX_BYTES) * nnz + ROW_POINTER_BYTES * (n + 1),
        score_bytes_block=value_bytes * executed + INDEX_BYTES * (kept_blocks + nb + 1),
        kv_tokens_dense=n,
        kv_tokens_sparse=kv_sparse,
        block_available=available,
        block_message=message,
    )


def model_cost(s: Stats, model: ModelConfig) -> dict[str, float]:
    """Whole-model prefill and decode costs from per-head stats (d_head taken from the model)."""
    scale = model.d_head / s.d_head
    heads = model.head_count
    kv_per_token = 2 * model.layers * model.kv_heads * model.d_head * model.dtype_bytes
    return {
        "prefill_flops_dense": s.flops_dense * scale * heads,
        "prefill_flops_sparse": s.flops_sparse * scale * heads,
        "prefill_flops_block": s.flops_block * scale * heads,
        "score_bytes_dense_per_layer": s.n * s.n * model.dtype_bytes * model.heads,
        "score_bytes_sparse_per_layer": s.nnz * (model.dtype_bytes + INDEX_BYTES) * model.heads,
        "kv_cache_bytes_dense": kv_per_token * s.kv_tokens_dense,
        "kv_cache_bytes_sparse": kv_per_token * s.kv_tokens_sparse,
        "decode_flops_dense": 4 * model.d_head * heads * s.kv_tokens_dense,
        "decode_flops_sparse": 4 * model.d_head * heads * s.degree_last,
    }
