"""The retrieval grid's longest prompt: what the Lab offers fits SmolLM2; a longer one is refused before loading."""

from __future__ import annotations

import pytest

from sparse_core import PatternError, memory_eval, models, retrieval
from ui.i18n import t
from ui.lab_state import lengths_offered
from ui.query import engine_message


def test_the_longest_prompt_leaves_room_for_the_tolerance_and_the_answer():
    tolerance = retrieval.LENGTH_TOLERANCE // 2
    for task, answer in memory_eval.NEW_TOKENS.items():
        assert memory_eval.longest_prompt(8192, task) == 8192 - tolerance - answer
    assert memory_eval.longest_prompt(8192) == min(memory_eval.longest_prompt(8192, k) for k in memory_eval.NEW_TOKENS)


@pytest.mark.parametrize("task", list(memory_eval.NEW_TOKENS))
def test_every_offered_length_is_admitted_and_one_more_token_is_refused_before_the_load(task, monkeypatch):
    """Issue 7: `make run` offered 8,192, which Run always refused, and only after loading the model."""

    def no_load(key):
        raise AssertionError("the refusal must come before models.load")

    monkeypatch.setattr(models, "load", no_load)
    offered = lengths_offered(8192)
    assert max(offered) <= memory_eval.longest_prompt(8192, task) and max(offered) > 4096
    with pytest.raises(AssertionError, match="before models.load"):  # admitted: it gets as far as the load
        memory_eval.run_memory("smollm2", task, [max(offered)], [0.5], 1)
    too_long = memory_eval.longest_prompt(8192, task) + 1
    with pytest.raises(PatternError) as e:
        memory_eval.run_memory("smollm2", task, [256, too_long], [0.5], 1)
    assert e.value.code == "memory_too_long"
    assert str(e.value) == engine_message(e.value, "en")  # the catalog's English is the engine's
    zh = engine_message(e.value, "zh")
    assert zh == t("err.memory_too_long", "zh", **e.value.fields) and f"{too_long - 1:,}" in zh
