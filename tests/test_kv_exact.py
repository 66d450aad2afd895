"""The decode cache is exact for every union, intersection and nesting (issue 18).

Decoding, row i is the newest query of a sequence of i + 1 tokens. The truth: keys 0..n-1 that some
row i >= n - 1 reads in the brute-force mask of its own length, over a horizon of rows that covers
every reach and twice the lcm of the strides, dilations and block sizes (past it the rows that read a
key repeat). Random parts appear only inside a term that also holds a bounded part, so a finite
horizon sees every row that may read a key.
"""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparse_core import combine, cost, make
from sparse_core.patterns import structured as S
from sparse_core.patterns.base import Intersection, Union
from tests.oracle import keep

KV = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEPS = [1, 2, 3, 4, 6, 8, 12, 16]  # strides, dilations and block sizes: small lcms keep the horizon short

SAFE = ["window", "dilated", "global", "block", "logsparse", "strided", "fixed", "longformer", "streaming", "mistral"]
SAFE += ["a_shape"]
BOUNDED = ["window", "dilated", "block", "mistral"]


def _values(draw, name):
    values = {}
    for p in make(name).definition.params:
        if p.name in ("stride", "dilation", "block"):
            v = draw(st.sampled_from([s for s in STEPS if p.minimum <= s <= min(p.maximum, 16)]))
        elif p.name == "seed":
            v = draw(st.integers(0, 1000))
        else:
            v = draw(st.integers(max(p.minimum, 0), min(p.maximum, 9)))
        values[p.name] = v
    if name == "fixed":
        values["summary"] = max(1, min(values["summary"], values["stride"]))
    if name == "bigbird":
        values["window_blocks"] |= 1
        values["window_blocks"] = min(values["window_blocks"], 3)
    return values


@st.composite
def leaves(draw):
    """A causal pattern, or a random one (keys or BigBird blocks) intersected with a bounded causal one."""
    if draw(st.integers(0, 3)) == 0:
        drawn = draw(st.sampled_from(["random", "bigbird"]))
        inner = make(drawn, draw(st.booleans()), **_values(draw, drawn)).expr()
        bound = draw(st.sampled_from(BOUNDED))
        return Intersection((inner, make(bound, True, **_values(draw, bound)).expr()))
    name = draw(st.sampled_from(SAFE))
    return make(name, True, **_values(draw, name)).expr()


@st.composite
def trees(draw, depth=2):
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(leaves())
    parts = tuple(draw(trees(depth=depth - 1)) for _ in range(draw(st.integers(2, 3))))
    return Union(parts) if draw(st.booleans()) else Intersection(parts)


def _decode_rows(expr, rows, cols: int) -> np.ndarray:
    """(len(rows), cols): row i of the brute-force mask of i + 1 tokens, for each listed row."""
    if isinstance(expr, (Union, Intersection)):
        parts = [_decode_rows(p, rows, cols) for p in expr.parts]
        return np.logical_or.reduce(parts) if isinstance(expr, Union) else np.logical_and.reduce(parts)
    memo: dict = {}
    return np.array([[keep(expr, int(i), j, int(i) + 1, memo) for j in range(cols)] for i in rows], dtype=bool)


def _horizon(expr, n: int) -> int:
    steps, reach = [1], 0
    for p in expr.primitives():
        for name in ("stride", "dilation", "block"):
            if isinstance(getattr(p, name, None), int):
                steps.append(getattr(p, name))
        reach = max(reach, p.kv_reach() or 0)
    return 2 * math.lcm(*steps) + 3 * reach + 2 * n + 64  # 64: the powers of two logsparse still reaches


def kv_truth(expr, n: int) -> int:
    if not expr.causal_mask:
        return n  # the documented convention: a decoder needs causality
    rows = np.arange(n - 1, n + _horizon(expr, n))
    return int(_decode_rows(expr, rows, n).any(axis=0).sum())


@KV
@given(expr=trees(), n=st.integers(1, 24))
def test_kv_cache_of_any_nesting_matches_the_decode_oracle(expr, n):
    assert expr.kv_retained(n) == kv_truth(expr, n)


def test_kv_cache_of_the_issue_examples():
    # strided(63) ∩ logsparse: the window part reads distances 0, 1, 2, 4, ..., 32: 33 keys at n = 65
    expr = combine([make("strided", stride=63), make("logsparse")], "intersection")
    assert cost.stats(expr, 65).kv_tokens_sparse == 33 == kv_truth(expr, 65)
    # two unbounded parts whose rows never meet: strides 4 and 6 from key j meet every 12 rows, forever
    both = make("strided", True, stride=4).expr() & make("strided", True, stride=6).expr()
    assert both.kv_retained(30) == 30
    # BigBird without tail blocks: only the head block is read forever, the window keeps 3 blocks' reach
    head_only = make("bigbird", True, block=4, window_blocks=3, global_blocks=1, random_blocks=0).expr()
    assert head_only.kv_retained(64) == kv_truth(head_only, 64) < 64


