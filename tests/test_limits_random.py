"""The budget refuses, before any work, requests that would draw too many random keys, and says the limit."""

import pytest

from sparse_core import make
from sparse_core.limits import Budget, check_budget
from sparse_core.params import PatternError

BIG = 1 << 20


def test_random_keys_over_the_draw_limit_are_refused_with_the_limit():
    check_budget(make("random", random_keys=3).expr(), BIG, 128)  # the default fits
    # random(8) at 2^20: worst 1.00 s and 291 MB over 52 fresh processes at load 0.2-13 (limits.Budget)
    check_budget(make("random", random_keys=8).expr(), BIG, 128)
    with pytest.raises(PatternError) as info:
        check_budget(make("random", random_keys=9).expr(), BIG, 128)
    assert info.value.code == "budget_random_draws"
    assert "8,388,608" in str(info.value) and "random_keys" in str(info.value)
    check_budget(make("random", random_keys=16).expr(), BIG // 2, 128)  # fewer rows, more keys each


def test_bigbird_with_tiny_blocks_is_refused_and_told_to_use_larger_blocks():
    check_budget(make("bigbird").expr(), BIG, 128)
    check_budget(make("bigbird", True, block=8).expr(), BIG, 128)
    for block in (1, 2):
        with pytest.raises(PatternError, match="larger blocks") as info:
            check_budget(make("bigbird", block=block).expr(), BIG, 128)
        assert info.value.fields["limit"] == f"{Budget().random_draws:,}"
        assert info.value.code == "budget_random_block_draws"


def test_the_app_says_what_the_engine_says_in_both_languages():
    from ui.i18n import t

    for pattern in (make("random", random_keys=9), make("bigbird", block=2)):
        with pytest.raises(PatternError) as info:
            check_budget(pattern.expr(), BIG, 128)
        error = info.value
        assert t(f"err.{error.code}", "en", **error.fields) == str(error)
        assert error.fields["limit"] in t(f"err.{error.code}", "zh", **error.fields)


def test_the_draw_limit_follows_the_environment(monkeypatch):
    monkeypatch.setenv("SPARSE_EXPLORER_BUDGET_RANDOM_DRAWS", "100000000")
    check_budget(make("random", random_keys=8).expr(), BIG, 128)
