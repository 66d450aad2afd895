"""Retrieval tasks: seeded prompts, lengths and depths in tokens, uniform answers, exact match, Wilson intervals."""

import re

import numpy as np
import pytest
import torch
from scipy import stats

from sparse_core import retrieval as R
from sparse_core.params import PatternError


class WordTokenizer:
    """A stand-in tokenizer: a word, a digit or a punctuation mark per token, one token per CJK character."""

    PIECE = re.compile(r"[A-Za-z]+|\d|[\u4e00-\u9fff]|[^\sA-Za-z\d]")

    def encode(self, text, add_special_tokens=False):
        return [hash(p) % 50_000 for p in self.PIECE.findall(text)]


TOK = WordTokenizer()


NEEDLE_RE = {
    "passkey": re.compile(r"The pass key is \d+\. Remember it\. \d+ is the pass key\.|密码是\d+。记住它。\d+是密码。"),
    "multikey": re.compile(
        r"One of the special magic numbers for \S+ is: \d+\.|[\u4e00-\u9fff]{4}的特殊魔法数字之一是：\d+。"
    ),
}


def _filler_tokens_before(task: R.Task) -> tuple[int, int]:
    """(filler tokens before the asked needle, all filler tokens), counted from the text alone."""
    intro = R.count_tokens(TOK, R.INTRO[task.lang])
    needles = list(NEEDLE_RE[task.kind].finditer(task.text))
    assert len(needles) == (1 if task.kind == "passkey" else 1 + len(task.distractors))
    assert task.needle_start in [m.start() for m in needles]
    earlier = sum(R.count_tokens(TOK, m.group(0)) for m in needles if m.start() < task.needle_start)
    before = R.count_tokens(TOK, task.text[: task.needle_start]) - intro - earlier
    every = sum(R.count_tokens(TOK, m.group(0)) for m in needles)
    total = R.count_tokens(TOK, task.text) - intro - every - R.count_tokens(TOK, task.question)
    return before, total


@pytest.mark.parametrize("kind", R.TASKS)
@pytest.mark.parametrize("lang", R.LANGS)
def test_same_seed_same_prompt_other_seed_other_answer(kind, lang):
    a = R.make_task(TOK, kind, 512, 0.3, seed=7, lang=lang)
    b = R.make_task(TOK, kind, 512, 0.3, seed=7, lang=lang)
    assert a == b
    others = {R.make_task(TOK, kind, 512, 0.3, seed=s, lang=lang).answer for s in range(8, 16)}
    assert len(others) >= 7 and a.answer in a.text


@pytest.mark.parametrize("kind", R.TASKS)
@pytest.mark.parametrize("lang", R.LANGS)
@pytest.mark.parametrize("length", [384, 1024, 4096])
def test_length_and_depth_in_tokens(kind, lang, length):
    for depth in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        task = R.make_task(TOK, kind, length, depth, seed=3, lang=lang)
        assert task.tokens == R.count_tokens(TOK, task.text)
        assert abs(task.tokens - length) <= R.LENGTH_TOLERANCE, (depth, task.tokens)
        before, total = _filler_tokens_before(task)
        # the needle sits at a sentence boundary: within one sentence (≤ 8 tokens here) of the depth
        assert abs(before - depth * total) <= 8, (depth, before, total)
        assert abs(task.depth_measured - depth) <= 8 / total + 0.01
        assert task.text.endswith(task.question)


def test_passkey_prompt_is_the_plain_completion_prompt():
    task = R.passkey(TOK, 256, 0.5, seed=1)
    assert task.text.startswith(R.INTRO["en"])
    assert task.text.endswith("What is the pass key? The pass key is")
    assert task.text.count(task.answer) == 2 and re.fullmatch(r"[1-9]\d{4}", task.answer)
    assert task.text[task.needle_start :].startswith(f"The pass key is {task.answer}.")


def test_multikey_hides_every_pair_and_asks_for_one():
    task = R.multikey(TOK, 1024, 0.5, seed=2, keys=4)
    assert len(task.distractors) == 3 and len({task.answer, *task.distractors}) == 4
    for v in [task.answer, *task.distractors]:
        assert task.text.count(v) == 1
    asked = re.search(r"for (\S+) mentioned", task.question).group(1)
    assert task.text[task.needle_start :].startswith(f"One of the special magic numbers for {asked} is: {task.answer}.")
    starts = [m.start() for m in re.finditer("One of the special magic numbers", task.text)]
    assert len(starts) == 4 and min(np.diff(starts)) > 200  # spread, not bunched


