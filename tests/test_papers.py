"""Composite patterns read their papers (and reference code) literally."""

import numpy as np

from sparse_core import analysis, cost, make
from tests.oracle import oracle_mask

N = 100_000


def test_streaming_llm_keeps_a_cache_of_1024_tokens():
    s = cost.stats(make("streaming").expr(), N)  # 4 sinks + 1,020 recent tokens
    assert s.kv_tokens_sparse == 1024 and s.degree_last == 1024


def test_a_shape_keeps_64_initial_and_1024_local_tokens():
    s = cost.stats(make("a_shape").expr(), N)
    assert s.kv_tokens_sparse == 64 + 1024 and s.degree_last == 64 + 1024


def test_mistral_window_counts_tokens():
    s = cost.stats(make("mistral").expr(), N)
    assert s.kv_tokens_sparse == 4096 and s.degree_last == 4096


def test_one_window_convention_across_patterns():
    n = 300
    w = 17
    degrees = {
        name: analysis.row_degree(make(name, window=w, **extra).expr(), n)[-1]
        for name, extra in {"mistral": {}, "streaming": {"sinks": 0}, "a_shape": {"sinks": 0}}.items()
    }
    causal_window = analysis.row_degree(make("window", True, window=w).expr(), n)[-1]
    assert set(degrees.values()) == {w} == {causal_window}  # W tokens, the query included
    both_sides = analysis.row_degree(make("window", window=w).expr(), n)[n // 2]
    assert both_sides == 2 * w - 1
    longformer = analysis.row_degree(make("longformer", global_tokens=0).expr(), 4096)[2048]
    assert longformer == 513  # Longformer's 512-token window: 256 on each side plus the token


def reference_bigbird_layout(nb: int, window: int = 3) -> np.ndarray:
    """google-research/bigbird bigbird_block_sparse_attention without its random part: the first
    and the last block are global, every other block attends its window of blocks."""
    layout = np.zeros((nb, nb), dtype=bool)
    layout[[0, -1], :] = True
    layout[:, [0, -1]] = True
    h = window // 2
    for i in range(nb):
        layout[i, max(0, i - h) : i + h + 1] = True
    return layout


def test_bigbird_matches_the_reference_implementation():
    block, nb, r = 16, 12, 3
    n = block * nb
    expr = make("bigbird", block=block, window_blocks=3, global_blocks=2, random_blocks=r).expr()
    mask = analysis.dense_mask(expr, n)
    blocks = mask.reshape(nb, block, nb, block)
    assert (blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3))).all()  # whole blocks only
    layout = blocks.any(axis=(1, 3))
    fixed = reference_bigbird_layout(nb)
    assert (layout >= fixed).all()
    random_part = layout & ~fixed
    # every middle query block gets exactly r random blocks, outside its window and the global blocks
    assert (random_part[1:-1].sum(axis=1) == r).all()
    assert not random_part[[0, -1]].any()
    assert np.array_equal(mask, oracle_mask(expr, n))


def test_bigbird_causal_random_blocks_stay_in_the_past():
    expr = make("bigbird", True, block=8, random_blocks=2).expr()
    mask = analysis.dense_mask(expr, 256)
    assert not np.triu(mask, 1).any()
