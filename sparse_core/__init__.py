"""sparse_core: exact sparse-attention patterns, costs and FlexAttention bridges.

from sparse_core import make, stats
s = stats(make("bigbird").expr(), n=65536)
"""

from .analysis import block_layout, dense_mask, mask_tile, row_degree
from .cost import ModelConfig, Stats, model_cost, stats
from .limits import Budget, Cost, check_budget, predict_cost
from .params import ParamSpec, PatternError
from .registry import PATTERNS, PatternSpec, combine, get, make
from .scale import ScaledParams, scale_to_n

__all__ = [
    "PATTERNS",
    "Budget",
    "Cost",
    "ModelConfig",
    "ParamSpec",
    "PatternError",
    "PatternSpec",
    "ScaledParams",
    "Stats",
    "block_layout",
    "check_budget",
    "combine",
    "dense_mask",
    "get",
    "make",
    "mask_tile",
    "model_cost",
    "predict_cost",
    "row_degree",
    "scale_to_n",
    "stats",
]
