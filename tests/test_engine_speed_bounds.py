"""The fast paths of the engine agree exactly with the general ones they short-cut."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import analysis, make, segments
from sparse_core.segments import Seg
from tests.oracle import oracle_mask


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_sorting_network_sweep_counts_unions_like_the_row_sort(m, rows, seed):
    rng = np.random.default_rng(seed)
    segs = []
    for _ in range(m):
        start = rng.integers(-50, 200, rows)
        count = np.where(rng.random(rows) < 0.2, 0, rng.integers(0, 60, rows))
        step = 1 if rng.random() < 0.8 else 3
        segs.append(Seg(start, step, np.minimum(count, 1) if step > 1 else count))
    fast = segments._union_of_intervals([segs], rows)
    expect = np.array(
        [
            len({int(s.start[i]) + t for s in segs for t in range(int(s.count[i]) if s.step == 1 else int(s.count[i]))})
            for i in range(rows)
        ]
    )
    assert np.array_equal(fast, expect)


def test_rows_constant_in_runs_are_counted_once_per_run():
    for causal in (False, True):
        for params in ({"block": 4}, {"block": 3, "window_blocks": 3, "global_blocks": 3, "random_blocks": 2}):
            expr = make("bigbird", causal, **params).expr()
            n = 301
            assert np.array_equal(analysis.row_degree(expr, n), oracle_mask(expr, n).sum(axis=1))
    expr = make("bigbird", block=4).expr() | make("window", window=2).expr()
    assert analysis.constant_rows(expr, 64) == 1  # a sliding window differs on every row
    assert analysis.constant_rows(make("bigbird", block=8).expr(), 64) == 8


def test_causal_runs_of_combined_block_patterns_match_the_oracle():
    from sparse_core.patterns import structured as S

    n = 157
    a = S.Blocks(6, 1, causal=True)
    b = S.RandomBlocks(4, 2, 3, window_half=1, global_first=1, global_last=1, causal=True)
    c = S.GlobalBlocks(2, 1, 1, causal=True)
    for expr in (a | b | c, (a | c) & (b | a), b):
        assert analysis.constant_rows(expr, n) > 1
        assert np.array_equal(analysis.row_degree(expr, n), oracle_mask(expr, n).sum(axis=1))
    assert analysis.constant_rows(S.Blocks(6, 1, causal=True) | S.Blocks(6, 1), n) == 1  # causal and not mixed


def _block_sums(mask, block):
    n = mask.shape[0]
    nb = -(-n // block)
    pad = np.pad(mask, ((0, nb * block - n), (0, nb * block - n)))
    return pad.reshape(nb, block, nb, block).sum(axis=(1, 3))


def test_one_pass_pooled_counts_equal_the_dense_mask_block_sums():
    from sparse_core.views import pooled_by_sweep

    n, block = 301, 16
    cases = [
        make("bigbird", block=4).expr(),
        make("bigbird", block=24).expr(),  # runs straddle query blocks
        make("bigbird", block=6).expr(),
        make("bigbird", True, block=3, random_blocks=2).expr(),
        make("window", window=7).expr(),
        make("window", True, window=20).expr(),
        make("longformer", window=9, global_tokens=3).expr(),
        make("block", block=5, neighbors=1).expr() | make("window", window=2).expr(),
    ]
    swept = 0
    for expr in cases:
        counts = pooled_by_sweep(expr, n, block)
        if counts is not None:
            swept += 1
            assert np.array_equal(counts, _block_sums(oracle_mask(expr, n), block))
    assert swept >= 5


def test_one_pass_view_matches_the_block_count_view(monkeypatch):
    from sparse_core import views

    for expr in (make("bigbird", block=16).expr(), make("longformer", True, window=40).expr()):
        slow = views.mask_view(expr, 4096)
        monkeypatch.setattr(views, "ONE_PASS_VIEWS", True)
        fast = views.mask_view(expr, 4096)
        monkeypatch.setattr(views, "ONE_PASS_VIEWS", False)
        assert slow.exact_density and fast.exact_density and fast.block == slow.block
        assert np.allclose(fast.image, slow.image, rtol=0, atol=1e-12)
