"""Learn's step 9 data (ui/learn_memory.py): the stored grid is what its recipe says and what the engine gives,
and the step's facts follow the data (a caption that disagreed with its figure would fail here)."""

from __future__ import annotations

import pytest

from sparse_core import retrieval
from ui import learn_memory
from ui.learn_figures import fluent_vs_memory


def test_the_stored_grid_is_complete_and_its_numbers_are_consistent():
    data = learn_memory.load()
    about, grid = data["about"], learn_memory.GRID
    assert {k: about[k] for k in grid} == grid
    arms = ["dense", *(f"{p}@{grid['budget']:g}" for p in grid["patterns"])]
    cells = {(r["label"], r["length"], r["depth"]): r for r in data["memory"]}
    assert len(cells) == len(data["memory"]) == len(arms) * len(grid["lengths"]) * len(grid["depths"])
    for arm in arms:
        for n in grid["lengths"]:
            for d in grid["depths"]:
                row = cells[(arm, n, d)]
                assert row["trials"] == grid["trials"] == len(row["answers"]) == len(row["expected"])
                # each answer scored again from the text the model produced, against the key hidden
                correct = sum(retrieval.score(e, a) for e, a in zip(row["expected"], row["answers"], strict=True))
                assert row["correct"] == correct and row["accuracy"] == correct / row["trials"]
                assert (row["ci_low"], row["ci_high"]) == pytest.approx(retrieval.wilson(correct, row["trials"]))
                assert abs(row["tokens"] - n) <= 8  # lengths are measured in the model's tokens
    assert [r["pattern"] for r in data["fluency"]] == grid["patterns"]
    for r in data["fluency"]:
        assert r["budget"] == grid["budget"] and r["tokens"] == grid["tokens"]
        assert r["ppl_change"] == pytest.approx(r["ppl_sparse"] / r["ppl_dense"] - 1, rel=1e-6)


def _memory(recalled: dict[str, int], trials: int = 4) -> list[dict]:
    return [{"pattern": p, "correct": c, "trials": trials} for p, c in recalled.items()]


def test_the_steps_facts_follow_the_data():
    """The caption names the pattern with the smallest perplexity change and its keys: change the data and
    the facts change with it (they are computed, never written)."""
    titles = {"window": "Window", "streaming": "Streaming"}.get
    fluency = [
        {"pattern": "window", "budget": 0.25, "ppl_change": 0.9},
        {"pattern": "streaming", "budget": 0.25, "ppl_change": 0.1},
    ]
    memory = _memory({"dense": 4, "window": 1, "streaming": 2})
    _, facts = fluent_vs_memory(fluency, memory, titles)
    assert facts | {} == {
        "fluent": "Streaming", "ppl": "+10%", "correct": 2, "trials": 4, "dense_correct": 4, "dense_trials": 4,
        "budget": "25%",
    }  # fmt: skip
    fluency[0]["ppl_change"] = 0.05  # now the window is the more fluent one
    _, facts = fluent_vs_memory(fluency, memory, titles)
    assert (facts["fluent"], facts["ppl"], facts["correct"]) == ("Window", "+5%", 1)


@pytest.mark.model
def test_the_engine_gives_the_stored_answers_again():
    """One stored cell recomputed through the engine (SmolLM2, greedy, seeded): the same answer text."""
    from sparse_core import memory_eval

    grid = learn_memory.GRID
    n, d, pattern = grid["lengths"][0], grid["depths"][-1], grid["patterns"][0]
    result = memory_eval.run_memory(
        grid["model"], grid["task"], [n], [d], 1, [pattern], [grid["budget"]], include_dense=False,
        lang=grid["lang"], seed=grid["seed"],
    )  # fmt: skip
    stored = next(
        r for r in learn_memory.load()["memory"] if (r["pattern"], r["length"], r["depth"]) == (pattern, n, d)
    )
    assert result.rows[0]["answers"][0] == stored["answers"][0]
    assert result.rows[0]["params"] == stored["params"]
