"""The retrieval grid is priced before any work: the schedule it prices is the one run_memory runs, an
over-budget grid is refused naming what fits, and pricing imports no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sparse_core import retrieval as R
from sparse_core.lab_price import LabBudget, _memory_schedule, price_memory, refuse_over_budget
from sparse_core.params import PatternError
from tests.test_retrieval import TOK

GRID = dict(task="passkey", lengths=[1024, 2048, 4096], depths=[0.1, 0.3, 0.5, 0.7, 0.9], trials=2)


def _prefilled(length: int, depths, trials: int) -> int:
    """Tokens run_memory prefills for one (arm, length): its order and its prefix rule, on real prompts."""
    from sparse_core.memory_eval import _common_prefix

    order = [(d, t) for d in sorted(depths, reverse=True) for t in range(trials)]
    previous: list[int] = []
    total = 0
    for d, t in order:
        ids = TOK.encode(R.make_task(TOK, "passkey", length, d, t).text)
        keep = min(_common_prefix([previous, ids]), len(ids) - 1)
        total += len(ids) - keep
        previous = ids
    return total


@pytest.mark.parametrize("length", [512, 2048])
def test_the_priced_schedule_is_the_one_that_runs(length):
    """Prefilled tokens of the price within 5% of those of real prompts under run_memory's reuse rule."""
    depths = [0.1, 0.3, 0.5, 0.7, 0.9]
    tokens, _ = _memory_schedule(length, depths, 2, reuse=True)
    want = _prefilled(length, depths, 2)
    assert abs(tokens - want) <= 0.05 * want, (tokens, want)
    full, _ = _memory_schedule(length, depths, 2, reuse=False)
    assert full == length * len(depths) * 2


def test_price_splits_dense_and_arms_and_counts_rows():
    both = price_memory("smollm2", patterns=["streaming", "topk"], budgets=[0.1], **GRID)
    dense = price_memory("smollm2", patterns=[], budgets=[0.1], **GRID)
    arms = price_memory("smollm2", patterns=["streaming", "topk"], budgets=[0.1], include_dense=False, **GRID)
    assert both.kind == "memory" and both.tokens == 4096 and both.trials == 2
    assert both.rows == 3 * 3 * 5 and arms.rows == 2 * 3 * 5
    assert both.dense_seconds == pytest.approx(dense.cpu_seconds) and arms.dense_seconds == 0
    assert both.row_seconds == pytest.approx(arms.row_seconds)
    # a data-dependent arm scores every pair: dearer than a structured one at the same budget
    topk = price_memory("smollm2", patterns=["topk"], budgets=[0.1], include_dense=False, **GRID)
    streaming = price_memory("smollm2", patterns=["streaming"], budgets=[0.1], include_dense=False, **GRID)
    assert topk.cpu_seconds > streaming.cpu_seconds
    # twice the trials, about twice the price (the decode and almost all prefill scale with prompts)
    double = price_memory("smollm2", patterns=[], budgets=[0.1], **{**GRID, "trials": 4})
    assert 1.7 < double.cpu_seconds / dense.cpu_seconds <= 2.0


def test_an_over_budget_grid_is_refused_naming_what_fits():
    quote = price_memory("smollm2", patterns=["streaming"], budgets=[0.1], budget=LabBudget(60.0), **GRID)
    assert quote.over_budget
    with pytest.raises(PatternError) as err:
        refuse_over_budget(quote)
    assert err.value.code == "lab_over_budget"
    assert "retrieval grid" in str(err.value) and "CPU seconds" in str(err.value)
    small = price_memory("smollm2", "passkey", [512], [0.5], 1, [], [0.1], budget=LabBudget(60.0))
    refuse_over_budget(small)  # fits: no error


def test_pricing_imports_no_torch():
    code = (
        "import sys; from sparse_core.lab_price import price_memory; "
        "p = price_memory('smollm2', 'passkey', [1024], [0.5], 2, ['window'], [0.1]); "
        "assert p.cpu_seconds > 0; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_bfloat16_linears_and_the_grids_topk_are_priced():
    """bfloat16 linear layers take the per-token cost down, nothing else; top-k is priced from its one-pass
    execution (cheaper than block_gating, which still scores, then reads through a mask)."""
    fp = price_memory("smollm2", patterns=["streaming", "topk"], budgets=[0.1], **GRID)
    bf = price_memory("smollm2", patterns=["streaming", "topk"], budgets=[0.1], linear_dtype="bfloat16", **GRID)
    assert 0.5 < bf.cpu_seconds / fp.cpu_seconds < 0.9
    topk = price_memory("smollm2", patterns=["topk"], budgets=[0.1], include_dense=False, **GRID)
    gating = price_memory("smollm2", patterns=["block_gating"], budgets=[0.1], include_dense=False, **GRID)
    assert topk.cpu_seconds < gating.cpu_seconds
