"""Oracle tests of the learned patterns, each written from its paper, not from the engine's code."""

import numpy as np
import pytest

from sparse_core.patterns.learned import LSH, BlockGating, Routing, VerticalSlash


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
@pytest.mark.slow
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


# -- LSH: Reformer (Kitaev et al. 2020), angular LSH of Andoni et al. 2015 ---------------------
def _pairs_at_angle(m: int, d: int, theta: float, seed: int) -> np.ndarray:
    """2m unit vectors in d dimensions: rows 2t and 2t+1 are a random pair at angle theta."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, d))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = rng.normal(size=(m, d))
    b -= (b * a).sum(axis=1, keepdims=True) * a  # orthogonal to a
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    out = np.empty((2 * m, d))
    out[0::2], out[1::2] = a, np.cos(theta) * a + np.sin(theta) * b
    return out


def _collision_rate(buckets: int, rounds: int, theta: float, seeds=range(4), m: int = 1000, d: int = 16) -> float:
    """How often a pair at angle theta shares a bucket under the engine's LSH (q = k, as Reformer ties them)."""
    hits = []
    for seed in seeds:
        x = _pairs_at_angle(m, d, theta, 100 + seed)
        mask = LSH(buckets, rounds, seed).dense(x, x)
        hits.append(mask[np.arange(0, 2 * m, 2), np.arange(1, 2 * m, 2)])
    return float(np.mean(hits))


def _reformer_collision_rate(buckets: int, theta: float, trials: int = 4000, d: int = 16) -> float:
    """The paper's hash written out here: h(x) = argmax([xR; -xR]) for a random Gaussian R of d x b/2."""
    rng = np.random.default_rng(7)
    x = _pairs_at_angle(trials, d, theta, 8)
    same = []
    for t in range(trials):
        r = rng.normal(size=(d, buckets // 2))
        h = [int(np.argmax(np.concatenate([v @ r, -(v @ r)]))) for v in x[2 * t : 2 * t + 2]]
        same.append(h[0] == h[1])
    return float(np.mean(same))


@pytest.mark.parametrize("theta", [0.3, 1.0, np.pi / 2, 2.5])
def test_lsh_with_two_buckets_collides_as_random_hyperplanes_do(theta):
    """Two buckets = the sign of one random projection: collision probability 1 - theta/pi (Charikar 2002)."""
    assert _collision_rate(2, 1, theta) == pytest.approx(1 - theta / np.pi, abs=0.03)  # 4,000 pairs: sd <= 0.008


@pytest.mark.parametrize("theta", [0.4, 1.0, 1.6])
def test_lsh_collision_probability_is_the_papers(theta):
    """Eight buckets: the rate the paper's own hash gives (estimated here independently), within sampling error."""
    assert _collision_rate(8, 1, theta) == pytest.approx(_reformer_collision_rate(8, theta), abs=0.035)


def test_lsh_rounds_are_independent_hashes_and_antipodes_never_meet():
    """Several rounds OR their buckets: 1 - (1 - p)^r for independent rotations; x and -x never share one."""
    p = _collision_rate(8, 1, 1.0)
    assert _collision_rate(8, 3, 1.0) == pytest.approx(1 - (1 - p) ** 3, abs=0.03)
    assert _collision_rate(8, 2, np.pi) == 0.0
    rates = [_collision_rate(8, 1, t, seeds=range(2)) for t in (0.2, 0.8, 1.4, 2.0)]
    assert rates == sorted(rates, reverse=True)  # closer vectors collide more often


# -- Routing: k-means fixed point (Roy et al. 2021) ---------------------------------------------
def _routing_points(q, k):
    """What the Routing Transformer clusters: queries and keys, each side centred, on the unit sphere."""

    def unit(x):
        x = x - x.mean(axis=0, keepdims=True)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return np.concatenate([unit(q), unit(k)])


@pytest.mark.parametrize("n, clusters", [(64, 4), (200, 8), (301, 16), (301, 120)])
@pytest.mark.parametrize("causal", [False, True])
def test_routing_is_a_converged_spherical_kmeans(n, clusters, causal):
    """Property oracle, no copy of the seeding: with iterations to spare the labels are a fixed point of
    spherical Lloyd (each point is nearest, by cosine, to the normalised mean of its own cluster), and query i
    keeps key j exactly when both have the same cluster."""
    q, k = _vectors(n, seed=n)
    r = Routing(clusters, 200, 3, causal=causal)
    lq, lk = r.assign(q, k)
    x = _routing_points(q, k)
    labels = np.concatenate([lq, lk])
    centroids = np.zeros((clusters, x.shape[1]))
    for c in np.unique(labels):
        v = x[labels == c].mean(axis=0)
        centroids[c] = v / np.linalg.norm(v)
    similarity = x @ centroids.T
    # nearest centroid, up to floating-point ties
    assert (similarity[np.arange(len(x)), labels] >= similarity.max(axis=1) - 1e-9).all()
    want = lq[:, None] == lk[None, :]
    assert np.array_equal(r.dense(q, k), np.tril(want) if causal else want)
    assert len(np.unique(labels)) > 1  # a real split, not one cluster
