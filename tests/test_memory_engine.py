"""The retrieval engine's sparse execution, without a model: the selection rule of data-dependent patterns for
queries that end a longer key sequence (a cached prefix), and the block plan of structured ones, against the
patterns' own dense masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparse_core import dense_mask, make
from sparse_core.lab_passes import LabPass, _block_plan, rows_rule


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
    """Scattering every segment's (c, K) mask back gives the causal pattern's rows, each empty row its own token
    (the plan gathers keys one position at a time: tests/test_sparse_prefill.py checks its segments)."""
    expr = make("bigbird", True, block=16).expr()
    shared = torch.from_numpy(dense_mask(expr, s))
    run = LabPass("decode", n_total=s, expr=expr, shared=shared)
    got = torch.zeros((t, s), dtype=torch.bool)
    for lo, hi, idx, sub in _block_plan(run, t, s):
        got[lo:hi, idx] = sub
    want = np.tril(dense_mask(expr, s), 0)[s - t :]
    rows = np.arange(s - t, s)
    empty = ~want.any(-1)
    want[empty, rows[empty]] = True
    assert np.array_equal(got.numpy(), want)


@pytest.mark.model
@pytest.mark.parametrize(
    ("name", "params"), [("streaming", {"sinks": 4, "window": 40}), ("bigbird", {"block": 16}), ("topk", {"k": 20})]
)
def test_the_sparse_prefill_is_the_labs_sparse_pass(name, params):
    """The retrieval prefill (block gather / chunked selection) gives the lab's sparse pass (masked SDPA)."""
    from sparse_core import models
    from sparse_core.decode import pattern_expr
    from sparse_core.lab_passes import run_pass

    lm = models.load("smollm2")
    ids = list(range(2000, 2300))
    expr = pattern_expr(lm, name, params)
    shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, len(ids)))
    want = run_pass(lm, ids, LabPass("sparse", expr=expr, shared=shared, method="sdpa"))
    got = run_pass(lm, ids, LabPass("decode", n_total=len(ids), expr=expr, shared=shared))
    assert float((want - got).abs().max()) < 1e-4


@pytest.mark.model
def test_a_cancel_stops_a_prompt_between_two_layers():
    """cancel() is checked after every layer: a grid cancelled during its first prompt stops within that
    prompt's forward (well before its 30 layers) and keeps no row for it."""
    from sparse_core import memory_eval

    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 5  # the check before the grid, the one before the trial, then 4 layers

    result = memory_eval.run_memory("smollm2", "passkey", [256], [0.5], 1, cancel=cancel)
    assert result.cancelled and result.rows == []
    assert len(calls) == 6


@pytest.mark.model
def test_on_row_hands_over_each_row_as_it_is_final():
    """Every row reaches on_row once, as the very dict the result holds, deepest depth first (the order the
    trials run); a grid cancelled midway has handed over every row it keeps, the partial one included."""
    from sparse_core import memory_eval

    seen: list[dict] = []
    result = memory_eval.run_memory("smollm2", "passkey", [256], [0.2, 0.8], 2, on_row=seen.append)
    assert [r["depth"] for r in seen] == [0.8, 0.2]
    assert sorted(map(id, seen)) == sorted(map(id, result.rows)) and len(result.rows) == 2
    # at the moment a row arrives, the trials of the other depth have not all run: it came before the end
    at_arrival: list[int] = []
    progress_done = [0]
    memory_eval.run_memory(
        "smollm2",
        "passkey",
        [256],
        [0.2, 0.8],
        2,
        progress=lambda done, total, label: progress_done.__setitem__(0, done),
        on_row=lambda row: at_arrival.append(progress_done[0]),
    )
    assert at_arrival[0] < 4

    # cancel after three trials: depth 0.8 (2 trials) and depth 0.2 with 1 trial are kept and handed over
    partial: list[dict] = []
    trials_started = [0]

    def cancel() -> bool:
        return trials_started[0] >= 3

    result = memory_eval.run_memory(
        "smollm2",
        "passkey",
        [256],
        [0.2, 0.8],
        2,
        progress=lambda done, total, label: trials_started.__setitem__(0, done),
        cancel=cancel,
        on_row=partial.append,
    )
    assert result.cancelled
    assert [r["trials"] for r in result.rows] == [1, 2]
    assert sorted(map(id, partial)) == sorted(map(id, result.rows))
