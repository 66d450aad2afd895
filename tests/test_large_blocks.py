"""Blocks as wide as the sequence or wider, and masks listed a block of rows at a time, against the oracle.

Found by the budget search (seeds 66-67) and a probe, 2026-12-06: a block wider than a chunk of rows was counted in one
go (449 MB), stride columns at a 2^20 block sorted a period of 2^20 residues to refuse in 76 ms, and a dense mask of
dilation 2 listed 8.4 M pairs at once (356 MB).
"""

import numpy as np
import pytest

from sparse_core import analysis, make
from sparse_core.limits import check_budget
from sparse_core.params import PatternError
from tests.oracle import oracle_blocks, oracle_mask


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "name, params",
    [("strided", {"stride": 7}), ("strided", {"stride": 97}), ("dilated", {"window": 40, "dilation": 3})],
)
@pytest.mark.parametrize("n, block", [(300, 256), (700, 512), (1000, 4096), (1200, 1024)])
def test_progressions_at_blocks_past_their_reach_match_the_oracle(name, params, n, block, causal):
    # the residues of a progression's block distances repeat every block / gcd(d, block) strides; where fewer strides
    # fit in the sequence, only their own residues are built
    expr = make(name, causal, **params).expr()
    truth = oracle_mask(expr, n)
    assert np.array_equal(analysis.block_layout(expr, n, block).dense(), oracle_blocks(truth, block))


def test_a_block_of_more_rows_than_a_chunk_counts_them_a_chunk_at_a_time():
    expr = make("mistral", True, window=7).expr() & make("fixed", stride=41, summary=39).expr()
    n = analysis.ROW_CHUNK + 4001
    counts = analysis.block_pair_counts(expr, n, n, np.array([0]), np.array([0]))
    assert counts.tolist() == [int(analysis.row_degree(expr, n).sum())]
    # two blocks, one partial: each block pair's own rows and keys
    block = analysis.ROW_CHUNK + 3000
    deg_first = analysis.row_degree(expr, block).sum()  # causal: the first block's rows keep no later key
    pair = analysis.block_pair_counts(expr, n, block, np.array([0, 1, 1]), np.array([0, 0, 1]))
    assert pair[0] == deg_first and pair.sum() == analysis.row_degree(expr, n).sum()


def test_dense_masks_listed_a_block_of_rows_at_a_time_match_the_oracle(monkeypatch):
    monkeypatch.setattr(analysis, "DENSE_LIST_PAIRS", 50)  # many blocks of rows even at 200 tokens
    for expr in (
        make("dilated", window=60, dilation=2).expr(),
        make("strided", True, stride=9).expr(),
        make("random", random_keys=5).expr(),
        make("fixed", stride=20, summary=3).expr(),
    ):
        assert np.array_equal(analysis.dense_mask(expr, 200), oracle_mask(expr, 200))


def test_stride_columns_at_a_block_of_the_whole_sequence_refuse_at_once():
    # seed 67: intersection_candidates built stride columns' block rows at block 2^20 (one block row), sorting a period
    # of 2^20 residues: 76 ms to refuse (0.39 s on a cold first call here)
    import time

    expr = (
        make("dilated", True, window=1033757, dilation=3716).expr()
        & make("longformer", True, window=49, global_tokens=32).expr()
        & make("window", True, window=960169).expr()
        & make("strided", stride=217).expr()
    )
    start = time.process_time()
    with pytest.raises(PatternError, match="lower"):
        check_budget(expr, 1 << 20, 1 << 20)
    assert time.process_time() - start < 0.05 * 4


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
@pytest.mark.parametrize(
    "layers, tree, n, block",
    [
        # seed 66: accepted, 490 MB (its one block's 574,858 rows counted at once); 90 MB now
        (
            [["mistral", True, {"window": 7}], ["fixed", False, {"stride": 41, "summary": 39}]],
            ["intersection", [0, 1]],
            574858,
            1 << 20,
        ),
        # a probe: 356 MB in every run beside top-k (dilation 2 listed 8.4 M pairs at once); 119 MB now
        (
            [["dilated", False, {"window": 2048, "dilation": 2}], ["topk", False, {"k": 64}]],
            ["intersection", [0, 1]],
            4096,
            64,
        ),
    ],
)
def test_large_blocks_and_dense_listings_keep_the_promise_in_a_fresh_process(layers, tree, n, block):
    from tests.test_budget_promise import _fresh_process_stats

    cpu_s, rss_mb = _fresh_process_stats(layers, tree, n, block)
    torch_mb = 250 if any(name == "topk" for name, _, _ in layers) else 0  # the app has torch loaded already
    assert cpu_s < 1.0 * 2 and rss_mb < 300 + torch_mb, (cpu_s, rss_mb)
