"""How a data-dependent pattern chooses its keys: the causal variant a causal LM runs, and that rule in one sentence."""

from __future__ import annotations

import dataclasses

from .patterns.base import Expr, Intersection, Union
from .patterns.learned import LSH, BlockGating, Routing, TopK, VerticalSlash

SELECTION_RULES = {
    "topk": "Each query keeps the k keys with the highest scores q·k of this head; no look-ahead beyond the "
    "model's own mask.",
    "lsh": "Reformer: each token's (q+k)/2 of this head is hashed by random rotations; a query keeps the keys in "
    "its bucket. A bucket depends only on the token's own vector: no look-ahead.",
    "routing": "Routing Transformer: this head's queries and keys are centred, put on the unit sphere and "
    "clustered by k-means with one set of centroids; a query keeps the keys of its cluster. The "
    "centroids are fitted on all tokens of the text (look-ahead; fine for an encoder).",
    "routing_online": "Routing Transformer, online (used on causal LMs): tokens arrive in order and update the "
    "shared centroids as they come (online k-means on centred unit vectors); a key keeps the "
    "cluster it got on arrival, so row t depends only on tokens up to t.",
    "block_gating": "MoBA: each query keeps its own block and the top_blocks − 1 other blocks with the highest "
    "q · mean(keys of the block); causal models consider only past blocks.",
    "vertical_slash": "MInference: the key columns and diagonals with the most attention mass. Original "
    "estimate: from the last last_q queries of the text, used for every row (look-ahead). "
    "Causal estimate (used on causal LMs): row t uses queries t − last_q + 1 … t only.",
    "nsa": "NSA selection: each query keeps its own block and the best-scoring past blocks (MoBA rule), plus a "
    "causal sliding window.",
}


def selection_rule(name: str, causal: bool = False) -> str | None:
    """One sentence on how a data-dependent pattern chooses its keys (None for structured ones)."""
    rule = SELECTION_RULES.get(name)
    if rule is not None and name == "vertical_slash":
        rule += " Running now: the causal estimate." if causal else " Running now: the original (last) estimate."
    if name == "routing" and causal:
        rule = SELECTION_RULES["routing_online"]
    return rule


def causal_variant(expr: Expr) -> Expr:
    """The same pattern for a causal LM: data-dependent parts causal, look-ahead estimates replaced."""
    if isinstance(expr, VerticalSlash) and expr.estimate == "last":
        return dataclasses.replace(expr, estimate="causal", causal=True)
    if isinstance(expr, Routing) and expr.estimate == "batch":
        return dataclasses.replace(expr, estimate="online", causal=True)
    if expr.data_dependent and not isinstance(expr, (Union, Intersection)) and not getattr(expr, "causal", True):
        assert dataclasses.is_dataclass(expr)  # every data-dependent primitive is a frozen dataclass
        return dataclasses.replace(expr, causal=True)
    if isinstance(expr, Union):
        return Union(tuple(causal_variant(p) for p in expr.parts))
    if isinstance(expr, Intersection):
        return Intersection(tuple(causal_variant(p) for p in expr.parts))
    return expr


_RULE_OF = {TopK: "topk", LSH: "lsh", Routing: "routing", BlockGating: "block_gating", VerticalSlash: "vertical_slash"}


def rules(expr: Expr) -> str | None:
    """The selection rule of every data-dependent primitive in the pattern, as it runs now (None: structured)."""
    out = []
    for prim in expr.primitives():
        name = _RULE_OF.get(type(prim))
        if name is None:
            continue
        if isinstance(prim, VerticalSlash):
            rule = SELECTION_RULES[name] + f" Running now: the {prim.estimate} estimate."
        elif isinstance(prim, Routing):
            rule = SELECTION_RULES["routing_online" if prim.estimate == "online" else name]
        else:
            rule = SELECTION_RULES[name]
        if rule not in out:
            out.append(rule)
    return " ".join(out) or None


def variant_name(expr: Expr) -> str | None:
    """Which estimate the data-dependent parts run, e.g. "vertical-slash: causal estimate" (None: none)."""
    names = []
    for prim in expr.primitives():
        if isinstance(prim, VerticalSlash):
            names.append(f"vertical-slash: {prim.estimate} estimate")
        elif isinstance(prim, Routing):
            names.append(f"routing: {prim.estimate} k-means")
    return "; ".join(names) or None
