"""Retrieval tasks generated locally (passkey, multi-key needle) and their exact-match scoring with a 95% interval.

Passkey retrieval follows Mohtashami & Jaggi 2023 (Landmark Attention; also used by StreamingLLM and
LongLoRA): a 5-digit key hidden at a given depth in repetitive filler, then a plain completion
prompt "What is the pass key? The pass key is". The multi-key needle follows RULER's niah_multikey
(Hsieh et al. 2024): several key–value pairs hidden at spread depths, one of them asked for.

Everything is built from the templates below (English and Chinese), seeded: the same seed gives the
same prompt, and answers are drawn uniformly. The filler does not depend on the seed, so the trials
of one (length, depth) share every token before the needle (a runner can compute that prefix once).
Lengths and depths are measured in the tokens of the tokenizer passed in: the prompt is within a
few tokens of the length asked for, and the needle starts after `depth` of the filler's tokens.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .params import PatternError

TASKS = ("passkey", "multikey")
LANGS = ("en", "zh")
Z95 = 1.959963984540054  # two-sided 95 % normal quantile
LENGTH_TOLERANCE = 8  # tokens: the prompt's length is within this of the target (sentence granularity)

# Landmark Attention's filler, in English and in Chinese; one sentence per item (the unit of placement).
FILLER = {
    "en": ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."],
    "zh": ["草是绿的。", "天是蓝的。", "太阳是黄的。", "我们出发吧。", "去了又回来。"],
}
INTRO = {
    "en": (
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
        "I will quiz you about the important information there."
    ),
    "zh": "下面的大量无关文字中藏着一条重要信息。找到它并记住它。之后我会问你这条重要信息。",
}
PASSKEY_NEEDLE = {
    "en": "The pass key is {key}. Remember it. {key} is the pass key.",
    "zh": "密码是{key}。记住它。{key}是密码。",
}
PASSKEY_QUESTION = {"en": "What is the pass key? The pass key is", "zh": "密码是什么？密码是"}
MULTIKEY_NEEDLE = {
    "en": "One of the special magic numbers for {key} is: {value}.",
    "zh": "{key}的特殊魔法数字之一是：{value}。",
}
MULTIKEY_QUESTION = {
    "en": "What is the special magic number for {key} mentioned in the provided text? "
    "The special magic number for {key} mentioned in the provided text is",
    "zh": "上文中{key}的特殊魔法数字是什么？上文中{key}的特殊魔法数字是",
}
# multi-key names: an adjective and a noun (RULER draws words too), both languages
KEY_WORDS = {
    "en": (
        ["amber", "brave", "calm", "dusty", "eager", "frosty", "gentle", "hollow", "icy", "jolly", "quiet", "rusty"],
        ["river", "falcon", "lantern", "meadow", "harbor", "violin", "canyon", "pepper", "glacier", "orchid"],
    ),
    "zh": (
        ["琥珀", "勇敢", "平静", "尘土", "热切", "寒霜", "温柔", "空心", "冰冷", "快乐", "安静", "生锈"],
        ["河流", "猎鹰", "灯笼", "草地", "港口", "提琴", "峡谷", "胡椒", "冰川", "兰花"],
    ),
}
SEP = {"en": " ", "zh": ""}


class Tokenizer(Protocol):
    """What the tasks need of a tokenizer: `encode(text) -> ids` (a Hugging Face tokenizer fits)."""

    def encode(self, text: str, *args, **kwargs) -> list[int]: ...


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Tokens of the text without special tokens (what the prompt adds to the model's input)."""
    try:
        return len(tokenizer.encode(text, add_special_tokens=False))
    except TypeError:  # a tokenizer without the keyword
        return len(tokenizer.encode(text))


@dataclass(frozen=True)
class Task:
    """One retrieval prompt: its text, the expected answer, and where the needle sits."""

    kind: str  # passkey | multikey
    lang: str
    seed: int
    text: str
    answer: str  # the digits the continuation must start with
    length: int  # tokens asked for
    tokens: int  # tokens measured (without special tokens)
    depth: float  # depth asked for (share of the filler before the needle)
    depth_measured: float  # filler tokens before the needle / all filler tokens
    needle_start: int  # character offset of the asked needle in `text`
    question: str = ""
    distractors: list[str] = field(default_factory=list)  # multikey: the other values


