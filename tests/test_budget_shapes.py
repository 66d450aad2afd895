"""The budget's block-level shapes of strides and dilations bound what the engine builds (issue 18).

limits._block_progression tightens a stride's or dilation's block-row slots from its reach: a stride of
1,034,106 at 2^20 (block 64) reaches three multiples, so its block rows hold 5 single key blocks, where the
pattern's own bound (3 x B / gcd + 1) said 97 progressions and priced a union 66.7 M units that ran 0.45 s.
A price below the engine's real shape would break the promise, so the bound is checked against the block
segments the engine builds.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import limits, make


def _built(prim, n, block):
    nb = -(-n // block)
    segs = prim.block_segments(np.arange(nb, dtype=np.int64), n, block)
    live = [s for s in segs if int(s.count.max(initial=0)) > 0]
    return segs, live


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["strided", "dilated"]),
    st.booleans(),
    st.integers(1, 5000),
    st.integers(1, 64),
    st.integers(2, 3000),
    st.integers(0, 40),
)
def test_the_block_slot_bound_holds_for_the_segments_the_engine_builds(name, causal, n, block, step, window):
    params = {"stride": step} if name == "strided" else {"dilation": step, "window": window}
    expr = make(name, causal, **params).expr()
    for prim in expr.primitives():
        tight = limits._block_progression(prim, n, block)
        if tight is None:
            continue
        slots, single = tight
        segs, live = _built(prim, n, block)
        assert len(live) <= slots, (prim, n, block, len(live), slots)
        if single:  # priced as intervals: every segment holds at most one key block a row
            assert all(int(s.count.max(initial=0)) <= 1 for s in segs), (prim, n, block)


def test_the_far_stride_of_the_search_is_priced_by_its_reach():
    # a_shapeᶜ(966,095, 15,681) ∪ stridedᶜ(1,034,106) at 2^20, block 64: 66.7 M units (block level by
    # inclusion-exclusion over 97-slot progressions), 0.45 s CPU in a fresh process with its import
    expr = make("a_shape", True, sinks=966095, window=15681).expr() | make("strided", True, stride=1034106).expr()
    cost = limits.check_budget(expr, 1 << 20, 64)
    assert cost.segment_evals < 0.9 * limits.Budget().segment_evals
    stride = next(p for p in expr.primitives() if type(p).__name__ == "StrideColumns")
    assert limits._block_progression(stride, 1 << 20, 64) == (10, True)
