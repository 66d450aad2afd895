"""The retrieval engine's sparse execution, without a model: the selection rule of data-dependent patterns for
queries that end a longer key sequence (a cached prefix), and the block plan of structured ones, against the
patterns' own dense masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparse_core import dense_mask, make
from sparse_core.lab_passes import BLOCK, LabPass, _block_plan, rows_rule


@pytest.mark.parametrize(("name", "params"), [("topk", {"k": 7}), ("block_gating", {"block": 8, "top_blocks": 3})])
@pytest.mark.parametrize("s", [5, 40, 67])
def test_selection_of_the_last_t_rows_is_the_primitives_own(name, params, s):
    """rows_rule for T queries ending S keys equals the last T rows of the primitive's full (S, S) mask."""
    rng = np.random.default_rng(s)
    prim = make(name, True, **params).expr().terms()[0][0]
    q = rng.standard_normal((2, s, 16)).astype(np.float32)
    k = rng.standard_normal((2, s, 16)).astype(np.float32)
    for t in sorted({1, 3, s}):
        got = rows_rule(prim, torch.from_numpy(q[:, s - t :]), torch.from_numpy(k)).numpy()
        for h in range(2):
            assert np.array_equal(got[h], prim.dense(q[h], k[h])[s - t :]), (t, h)


@pytest.mark.parametrize(("t", "s"), [(200, 200), (77, 200), (1, 130)])
def test_the_block_plan_keeps_exactly_the_patterns_pairs(t, s):
    """Scattering every block's (c, K) mask back gives the causal pattern's rows, each empty row its own token;
    and each block reads whole key blocks only."""
    expr = make("bigbird", True, block=16).expr()
    shared = torch.from_numpy(dense_mask(expr, s))
    run = LabPass("decode", n_total=s, expr=expr, shared=shared)
    got = torch.zeros((t, s), dtype=torch.bool)
    for lo, hi, idx, sub in _block_plan(run, t, s):
        got[lo:hi, idx] = sub
        starts = idx[::BLOCK]
        assert bool((starts % BLOCK == 0).all())
    want = np.tril(dense_mask(expr, s), 0)[s - t :]
    rows = np.arange(s - t, s)
    empty = ~want.any(-1)
    want[empty, rows[empty]] = True
    assert np.array_equal(got.numpy(), want)
