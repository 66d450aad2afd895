"""Scale a pattern to a sequence length: the one "shrink to n" rule every page and the CLI use.

A paper's defaults are tuned for long sequences: a 4,096-token window on a 63-token text keeps
every pair. Scaling keeps the pattern's shape and shrinks its lengths: every parameter whose unit
is "tokens" (see `params.UNITS`) is halved together, never below its minimum (nor below 1, so no
part of the pattern vanishes), until the pattern keeps at most `target_share` of the pairs a model
could attend. Counts of blocks, random keys, buckets and seeds stay as they are. The share is an
exact count from `analysis.row_degree` (data-dependent patterns on the engine's synthetic vectors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .analysis import row_degree
from .params import PatternError
from .registry import get, make

# Halving 30 times takes any value up to 2^30 to 1; the loop ends sooner when nothing can shrink.
_MAX_HALVINGS = 30


@dataclass(frozen=True)
class ScaledParams:
    """A pattern's parameters scaled to n: the values, the share they keep there and the factor applied."""

    params: dict
    density: float
    factor: float


def allowed_pairs(n: int, causal: bool) -> int:
    """Pairs a model could attend at n: the causal triangle for a causal model, else n²."""
    return n * (n + 1) // 2 if causal else n * n


def density(name: str, params: Mapping[str, Any], n: int, causal: bool) -> float:
    """Share of the pairs a model could attend (causal triangle or n²) that the pattern keeps, counted exactly."""
    kept = int(row_degree(make(name, causal, **params).expr(), n).sum())
    return kept / allowed_pairs(n, causal)


def scale_to_n(name: str, params: Mapping[str, Any], n: int, causal: bool, target_share: float = 0.5) -> ScaledParams:
    """The pattern's parameters with every "tokens" parameter halved together until it keeps at most
    target_share of the pairs a model could attend at n.

    `params` may be partial (defaults fill the rest) and is validated first, so a bad value is a
    PatternError. `causal` is the model's: a pattern that is always causal is still built causal and
    measured against n² when the model is not. A shrink that the pattern's validation refuses (a
    cross-parameter rule) or that would keep no pair at all keeps the last valid values, so the
    result may stay above target_share; `density` says where it ended. `factor` is 2^-halvings.
    """
    if not 0 < target_share <= 1:
        raise PatternError(f"target_share must be in (0, 1], got {target_share!r}")
    definition = get(name)
    current = definition.validate(dict(params))
    share = density(name, current, n, causal)
    factor = 1.0
    lengths = [p for p in definition.params if p.unit == "tokens"]
    for _ in range(_MAX_HALVINGS):
        if share <= target_share:
            break
        trial = dict(current)
        for p in lengths:
            floor = max(1, p.minimum)
            if current[p.name] > floor:
                trial[p.name] = max(floor, current[p.name] // 2)
        if trial == current:
            break  # every length is at its floor
        try:
            definition.validate(trial)
        except PatternError:
            break
        trial_share = density(name, trial, n, causal)
        if trial_share <= 0:
            break  # an empty pattern shows nothing; keep the smallest one that keeps a pair
        current, share, factor = trial, trial_share, factor / 2
    return ScaledParams(current, share, factor)
