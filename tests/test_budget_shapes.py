"""The budget's block-level shapes bound what the engine builds (issue 18): strides' and dilations' block
rows, and the block pairs a data-dependent layout lists.

limits._block_progression tightens a stride's or dilation's block-row slots from its reach: a stride of
1,034,106 at 2^20 (block 64) reaches three multiples, so its block rows hold 5 single key blocks, where the
pattern's own bound (3 x B / gcd + 1) said 97 progressions and priced a union 66.7 M units that ran 0.45 s.
A price below the engine's real shape would break the promise, so the bound is checked against the block
segments the engine builds.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import combine, limits, make
from sparse_core.analysis import block_layout
from sparse_core.params import PatternError


def _built(prim, n, block):
    nb = -(-n // block)
    return prim.block_segments(np.arange(nb, dtype=np.int64), n, block)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["strided", "dilated"]),
    st.booleans(),
    st.integers(1, 20000),
    st.integers(1, 97),
    st.integers(2, 4096),
    st.integers(0, 60),
)
def test_the_block_shape_from_residue_tables_is_what_the_engine_builds(name, causal, n, block, step, window):
    # the price reads a stride's or dilation's block slots, step and widest extent from its residue tables, without
    # building a row: the slots must be the built ones and the extent never below any built row's, or the fold's
    # split (at most 4 keys a segment) flips between price and engine (a probe: 379 MB accepted at 264 MiB)
    from sparse_core.segments import shape_of

    params = {"stride": step} if name == "strided" else {"dilation": step, "window": window}
    expr = make(name, causal, **params).expr()
    for prim in expr.primitives():
        tight = limits._block_progression(prim, n, block)
        if tight is None:
            continue
        slots, pstep, pspan = limits._progression_block_shape(prim, n, block)
        segs = _built(prim, n, block)
        built = shape_of(0, segs, -(-n // block))
        assert tight[0] == slots == built.slots, (prim, n, block)
        assert pspan >= built.span, (prim, n, block, pspan, built.span)
        if built.step > 1:
            assert pstep == built.step, (prim, n, block)
            # tight: a key block fewer would put the fold's split on the other side for some row
            assert pspan < built.span + pstep, (prim, n, block, pspan, built.span)
        if tight[1]:  # priced as intervals: every segment holds at most one key block a row
            assert all(int(s.count.max(initial=0)) <= 1 for s in segs), (prim, n, block)


def test_the_far_stride_of_the_search_is_priced_by_its_reach():
    # a_shapeᶜ(966,095, 15,681) ∪ stridedᶜ(1,034,106) at 2^20, block 64: 66.7 M units (block level by
    # inclusion-exclusion over 97-slot progressions), 0.45 s CPU in a fresh process with its import
    expr = make("a_shape", True, sinks=966095, window=15681).expr() | make("strided", True, stride=1034106).expr()
    cost = limits.check_budget(expr, 1 << 20, 64)
    assert cost.segment_evals < 0.9 * limits.Budget().segment_evals
    stride = next(p for p in expr.primitives() if type(p).__name__ == "StrideColumns")
    assert limits._block_progression(stride, 1 << 20, 64) == (5, True)  # as built (the bound said 10)


def _data_dependent_compositions():
    return [
        combine(
            [make("streaming", True, sinks=4, window=20), make("strided", stride=19), make("topk", k=7)], "intersection"
        ),
        make("window", window=5).expr() & make("lsh", buckets=4).expr(),
        make("topk", k=5).expr() | (make("dilated", window=3, dilation=9).expr() & make("topk", True, k=9).expr()),
        make("topk", k=3).expr(),  # no structured part: every block pair
    ]


@pytest.mark.parametrize("block", [1, 2, 16])
@pytest.mark.parametrize("index", range(4))
def test_a_dense_layouts_pair_bound_holds(index, block):
    """The price of a data-dependent layout counts the block pairs its structured parts allow: never fewer
    than the layout keeps."""
    expr, n = _data_dependent_compositions()[index], 192
    kept = int(block_layout(expr, n, block).kept_per_row().sum())
    assert limits._dense_layout_pairs(expr, n, block) >= kept


def test_the_dense_intersection_of_the_search_is_accepted():
    # streamingᶜ(972,564, 153,960) ∩ strided(19) ∩ topk(31) at 4,096, block 2: priced 432 MiB with every block
    # pair kept, ran 188 MB and 0.74 s in a fresh process (the budget search, seed 24); 189 MB, 0.41 s again
    expr = combine(
        [make("streaming", True, sinks=972564, window=153960), make("strided", stride=19), make("topk", k=31)],
        "intersection",
    )
    cost = limits.check_budget(expr, 4096, 2)
    assert cost.memory_bytes < limits.Budget().memory_bytes
    # every pair kept still refuses at block 1: a union that keeps everything measured 2.7 s and 1.1 GB
    with pytest.raises(PatternError, match="lower"):
        limits.check_budget(make("topk", k=4000).expr() | make("window", window=4096).expr(), 4096, 1)


def test_pricing_reads_block_progressions_without_building_their_rows(monkeypatch):
    # an eighth probe: four dilations just above a coprime block (~1,450 slots a block row each) took 110-194 ms to
    # refuse, building block rows at ~23 us a slot to learn their slots, steps and extents; the residue tables say
    # all three (2-3 ms now)
    from sparse_core.patterns.dilated import Dilated
    from sparse_core.patterns.stride_columns import StrideColumns

    def built(*_):
        raise AssertionError("a block row was built to price")

    monkeypatch.setattr(Dilated, "block_segments", built)
    monkeypatch.setattr(StrideColumns, "block_segments", built)
    four = combine([make("dilated", window=1 << 20, dilation=d) for d in (1451, 1453, 1459, 1471)])
    with pytest.raises(PatternError, match="lower"):
        limits.check_budget(four, 1 << 20, 1447)
    mixed = combine(
        [
            make("strided", stride=1021),
            make("neighborhood", True, side=256, radius=3),
            make("dilated", True, window=1000, dilation=1021),
        ]
    )
    with pytest.raises(PatternError, match="lower"):
        limits.check_budget(mixed, 1 << 20, 500)
