"""Neighborhood attention's closed forms (keys per row, the decode cache) against NAT's rule (Hassani et al. 2023).

Kept apart from tests/test_neighborhood.py, which tests/oracle.py imports for the paper's rule while other hypothesis
tests run: a @given there would nest.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import analysis
from sparse_core.patterns.neighborhood import Neighborhood
from tests.oracle import oracle_mask
from tests.test_neighborhood import oracle_keep


@settings(max_examples=150, deadline=None)
@given(
    side=st.integers(1, 24),
    radius=st.integers(0, 12),
    height=st.integers(1, 16),
    cut=st.integers(0, 23),
    causal=st.booleans(),
)
def test_keys_per_row_in_closed_form_match_the_papers_definition(side, radius, height, cut, causal):
    """row_count (whole key rows x width, plus the one key row cut short) against NAT's rule, with the last grid row
    partial or whole and the window narrower, as wide as or wider than the grid on both axes."""
    n = max(1, side * height - cut % side)
    prim = Neighborhood(side, radius, causal=causal)
    truth = oracle_mask(prim, n).sum(axis=1)
    rows = np.arange(n)
    assert np.array_equal(prim.row_count(rows, n), truth)
    assert np.array_equal(analysis.row_degree(prim, n), truth)


@settings(max_examples=80, deadline=None)
@given(side=st.integers(1, 9), radius=st.integers(0, 5), n=st.integers(1, 60))
def test_decode_cache_in_closed_form_matches_the_papers_rows_and_the_general_count(side, radius, n):
    """A lone neighborhoodᶜ keeps key j iff the last row that reads it (kv_last_row) is n - 1 or later: against
    NAT's rule at each later row's own length, and against the general meet of its kv_rows (as in a composition)."""
    from sparse_core.patterns.base import Intersection
    from sparse_core.patterns.window import Window

    prim = Neighborhood(side, radius, causal=True)
    horizon = (2 * radius + 2) * side
    read = set()
    for i in range(n - 1, n + horizon):
        read |= {j for j in range(n) if oracle_keep(prim, i, j, i + 1)}
    general = Intersection((prim, Window(1 << 20, causal=True)))  # a window reaching every key: the same mask
    assert prim.kv_retained(n) == len(read) == general.kv_retained(n)
