"""Every structured pattern against the brute-force oracle, plus the engine's invariants."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparse_core import PATTERNS, PatternError, analysis, combine, cost, make
from sparse_core.patterns.base import Union
from tests.oracle import oracle_blocks, oracle_mask

STRUCTURED = [name for name, d in PATTERNS.items() if not d.data_dependent]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pattern_specs(draw, names=tuple(STRUCTURED)):
    name = draw(st.sampled_from(names))
    d = PATTERNS[name]
    values = {}
    for p in d.params:
        # small caps on parameters that multiply segments (summary columns, random picks) keep the
        # inclusion-exclusion cheap; n and block still range widely around them
        cap = {"seed": p.maximum, "summary": 8, "random_keys": 8, "random_blocks": 4, "dilation": 12}.get(p.name, 40)
        hi = min(p.maximum, cap)
        values[p.name] = draw(st.integers(max(p.minimum, 1 if p.name in ("stride", "block") else p.minimum), hi))
    if name == "fixed":
        values["summary"] = min(values["summary"], values["stride"])
    if name == "bigbird":
        values["window_blocks"] |= 1
    return make(name, draw(st.booleans()), **values)


def _structured_block(draw, spec, block):
    """Block sizes the pattern supports without enumeration errors (strides must align)."""
    stride = spec.params.get("stride")
    if stride and not (stride % block == 0 or block % stride == 0):
        return stride
    return block


@FAST
@given(spec=pattern_specs(), n=st.integers(1, 90), block=st.integers(1, 40), data=st.data())
def test_every_structured_pattern_matches_the_oracle(spec, n, block, data):
    expr = spec.expr()
    truth = oracle_mask(expr, n)
    assert np.array_equal(analysis.dense_mask(expr, n), truth)
    assert np.array_equal(analysis.row_degree(expr, n), truth.sum(axis=1))
    block = _structured_block(data.draw, spec, block)
    layout = analysis.block_layout(expr, n, block)
    assert np.array_equal(layout.dense(), oracle_blocks(truth, block))
    assert layout.kept_per_row().sum() == oracle_blocks(truth, block).sum()


@FAST
@given(
    a=pattern_specs(),
    b=pattern_specs(),
    n=st.integers(1, 70),
    block=st.sampled_from([1, 4, 8, 16]),
    op=st.sampled_from(["union", "intersection"]),
)
def test_unions_and_intersections_match_the_oracle(a, b, n, block, op):
    for spec in (a, b):  # keep both strides aligned with the block size
        stride = spec.params.get("stride")
        if stride and not (stride % block == 0 or block % stride == 0):
            block = 1
    expr = combine([a, b], op)
    truth = oracle_mask(expr, n)
    assert np.array_equal(analysis.dense_mask(expr, n), truth)
    assert np.array_equal(analysis.row_degree(expr, n), truth.sum(axis=1))
    layout = analysis.block_layout(expr, n, block)
    assert layout.exact
    assert np.array_equal(layout.dense(), oracle_blocks(truth, block))


@FAST
@given(spec=pattern_specs(), n=st.integers(1, 80))
def test_causal_keeps_nothing_above_the_diagonal(spec, n):
    causal = make(spec.name, True, **spec.params)
    mask = analysis.dense_mask(causal.expr(), n)
    assert not np.triu(mask, 1).any()


@FAST
@given(a=pattern_specs(), b=pattern_specs(), c=pattern_specs(), n=st.integers(1, 50))
def test_set_laws_hold(a, b, c, n):
    def m(spec_list, op):
        return analysis.dense_mask(combine(spec_list, op), n)

    ma, mb, mc = (analysis.dense_mask(s.expr(), n) for s in (a, b, c))
    assert np.array_equal(m([a, b], "union"), m([b, a], "union"))
    assert np.array_equal(m([a, b], "intersection"), ma & mb)
    assert np.array_equal(m([a, a], "union"), ma)
    distributed = analysis.dense_mask(Union((combine([a, b], "intersection"), combine([a, c], "intersection"))), n)
    assert np.array_equal(distributed, ma & (mb | mc))
    assert analysis.row_degree(combine([a, b], "union"), n).sum() == (ma | mb).sum()


@FAST
@given(spec=pattern_specs(), n=st.integers(1, 300), d=st.sampled_from([16, 64, 128]))
def test_flop_ratio_is_exactly_density(spec, n, d):
    block = spec.params.get("stride", 16)
    s = cost.stats(spec.expr(), n, block=block, d_head=d)
    assert s.flops_sparse * n * n == s.flops_dense * s.nnz
    assert s.flops_dense == 4 * d * n * n
    assert s.nnz <= s.executed_pairs <= n * n  # a block kernel covers every kept pair


@FAST
@given(spec=pattern_specs(), n=st.integers(1, 120), block=st.sampled_from([4, 8, 16, 32]))
def test_block_layout_covers_every_kept_pair(spec, n, block):
    block = _structured_block(None, spec, block)
    mask = analysis.dense_mask(spec.expr(), n)
    kept = analysis.block_layout(spec.expr(), n, block).dense()
    rows, cols = np.nonzero(mask)
    assert kept[rows // block, cols // block].all()


@FAST
@given(spec=pattern_specs(), n=st.integers(2, 100), data=st.data())
def test_tiles_equal_slices_of_the_full_mask(spec, n, data):
    r0 = data.draw(st.integers(0, n - 1))
    c0 = data.draw(st.integers(0, n - 1))
    r1 = data.draw(st.integers(r0 + 1, n))
    c1 = data.draw(st.integers(c0 + 1, n))
    full = analysis.dense_mask(spec.expr(), n)
    assert np.array_equal(analysis.mask_tile(spec.expr(), n, r0, r1, c0, c1), full[r0:r1, c0:c1])


def test_executed_pairs_counts_edge_blocks_exactly():
    n, block = 100, 32
    s = cost.stats(make("window", window=1000).expr(), n, block=block)
    assert s.nnz == n * n and s.executed_pairs == n * n and s.block_waste == 0


def test_random_is_reproducible_and_seed_sensitive():
    n = 500
    a = analysis.dense_mask(make("random", random_keys=5, seed=1).expr(), n)
    b = analysis.dense_mask(make("random", random_keys=5, seed=1).expr(), n)
    c = analysis.dense_mask(make("random", random_keys=5, seed=2).expr(), n)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (a.sum(axis=1) == 5).all()  # r distinct keys per query


def test_random_rows_do_not_depend_on_chunking(monkeypatch):
    expr = make("random", random_keys=4, seed=3).expr()
    whole = analysis.row_degree(expr, 3000)
    monkeypatch.setattr(analysis, "ROW_CHUNK", 7)
    assert np.array_equal(analysis.row_degree(expr, 3000), whole)
    assert np.array_equal(
        analysis.mask_tile(expr, 3000, 1000, 1010, 0, 3000), analysis.dense_mask(expr, 3000)[1000:1010]
    )


@pytest.mark.parametrize("name", STRUCTURED)
def test_million_token_stats_need_no_quadratic_memory(name):
    s = cost.stats(make(name).expr(), 1 << 20)
    assert 0 < s.nnz < (1 << 40)
    assert s.block_exact


def test_registry_flags_agree_with_the_built_expressions():
    for name, d in PATTERNS.items():
        assert d.data_dependent == make(name).expr().data_dependent, name
        assert (d.causal == "always") <= make(name).causal, name


def test_data_dependent_patterns_are_bounded_and_reproducible():
    for name in [n for n, d in PATTERNS.items() if d.data_dependent]:
        expr = make(name).expr()
        m1 = analysis.dense_mask(expr, 256)
        assert np.array_equal(m1, analysis.dense_mask(expr, 256))
        assert m1.any(axis=1).all() or name == "vertical_slash"
        s = cost.stats(expr, 256, block=32)
        assert s.nnz == m1.sum()
        with pytest.raises(PatternError, match="limited"):
            analysis.row_degree(expr, analysis.DATA_DEPENDENT_MAX_N + 1)


def test_topk_keeps_the_k_best_scores():
    from sparse_core.patterns.learned import TopK

    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    mask = TopK(5).dense(q, k)
    scores = q @ k.T
    for i in range(50):
        kept = np.sort(scores[i][mask[i]])
        assert len(kept) == 5 and kept[0] >= np.sort(scores[i])[-5]


def test_lsh_pairs_share_a_bucket():
    from sparse_core.patterns.learned import LSH

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 16))
    lsh = LSH(buckets=4, rounds=2, seed=5)
    ids = lsh.bucket_ids(x)
    mask = lsh.dense(x, x)
    expected = (ids[0][:, None] == ids[0][None, :]) | (ids[1][:, None] == ids[1][None, :])
    assert np.array_equal(mask, expected)


def test_bad_parameters_say_what_is_wrong():
    with pytest.raises(PatternError, match="window must be between"):
        make("window", window=-1)
    with pytest.raises(PatternError, match="whole number"):
        make("window", window="ten")
    with pytest.raises(PatternError, match="summary must not exceed stride"):
        make("fixed", stride=8, summary=9)
    with pytest.raises(PatternError, match="unknown pattern"):
        make("nope")
    with pytest.raises(PatternError, match="dense mask"):
        analysis.dense_mask(make("window").expr(), analysis.DENSE_MAX_N + 1)
    with pytest.raises(PatternError, match="divide"):
        analysis.block_layout(make("fixed", stride=100, summary=3).expr(), 1000, 64)


def test_kv_cache_is_bounded_only_for_local_causal_patterns():
    n = 100_000
    assert cost.stats(make("streaming", sinks=4, window=1020).expr(), n).kv_tokens_sparse == 4 + 1021
    assert cost.stats(make("mistral", window=4096).expr(), n).kv_tokens_sparse == 4096
    assert cost.stats(make("bigbird").expr(), n).kv_tokens_sparse == n


def test_model_cost_scales_per_head_stats():
    s = cost.stats(make("window", window=8).expr(), 1024, d_head=64)
    m = cost.model_cost(s, cost.MODEL_PRESETS["Llama-3-8B (GQA)"])
    assert m["prefill_flops_dense"] == 4 * 128 * 1024 * 1024 * 32 * 32
    assert m["kv_cache_bytes_dense"] == 2 * 32 * 8 * 128 * 2 * 1024
    with pytest.raises(PatternError):
        cost.ModelConfig(heads=6, kv_heads=4)
