"""Everything a pattern file needs, in one import: the modules below, each with one job.

- `expr`: mask expressions (Expr, Primitive, Union, Intersection) and their exact counts' plans.
- `block_helpers`: block and segment arithmetic for `segments` and `block_segments`.
- `rng`: counter-based random draws (random keys and blocks).
- `dense_memo`: the memo of data-dependent masks.
- `data_dependent`: the base of patterns chosen from the tokens' vectors.

Pattern files and older callers import from here; the names are the same objects as in those modules.
"""

from __future__ import annotations

from .block_helpers import (
    block_bounds,
    clip,
    merge_intervals,
    nblocks,
    progression_block_segments,
    shifted_block_ranges,
    stack_chunks,
    window_reach,
)
from .data_dependent import DataDependent
from .dense_memo import DENSE_MEMO_BYTES, DENSE_MEMO_CLEARERS, _dense_memo, _digest, _memoised, clear_dense_memo
from .expr import (
    FOREVER,
    KV_CHUNK,
    KV_PAIR_WORK,
    KV_PAIRS,
    Expr,
    Intersection,
    NeedsNError,
    Primitive,
    Union,
    _distinct_terms,
    _key_of,
    _same_key,
    meet,
    simple_terms,
)
from .rng import FLOYD_MAX_R, MASK64, _stream_key, random_subsets, splitmix64, uniform_draws

__all__ = [
    "DENSE_MEMO_BYTES",
    "DENSE_MEMO_CLEARERS",
    "FLOYD_MAX_R",
    "FOREVER",
    "KV_CHUNK",
    "KV_PAIRS",
    "KV_PAIR_WORK",
    "MASK64",
    "DataDependent",
    "Expr",
    "Intersection",
    "NeedsNError",
    "Primitive",
    "Union",
    "_dense_memo",
    "_digest",
    "_distinct_terms",
    "_key_of",
    "_memoised",
    "_same_key",
    "_stream_key",
    "block_bounds",
    "clear_dense_memo",
    "clip",
    "meet",
    "merge_intervals",
    "nblocks",
    "progression_block_segments",
    "random_subsets",
    "shifted_block_ranges",
    "simple_terms",
    "splitmix64",
    "stack_chunks",
    "uniform_draws",
    "window_reach",
]
