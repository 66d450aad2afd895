"""The random patterns are uniformly random: marginals, spacing, and no hidden progressions.

Each statistic is compared with numpy's own uniform sampler (Generator.choice without
replacement), and the progression test is shown to catch the generator this project used
before (one row hash multiplied by a constant per draw), whose rows were 100% progressions.
Fixed seeds keep every figure reproducible.
"""

import numpy as np
import pytest
from scipy import stats as sps

from sparse_core import make
from sparse_core.patterns import structured as S
from sparse_core.patterns.base import random_subsets, splitmix64


def old_random_subsets(ids, population, r, seed, salt):
    """The generator replaced in issue 11: every draw reuses one row hash times a constant."""
    out = np.full((len(ids), r), -1, dtype=np.int64)
    base = splitmix64(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(salt))
    with np.errstate(over="ignore"):
        row_key = splitmix64(ids.astype(np.uint64) ^ base)
        for k in range(r):
            t = population - r + k
            bits = ((row_key * np.uint64(2 * k + 0x9E3779B1)) ^ (row_key >> np.uint64(29))) >> np.uint64(32)
            pick = ((bits * np.maximum(t + 1, 1).astype(np.uint64)) >> np.uint64(32)).astype(np.int64)
            if k:
                repeat = (out[:, :k] == pick[:, None]).any(axis=1)
                pick = np.where(repeat, t, pick)
            out[:, k] = np.where(t >= 0, pick, -1)
    return out


def reference_subsets(rows: int, n: int, r: int, seed: int = 12345) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n, r, replace=False) for _ in range(rows)])


