"""A primitive's dense mask, its row degrees and its stats describe one mask, for every small n.

Issue 18: the dense fill dropped keys of causal random rows when n is a little above r (a band drawn
first, then overwritten by the interval fill). The random tests drew n far above r, so here every n
from 1 to a few times each parameter is walked, for every primitive, both ways.
"""

import numpy as np
import pytest

from sparse_core import analysis, cost
from sparse_core.patterns import structured as S
from tests.oracle import oracle_mask

# (builder of one parameter value p, the values of p): n walks 1 .. 3p + 2 for each
FAMILIES = {
    "random": (lambda p, c: S.RandomKeys(p, 0, causal=c), range(1, 9)),
    "random_seed7": (lambda p, c: S.RandomKeys(p, 7, causal=c), range(1, 9)),
    "window": (lambda p, c: S.Window(p, causal=c), range(0, 6)),
    "dilated": (lambda p, c: S.Dilated(p, 2, causal=c), range(0, 5)),
    "global": (lambda p, c: S.GlobalTokens(p, causal=c), range(0, 6)),
    "global_blocks": (lambda p, c: S.GlobalBlocks(p, 1, 1, causal=c), range(1, 5)),
    "blocks": (lambda p, c: S.Blocks(p, 1, causal=c), range(1, 6)),
    "stride": (lambda p, c: S.StrideColumns(p, causal=c), range(1, 7)),
    "summary": (lambda p, c: S.SummaryColumns(p + 1, p, causal=c), range(1, 5)),
    "sinks": (lambda p, c: S.Sinks(p, causal=c), range(0, 6)),
    "random_blocks": (lambda p, c: S.RandomBlocks(2, p, 1, causal=c), range(1, 5)),
    "random_blocks_bigbird": (
        lambda p, c: S.RandomBlocks(1, p, 3, window_half=1, global_first=1, global_last=1, causal=c),
        range(1, 5),
    ),
    "logsparse": (lambda p, c: S.LogSparse(causal=c), range(1, 4)),
}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", FAMILIES)
def test_dense_mask_row_degrees_and_stats_agree_for_every_small_n(name, causal):
    build, values = FAMILIES[name]
    for p in values:
        prim = build(p, causal)
        for n in range(1, 3 * max(p, 1) + 3):
            analysis.clear_mask_memo()
            mask = analysis.dense_mask(prim, n)
            deg = analysis.row_degree(prim, n)
            assert np.array_equal(mask.sum(axis=1), deg), (name, p, n)
            assert cost.stats(prim, n, block=max(1, p)).nnz == int(mask.sum()), (name, p, n)
            assert np.array_equal(mask, oracle_mask(prim, n)), (name, p, n)


def test_the_issue_example_keeps_every_drawn_key():
    prim = S.RandomKeys(3, 0, causal=True)
    analysis.clear_mask_memo()
    assert analysis.dense_mask(prim, 4).sum(axis=1).tolist() == [1, 2, 3, 3]
    assert cost.stats(prim, 4).nnz == 9