def _check(kind: str, lang: str, length: int, depth: float) -> None:
    if kind not in TASKS:
        raise PatternError(f"task must be one of {', '.join(TASKS)}, got {kind!r}", "bad_task", value=kind)
    if lang not in LANGS:
        raise PatternError(f"language must be one of {', '.join(LANGS)}, got {lang!r}", "bad_lang", value=lang)
    if not isinstance(length, (int, np.integer)) or length < 64:
        raise PatternError(f"length must be a whole number of tokens ≥ 64, got {length!r}")
    if not (isinstance(depth, (int, float, np.floating)) and 0.0 <= float(depth) <= 1.0):
        raise PatternError(f"depth must be a share between 0 and 1, got {depth!r}")


class _Filler:
    """The filler as cycled sentences with their token counts, measured once per tokenizer and language."""

    def __init__(self, tokenizer: Tokenizer, lang: str):
        self.sentences = FILLER[lang]
        self.sep = SEP[lang]
        # counted with the separator in front, as each sentence appears inside the filler
        self.counts = [count_tokens(tokenizer, self.sep + s) for s in self.sentences]

    def take(self, start: int, tokens: int) -> tuple[list[str], int]:
        """Sentences from cycle position `start` until their tokens are closest to `tokens`."""
        out: list[str] = []
        total = 0
        i = start
        while total < tokens:
            c = self.counts[i % len(self.sentences)]
            if total + c - tokens > tokens - total:  # stopping here is closer than adding one more
                break
            out.append(self.sentences[i % len(self.sentences)])
            total += c
            i += 1
        return out, total


def _assemble(lang: str, before: list[str], needles: list[tuple[int, str]], after: list[str], question: str):
    """The prompt text, and the character offset of each needle; needles are (index into filler, text)."""
    sep = SEP[lang]
    filler = before + after
    parts = [INTRO[lang]]
    starts = []
    inserts = dict(needles)
    for i in range(len(filler) + 1):
        if i in inserts:
            starts.append(len(sep.join(parts)) + len(sep))
            parts.append(inserts[i])
        if i < len(filler):
            parts.append(filler[i])
    parts.append(question)
    return sep.join(parts), starts


def _build(
    tokenizer: Tokenizer,
    kind: str,
    lang: str,
    length: int,
    depth: float,
    seed: int,
    needles: list[str],
    depths: list[float],
    question: str,
    answer: str,
    distractors: list[str],
) -> Task:
    """Place the needles (the asked one first in `needles`) at their depths in filler sized to the length."""
    filler = _Filler(tokenizer, lang)
    fixed = count_tokens(tokenizer, INTRO[lang]) + count_tokens(tokenizer, SEP[lang] + question)
    fixed += sum(count_tokens(tokenizer, SEP[lang] + n) for n in needles)
    budget = length - fixed
    if budget < 16:
        raise PatternError(f"length {length} leaves no room for filler (the question and needles take {fixed} tokens)")
    text = ""
    measured = 0
    for _ in range(4):  # token counts of separate sentences can differ from the joined text by a few
        sentences, got = filler.take(0, budget)
        # cumulative tokens at each sentence boundary, to put each needle at its depth in filler tokens
        cum = np.concatenate(
            [[0], np.cumsum([filler.counts[i % len(filler.sentences)] for i in range(len(sentences))])]
        )
        slots = [int(np.argmin(np.abs(cum - d * got))) for d in depths]
        order = sorted(range(len(needles)), key=lambda j: slots[j])
        placed = []
        used = set()
        for j in order:
            s = slots[j]
            while s in used:  # two needles never share a boundary
                s = s + 1 if s < len(sentences) else s - 1
            used.add(s)
            placed.append((s, needles[j], j))
        inserts = sorted(placed)
        text, starts = _assemble(lang, sentences, [(s, n) for s, n, _ in inserts], [], question)
        measured = count_tokens(tokenizer, text)
        if abs(measured - length) <= LENGTH_TOLERANCE // 2 or got == 0:
            break
        budget += length - measured
    asked = next(i for i, (_, _, j) in enumerate(inserts) if j == 0)
    slot = inserts[asked][0]
    depth_measured = float(cum[slot] / cum[-1]) if cum[-1] else 0.0
    return Task(
        kind,
        lang,
        seed,
        text,
        answer,
        int(length),
        measured,
        float(depth),
        depth_measured,
        starts[asked],
        question,
        distractors,
    )