def progression_share(table: np.ndarray, n: int, tol: int) -> float:
    """Share of rows whose keys, in draw order, step by a near-constant amount modulo n."""
    steps = np.diff(table, axis=1) % n
    second = (np.diff(steps, axis=1) + n // 2) % n - n // 2
    return float((np.abs(second) <= tol).all(axis=1).mean())


N, ROWS = 4096, 20_000
TOL = N // 64


def test_marginal_distribution_of_keys_is_uniform():
    r, rows = 256, 4096
    table = S.RandomKeys(r, seed=7).key_table(np.arange(rows), 1024)
    assert (np.sort(table, axis=1)[:, 1:] != np.sort(table, axis=1)[:, :-1]).all()  # distinct keys
    counts = np.bincount(table.ravel(), minlength=1024)
    assert sps.chisquare(counts).pvalue > 1e-3
    old = old_random_subsets(np.arange(rows), np.full(rows, 1024), r, 7, 1)
    assert sps.chisquare(np.bincount(old.ravel(), minlength=1024)).pvalue < 1e-6  # the test has teeth


def test_spacing_of_keys_within_a_row_matches_uniform_subsets():
    r = 8
    ours = np.sort(random_subsets(np.arange(ROWS), np.full(ROWS, N), r, 3, 1), axis=1)
    ref = np.sort(reference_subsets(ROWS, N, r), axis=1)

    def gaps(t):
        return np.concatenate([np.diff(t, axis=1), (t[:, :1] + N - t[:, -1:])], axis=1).ravel()

    assert sps.ks_2samp(gaps(ours), gaps(ref)).pvalue > 1e-3
    # and the expected gap of a uniform r-subset on a circle is exactly n / r
    assert gaps(ours).mean() == pytest.approx(N / r)


@pytest.mark.parametrize("r", [3, 4, 8])
def test_rows_are_not_arithmetic_progressions(r):
    ours = progression_share(random_subsets(np.arange(ROWS), np.full(ROWS, N), r, 11, 1), N, TOL)
    uniform = progression_share(reference_subsets(ROWS, N, r), N, TOL)
    old = progression_share(old_random_subsets(np.arange(ROWS), np.full(ROWS, N), r, 11, 1), N, TOL)
    assert old > 0.99  # the old generator: every row a progression
    slack = 4 * np.sqrt(max(uniform, 1 / ROWS) / ROWS)
    assert abs(ours - uniform) <= slack, (ours, uniform)


@pytest.mark.parametrize("r", [3, 4, 8])
def test_bigbird_random_blocks_are_uniform_and_avoid_window_and_global_blocks(r):
    nb = N
    prim = S.RandomBlocks(1, r, seed=5, window_half=1, global_first=1, global_last=1)
    qb = np.arange(2, 2 + ROWS // 4) % (nb - 4) + 2
    table = prim.table(qb, nb)
    assert (table >= 1).all() and (table <= nb - 2).all()  # never a global block
    assert (np.abs(table - qb[:, None]) > 1).all()  # never a window block
    share = progression_share(table, nb, TOL)
    uniform = progression_share(reference_subsets(len(qb), nb, r), nb, TOL)
    assert abs(share - uniform) <= 4 * np.sqrt(max(uniform, 1 / len(qb)) / len(qb)) + 2 / len(qb)
    old = progression_share(old_random_subsets(qb, np.full(len(qb), nb), r, 5, 2), nb, TOL)
    assert old > 0.99


def test_bigbird_random_block_marginals_are_uniform_over_allowed_blocks():
    nb, r, qb = 64, 3, np.array([20])
    draw = [S.RandomBlocks(1, r, seed=s, window_half=1, global_first=1, global_last=1) for s in range(3000)]
    picks = np.concatenate([prim.table(qb, nb)[0] for prim in draw])
    hits = np.bincount(picks, minlength=nb)
    allowed = [b for b in range(1, nb - 1) if abs(b - 20) > 1]
    assert hits.sum() == hits[allowed].sum()  # only blocks outside the window and the global blocks
    assert sps.chisquare(hits[allowed]).pvalue > 1e-3


def test_random_rows_are_regenerable_one_by_one():
    prim = make("random", random_keys=5, seed=4).expr()
    full = prim.key_table(np.arange(5000), 5000)
    some = np.array([0, 17, 4999, 2500])
    assert np.array_equal(prim.key_table(some, 5000), full[some])
    causal = make("random", True, random_keys=5, seed=4).expr().key_table(np.arange(5000), 5000)
    assert ((causal < np.arange(5000)[:, None] + 1) | (causal == -1)).all()
    assert ((causal >= 0).sum(axis=1) == np.minimum(5, np.arange(5000) + 1)).all()


def test_large_r_and_dense_rows_are_exact_subsets():
    pop = np.array([1, 5, 300, 300, 511, 512, 10_000])
    t = random_subsets(np.arange(len(pop)), pop, 256, 1, 1)
    for row, p in zip(t, pop, strict=True):
        keys = row[row >= 0]
        assert len(keys) == min(256, p) == len(set(keys.tolist())) and (keys < p).all()


def test_fast_subsets_are_uniform_over_all_subsets_including_fallback_rows():
    # population 40, r = 3: the iid try repeats a key in ~7% of rows, which then take the fallback
    from itertools import combinations

    from sparse_core.patterns.random_keys import fast_subsets

    rows, pop, r = 40_000, 40, 3
    table = np.sort(fast_subsets(np.arange(rows), np.full(rows, pop), r, 9, 1), axis=1)
    assert (table[:, 1:] != table[:, :-1]).all() and (table >= 0).all() and (table < pop).all()
    index = {c: k for k, c in enumerate(combinations(range(pop), r))}
    counts = np.bincount([index[tuple(t)] for t in table.tolist()], minlength=len(index))
    assert sps.chisquare(counts).pvalue > 1e-3


def test_whole_key_table_matches_rows_drawn_one_by_one_and_pooled_counts_are_exact():
    from sparse_core import analysis
    from sparse_core.patterns.random_keys import RandomKeys

    for causal in (False, True):
        prim = RandomKeys(4, 6, causal=causal)
        n = 3000
        whole = prim.whole_table(n)
        some = np.array([0, 1, 2, 1499, 2999])
        assert np.array_equal(prim.key_table(some, n), whole[some])
        dense = analysis.dense_mask(prim, n)
        block = 256
        nb = -(-n // block)
        pad = np.pad(dense, ((0, nb * block - n), (0, nb * block - n)))
        expect = pad.reshape(nb, block, nb, block).sum(axis=(1, 3))
        assert np.array_equal(prim.pooled_counts(n, block), expect)


def test_random_block_layout_is_the_same_from_the_whole_table_and_from_row_chunks(monkeypatch):
    from sparse_core import analysis
    from sparse_core.patterns import random_keys

    n, block = 5000, 64
    expr = make("random", random_keys=6, seed=2).expr()
    whole = analysis.block_layout(expr, n, block)
    monkeypatch.setattr(random_keys, "TABLE_CACHE_CELLS", 0)
    monkeypatch.setattr(random_keys, "KEY_CELLS", 3 * block * 6)
    chunked = analysis.block_layout(make("random", random_keys=6, seed=2).expr(), n, block)
    assert np.array_equal(whole.kept_per_row(), chunked.kept_per_row())
    assert all(np.array_equal(a, b) for a, b in zip(whole.pairs(), chunked.pairs(), strict=True))
    dense = analysis.dense_mask(expr, n)
    nb = -(-n // block)
    pad = np.pad(dense, ((0, nb * block - n), (0, nb * block - n)))
    assert np.array_equal(whole.kept_per_row(), (pad.reshape(nb, block, nb, block).any(axis=(1, 3))).sum(axis=1))
