"""Fit a pattern's parameter to a density budget, exactly, with the engine's own counts.

Density is relative to what the model could attend: the causal triangle n(n+1)/2 for causal
models, n² otherwise. For each fittable pattern one integer parameter is solved (the others stay
at their paper defaults unless given); the density is an exact count from `row_degree`. Where the
density is monotone in the parameter, bisection finds the first value at or above the budget and
the closer of it and its lower neighbour wins; a short hill-climb then makes sure that neither
neighbour is closer (some composites, e.g. BigBird's random blocks, are monotone only on average).
The Sparse Transformer patterns are valley-shaped in their stride (window grows, columns shrink):
there the search runs on the branch right of the minimum (l ≥ the best stride, as the paper's
l ≈ √n), and a budget below the minimum gets the minimum.

The table below could move into PatternDef as a `fit` field (parameter, fixed values, shape).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .analysis import DATA_DEPENDENT_MAX_N, Vectors, row_degree
from .params import PatternError
from .registry import get, make


@dataclass(frozen=True)
class FitRule:
    """How one pattern is fitted: which parameter is solved, what is held fixed, the shape of density(param)."""

    param: str
    fixed: dict[str, Any] = field(default_factory=dict)
    shape: str = "increasing"  # increasing | valley (decreasing, then increasing)
    upper: str = "n"  # the search's upper end: "n" or "spec" (the ParamSpec maximum, when smaller)
    # exact kept pairs without scoring any vectors, where the pattern's count does not depend on them
    count: Callable[[int, bool, dict], int | None] | None = None


def _topk_pairs(n: int, causal: bool, p: dict) -> int:
    """Top-k keeps exactly min(k, keys allowed) per row, whatever the scores."""
    k = p["k"]
    if not causal:
        return n * min(k, n)
    rows = np.arange(1, n + 1)
    return int(np.minimum(rows, k).sum())


def _gating_pairs(n: int, causal: bool, p: dict) -> int | None:
    """Causal block gating: the own block up to the query plus min(top_blocks − 1, past blocks) full blocks."""
    if not causal:
        return None  # which partial last block is chosen depends on the scores
    b, others = p["block"], p["top_blocks"] - 1
    i = np.arange(n)
    own = i // b
    return int((i - own * b + 1 + b * np.minimum(others, own)).sum())


FIT_RULES: dict[str, FitRule] = {
    "window": FitRule("window"),
    "dilated": FitRule("window"),
    "global": FitRule("global_tokens"),
    "block": FitRule("block", {"neighbors": 0}),
    "random": FitRule("random_keys", upper="spec"),
    "longformer": FitRule("window"),
    "bigbird": FitRule("block"),
    "streaming": FitRule("window"),
    "mistral": FitRule("window"),
    "a_shape": FitRule("window"),
    "strided": FitRule("stride", shape="valley"),
    "fixed": FitRule("stride", shape="valley"),
    "topk": FitRule("k", count=_topk_pairs),
    "block_gating": FitRule("block", count=_gating_pairs),
}


def fittable() -> list[str]:
    """Names of the patterns whose parameters `fit` can solve."""
    return list(FIT_RULES)


MET_TOLERANCE = 0.2  # a budget counts as met when the achieved density is within 20% of it (relative)


@dataclass(frozen=True)
class Fit:
    """A fitted pattern: its full parameters, the density it achieves and the density asked for."""

    name: str
    params: dict[str, Any]
    achieved_density: float
    target: float
    solved: str  # the parameter that was solved
    kept_pairs: int
    allowed_pairs: int
    lowest: float = 0.0  # the lowest density any value of the solved parameter gives at this n
    highest: float = 1.0  # the highest
    n: int = 0  # the token count the fit is for

    @property
    def error(self) -> float:
        return self.achieved_density - self.target

    @property
    def met(self) -> bool:
        """Whether the budget is met: the achieved density within MET_TOLERANCE of it (relative).

        False when the budget lies outside what the pattern can reach at this n (strided cannot go
        below 8.69% at 1,024 tokens) or when its parameter's steps are too coarse to land near it."""
        return abs(self.error) <= MET_TOLERANCE * self.target

    @property
    def note(self) -> str:
        """Why a budget is not met, in one line ("" when it is)."""
        if self.met:
            return ""
        if self.target < self.lowest:
            return f"{self.name} cannot go below {self.lowest:.2%} at {self.n:,} tokens"
        if self.target > self.highest:
            return f"{self.name} cannot go above {self.highest:.2%} at {self.n:,} tokens"
        return f"{self.name}'s nearest density at {self.n:,} tokens is {self.achieved_density:.2%}"


def allowed_pairs(n: int, causal: bool) -> int:
    """Pairs the model could attend: the causal triangle, or all n² pairs."""
    return n * (n + 1) // 2 if causal else n * n


class _Density:
    """density(param value) for one pattern, memoised (every evaluation is an exact count)."""

    def __init__(self, name: str, n: int, causal: bool, base: dict, rule: FitRule, vectors: Vectors | None):
        self.name, self.n, self.causal, self.base, self.vectors = name, n, causal, base, vectors
        self.param, self.count = rule.param, rule.count
        self.allowed = allowed_pairs(n, causal)
        self.memo: dict[int, tuple[float, int]] = {}

    def params(self, value: int) -> dict:
        return {**self.base, self.param: int(value)}

    def __call__(self, value: int) -> float:
        value = int(value)
        if value not in self.memo:
            params = make(self.name, self.causal, **self.params(value)).params
            kept = self.count(self.n, self.causal, params) if self.count else None
            if kept is None:
                spec = make(self.name, self.causal, **params)
                kept = int(row_degree(spec.expr(), self.n, self.vectors).sum())
            self.memo[value] = (kept / self.allowed, kept)
        return self.memo[value][0]