def test_random_keys_within_a_window_are_read_from_the_table():
    expr = make("random", False, random_keys=2, seed=5).expr() & make("window", True, window=6).expr()
    assert expr.kv_retained(40) == kv_truth(expr, 40)
    # a window wider than the pair limit lists what the random rows draw instead (the same answer)
    wide = S.RandomKeys(2, 5) & S.Window(4000, causal=True)
    from sparse_core.patterns import expr as expr_module

    old = expr_module.KV_PAIRS
    try:
        expr_module.KV_PAIRS = 1 << 14
        by_table = wide.kv_retained(3000)
    finally:
        expr_module.KV_PAIRS = old
    assert by_table == wide.kv_retained(3000)


@settings(max_examples=60, deadline=None)
@given(
    r=st.integers(1, 2),
    seed=st.integers(0, 500),
    window=st.integers(32, 48),
    past=st.integers(0, 24),
    also_blocks=st.booleans(),
)
def test_random_draws_listed_once_for_many_chunks_match_the_decode_oracle(r, seed, window, past, also_blocks):
    # chunks of 8 keys and a pair limit just above the listing's (window x r): the last chunks of keys hold more
    # (row, key) candidates than that (up to ~8 x window) and take the listing branch, whose draws are listed once, up
    # to the last candidate row so far, and handed to each chunk of keys in turn (randomᶜ(1) ∩ longformer at
    # 929,573 had drawn its ~1 M rows once per chunk, 15 times)
    from sparse_core.patterns import expr as expr_module
    from sparse_core.patterns.random_blocks import RandomBlocks

    parts = [S.RandomKeys(r, seed), S.Window(window, causal=True)]
    if also_blocks:  # a second random part, tested against the listed pairs
        parts.append(RandomBlocks(block=2, random_blocks=2, seed=seed, window_half=1, causal=True))
    expr = Intersection(tuple(parts))
    n = window + past
    saved = expr_module.KV_CHUNK, expr_module.KV_PAIRS
    expr_module.KV_CHUNK, expr_module.KV_PAIRS = 8, (window + 2) * r
    handed: list[int] = []
    pairs_of_chunk = expr_module._DrawnListing.pairs_of_chunk

    def counted(self, driver, top, lo):
        handed.append(lo)
        return pairs_of_chunk(self, driver, top, lo)

    expr_module._DrawnListing.pairs_of_chunk = counted
    try:
        listed = expr.kv_retained(n)
    finally:
        expr_module.KV_CHUNK, expr_module.KV_PAIRS = saved
        expr_module._DrawnListing.pairs_of_chunk = pairs_of_chunk
    assert len(handed) >= 2 and handed == sorted(handed)  # two or more chunks listed, in key order
    assert listed == kv_truth(expr, n) == expr.kv_retained(n)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 500), st.integers(1, 7), st.booleans(), st.data())
def test_decode_reads_in_chunks_answers_as_in_one_piece(r, seed, cells, causal, data):
    # the decode cache's test of (row, key) pairs runs in chunks of DECODE_CELLS (pair, drawn key) cells; the
    # answer must not depend on where the chunks fall (a row's table is drawn by row, not by chunk)
    from sparse_core.patterns import random_keys as RK
    from sparse_core.patterns.random_blocks import RandomBlocks

    n = data.draw(st.integers(2, 300))
    i = np.asarray(data.draw(st.lists(st.integers(n - 1, n + 200), min_size=1, max_size=400)), dtype=np.int64)
    j = np.asarray([data.draw(st.integers(0, n - 1)) for _ in i], dtype=np.int64)
    parts = [
        RK.RandomKeys(random_keys=r, seed=seed, causal=causal),
        RandomBlocks(block=data.draw(st.integers(1, 9)), random_blocks=min(r, 5), seed=seed, window_half=1),
    ]
    for part in parts:
        whole = part.decode_reads(i, j)
        saved = RK.DECODE_CELLS
        RK.DECODE_CELLS = cells  # chunks of one or a few pairs
        try:
            chunked = part.decode_reads(i, j)
        finally:
            RK.DECODE_CELLS = saved
        assert np.array_equal(whole, chunked), part


def test_the_decode_cache_of_many_random_candidates_holds_a_bounded_temporary():
    # block(698, 1) ∩ randomᶜ(56) at 2,112 tokens (budget search, seed 32): ~0.5 M candidate (row, key) pairs,
    # each compared with 56 drawn keys, were held at once (256 MB traced, 312 MB peak RSS in all, priced 9 MB)
    import tracemalloc

    expr = make("block", block=698, neighbors=1).expr() & make("random", causal=True, random_keys=56, seed=307).expr()
    tracemalloc.start()
    try:
        kept = expr.kv_retained(2112)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, peak / 2**20  # 22 MB measured with chunks of 2^20 cells
    assert 0 < kept <= 2112
