"""block_helpers.merge_intervals against a brute-force union (its own module: tests/oracle.py imports
tests/test_neighborhood.py from inside hypothesis tests, where a module-level @given fails hypothesis's nested-given
health check)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda m: st.lists(
            st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12)), min_size=m, max_size=m), min_size=1, max_size=5
        )
    )
)
def test_merged_intervals_are_each_rows_union_in_disjoint_sorted_runs(rows):
    """block_helpers.merge_intervals (which packs each row's runs to the left) against a brute-force union."""
    from sparse_core.patterns.block_helpers import merge_intervals

    lo = np.array([[a for a, _ in r] for r in rows], dtype=np.int64)
    hi = lo + np.array([[w for _, w in r] for r in rows], dtype=np.int64)  # width 0: an empty interval
    segs = merge_intervals(lo, hi)
    for i in range(len(rows)):
        truth = set().union(*(range(a, b) for a, b in zip(lo[i], hi[i], strict=True)))
        runs = [(int(s.start[i]), int(s.count[i])) for s in segs if s.count[i] > 0]
        got = [k for start, count in runs for k in range(start, start + count)]
        assert sorted(got) == sorted(truth) and len(got) == len(truth)
        # sorted, disjoint and not touching
        assert all(a + c < b for (a, c), (b, _) in zip(runs, runs[1:], strict=False)), runs