def _digits(rng: np.random.Generator, count: int) -> str:
    """A uniformly drawn number of `count` digits (no leading zero, as the papers' keys)."""
    return str(int(rng.integers(10 ** (count - 1), 10**count)))


def passkey(tokenizer: Tokenizer, length: int, depth: float, seed: int = 0, lang: str = "en", digits: int = 5) -> Task:
    """A passkey prompt of ~`length` tokens with a `digits`-digit key at `depth` of the filler."""
    _check("passkey", lang, length, depth)
    rng = np.random.default_rng([seed, 0x9A55])
    key = _digits(rng, digits)
    needle = PASSKEY_NEEDLE[lang].format(key=key)
    return _build(
        tokenizer,
        "passkey",
        lang,
        length,
        float(depth),
        seed,
        [needle],
        [float(depth)],
        PASSKEY_QUESTION[lang],
        key,
        [],
    )


def multikey(
    tokenizer: Tokenizer, length: int, depth: float, seed: int = 0, lang: str = "en", keys: int = 4, digits: int = 7
) -> Task:
    """A multi-key needle prompt: `keys` key–value pairs at spread depths, the asked one at `depth`."""
    _check("multikey", lang, length, depth)
    if not 1 <= keys <= 8:
        raise PatternError(f"keys must be between 1 and 8, got {keys!r}")
    rng = np.random.default_rng([seed, 0x3E7])
    adjectives, nouns = KEY_WORDS[lang]
    pairs = rng.choice(len(adjectives) * len(nouns), size=keys, replace=False)
    sep = "-" if lang == "en" else ""
    names = [adjectives[p // len(nouns)] + sep + nouns[p % len(nouns)] for p in pairs]
    values: list[str] = []
    while len(values) < keys:  # distinct values, so a distractor never scores
        v = _digits(rng, digits)
        if v not in values:
            values.append(v)
    # the other needles at evenly spread depths away from the asked one (RULER spreads them too)
    others = [float(d) for d in np.linspace(0.0, 1.0, keys + 1)[:-1] + 0.5 / keys]
    others = sorted(others, key=lambda d: abs(d - depth))[1:] if keys > 1 else []
    rng.shuffle(others)
    needles = [MULTIKEY_NEEDLE[lang].format(key=k, value=v) for k, v in zip(names, values, strict=True)]
    question = MULTIKEY_QUESTION[lang].format(key=names[0])
    return _build(
        tokenizer,
        "multikey",
        lang,
        length,
        float(depth),
        seed,
        needles,
        [float(depth), *others],
        question,
        values[0],
        values[1:],
    )


def make_task(tokenizer: Tokenizer, kind: str, length: int, depth: float, seed: int = 0, lang: str = "en") -> Task:
    """A task of either kind (passkey | multikey) with its default settings."""
    _check(kind, lang, length, depth)
    return (passkey if kind == "passkey" else multikey)(tokenizer, length, depth, seed, lang)


_DIGITS = re.compile(r"\d+")


def first_number(continuation: str) -> str | None:
    """The first run of digits in the continuation (full-width digits count as digits), None when there is none."""
    m = _DIGITS.search(unicodedata.normalize("NFKC", continuation))
    return m.group(0) if m else None


def score(task: Task | str, continuation: str) -> bool:
    """Exact match: the continuation's first run of digits is the answer (a longer or shorter run fails)."""
    answer = task if isinstance(task, str) else task.answer
    return first_number(continuation) == answer


@dataclass(frozen=True)
class Accuracy:
    """Correct answers out of trials, with the Wilson score 95% interval."""

    correct: int
    trials: int
    accuracy: float
    ci_low: float
    ci_high: float


def wilson(correct: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (0 trials: the whole of [0, 1])."""
    if trials < 0 or not 0 <= correct <= trials:
        raise ValueError(f"need 0 ≤ correct ≤ trials, got {correct} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    p = correct / trials
    z2 = z * z
    denom = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, center - half), min(1.0, center + half)


def accuracy(results: Sequence[bool]) -> Accuracy:
    """Accuracy of a list of exact-match results, with its trial count and Wilson 95% interval."""
    correct, trials = int(sum(bool(r) for r in results)), len(results)
    low, high = wilson(correct, trials)
    return Accuracy(correct, trials, correct / trials if trials else float("nan"), low, high)
