"""The shared dense mask of one explorer rerun: memoised, read-only inside, copied outside, and every
figure derived from it equal to the plain computation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import analysis, make
from sparse_core.patterns import base
from sparse_core.segments import enumerate_keys
from sparse_core.views import mask_view


@pytest.fixture(autouse=True)
def _fresh_memo():
    base.clear_dense_memo()
    yield
    base.clear_dense_memo()


def _listed(prim, n):
    """The dense mask the old way: every kept (row, key) pair listed."""
    mask = np.zeros((n, n), dtype=bool)
    r, k = enumerate_keys(list(prim.segments(np.arange(n, dtype=np.int64), n)), n)
    mask[r, k] = True
    return mask


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["window", "longformer", "bigbird", "streaming", "block", "fixed", "strided", "dilated"]),
    causal=st.booleans(),
    n=st.integers(1, 200),
)
def test_interval_fill_equals_listing_every_pair(name, causal, n):
    expr = make(name, causal).expr()
    for prim in expr.primitives():
        assert np.array_equal(analysis._primitive_dense(prim, n, None), _listed(prim, n)), prim


def test_a_wide_window_is_filled_by_running_sums_and_stays_exact():
    n = 300
    prim = make("window", True, window=1 << 20).expr()
    assert np.array_equal(analysis._primitive_dense(prim, n, None), np.tril(np.ones((n, n), dtype=bool)))


@pytest.mark.parametrize("block", [1, 3, 8, 16, 24, 64, 128, 300])
@pytest.mark.parametrize("n", [64, 100, 257])
def test_block_counts_equal_plain_block_sums(block, n):
    rng = np.random.default_rng(block * 1000 + n)
    mask = rng.random((n, n)) < 0.4
    nb = -(-n // block)
    padded = np.zeros((nb * block, nb * block), dtype=np.int64)
    padded[:n, :n] = mask
    expected = padded.reshape(nb, block, nb, block).sum(axis=(1, 3))
    got = analysis._dense_block_counts(mask, block)
    assert np.array_equal(got.astype(np.int64), expected)


def test_full_blocks_do_not_overflow_the_narrow_counts():
    mask = np.ones((512, 512), dtype=bool)
    for block in (15, 16, 255, 256, 512):
        assert int(analysis._dense_block_counts(mask, block)[0, 0]) == block * block


def test_dense_mask_hands_out_private_copies():
    expr = make("topk", True).expr()
    first = analysis.dense_mask(expr, 256)
    first[:] = False
    second = analysis.dense_mask(expr, 256)
    assert second.any() and second.flags.writeable
    assert np.array_equal(second, analysis.dense_mask(make("topk", True).expr(), 256))


def test_degrees_and_block_layouts_of_data_dependent_masks_come_from_the_same_mask():
    expr = make("nsa", True, block=16, top_blocks=3, window=40).expr()
    n = 512
    mask = analysis.dense_mask(expr, n)
    assert np.array_equal(analysis.row_degree(expr, n), mask.sum(axis=1))
    layout = analysis.block_layout(expr, n, 32)
    assert np.array_equal(layout.dense(), mask.reshape(16, 32, 16, 32).any(axis=(1, 3)))
    qi, kj = np.nonzero(layout.dense())
    counts = analysis.block_pair_counts(expr, n, 32, qi, kj)
    assert np.array_equal(counts, mask.reshape(16, 32, 16, 32).sum(axis=(1, 3))[qi, kj])


def test_vectors_are_part_of_the_key():
    expr = make("topk", False, k=4).expr()
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 64, 8)).astype(np.float32)
    a = analysis.dense_mask(expr, 64, (q, k))
    b = analysis.dense_mask(expr, 64, (q, -k))
    assert not np.array_equal(a, b)
    assert np.array_equal(a, analysis.dense_mask(expr, 64, (q.copy(), k.copy())))


def test_the_memo_is_bounded_and_cleared_with_the_pattern_memo():
    for window in range(2, 12):
        analysis.dense_mask(make("window", True, window=window).expr(), 2048)
    held = sum(analysis._entry_bytes(e) for e in analysis._mask_memo.values())
    assert held <= analysis.MASK_MEMO_BYTES
    assert all(not e["mask"].flags.writeable for e in analysis._mask_memo.values())
    base.clear_dense_memo()
    assert not analysis._mask_memo


@pytest.mark.parametrize(("n", "max_token_n"), [(1024, 512), (4096, 2048)])
def test_pooled_views_of_data_dependent_masks_carry_exact_shares(n, max_token_n):
    expr = make("lsh", True, buckets=64, rounds=2).expr()
    view = mask_view(expr, n, max_token_n=max_token_n)
    b = view.block
    assert view.pooled and view.exact_density and b > 1
    sums = analysis.dense_mask(expr, n).reshape(n // b, b, n // b, b).sum(axis=(1, 3))
    assert np.allclose(view.image, sums / (b * b), rtol=0, atol=1e-12)
    assert len(np.unique(view.image)) > 2  # shares, not kept / empty


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [1, 2, 5, 64, 1 << 20])
def test_windows_are_drawn_as_bands_and_stay_exact(causal, window):
    n = 97
    prim = make("window", causal, window=window).expr()
    rows = np.arange(n, dtype=np.int64)
    assert all(analysis._band(s, rows, n) is not None for s in prim.segments(rows, n))
    assert np.array_equal(analysis._primitive_dense(prim, n, None), _listed(prim, n))


def test_blocks_are_not_bands():
    n = 64
    prim = make("block", False, block=8).expr()
    rows = np.arange(n, dtype=np.int64)
    assert all(analysis._band(s, rows, n) is None for s in prim.segments(rows, n))
