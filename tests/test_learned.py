"""Oracle tests of the learned patterns, each written from its paper, not from the engine's code."""

import numpy as np
import pytest

from sparse_core.patterns.learned import BlockGating, Routing, VerticalSlash


def _vectors(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


# -- block gating: MoBA (Lu et al. 2025), NSA selection (Yuan et al. 2025) ---------------------
def _moba_oracle(q, k, block, top_blocks, causal):
    """Row by row: own block always; the top_blocks - 1 best other blocks by q . mean(K_block)."""
    n = len(q)
    nb = -(-n // block)
    mask = np.zeros((n, n), dtype=bool)
    for i in range(n):
        own = i // block
        scores = {
            b: float(q[i] @ k[b * block : (b + 1) * block].mean(axis=0))
            for b in range(nb)
            if b != own and (not causal or b < own)
        }
        chosen = sorted(scores, key=lambda b: -scores[b])[: top_blocks - 1] + [own]
        for b in chosen:
            for j in range(b * block, min(n, (b + 1) * block)):
                if not causal or j <= i:
                    mask[i, j] = True
    return mask


@pytest.mark.parametrize("n, block, top", [(40, 8, 1), (40, 8, 2), (37, 5, 3), (64, 16, 4), (30, 7, 10)])
@pytest.mark.parametrize("causal", [False, True])
def test_block_gating_matches_moba(n, block, top, causal):
    q, k = _vectors(n, seed=n + top)
    got = BlockGating(block, top, causal=causal).dense(q, k)
    assert np.array_equal(got, _moba_oracle(q, k, block, top, causal))


def test_block_gating_keeps_the_own_block_even_with_one_block():
    q, k = _vectors(32)
    for causal in (False, True):
        mask = BlockGating(8, 1, causal=causal).dense(q, k)
        assert mask[np.arange(32), np.arange(32)].all()  # a row always attends itself
        own = (np.arange(32)[:, None] // 8) == (np.arange(32)[None, :] // 8)
        assert np.array_equal(mask, own & np.tril(np.ones((32, 32), bool)) if causal else own)


# -- vertical-slash: MInference 1.0 (Jiang et al. 2024) ----------------------------------------
def _vs_oracle(q, k, vertical, slash, queries, n):
    """Columns and diagonals with the most attention mass over the given queries; ties by index."""
    col = np.zeros(n)
    dia = np.zeros(n)
    for s in queries:
        scores = np.array([q[s] @ k[j] / np.sqrt(q.shape[1]) for j in range(s + 1)])
        p = np.exp(scores - scores.max())
        p /= p.sum()
        col[: s + 1] += p
        for j in range(s + 1):
            dia[s - j] += p[j]
    return col, dia


def test_vertical_slash_last_estimate_is_unchanged():
    n = 48
    q, k = _vectors(n, seed=3)
    col, dia = _vs_oracle(q, k, 5, 4, range(n - 16, n), n)
    cols = np.argsort(-col, kind="stable")[:5]
    diags = np.argsort(-dia, kind="stable")[:4]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    want = (np.isin(j, cols) | np.isin(i - j, diags)) & (j <= i)
    assert np.array_equal(VerticalSlash(5, 4, 16, causal=True).dense(q, k), want)


def test_vertical_slash_causal_rows_use_only_queries_up_to_t():
    n, last_q = 40, 8
    q, k = _vectors(n, seed=4)
    mask = VerticalSlash(4, 3, last_q, causal=True, estimate="causal").dense(q, k)
    for t in [0, 1, 5, 12, 27, n - 1]:
        col, dia = _vs_oracle(q, k, 4, 3, range(max(0, t - last_q + 1), t + 1), n)
        cols = np.argsort(-col[: t + 1], kind="stable")[:4]
        diags = np.argsort(-dia[: t + 1], kind="stable")[:3]
        want = np.zeros(n, bool)
        want[cols] = True
        want[[t - o for o in diags]] = True
        assert np.array_equal(mask[t], want & (np.arange(n) <= t)), t


def test_vertical_slash_causal_never_looks_ahead():
    n = 50
    q, k = _vectors(n, seed=5)
    base = VerticalSlash(6, 4, 16, causal=True, estimate="causal").dense(q, k)
    rng = np.random.default_rng(9)
    for t in (0, 10, 30, 48):
        q2, k2 = q.copy(), k.copy()
        q2[t + 1 :] = rng.normal(size=q2[t + 1 :].shape) * 5
        k2[t + 1 :] = rng.normal(size=k2[t + 1 :].shape) * 5
        other = VerticalSlash(6, 4, 16, causal=True, estimate="causal").dense(q2, k2)
        assert np.array_equal(base[: t + 1], other[: t + 1])
    # the original estimate does look ahead: the same change moves early rows
    orig = VerticalSlash(6, 4, 16, causal=True).dense(q, k)
    q2, k2 = q.copy(), k.copy()
    q2[30:] = rng.normal(size=q2[30:].shape) * 5
    assert not np.array_equal(orig[:30], VerticalSlash(6, 4, 16, causal=True).dense(q2, k2)[:30])


def test_vertical_slash_causal_last_row_matches_the_original():
    n = 60
    q, k = _vectors(n, seed=6)
    causal = VerticalSlash(5, 5, 20, causal=True, estimate="causal").dense(q, k)
    orig = VerticalSlash(5, 5, 20, causal=True).dense(q, k)
    assert np.array_equal(causal[-1], orig[-1])


# -- routing: Routing Transformer (Roy et al. 2021) ---------------------------------------------
def test_routing_shares_centroids_between_queries_and_keys():
    rng = np.random.default_rng(0)
    n, d, c = 200, 16, 4
    centres = rng.normal(size=(c, d)) * 3
    topic = rng.integers(0, c, n)
    # queries and keys live in opposite cones (a shared offset each side), as in real heads
    q = centres[topic] + rng.normal(size=(n, d)) + 20
    k = centres[topic] + rng.normal(size=(n, d)) - 20
    r = Routing(c, iterations=20, seed=1)
    lq, lk = r.assign(q, k)
    # same topic -> same cluster, on both sides
    for t in range(c):
        assert len(set(lq[topic == t]) | set(lk[topic == t])) == 1
    mask = r.dense(q, k)
    assert (~mask.any(axis=1)).mean() == 0
    assert abs(mask.sum(axis=1).mean() - n / c) < n / c * 0.5


def test_online_routing_never_looks_ahead():
    n = 60
    q, k = _vectors(n, seed=7)
    r = Routing(4, estimate="online")
    base = r.dense(q, k)
    assert np.array_equal(base, np.tril(base))
    rng = np.random.default_rng(3)
    for t in (0, 7, 31, 58):
        q2, k2 = q.copy(), k.copy()
        q2[t + 1 :] = rng.normal(size=q2[t + 1 :].shape) * 3
        k2[t + 1 :] = rng.normal(size=k2[t + 1 :].shape) * 3
        assert np.array_equal(r.dense(q2, k2)[: t + 1], base[: t + 1])
    # the batch fit does look ahead: centroids move when later tokens change
    batch = Routing(4, causal=True)
    q2 = q.copy()
    q2[40:] = rng.normal(size=q2[40:].shape) * 3 + 4
    assert not np.array_equal(batch.dense(q2, k)[:40], batch.dense(q, k)[:40])


@pytest.fixture(scope="module")
def real_heads():
    """q/k of every head of a few layers of both bundled models, on the English example text."""
    from pathlib import Path

    from sparse_core import attention as A
    from sparse_core import models

    text = (Path(__file__).resolve().parents[1] / "assets" / "examples" / "en_story.txt").read_text()
    out = {}
    for key in ("minilm", "smollm2"):
        lm = models.load(key)
        run = A.dense_run(lm, A.tokenize(lm, text, 128).ids)
        heads = []
        for layer in (0, lm.layers // 2, lm.layers - 1):
            rec = run.layers[layer]
            for h in range(rec.q.shape[0]):
                heads.append((rec.q[h].numpy(), rec.k[h // rec.groups].numpy()))
        out[key] = (lm.info.causal, heads)
    return out


@pytest.mark.model
@pytest.mark.parametrize("key", ["minilm", "smollm2"])
def test_routing_rows_are_rarely_empty_on_real_heads(real_heads, key):
    causal, heads = real_heads[key]
    clusters = 8
    empty, sizes = [], []
    for q, k in heads:
        mask = Routing(clusters, causal=causal, estimate="online" if causal else "batch").dense(q, k)
        empty.append((~mask.any(axis=1)).mean())
        sizes.append(mask.sum(axis=1).mean())
    n = heads[0][0].shape[0]
    assert np.mean(empty) <= 0.25, f"{np.mean(empty):.0%} of rows empty"
    reach = n / 2 if causal else n  # a causal row chooses among ~n/2 keys on average
    assert reach / clusters / 4 <= np.median(sizes) <= reach / clusters * 4  # about n/k keys per row


@pytest.mark.parametrize("causal", [False, True])
def test_topk_for_all_heads_at_once_equals_one_head_at_a_time(causal):
    from sparse_core.patterns.learned import TopK

    rng = np.random.default_rng(2)
    q, k = rng.normal(size=(3, 40, 8)), rng.normal(size=(3, 40, 8))
    topk = TopK(5, causal=causal)
    assert np.array_equal(topk.dense_heads(q, k), np.stack([topk.dense(q[h], k[h]) for h in range(3)]))
