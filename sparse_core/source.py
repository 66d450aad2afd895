"""Pointwise source text of formula patterns: what a person would write as a FlexAttention mask_mod.

Each primitive defines its membership once (`Primitive.formula`); this module only joins the
primitives' own sources with | and &. Plain strings over `q_idx` and `kv_idx`, so exporting code
needs no torch.
"""

from __future__ import annotations

from .patterns.base import Expr, Intersection, Primitive, Union


def expr_source(expr: Expr, n: int | None = None) -> str | None:
    """Source of a whole expression's predicate, or None if any part needs a lookup table.

    Pass n for primitives whose formula depends on the length (BigBird's last global block).
    """
    if isinstance(expr, (Union, Intersection)):
        parts = [expr_source(p, n) for p in expr.parts]
        if any(p is None for p in parts):
            return None
        joiner = " | " if isinstance(expr, Union) else " & "
        return joiner.join(f"({p})" for p in parts)
    if isinstance(expr, Primitive) and not expr.data_dependent:
        return expr.source(n)
    return None
