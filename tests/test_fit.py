"""Budget fitting: the solved parameter lands within one step of the asked density."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import PatternError, dense_mask, get, make
from sparse_core.fit import FIT_RULES, fit, fittable


def _density(name: str, n: int, causal: bool, params: dict) -> float | None:
    """Density from the dense mask (a different code path from the fit's row_degree); None if invalid."""
    try:
        spec = make(name, causal, **params)
    except PatternError:
        return None
    causal = spec.causal
    allowed = n * (n + 1) // 2 if causal else n * n
    mask = dense_mask(spec.expr(), n)
    if causal:
        mask = np.tril(mask)
    return mask.sum() / allowed


def _check_local_best(name: str, n: int, budget: float, causal: bool) -> None:
    result = fit(name, n, budget, causal)
    param = result.solved
    assert param == FIT_RULES[name].param
    here = _density(name, n, causal, result.params)
    assert here == pytest.approx(result.achieved_density, abs=1e-12)
    spec = get(name).param(param)
    for step in (-1, 1):
        value = result.params[param] + step
        if not spec.minimum <= value <= spec.maximum:
            continue
        there = _density(name, n, causal, {**result.params, param: value})
        if there is None:
            continue
        assert abs(there - budget) >= abs(here - budget) - 1e-12, (name, n, budget, causal, result.params, value)


@pytest.mark.parametrize("name", fittable())
@pytest.mark.parametrize("n", [48, 257])
@pytest.mark.parametrize("budget", [0.02, 0.05, 0.1, 0.25])
def test_one_step_either_way_is_not_closer_causal(name, n, budget):
    _check_local_best(name, n, budget, causal=True)


@pytest.mark.parametrize("name", [n for n in fittable() if get(n).causal != "always"])
@pytest.mark.parametrize("budget", [0.05, 0.25])
def test_one_step_either_way_is_not_closer_bidirectional(name, budget):
    _check_local_best(name, 130, budget, causal=False)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from([n for n in fittable() if not get(n).data_dependent]),
    n=st.integers(8, 400),
    budget=st.floats(0.01, 0.6),
)
def test_any_budget_lands_within_one_step(name, n, budget):
    _check_local_best(name, n, budget, causal=True)


def test_budget_reachable_means_close():
    result = fit("window", 1024, 0.1, causal=True)
    assert abs(result.achieved_density - 0.1) < 0.001
    assert result.allowed_pairs == 1024 * 1025 // 2


def test_valley_patterns_below_their_minimum_get_the_minimum():
    low = fit("strided", 1024, 0.001, causal=True)
    stride = low.params["stride"]
    for other in (stride - 1, stride + 1):
        assert _density("strided", 1024, True, {"stride": other}) >= low.achieved_density


def test_other_parameters_stay_fixed():
    result = fit("bigbird", 512, 0.1, causal=True)
    defaults = get("bigbird").defaults()
    assert {k: v for k, v in result.params.items() if k != "block"} == {
        k: v for k, v in defaults.items() if k != "block"
    }
    result = fit("block", 512, 0.1, causal=False, fixed={"neighbors": 1})
    assert result.params["neighbors"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("lsh", 64, 0.1),
        ("nope", 64, 0.1),
        ("window", 64, 0.0),
        ("window", 64, 1.5),
        ("window", 0, 0.1),
        ("window", 64, "x"),
    ],
)
def test_bad_requests_get_a_message(args):
    with pytest.raises(PatternError):
        fit(*args, causal=True)


@pytest.mark.parametrize(
    "name, params", [("topk", {"k": 5}), ("topk", {"k": 300}), ("block_gating", {"block": 7, "top_blocks": 3})]
)
@pytest.mark.parametrize("causal", [True, False])
def test_closed_form_counts_match_the_engine(name, params, causal):
    rule = FIT_RULES[name]
    n = 150
    closed = rule.count(n, causal, make(name, causal, **params).params)
    if closed is None:
        return
    assert closed == int(
        np.tril(dense_mask(make(name, causal, **params).expr(), n)).sum()
        if causal
        else dense_mask(make(name, causal, **params).expr(), n).sum()
    )


@pytest.mark.parametrize(("name", "n"), [("strided", 1024), ("fixed", 256), ("window", 200), ("bigbird", 256)])
def test_the_reachable_range_is_the_brute_force_one(name, n):
    """lowest / highest equal the min / max density over every valid value of the solved parameter (dense masks)."""
    rule = FIT_RULES[name]
    spec = get(name).param(rule.param)
    values = range(int(spec.minimum), min(int(spec.maximum), n) + 1)
    base = {**get(name).defaults(), **rule.fixed}
    found = [d for v in values if (d := _density(name, n, True, {**base, rule.param: v})) is not None]
    result = fit(name, n, 0.05, True)
    assert result.lowest == pytest.approx(min(found))
    assert result.highest == pytest.approx(max(found))


def test_a_budget_below_reach_says_so():
    """Strided cannot go below 8.69% at 1,024 tokens: its 5% fit is not met and says why; 10% is met."""
    low = fit("strided", 1024, 0.05, True)
    assert not low.met and low.achieved_density == pytest.approx(0.0869, abs=5e-5)
    assert low.note == "strided cannot go below 8.69% at 1,024 tokens"
    ok = fit("strided", 1024, 0.1, True)
    assert ok.met and ok.note == ""
    assert fit("window", 1024, 0.05, True).met


@pytest.mark.parametrize("name", ["topk", "block_gating"])
@pytest.mark.parametrize("budget", [0.02, 0.1, 0.3])
def test_counted_data_dependent_fits_match_the_brute_force_density(name, budget):
    """The analytic fit (no vectors) lands on parameters whose brute-force density (dense mask) is the reported one."""
    n = 300
    result = fit(name, n, budget, True)
    assert result.achieved_density == pytest.approx(_density(name, n, True, result.params))


@pytest.mark.parametrize("name", ["topk", "block_gating"])
def test_counted_data_dependent_patterns_fit_past_the_vector_limit(name):
    """Issue 19: the Lab at 8,192 tokens fits top-k and block gating analytically (the density ignores the scores)."""
    from sparse_core.analysis import DATA_DEPENDENT_MAX_N

    n = 2 * DATA_DEPENDENT_MAX_N
    result = fit(name, n, 0.1, True)
    rule = FIT_RULES[name]
    assert result.met and result.n == n
    assert result.kept_pairs == rule.count(n, True, make(name, True, **result.params).params)


def test_a_density_that_needs_the_scores_is_still_refused_past_the_limit():
    """Bidirectional block gating: which partial block is chosen depends on the scores, so no count without them."""
    from sparse_core.analysis import DATA_DEPENDENT_MAX_N

    with pytest.raises(PatternError, match="depends on the scores") as e:
        fit("block_gating", DATA_DEPENDENT_MAX_N + 1, 0.1, False)
    assert e.value.code == "fit_data_dependent_n" and e.value.fields["limit"] == f"{DATA_DEPENDENT_MAX_N:,}"
    assert "lower n" in str(e.value)  # it says what to lower, as every refusal does
    assert fit("block_gating", 256, 0.1, False).n == 256  # below the limit it is fitted with the scores