def _counted(name: str, n: int, causal: bool, base: dict, rule: FitRule) -> bool:
    """Whether the pattern's kept pairs are counted without vectors at this n (top-k keeps min(k, visible)
    keys a row, causal block gating a fixed number of blocks a row): then any n is fitted analytically."""
    if rule.count is None:
        return False
    try:
        return rule.count(n, causal, make(name, causal, **base).params) is not None
    except PatternError:
        return False


def _valid(d: _Density, value: int) -> bool:
    try:
        get(d.name).validate(d.params(value))
    except PatternError:
        return False
    return True


def _bounds(d: _Density, rule: FitRule) -> tuple[int, int]:
    spec = get(d.name).param(rule.param)
    lo, hi = int(spec.minimum), int(spec.maximum)
    if rule.upper == "n" or hi > d.n:
        hi = min(hi, max(lo, d.n))  # past n nothing changes any more
    while lo < hi and not _valid(d, lo):  # e.g. fixed's stride must be at least its summary
        lo += 1
    if not _valid(d, lo):
        raise PatternError(f"{d.name}: no valid value of {rule.param} with these fixed parameters")
    return lo, hi


def _argmin(d: _Density, lo: int, hi: int) -> int:
    """Smallest-density value of a valley-shaped curve: a scan of candidates near the analytic optimum."""
    guess = int(round(np.sqrt(d.n)))
    candidates = set(range(max(lo, guess // 4), min(hi, 4 * guess + 1) + 1)) | {lo, hi}
    return min(sorted(candidates), key=lambda v: (d(v), v))


def _bisect(d: _Density, lo: int, hi: int, target: float) -> int:
    """First value in [lo, hi] whose density reaches the target (hi if none), assuming it increases."""
    if d(lo) >= target:
        return lo
    if d(hi) < target:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if d(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _closer(d: _Density, a: int, b: int, target: float) -> int:
    """The value whose density is closer to the target; a tie goes to the cheaper one."""
    ka = (abs(d(a) - target), d(a), a)
    kb = (abs(d(b) - target), d(b), b)
    return a if ka <= kb else b


def fit(
    name: str,
    n: int,
    target_density: float,
    causal: bool,
    vectors: Vectors | None = None,
    fixed: dict[str, Any] | None = None,
) -> Fit:
    """Solve the pattern's parameter so that its exact density is as close as possible to the budget."""
    if name not in FIT_RULES:
        get(name)  # an unknown name gets the registry's message
        raise PatternError(
            f"pattern '{name}' has no fittable parameter; fittable: {', '.join(FIT_RULES)}",
            "not_fittable",
            name=name,
            known=", ".join(FIT_RULES),
        )
    try:
        target = float(target_density)
    except (TypeError, ValueError):
        raise PatternError(f"the budget must be a number, got {target_density!r}") from None
    if not (0 < target <= 1):
        raise PatternError(
            f"the budget must be a share between 0 and 1, got {target_density!r}", "bad_budget", value=target_density
        )
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise PatternError(f"n must be a positive whole number, got {n!r}")
    definition = get(name)
    rule = FIT_RULES[name]
    causal = bool(causal) or definition.causal == "always"
    base = {**definition.defaults(), **rule.fixed, **(fixed or {})}
    if definition.data_dependent and n > DATA_DEPENDENT_MAX_N and not _counted(name, int(n), causal, base, rule):
        # the density needs the scores of every pair: (n, n) of them per head
        raise PatternError(
            f"{name}'s density here depends on the scores, so it is fitted only up to n = {DATA_DEPENDENT_MAX_N:,} "
            f"(got {int(n):,}): lower n",
            "fit_data_dependent_n",
            name=name,
            limit=f"{DATA_DEPENDENT_MAX_N:,}",
            n=f"{int(n):,}",
        )
    d = _Density(name, int(n), causal, base, rule, vectors)
    lo, hi = _bounds(d, rule)
    if rule.shape == "valley":
        lo = _argmin(d, lo, hi)
    best = _bisect(d, lo, hi, target)
    if best > lo:
        best = _closer(d, best - 1, best, target)
    # hill-climb: composites can wobble by a pair or two around monotone, so check the neighbours
    lo_all, hi_all = _bounds(d, rule)
    while True:
        around = [v for v in (best - 1, best + 1) if lo_all <= v <= hi_all and _valid(d, v)]
        better = [v for v in around if abs(d(v) - target) < abs(d(best) - target)]
        if not better:
            break
        best = min(better, key=lambda v: abs(d(v) - target))
    density = d(best)
    # the reachable range, for saying when a budget cannot be met: the valley's floor is its minimum,
    # an increasing curve's is its lower end; both top out at the upper end (monotone on average)
    lowest = d(lo) if rule.shape == "valley" else min(d(lo_all), density)
    highest = max(d(hi_all), density)
    return Fit(name, d.params(best), density, target, rule.param, d.memo[best][1], d.allowed, lowest, highest, int(n))
