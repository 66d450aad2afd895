"""The fast data-dependent masks equal the plain ones they replaced, bit for bit; the mask memo is safe.

The references below are the straightforward versions (argpartition, isin, bincount) that the
engine used before it was made fast. They are kept here so that any change of choice, even on
ties, fails a test. Routing's early stop is checked by a property instead (more iterations change
nothing once converged), not by a copy of its seeding.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core.patterns import base, dense_memo, learned
from sparse_core.patterns.learned import LSH, BlockGating, Routing, TopK, VerticalSlash, synthetic_qk


@pytest.fixture(autouse=True)
def _cold_memo():
    base.clear_dense_memo()
    yield
    base.clear_dense_memo()


# -- references ------------------------------------------------------------------------------
def _ref_topk(q, k, kk, causal):
    n = q.shape[0]
    kk = min(kk, n)
    s = (q @ k.T) / np.sqrt(q.shape[1])
    if causal:
        s[np.arange(n)[None, :] > np.arange(n)[:, None]] = -np.inf
    top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    mask = np.zeros(s.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask & np.isfinite(s)


def _ref_block_gating(q, k, b, top_blocks, causal):
    n = q.shape[0]
    nb = -(-n // b)
    pad = nb * b - n
    kp = np.concatenate([k, np.zeros((pad, k.shape[1]), k.dtype)]) if pad else k
    counts = np.full(nb, b, dtype=np.float64)
    counts[-1] = b - pad
    pooled = kp.reshape(nb, b, -1).sum(axis=1) / counts[:, None]
    gate = (q @ pooled.T).astype(np.float64)
    own = np.arange(n) // b
    blocks = np.arange(nb)[None, :]
    eligible = blocks != own[:, None]
    if causal:
        eligible &= blocks < own[:, None]
    gate = np.where(eligible, gate, -np.inf)
    keep = np.zeros((n, nb), dtype=bool)
    others = min(top_blocks - 1, nb - 1)
    if others > 0:
        np.put_along_axis(keep, np.argpartition(-gate, others - 1, axis=1)[:, :others], True, axis=1)
        keep &= eligible
    keep[np.arange(n), own] = True
    mask = np.repeat(keep, b, axis=1)[:, :n]
    return np.tril(mask) if causal else mask


def _ref_vertical_slash(q, k, vertical, slash, last_q):
    n = q.shape[0]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    tail = np.arange(max(0, n - last_q), n)
    s = (q[tail] @ k.T) / np.sqrt(q.shape[1])
    s = np.where(np.arange(n)[None, :] <= tail[:, None], s, -np.inf)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    columns = np.argsort(-p.sum(axis=0), kind="stable")[:vertical]
    offsets = tail[:, None] - np.arange(n)[None, :]
    diag_mass = np.bincount(offsets[offsets >= 0], weights=p[offsets >= 0], minlength=n)
    diagonals = np.argsort(-diag_mass, kind="stable")[:slash]
    return np.tril(np.isin(j, columns) | np.isin(i - j, diagonals))


def _ref_lsh(r: LSH, q, k):
    x = (q + k) / 2
    rng = np.random.default_rng(r.seed)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    mask = np.zeros((len(x), len(x)), dtype=bool)
    for _ in range(r.rounds):
        proj = unit @ rng.normal(size=(x.shape[1], r.buckets // 2))
        ids = np.argmax(np.concatenate([proj, -proj], axis=1), axis=1)
        mask |= ids[:, None] == ids[None, :]
    return np.tril(mask) if r.causal else mask


def _tied(n, d=6, seed=0):
    """Small whole-number vectors: many equal scores, so tie handling is exercised."""
    rng = np.random.default_rng(seed)
    return rng.integers(-2, 3, size=(n, d)).astype(np.float32), rng.integers(-2, 3, size=(n, d)).astype(np.float32)


VECTORS = [
    pytest.param(lambda n: synthetic_qk(n), id="synthetic"),
    # the same code paths as "synthetic" on other draws: `make test` runs it, the quick loop does not (~2.5 CPU-s)
    pytest.param(lambda n: synthetic_qk(n, seed=3), id="synthetic-seed3", marks=pytest.mark.slow),
    pytest.param(_tied, id="tied"),
]
SIZES = [1, 2, 7, 64, 301]


def _cases(sizes: list[int]) -> list:
    """(n, vectors) for every size and vectors kind. The quick loop runs the largest n with the tied vectors only:
    the code's branches depend on n and the parameters, which the tied vectors share, plus ties, which only they
    have (the synthetic ones at that n cost ~2 CPU-s); `make test` runs them all."""
    out = []
    for n in sizes:
        for p in VECTORS:
            slow = bool(p.marks) or (n == max(sizes) and p.id != "tied")
            out.append(pytest.param(n, p.values[0], id=f"{n}-{p.id}", marks=pytest.mark.slow if slow else ()))
    return out


# -- the fast masks equal the references -----------------------------------------------------
@pytest.mark.parametrize("n, vectors", _cases(SIZES))
@pytest.mark.parametrize("causal", [False, True])
def test_topk_equals_argpartition(vectors, n, causal):
    q, k = vectors(n)
    for kk in sorted({1, 2, 3, 16, 17, 40, n // 2 or 1, n - 1 or 1, n, n + 3}):
        assert np.array_equal(TopK(kk, causal=causal).dense(q, k), _ref_topk(q, k, kk, causal)), kk


@pytest.mark.parametrize("n, vectors", _cases(SIZES))
@pytest.mark.parametrize("causal", [False, True])
def test_block_gating_equals_argpartition(vectors, n, causal):
    q, k = vectors(n)
    for block in (1, 3, 16, 500):
        for top in (1, 2, 3, 17, 1024):
            got = BlockGating(block, top, causal=causal).dense(q, k)
            assert np.array_equal(got, _ref_block_gating(q, k, block, top, causal)), (block, top)


@pytest.mark.parametrize("n, vectors", _cases(SIZES))
def test_vertical_slash_equals_isin_and_bincount(vectors, n):
    q, k = vectors(n)
    for v, s, last in [(1, 1, 1), (5, 4, 16), (64, 64, 64), (8192, 3, 8192), (2, 8192, 40)]:
        got = VerticalSlash(v, s, last, causal=True).dense(q, k)
        assert np.array_equal(got, _ref_vertical_slash(q, k, v, s, last)), (v, s, last)


@pytest.mark.parametrize("n, vectors", _cases([2, 64, 301]))
@pytest.mark.parametrize("causal", [False, True])
def test_routing_stops_early_only_where_more_iterations_change_nothing(vectors, n, causal):
    """Lloyd's iterations stop once the labels repeat: any later iteration would repeat them too, so a run
    allowed 10x the iterations gives the same mask, on both centroid update paths (few and many clusters).
    That the labels are a converged spherical k-means is tested in test_learned.py, from the paper."""
    q, k = vectors(n)
    for clusters, iterations in [(1, 3), (8, 60), (120, 60), (500, 60)]:
        mask = Routing(clusters, iterations, 1, causal=causal).dense(q, k)
        assert np.array_equal(mask, Routing(clusters, 10 * iterations, 1, causal=causal).dense(q, k)), clusters
        lq, lk = Routing(clusters, iterations, 1, causal=causal).assign(q, k)
        want = lq[:, None] == lk[None, :]
        assert np.array_equal(mask, np.tril(want) if causal else want)


@pytest.mark.parametrize("n, vectors", _cases(SIZES))
@pytest.mark.parametrize("causal", [False, True])
def test_lsh_equals_concatenated_argmax_and_pairwise_compare(vectors, n, causal):
    q, k = vectors(n)
    for buckets, rounds in [(2, 1), (4, 3), (64, 2), (1024, 8)]:  # few big buckets and many small ones
        r = LSH(buckets, rounds, 2, causal=causal)
        assert np.array_equal(r.dense(q, k), _ref_lsh(r, q, k)), (buckets, rounds)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_topk_with_every_key_kept_still_drops_overflowing_scores():
    q = np.full((6, 4), 1e30, np.float32)
    k = np.full((6, 4), 1e30, np.float32)  # q . k overflows float32: not a finite score
    for causal in (False, True):
        assert np.array_equal(TopK(6, causal=causal).dense(q, k), _ref_topk(q, k, 6, causal))
        assert not TopK(6, causal=causal).dense(q, k).any()


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 9),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_top_per_row_marks_argpartitions_choice(rows, n, data):
    s = np.array(
        data.draw(st.lists(st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0]), min_size=rows * n, max_size=rows * n))
    )
    s = s.reshape(rows, n)
    kk = data.draw(st.integers(1, n))
    width = None
    if data.draw(st.booleans()):  # causal-like rows: everything from width[r] on is -inf
        width = np.array(data.draw(st.lists(st.integers(0, n), min_size=rows, max_size=rows)))
        s[np.arange(n)[None, :] >= width[:, None]] = -np.inf
    want = np.zeros(s.shape, dtype=bool)
    np.put_along_axis(want, np.argpartition(-s, kk - 1, axis=1)[:, :kk], True, axis=1)
    assert np.array_equal(learned.top_per_row(s, kk, width), want)
    finite = np.isfinite(s)
    assert np.array_equal(learned.top_per_row(s, kk, width, drop_neg_inf=True) & finite, want & finite)


# -- memo ------------------------------------------------------------------------------------
class _Counting(TopK):
    calls = 0

    def dense(self, q, k):
        type(self).calls += 1
        return super().dense(q, k)


def test_memo_scores_once_and_hands_out_private_copies():
    q, k = synthetic_qk(128)
    _Counting.calls = 0
    first = _Counting(4).dense(q, k)
    first[:] = True  # a caller writing to its mask must not change the next caller's
    again = _Counting(4).dense(q.copy(), k.copy())  # equal vectors, other arrays: still a hit
    assert _Counting.calls == 1
    assert np.array_equal(again, _ref_topk(q, k, 4, False))
    assert again.flags.writeable


def test_memo_keys_on_parameters_and_vector_contents():
    q, k = synthetic_qk(64)
    a = TopK(3).dense(q, k)
    assert not np.array_equal(TopK(3, causal=True).dense(q, k), a)
    q2 = q.copy()
    q2[10] += 1.0  # one changed row is another input
    assert np.array_equal(TopK(3).dense(q2, k), _ref_topk(q2, k, 3, False))
    assert np.array_equal(LSH(8, 1, 0).dense(q, k), LSH(8, 1, 0).dense(q, k))
    assert not np.array_equal(LSH(8, 1, 0).dense(q, k), LSH(8, 1, 5).dense(q, k))


def test_memo_stays_within_its_byte_bound(monkeypatch):
    monkeypatch.setattr(dense_memo, "DENSE_MEMO_BYTES", 3 * 100 * 100)
    for seed in range(8):
        q, k = synthetic_qk(100, seed=seed)
        TopK(5).dense(q, k)
        assert sum(m.nbytes for m in dense_memo._dense_memo.values()) <= dense_memo.DENSE_MEMO_BYTES
    assert 1 <= len(dense_memo._dense_memo) <= 3
    assert all(not m.flags.writeable for m in dense_memo._dense_memo.values())


def test_synthetic_vectors_are_private_copies():
    q, k = synthetic_qk(32)
    q[:] = 0
    k[:] = 0
    q2, k2 = synthetic_qk(32)
    assert q2.any() and k2.any()
