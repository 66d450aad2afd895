"""What the Pattern Lab page asks and writes beside its figures, free of Streamlit: its table's columns, the
price, refusal and partial-run messages, the engine errors it translates, the retrieval request and the rows it
should give, and the continuation's choices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from sparse_core import PatternError, lab_price

from .i18n import t
from .lab_figures import arm_label

SHOWN = [
    "pattern", "budget", "value", "density", "flops_share", "mass_kept", "cosine", "ppl_sparse", "ppl_change",
    "agreement", "kl_changed", "kl_all",
    "prefill_cpu_s", "dense_prefill_cpu_s", "prefill_peak_bytes", "dense_prefill_peak_bytes",  # measured (issue 19)
    "params",
]  # fmt: skip
PERCENT_COLUMNS = ("budget", "density", "flops_share", "mass_kept", "agreement")  # fractions, shown as %
LAB_ERRORS = {"not_fittable", "bad_budget", "lab_not_causal", "lab_data_dependent_decode"}
NO_CONTINUATION = ("topk", "block_gating")  # data-dependent: continue_text has no rule to decode them


def title_width(titles: Sequence[str]) -> int:
    """Pixels a table column needs for its longest title (Streamlit cut "Sliding window" to "Sliding winc…" at
    its default width): about 7.5 per Latin character, 14 per CJK one, plus the cell's padding."""
    longest = max((sum(14 if ord(c) >= 0x2E80 else 7.5 for c in title) for title in titles), default=0)
    return int(min(420, max(120, longest + 32)))


def error_message(error: Exception, lang: str) -> str | Exception:
    """The lab's own engine errors translated (their catalog keys are lab.err_*); any other error as it came."""
    code = getattr(error, "code", None)
    return t(f"lab.err_{code}", lang, **error.fields) if code in LAB_ERRORS else error


def price_caption(quote, lang: str) -> tuple[str, bool]:
    """The predicted cost and the server's budget, and whether the request is over that budget."""
    text = t("lab.price", lang, seconds=f"{quote.cpu_seconds:,.0f}", budget=f"{quote.budget_seconds:,.0f}")
    return text, bool(quote.over_budget)


def short_text_note(quote, asked: int, lang: str) -> str | None:
    """The text is shorter than the tokens chosen (the price counts the tokens it has): say so, as the
    Inspector does; None when the text fills them."""
    if quote.tokens >= asked:
        return None
    return t("lab.short_text", lang, n=f"{quote.tokens:,}", asked=f"{asked:,}")


def refusal(quote, longest: int, lang: str) -> str:
    """A retrieval grid over the server's budget: its price, what to lower, and the trials that fit (the engine's)."""
    try:
        lab_price.refuse_over_budget(quote)
        fit = 0
    except PatternError as e:
        fit = int(e.fields.get("fit_trials") or 0)
    seconds, budget = f"{quote.cpu_seconds:,.0f}", f"{quote.budget_seconds:,.0f}"
    more = [t("lab.mem_over_trials", lang, trials=fit)] if fit else []
    return sentences(lang, t("lab.mem_over", lang, seconds=seconds, budget=budget, longest=f"{longest:,}"), *more)


def memory_request(model: str, s: Mapping) -> tuple:
    """`memory_eval.run_memory`'s positional arguments: the model's key, then the Memory view's widget state."""
    return (model, s["lab_mem_task"], tuple(sorted(s["lab_mem_lengths"])),
            tuple(sorted(s["lab_mem_depths"])), int(s["lab_mem_trials"]), tuple(s["lab_patterns"]),
            tuple(s["lab_budgets"]))  # fmt: skip


def memory_rows_expected(request: Sequence) -> int:
    """Rows a whole retrieval grid gives: (dense + patterns × budgets) arms × lengths × depths."""
    _, _, lengths, depths, _, patterns, budgets = request
    return (1 + len(patterns) * len(budgets)) * len(lengths) * len(depths)


def partial_note(done: int, total: int, lang: str) -> str:
    """A grid stopped before its end (Cancel, or a rerun that interrupted it): what is shown and what to do."""
    return sentences(lang, t("lab.mem_cancelled", lang), t("lab.mem_partial", lang, done=done, total=total))


def memory_grid(request: Sequence) -> tuple[list[str], tuple, tuple]:
    """The grid a retrieval request asks for, as `lab_figures.memory_heatmaps` draws it: (arm labels, the
    engine's `dense` and `pattern@budget`, lengths, depths); a stopped run's plot shows it whole."""
    _, _, lengths, depths, _, patterns, budgets = request
    return ["dense", *(f"{p}@{b:g}" for p in patterns for b in budgets)], lengths, depths


def sentences(lang: str, *parts: str) -> str:
    """Sentences one after another: a space between English ones, none between Chinese ones (。 ends them)."""
    return ("" if lang == "zh" else " ").join(parts)


def lab_partial_note(table: pd.DataFrame, patterns: Sequence[str], budgets: Sequence[float], lang: str) -> str | None:
    """The perplexity table's rows against the rows asked for (one per pattern × budget); None when complete."""
    total = len(patterns) * len(budgets)
    return t("lab.partial", lang, rows=len(table), total=total) if len(table) < total else None


def continuation_choices(table: pd.DataFrame, titles: Callable, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows greedy continuation can decode (structured patterns) and their labels, as the chart shows them."""
    structured = table[~table["pattern"].isin(NO_CONTINUATION)]
    labels = [arm_label(f"{r.pattern}@{r.budget:g}", titles, lang) for r in structured.itertuples()]
    return structured, labels
