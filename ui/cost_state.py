"""The Cost & Speed page's state and tables, free of Streamlit: its URL parameters and how a link's values become
the pickers' values, the options it offers, and the budget table built from the engine's context fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from sparse_core import PATTERNS
from sparse_core.cost import MODEL_PRESETS, ModelConfig

from .i18n import t
from .query import QueryParam

TABS = ("co.tab_prefill", "co.tab_decode", "co.tab_budget", "co.tab_speed")
CUSTOM = "custom"  # the model picker's own option; its label is translated, its value is not
MODELS = [*MODEL_PRESETS, CUSTOM]
CUSTOM_BASE = ModelConfig(32, 32, 8, 128, "bf16")  # where the custom model's numbers start
DEFAULT_PATTERNS = ["window", "bigbird", "streaming"]
MAX_PATTERNS = 5
SPECS = [
    QueryParam("patterns", "text", ",".join(DEFAULT_PATTERNS), max_length=400),
    QueryParam("model", "choice", MODELS[2], choices=MODELS),
]
URL_NAMES = [spec.name for spec in SPECS]
SPEED_LENGTHS = [1024, 2048, 4096, 8192, 16384]
GPU_SPEED_LENGTHS = [32768, 65536]  # offered only where a GPU runs them


def from_url(values: Mapping, problems: list[str], lang: str = "en") -> dict:
    """The pickers' session values from `ui.query.read_query`'s values; unknown pattern names are added to
    `problems` (and dropped), at most MAX_PATTERNS are kept."""
    names = [x.strip() for x in values["patterns"].split(",") if x.strip()]
    unknown = [x for x in names if x not in PATTERNS]
    if unknown:
        reason = t("co.unknown", lang)
        problems.append(t("q.problem", lang, name="patterns", value=", ".join(unknown)[:40], reason=reason))
    chosen = [x for x in dict.fromkeys(names) if x in PATTERNS][:MAX_PATTERNS]
    return {"co_patterns": chosen, "co_model": values["model"], "co_url_problems": problems}


def to_url(s: Mapping) -> dict[str, str]:
    """The URL's values from the pickers' (the inverse of `from_url`)."""
    return {"patterns": ",".join(s["co_patterns"]), "model": s["co_model"]}


def timeable(chosen: list[str]) -> list[str]:
    """Patterns a speed run can time: the chosen ones with a fixed mask (sliding window when none is)."""
    return [n for n in chosen if not PATTERNS[n].data_dependent] or ["window"]


def speed_lengths(has_gpu: bool) -> list[int]:
    """Sequence lengths a speed run offers: longer ones only where a GPU runs them."""
    return SPEED_LENGTHS + (GPU_SPEED_LENGTHS if has_gpu else [])


def budget_table(fits, title: Callable[[str], str], lang: str) -> pd.DataFrame:
    """One row per pattern (titled by `title`): the longest dense and sparse prompts in the budget and the gain,
    "≥" where the sparse search reached the engine's largest n."""
    at_least = "≥ "
    rows = {
        title(f.name): {
            t("co.largest_dense", lang): f"{f.dense_n:,}",
            t("co.largest_sparse", lang): (at_least if f.capped else "") + f"{f.sparse_n:,}",
            t("co.gain", lang): (at_least if f.capped else "") + f"{f.gain:,.1f}×",
        }
        for f in fits
    }
    return pd.DataFrame(rows).T
