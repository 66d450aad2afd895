"""scale_to_n against the rule written out literally, with pairs counted on a brute-force dense mask."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_core import PATTERNS, get, make
from sparse_core.analysis import dense_mask
from sparse_core.params import UNITS, PatternError
from sparse_core.scale import ScaledParams, scale_to_n
from tests.oracle import oracle_mask

STRUCTURED = [name for name, d in PATTERNS.items() if not d.data_dependent]
DATA_DEPENDENT = [name for name, d in PATTERNS.items() if d.data_dependent]


def brute_share(name: str, params: dict, n: int, causal: bool) -> float:
    """Kept pairs on the oracle's O(n²) mask over what the model could attend, counted by hand."""
    mask = oracle_mask(make(name, causal, **params).expr(), n)
    allowed = sum(1 for i in range(n) for j in range(n) if j <= i or not causal)
    return int(mask.sum()) / allowed


def literal_rule(name: str, n: int, causal: bool, target: float, share) -> tuple[dict, int]:
    """The issue's rule: the k-th candidate halves every token length k times (clamped at max(1, minimum));
    take the first candidate at or under the target; stop at a candidate that validation refuses, that keeps
    nothing, or that is no different from the one before."""
    d = get(name)
    start = d.defaults()
    best, halvings = start, 0
    for k in range(1, 40):
        if share(best) <= target:
            break
        trial = dict(start)
        for p in d.params:
            floor = max(1, p.minimum)
            if p.unit == "tokens" and start[p.name] > floor:
                trial[p.name] = max(floor, start[p.name] >> k)
        if trial == best:
            break
        try:
            d.validate(trial)
        except PatternError:
            break
        if share(trial) == 0:
            break
        best, halvings = trial, k
    return best, halvings


def test_every_parameter_declares_a_known_unit():
    """A parameter without a unit would silently escape scaling (the old hand-written lists' failure)."""
    for name, d in PATTERNS.items():
        for p in d.params:
            assert p.unit in UNITS, (name, p.name, p.unit)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [24, 61])
@pytest.mark.parametrize("name", STRUCTURED)
def test_scaling_matches_the_literal_rule_on_brute_force_counts(name, n, causal):
    got = scale_to_n(name, {}, n, causal)
    want, halvings = literal_rule(name, n, causal, 0.5, lambda p: brute_share(name, p, n, causal))
    assert got == ScaledParams(want, pytest.approx(brute_share(name, want, n, causal)), 0.5**halvings)
    get(name).validate(got.params)


@pytest.mark.parametrize("name", DATA_DEPENDENT)
def test_data_dependent_patterns_scale_on_their_dense_mask(name):
    n, causal = 48, True

    def share(params):
        mask = dense_mask(make(name, causal, **params).expr(), n)
        return int(mask.sum()) / (n * (n + 1) // 2)

    got = scale_to_n(name, {}, n, causal)
    want, halvings = literal_rule(name, n, causal, 0.5, share)
    assert (got.params, got.factor) == (want, 0.5**halvings)
    assert got.density == pytest.approx(share(want))


def test_only_token_lengths_move_and_the_paper_case_shrinks():
    """Issue 12's case: a 64-token window on 63 tokens keeps every pair; scaled it keeps at most half."""
    assert scale_to_n("window", {}, 63, False, target_share=1.0).density == 1.0
    scaled = scale_to_n("window", {}, 63, False)
    assert scaled.params == {"window": 16} and scaled.density <= 0.5 and scaled.factor == 0.25
    big = scale_to_n("bigbird", {"seed": 7}, 96, False)
    assert {k: big.params[k] for k in ("window_blocks", "global_blocks", "random_blocks", "seed")} == {
        "window_blocks": 3,
        "global_blocks": 2,
        "random_blocks": 3,
        "seed": 7,
    }
    assert big.params["block"] < 64


def test_cross_parameter_rules_hold_while_shrinking():
    """fixed keeps summary <= stride at every step; the smaller target shrinks further."""
    for target in (0.5, 0.2, 0.05):
        scaled = scale_to_n("fixed", {"stride": 128, "summary": 128}, 200, True, target)
        assert scaled.params["summary"] <= scaled.params["stride"]
        get("fixed").validate(scaled.params)
    loose = scale_to_n("fixed", {}, 200, True, 0.5)
    tight = scale_to_n("fixed", {}, 200, True, 0.05)
    assert tight.params["stride"] <= loose.params["stride"]


def test_stops_at_the_floor_and_reports_where_it_ended():
    """A global token at n = 2 already keeps 3 of 4 pairs; it cannot shrink below one token."""
    scaled = scale_to_n("global", {"global_tokens": 1}, 2, False)
    assert scaled == ScaledParams({"global_tokens": 1}, 0.75, 1.0)
    assert scale_to_n("logsparse", {}, 8, True).params == {}


@pytest.mark.parametrize(
    "call",
    [
        lambda: scale_to_n("nope", {}, 64, False),
        lambda: scale_to_n("window", {"window": -1}, 64, False),
        lambda: scale_to_n("window", {"size": 3}, 64, False),
        lambda: scale_to_n("window", {}, 0, False),
        lambda: scale_to_n("window", {}, 64, False, target_share=0),
    ],
)
def test_bad_input_is_a_pattern_error(call):
    with pytest.raises(PatternError):
        call()


def test_input_mapping_is_not_changed():
    params = {"window": 64}
    scale_to_n("window", params, 32, True)
    assert params == {"window": 64}
    assert np.isfinite(scale_to_n("window", params, 32, True).density)
