"""The Lab's request checked without torch: its limits, and the patterns and budgets parsed from what a person typed."""

from __future__ import annotations

import math

from .fit import FIT_RULES
from .params import PatternError
from .registry import get

DEFAULT_TOKENS = 1024
MAX_TOKENS = 8192  # SmolLM2's context (local models up to their own limit); a deployment caps the Lab lower
MAX_NEW_TOKENS = 48
DEFAULT_BUDGETS = (0.02, 0.05, 0.1, 0.25)
METHODS = ("auto", "sdpa", "blocks", "eager")
DEFAULT_METHOD = "auto"
# the retrieval grid (memory_eval): SmolLM2's context; the longest prompt a grid may ask for
MEMORY_MAX_LENGTH = 8192
MEMORY_MAX_TRIALS = 100


def parse_budgets(values) -> list[float]:
    """Budgets as shares in (0, 1]; '5%' and '0.05' both mean 5 %."""
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    out = []
    for v in values:
        text = str(v).strip()
        try:
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise PatternError(
                f"a budget must be a share like 0.05 or 5%, got {text!r}", "bad_budget", value=text
            ) from None
        if not (0 < share <= 1) or math.isnan(share):
            raise PatternError(
                f"a budget must be between 0 and 1 (or 0% and 100%), got {text!r}", "bad_budget", value=text
            )
        if share not in out:
            out.append(share)
    if not out:
        raise PatternError("give at least one budget, e.g. 0.05,0.1", "bad_budget", value="")
    return out


def parse_patterns(values) -> list[str]:
    """Pattern names, checked against the fittable ones."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    out = []
    for name in values:
        get(name)
        if name not in FIT_RULES:
            raise PatternError(
                f"pattern '{name}' has no fittable parameter; fittable: {', '.join(FIT_RULES)}",
                "not_fittable",
                name=name,
                known=", ".join(FIT_RULES),
            )
        if name not in out:
            out.append(name)
    if not out:
        raise PatternError("choose at least one pattern")
    return out


def lab_patterns(causal: bool) -> list[str]:
    """The patterns the lab offers for a model (encoders get the ones that can run bidirectionally too)."""
    return [n for n in FIT_RULES if causal or get(n).causal != "always"]


def _numbers(values, name: str, kind):
    if isinstance(values, str):
        values = [v.strip() for v in values.replace(";", ",").split(",") if v.strip()]
    out = []
    for v in values:
        text = str(v).strip()
        try:
            number = kind(float(text[:-1]) / 100) if kind is float and text.endswith("%") else kind(text)
        except ValueError:
            raise PatternError(f"{name}: {text!r} is not a number", f"bad_{name}", value=text) from None
        if number not in out:
            out.append(number)
    if not out:
        raise PatternError(f"{name}: give at least one value", f"bad_{name}", value="")
    return out


def parse_lengths(values) -> list[int]:
    """Retrieval prompt lengths in tokens, 64 to MEMORY_MAX_LENGTH ("1024,2048")."""
    out = _numbers(values, "lengths", int)
    for n in out:
        if not 64 <= n <= MEMORY_MAX_LENGTH:
            raise PatternError(
                f"lengths must be between 64 and {MEMORY_MAX_LENGTH:,} tokens, got {n}", "bad_lengths", value=n
            )
    return out


def parse_depths(values) -> list[float]:
    """Needle depths as shares of the filler, 0 to 1 ("0.1,0.5,0.9" or "10%,50%")."""
    out = _numbers(values, "depths", float)
    for d in out:
        if not 0.0 <= d <= 1.0 or math.isnan(d):
            raise PatternError(f"depths must be between 0 and 1 (0% and 100%), got {d}", "bad_depths", value=d)
    return out


def parse_trials(value) -> int:
    """Trials per (length, depth): a whole number from 1 to MEMORY_MAX_TRIALS."""
    try:
        trials = int(str(value).strip())
    except ValueError:
        raise PatternError(f"trials must be a whole number, got {value!r}", "bad_trials", value=value) from None
    if not 1 <= trials <= MEMORY_MAX_TRIALS:
        raise PatternError(f"trials must be between 1 and {MEMORY_MAX_TRIALS}, got {trials}", "bad_trials")
    return trials
