"""Pointwise source text of formula patterns: what a person would write as a FlexAttention mask_mod.

Plain strings over `q_idx` and `kv_idx`, so exporting code needs no torch.
"""

from __future__ import annotations

from .patterns import structured as S
from .patterns.base import Expr, Intersection, Primitive, Union


def _causal(expr: str, prim: Primitive) -> str:
    return f"({expr}) & (kv_idx <= q_idx)" if prim.causal else expr


def _primitive_source(p: Primitive) -> str | None:
    """Torch source of one primitive's predicate, or None if it needs a lookup table."""
    if isinstance(p, S.Window):
        if p.causal:
            return f"(q_idx - kv_idx >= 0) & (q_idx - kv_idx <= {p.window})"
        return f"(q_idx - kv_idx).abs() <= {p.window}"
    if isinstance(p, S.Dilated):
        return _causal(
            f"((q_idx - kv_idx).abs() <= {p.window * p.dilation}) & ((q_idx - kv_idx) % {p.dilation} == 0)", p
        )
    if isinstance(p, S.GlobalTokens):
        return _causal(f"(q_idx < {p.global_tokens}) | (kv_idx < {p.global_tokens})", p)
    if isinstance(p, S.Blocks):
        return _causal(f"(q_idx // {p.block} - kv_idx // {p.block}).abs() <= {p.neighbors}", p)
    if isinstance(p, S.StrideColumns):
        return _causal(f"(q_idx - kv_idx) % {p.stride} == 0", p)
    if isinstance(p, S.SummaryColumns):
        return _causal(f"kv_idx % {p.stride} >= {p.stride - p.summary}", p)
    if isinstance(p, S.Sinks):
        return _causal(f"kv_idx < {p.sinks}", p)
    return None


def expr_source(expr: Expr) -> str | None:
    """Torch source of a whole expression's predicate, or None if any part needs a lookup table."""
    if isinstance(expr, (Union, Intersection)):
        parts = [expr_source(p) for p in expr.parts]
        if any(p is None for p in parts):
            return None
        joiner = " | " if isinstance(expr, Union) else " & "
        return joiner.join(f"({p})" for p in parts)
    return _primitive_source(expr)


