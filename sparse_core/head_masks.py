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


def topk_rows(prim: TopK, q: torch.Tensor, k: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """(H, hi - lo, n) top-k of queries lo:hi over every key, the arithmetic of `topk_heads` row for row.

    A GEMM's rounding may depend on the shape it is given, so a caller that must reproduce a choice later
    (the long inspection's maps) asks for the same row chunks both times."""
    n = k.shape[-2]
    s = torch.matmul(q[:, lo:hi], k.transpose(-1, -2))
    if prim.causal:
        s = s.masked_fill(torch.arange(n)[None, :] > torch.arange(lo, hi)[:, None], float("-inf"))
    top = torch.topk(s, min(prim.k, n), dim=-1, sorted=False).indices
    return torch.zeros_like(s, dtype=torch.bool).scatter_(-1, top, True) & torch.isfinite(s)


def topk_heads(prim: TopK, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Every head's top-k at once with torch (the engine's TopK rule: k best scores, causal keys only)."""
    heads, n, _ = q.shape
    out = torch.zeros((heads, n, n), dtype=torch.bool)
    for lo in range(0, n, ROW_CHUNK):
        hi = min(n, lo + ROW_CHUNK)
        out[:, lo:hi] = topk_rows(prim, q, k, lo, hi)
    return out


def selection_inputs(
    q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 (H, n, d) queries and keys `head_masks` chooses from (q·k/√d is then the model's score)."""
    qf = q.float() * (scaling * q.shape[-1] ** 0.5)
    kf = (k.repeat_interleave(groups, dim=0) if groups > 1 else k).float()
    return qf, kf


class RowMasks:
    """A data-dependent pattern's (H, c, n) rows, a chunk at a time, never the layer's (H, n, n) bool.

    The choice is `head_masks`'s, from the same float32 inputs (`selection_inputs`): top-k is chosen for
    the asked rows only ((H, c, n) scores); a structured part of a composite is one shared (n, n) bool;
    any other data-dependent primitive (LSH, routing, block gating, vertical-slash: rules that read every
    token at once) is built one head's (n, n) bool at a time and kept packed to bits, H · n² / 8 bytes
    (SmolLM2 at 8,192: 75 MB), built on first use."""

    def __init__(self, expr: Expr, qf: torch.Tensor, kf: torch.Tensor):
        self.expr, self.qf, self.kf = expr, qf, kf
        self.n = qf.shape[-2]
        self.parts: dict = {}  # id(primitive) -> (n, n) bool (structured) or (H, n, ⌈n/8⌉) uint8 (packed)

    def _packed(self, prim) -> np.ndarray:
        chosen: Any = prim  # a DataDependent primitive: it has `dense(q, k)`
        qs, ks = self.qf.numpy(), self.kf.numpy()
        return np.stack([np.packbits(chosen.dense(qs[h], ks[h]), axis=-1) for h in range(qs.shape[0])])

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """(H, hi - lo, n) bool: the pattern's keys for queries lo:hi in every head."""
        heads, n = self.qf.shape[0], self.n
        out = torch.zeros((heads, hi - lo, n), dtype=torch.bool)
        for term in self.expr.terms():
            acc = torch.ones((heads, hi - lo, n), dtype=torch.bool)
            for prim in term:
                if isinstance(prim, TopK):
                    acc &= topk_rows(prim, self.qf, self.kf, lo, hi)
                    continue
                if id(prim) not in self.parts:
                    self.parts[id(prim)] = (
                        self._packed(prim) if prim.data_dependent else torch.from_numpy(dense_mask(prim, n))
                    )
                part = self.parts[id(prim)]
                if prim.data_dependent:
                    acc &= torch.from_numpy(np.unpackbits(part[:, lo:hi], axis=-1, count=n).view(bool))
                else:
                    acc &= part[lo:hi]
            out |= acc
        return out


def head_masks(expr: Expr, q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int) -> torch.Tensor:
    """(H, T, S) masks of a data-dependent pattern, each head's from its own q and k.

    Structured primitives are built once; top-k runs batched in torch (every head at once), the
    other data-dependent primitives head by head through the engine's `dense`.
    """
    heads, n = q.shape[0], q.shape[-2]
    qf, kf = selection_inputs(q, k, scaling, groups)  # q·k/√d then equals the model's own scores
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
