"""`attention.forward(lm, ids, keep)`: a row that the mask leaves empty attends to its own token only.

Before the fix the library spread such a row's weight evenly over every key, future ones included
(a softmax over scores that are all the dtype's minimum); only the page substituted the diagonal.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_core import attention as A
from sparse_core import models

TEXT = "The key opens more than one door, said the old woman, and she smiled at the child."
ROW = 3


def _one_hot_rows(maps: np.ndarray, row: int) -> bool:
    want = np.zeros(maps.shape[-1], dtype=maps.dtype)
    want[row] = 1.0
    return bool(np.all(maps[:, :, row] == want))


def test_an_all_false_row_attends_to_itself_only():
    lm = models.load("minilm")
    ids = A.tokenize(lm, TEXT).ids
    n = len(ids)
    keep = np.ones((n, n), dtype=bool)
    keep[ROW] = False
    out = A.forward(lm, ids, keep)
    maps = np.asarray(out.attentions)  # (L, H, T, T)
    assert _one_hot_rows(maps, ROW)
    assert np.all(maps[:, :, ROW + 1, :] > 0)  # the other rows are untouched (a bidirectional encoder)
    own = keep.copy()
    own[ROW, ROW] = True  # the same pass written out by hand
    assert np.array_equal(out.hidden, A.forward(lm, ids, own).hidden)


@pytest.mark.model
def test_a_row_that_keeps_only_future_keys_attends_to_itself_on_a_causal_model():
    lm = models.load("smollm2")
    ids = A.tokenize(lm, TEXT).ids
    n = len(ids)
    keep = np.tril(np.ones((n, n), dtype=bool))
    keep[ROW] = False
    keep[ROW, n - 1] = True  # a future key: the model's own causal mask removes it
    out = A.forward(lm, ids, keep)
    maps = np.asarray(out.attentions)
    assert _one_hot_rows(maps, ROW)
    assert np.all(maps[:, :, :, ROW + 1 :][:, :, : ROW + 1] == 0)  # no row reads a later token
    own = np.tril(np.ones((n, n), dtype=bool))
    own[ROW] = False
    own[ROW, ROW] = True
    assert np.array_equal(out.hidden, A.forward(lm, ids, own).hidden)
