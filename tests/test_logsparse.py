"""LogSparse against its paper's definition (Li et al. 2019, section 3.3 and figure 3c).

"Each cell only attends to its previous cells with an exponential step size and itself": for
cell l the index set is {l, l - 2^0, l - 2^1, l - 2^2, ...} down to the first cell.
"""

import numpy as np
import pytest

from sparse_core import analysis, cost, make


def paper_mask(n: int) -> np.ndarray:
    mask = np.zeros((n, n), dtype=bool)
    for cell in range(n):
        mask[cell, cell] = True
        step = 1
        while cell - step >= 0:
            mask[cell, cell - step] = True
            step *= 2
    return mask


@pytest.mark.parametrize("n", [1, 2, 3, 17, 64, 100])
def test_logsparse_is_the_papers_pattern(n):
    expr = make("logsparse").expr()
    assert np.array_equal(analysis.dense_mask(expr, n), paper_mask(n))
    assert np.array_equal(analysis.row_degree(expr, n), paper_mask(n).sum(axis=1))


def test_logsparse_keeps_log_n_keys_per_row_at_a_million_tokens():
    s = cost.stats(make("logsparse").expr(), 1 << 20)
    assert s.degree_max == 21  # itself and 2^0 .. 2^19
    assert s.kv_tokens_sparse == 1 << 20  # later cells reach back 2^k for every k: nothing can be dropped
