"""Memory arithmetic: the closed form is the exact boundary, and Learn and Cost give the same numbers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import make, memory
from sparse_core.cost import DTYPE_BYTES, MODEL_PRESETS, ModelConfig
from sparse_core.scaling import largest_n_within
from tests.conftest import app_test

LLAMA = MODEL_PRESETS["Llama-2-7B"]

models = st.builds(
    lambda layers, kv, groups, d, dtype: ModelConfig(layers, kv * groups, kv, d, dtype),
    st.integers(1, 96),
    st.integers(1, 16),
    st.integers(1, 8),
    st.sampled_from([8, 64, 80, 128, 256]),
    st.sampled_from(list(DTYPE_BYTES)),
)


def brute_force(model: ModelConfig, budget: float) -> int:
    """Walk n up one token at a time (only for small answers)."""
    n = 0
    while memory.dense_prefill_bytes(model, n + 1) <= budget:
        n += 1
    return n


def bisect(model: ModelConfig, budget: float) -> int:
    """Largest n by bisection on the exact integer memory, for answers too large to walk."""
    lo, hi = 0, 1
    while memory.dense_prefill_bytes(model, hi) <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if memory.dense_prefill_bytes(model, mid) <= budget else (lo, mid)
    return lo


@settings(max_examples=200, deadline=None)
@given(models, st.integers(0, 2_000_000_000))
def test_closed_form_matches_brute_force_on_small_budgets(model, budget):
    expected = brute_force(model, budget) if memory.dense_prefill_bytes(model, 4000) > budget else bisect(model, budget)
    assert memory.largest_dense_n(model, budget) == expected


@settings(max_examples=200, deadline=None)
@given(models, st.floats(1.0, 1e16, allow_nan=False))
def test_closed_form_is_the_exact_boundary(model, budget):
    n = memory.largest_dense_n(model, budget)
    assert n == bisect(model, budget)
    assert memory.dense_prefill_bytes(model, n) <= budget < memory.dense_prefill_bytes(model, n + 1)


def test_the_numbers_a_reader_sees():
    # 32 heads x 2 bytes x 32,768^2 = 64 GiB of scores, + 0.5 MiB of KV per token x 32,768 = 16 GiB
    assert memory.score_bytes_per_layer(LLAMA, 32768) == 64 * memory.GIB
    assert memory.kv_cache_bytes(LLAMA, 32768) == 16 * memory.GIB
    assert memory.largest_dense_n(LLAMA, 80 * memory.GIB) == 32768
    assert memory.largest_dense_n(LLAMA, 0) == 0
    assert memory.format_bytes(80 * memory.GIB) == "80 GiB"
    assert memory.format_bytes(1536) == "1.5 KiB"


@pytest.mark.parametrize("preset", list(MODEL_PRESETS))
def test_closed_form_agrees_with_the_engines_bisection(preset):
    model = MODEL_PRESETS[preset]
    expr = make("window").expr()
    for gib in (0.5, 24, 80, 141):
        budget = memory.gib_to_bytes(gib)
        expected = largest_n_within(expr, model, budget, sparse=False)
        assert expected < memory.MAX_N  # below the engine's search cap, so the two must agree exactly
        assert memory.largest_n(expr, model, budget, sparse=False) == expected


def _learn(at, step):
    at.radio(key="step").set_value(step).run()
    assert not at.exception
    return at


@pytest.mark.model
def test_learn_and_cost_give_the_same_longest_prompt():
    expected = f"{memory.largest_dense_n(LLAMA, memory.REFERENCE_GPU.memory_bytes):,}"
    assert expected == "32,768"
    at = app_test(timeout=300)
    at.switch_page("app_pages/learn.py").run()
    step1 = " ".join(c.value for c in _learn(at, 1).caption)
    assert f"{memory.REFERENCE_GPU.name} (80 GiB): up to n = {expected} tokens" in step1
    table = _learn(at, 7).table[0].value
    assert table.loc["dense", "longest prompt in 80 GiB"] == expected

    at.switch_page("app_pages/cost.py").run()
    at.session_state["co_tab_en"] = "Memory budget"
    at.run()
    assert at.selectbox(key="co_model").value == "Llama-2-7B" and at.number_input(key="co_budget").value == 80
    budget = at.table[0].value
    assert set(budget["largest n, dense"]) == {expected}
