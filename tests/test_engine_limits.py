"""Every accepted parameter, at its extremes and n = 2^20: a result in bounded time, or a PatternError.

Never a MemoryError, never minutes. The bound is generous (CPU seconds of this process, so a busy
shared machine does not make it flaky); benchmarks/engine.py records the real figures.
"""

import time

import pytest

from sparse_core import PatternError, analysis, combine, cost, make, registry

N = 1 << 20
CPU_SECONDS = 20.0


def _extremes():
    for name, values in registry.parameter_extremes():
        yield pytest.param(name, values, id=f"{name}-" + ",".join(f"{k}={v}" for k, v in values.items()))


def _within_bounds(expr, n=N):
    start = time.process_time()
    try:
        s = cost.stats(expr, n)
    except PatternError as e:
        assert str(e)  # a clear message instead of a result
        s = None
    except MemoryError:  # pragma: no cover - the failure this test exists for
        pytest.fail("MemoryError")
    assert time.process_time() - start < CPU_SECONDS
    return s


@pytest.mark.parametrize("name, values", list(_extremes()))
def test_parameter_extremes_finish_or_refuse(name, values):
    s = _within_bounds(make(name, **values).expr())
    if s is not None:
        assert 0 <= s.nnz <= N * N and s.kv_tokens_sparse <= N
        assert s.block_available or s.block_message


@pytest.mark.timing
@pytest.mark.parametrize(
    "label, build, n",
    [
        ("dilated window 2^20, dilation 4096 at n = 16", lambda: make("dilated", window=1 << 20, dilation=4096), 16),
        ("dilated window 4096, dilation 256", lambda: make("dilated", window=4096, dilation=256), N),
        ("fixed stride 1024, summary 512", lambda: make("fixed", stride=1024, summary=512), N),
        ("fixed stride 1000 (not aligned)", lambda: make("fixed", stride=1000, summary=32), N),
        ("random 256 keys", lambda: make("random", random_keys=256), N),
        ("bigbird block 1, 64 random blocks at n = 1", lambda: make("bigbird", block=1, random_blocks=64), 1),
        ("strided stride 1000 (not aligned)", lambda: make("strided", stride=1000), N),
    ],
)
def test_known_breakers_are_fast(label, build, n):
    start = time.process_time()
    s = cost.stats(build().expr(), n)
    assert time.process_time() - start < 5.0, label
    assert s.nnz == analysis.row_degree(build().expr(), n).sum()


def test_many_layers_finish_or_refuse():
    four_longformers = combine([make("longformer", window=w) for w in (100, 200, 300, 400)], "intersection")
    assert _within_bounds(four_longformers) is not None  # swept, not 2^16 inclusion-exclusion subsets
    three_bigbirds = combine([make("bigbird", seed=s) for s in (1, 2, 3)], "intersection")
    _within_bounds(three_bigbirds)
    five_randoms = combine([make("random", random_keys=256, seed=s) for s in range(5)], "union")
    with pytest.raises(PatternError, match="limit"):
        cost.stats(five_randoms, N)


def test_cost_estimates_are_cheap_and_grow_with_the_work():
    small, large = make("random", random_keys=3).expr(), make("random", random_keys=256).expr()
    assert small.cost_estimate(N) < large.cost_estimate(N)
    union = make("window").expr() | make("random", random_keys=64).expr()
    assert union.cost_estimate(N) > analysis.ENGINE_MAX_CELLS
    with pytest.raises(PatternError, match="limit"):
        analysis.row_degree(union, N)