def test_answers_are_uniform_over_seeds():
    keys = [R.passkey(TOK, 96, 0.5, seed=s).answer for s in range(600)]
    first = np.bincount([int(k[0]) for k in keys], minlength=10)[1:]
    assert stats.chisquare(first).pvalue > 1e-3  # 1..9, no leading zero
    for pos in range(1, 5):
        counts = np.bincount([int(k[pos]) for k in keys], minlength=10)
        assert stats.chisquare(counts).pvalue > 1e-3, (pos, counts)
    # a constant key would fail: the same test on it rejects
    assert stats.chisquare(np.bincount([5] * 600, minlength=10)).pvalue < 1e-6


def test_bad_requests_are_refused():
    with pytest.raises(PatternError):
        R.make_task(TOK, "needle", 512, 0.5)
    with pytest.raises(PatternError):
        R.make_task(TOK, "passkey", 512, 1.5)
    with pytest.raises(PatternError):
        R.make_task(TOK, "passkey", 512, 0.5, lang="fr")
    with pytest.raises(PatternError):
        R.multikey(TOK, 64, 0.5, keys=8)  # no room for filler


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (" 12345.", True),
        ("12345", True),
        (" １２３４５。", True),  # full-width digits
        (" 12345 and 99999", True),
        (" 123456.", False),  # a longer run is not the key
        (" 1234.", False),
        (" 12,345.", False),
        (" the key 12345", True),
        ("", False),
        (" no digits", False),
        (" 54321. 12345", False),  # only the first number counts
    ],
)
def test_exact_match(text, ok):
    assert R.score("12345", text) is ok


@pytest.mark.parametrize("trials", [1, 2, 3, 10, 37, 200])
def test_wilson_matches_scipy(trials):
    for correct in sorted({0, 1, trials // 2, trials - 1, trials} - {-1}):
        ci = stats.binomtest(correct, trials).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = R.wilson(correct, trials)
        assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)


def test_accuracy_counts_and_interval():
    acc = R.accuracy([True, True, False])
    assert (acc.correct, acc.trials) == (2, 3) and acc.accuracy == pytest.approx(2 / 3)
    assert acc.ci_low < 2 / 3 < acc.ci_high
    assert R.accuracy([]).trials == 0 and (R.accuracy([]).ci_low, R.accuracy([]).ci_high) == (0.0, 1.0)
    with pytest.raises(ValueError):
        R.wilson(4, 3)


def test_decode_selection_is_the_patterns_own_last_row():
    """A data-dependent pattern's one-query rule at decode equals the last row of its full mask."""
    from sparse_core import memory_eval
    from sparse_core.registry import make

    rng = np.random.default_rng(0)
    for name, params in [("topk", {"k": 7}), ("block_gating", {"block": 8, "top_blocks": 3})]:
        prim = make(name, True, **params).expr().terms()[0][0]
        for s in (5, 40, 67):
            q = rng.standard_normal((s, 16)).astype(np.float32)
            k = rng.standard_normal((s, 16)).astype(np.float32)
            want = prim.dense(q, k)[s - 1]
            got = memory_eval._row_rule(prim, torch.from_numpy(q[None, -1]), torch.from_numpy(k[None]))[0]
            assert np.array_equal(got.numpy(), want), (name, s)


def test_shared_prefix_and_labels():
    from sparse_core import memory_eval

    assert memory_eval._common_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert memory_eval._common_prefix([[1, 2], [1, 2]]) == 2
    assert memory_eval.Arm("window", 0.1).label == "window@0.1"
    assert memory_eval.Arm("dense").label == "dense"


@pytest.mark.model
def test_dense_recalls_a_passkey_and_a_short_window_does_not():
    """SmolLM2, ~384 tokens, keys at 10% depth: dense recalls them; a causal window of 32 cannot see them."""
    from sparse_core import memory_eval, models
    from sparse_core.decode import continue_text

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on shared cores cost more CPU for the same answers
    try:
        window = ("window", {"window": 32})
        res = memory_eval.run_memory("smollm2", "passkey", [384], [0.1], trials=2, explicit=[window], seed=5)
        task = R.passkey(models.load("smollm2").tokenizer, 384, 0.1, seed=6)
        cont = continue_text("smollm2", task.text, window, max_new_tokens=7, max_tokens=512)
    finally:
        torch.set_num_threads(threads)
    dense, sparse = res.rows
    assert dense["label"] == "dense" and (dense["correct"], dense["trials"]) == (2, 2), dense["answers"]
    assert sparse["correct"] == 0, sparse["answers"]
    assert sparse["decode_note"] == memory_eval.DECODE_NOTES["structured"]
    # the second trial reused the cache of everything before its needle (~10% of the filler and the intro) ...
    assert dense["prefix_reused"] > 50 and sparse["prefix_reused"] > 50
    # ... and still decodes what the lab's continue_text (a fresh prefill) decodes
    assert cont.dense_text == dense["answers"][1] and cont.sparse_text == sparse["answers"][1]
