"""The masks a pattern applies in a model: per layer, shared by the heads or chosen per head from that head's q and k.

Two builders compute the same rule: `head_mask` in NumPy (the inspector, through the engine's
`dense`) and `head_masks` in torch (the lab, top-k batched over heads). `allowed` is what the
model itself lets a query attend, and `with_self` is the one rule for rows a pattern leaves empty:
such a row attends to its own token only (a softmax over nothing is undefined).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .analysis import dense_mask
from .params import PatternError
from .patterns.base import Expr
from .patterns.learned import TopK

ROW_CHUNK = 512  # top-k: scores of this many query rows at a time


def allowed(attention_mask: torch.Tensor | None, t: int, s: int) -> torch.Tensor:
    """(T, S) bool: what the model itself lets each query attend (causal, padding, sliding window).

    `attention_mask` is the model's (B, 1, T, S') mask as the attention function receives it: additive
    floats (0 kept), or booleans (True kept) for a pass with `boolean_mask` (`dispatch.model_mask`), which
    are returned as a view, not copied."""
    if attention_mask is None:
        return torch.ones((t, s), dtype=torch.bool)
    if attention_mask.dtype == torch.bool:
        return attention_mask[0, 0, :, :s]
    return attention_mask[0, 0, :, :s] == 0


def with_self(keep: torch.Tensor, t: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep with each empty row's own token added, (T,) or (H, T) empty rows); `keep` itself when none is empty.

    The query at row r is token r + (s - t) of the keys (s > t when a KV cache precedes the queries)."""
    empty = ~keep.any(-1)
    if not bool(empty.any()):
        return keep, empty
    fixed = keep.clone()
    rows = torch.arange(t)
    cols = rows + (s - t)
    fixed[..., rows, cols] |= empty
    return fixed, empty


def head_mask(expr: Expr, n: int, q: np.ndarray | None, k: np.ndarray | None, structured: dict) -> np.ndarray:
    """The pattern for a layer's heads: q, k (H, n, d) -> (H, n, n); structured only (None) -> (n, n).

    Structured primitives are computed once per comparison; data-dependent ones per head, all heads
    at once where the primitive offers `dense_heads`.
    """
    shape = (n, n) if q is None else (q.shape[0], n, n)
    out = np.zeros(shape, dtype=bool)
    for term in expr.terms():
        acc = np.ones(shape, dtype=bool)
        for prim in term:
            if prim.data_dependent:
                if q is None or k is None:
                    raise PatternError("a data-dependent pattern needs the heads' queries and keys")
                chosen: Any = prim  # a DataDependent primitive: it has `dense(q, k)`
                batched = getattr(chosen, "dense_heads", None)
                acc &= batched(q, k) if batched else np.stack([chosen.dense(q[h], k[h]) for h in range(q.shape[0])])
            else:
                if id(prim) not in structured:
                    structured[id(prim)] = dense_mask(prim, n)
                acc &= structured[id(prim)]
        out |= acc
    return out


def topk_heads(prim: TopK, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Every head's top-k at once with torch (the engine's TopK rule: k best scores, causal keys only)."""
    heads, n, _ = q.shape
    out = torch.zeros((heads, n, n), dtype=torch.bool)
    kk = min(prim.k, n)
    for lo in range(0, n, ROW_CHUNK):
        hi = min(n, lo + ROW_CHUNK)
        s = torch.matmul(q[:, lo:hi], k.transpose(-1, -2))
        if prim.causal:
            s = s.masked_fill(torch.arange(n)[None, :] > torch.arange(lo, hi)[:, None], float("-inf"))
        top = torch.topk(s, kk, dim=-1, sorted=False).indices
        chunk = torch.zeros_like(s, dtype=torch.bool).scatter_(-1, top, True)
        out[:, lo:hi] = chunk & torch.isfinite(s)
    return out


def head_masks(expr: Expr, q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int) -> torch.Tensor:
    """(H, T, S) masks of a data-dependent pattern, each head's from its own q and k.

    Structured primitives are built once; top-k runs batched in torch (every head at once), the
    other data-dependent primitives head by head through the engine's `dense`.
    """
    heads, n = q.shape[0], q.shape[-2]
    qf = q.float() * (scaling * q.shape[-1] ** 0.5)  # q·k/√d then equals the model's own scores
    kf = (k.repeat_interleave(groups, dim=0) if groups > 1 else k).float()
    out = torch.zeros((heads, n, n), dtype=torch.bool)
    cache: dict = {}
    for term in expr.terms():
        acc = torch.ones((heads, n, n), dtype=torch.bool)
        for prim in term:
            if id(prim) not in cache:
                if isinstance(prim, TopK):
                    cache[id(prim)] = topk_heads(prim, qf, kf)
                elif prim.data_dependent:
                    qs, ks = qf.numpy(), kf.numpy()
                    chosen: Any = prim  # a DataDependent primitive: it has `dense(q, k)`
                    cache[id(prim)] = torch.from_numpy(np.stack([chosen.dense(qs[h], ks[h]) for h in range(heads)]))
                else:
                    cache[id(prim)] = torch.from_numpy(dense_mask(prim, n))
            acc &= cache[id(prim)]
        out |= acc
    return out
