"""The Lab's price: the CPU seconds a request will take, predicted from measured costs before any work, and its refusal.

A Lab request runs one dense pass that measures every requested mask, then one sparse pass per
(pattern, budget) row. Both were timed on this 2-core machine (`MEASURED`, CPU seconds of the
process with one torch thread, so other processes on the cores do not inflate them), per model
and token count; a request's price interpolates between the measured token counts:

    price = dense(T) + structured rows × dense_job(T) + data-dependent rows × dense_job_dd(T)
            + Σ over rows of row(T) (row_dd(T) for data-dependent patterns)

Rows already in the cache cost nothing. `check_lab` refuses a request over the budget with a
`PatternError` (code `lab_over_budget`) naming what to lower: the largest token count or the
number of rows that would fit. The budget defaults to `LabBudget.cpu_seconds` and a deployment
sets it with SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS; a deployment's token cap (`token_cap`)
applies too (code `lab_token_cap`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .params import PatternError

LAB_BUDGET_ENV = "SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS"
TOKEN_LADDER = (64, 128, 256, 512, 1024, 2048, 4096, 8192)  # what the page offers; suggestions come from it
DATA_DEPENDENT = ("topk", "block_gating")  # fittable patterns that score every pair per head

# CPU seconds, one torch thread, from `python -m benchmarks.lab --costs`. dense: the dense pass with one
# structured mask; dense_job / dense_job_dd: what each further structured / data-dependent mask adds to
# it; row: one structured row's sparse pass (window; at 2,048 also bigbird, the larger kept); row_dd: one
# data-dependent row (topk; at 2,048 also block_gating, the larger kept). Measured 2026-12-06 at load
# averages 7-14 (other sessions on the cores): CPU seconds, which that load inflates far less than wall.
MEASURED: dict[str, dict[int, dict[str, float]]] = {
    "minilm": {
        128: {"dense": 0.06, "dense_job": 0.004, "dense_job_dd": 0.02, "row": 0.05, "row_dd": 0.09},
        512: {"dense": 0.37, "dense_job": 0.026, "dense_job_dd": 0.32, "row": 0.22, "row_dd": 0.97},
    },
    "smollm2": {
        256: {"dense": 1.11, "dense_job": 0.004, "dense_job_dd": 0.30, "row": 1.38, "row_dd": 2.16},
        1024: {"dense": 6.33, "dense_job": 0.47, "dense_job_dd": 4.96, "row": 4.60, "row_dd": 15.2},
        # bigbird's row 12.88 s here; issue 20 measured "12.9 CPU-s per further row" at 2,048 tokens on its own
        # run. dense_job_dd: topk's 4.96 s at 1,024 scaled by T² (block_gating's measured 10.6 s is lower)
        2048: {"dense": 26.28, "dense_job": 2.73, "dense_job_dd": 19.8, "row": 12.88, "row_dd": 65.02},
        # one window@0.1 run_lab at 8,192 (2026-12-06, load 4-9): 402.7 CPU-s in all, of which the sparse prefill
        # 44.0 (`row`) and the plain dense prefill 54.7; `dense` is the rest / (1 + PLAIN_DENSE_SHARE), so one
        # structured row is priced at what it took (T²-scaling 2,048 priced it 795). Not measured at 8,192 (too
        # heavy here), so 2,048's scaled by T²: dense_job, dense_job_dd and row_dd (the scaling that priced them
        # before this entry)
        # not measured: the structured items between 2,048 and 8,192 (linear), the others 2,048's scaled by T²
        # (as before, so a data-dependent price at 4,096 is what it was)
        4096: {"dense": 102.92, "dense_job": 10.92, "dense_job_dd": 79.2, "row": 23.25, "row_dd": 260.08},
        8192: {"dense": 256.2, "dense_job": 43.68, "dense_job_dd": 316.8, "row": 44.0, "row_dd": 1040.32},
    },
}
# Each run also times one plain dense prefill (fused SDPA) to set each row's cost beside: 7.9 s against the
# measuring dense pass's 21.5 s for SmolLM2 at 2,048 tokens here (one thread), so about this share of it.
PLAIN_DENSE_SHARE = 0.4
# A local model folder is priced as SmolLM2 scaled by its layers × heads (30 × 9), the cost of a pass
# being mostly per-head attention at these lengths.
REFERENCE_MODEL, REFERENCE_HEADS = "smollm2", 30 * 9


@dataclass(frozen=True)
class LabBudget:
    """The most CPU seconds one Lab request may take; SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS overrides it."""

    # issue 13's target for the page's largest default run (1,024 tokens × 4 patterns × 3 budgets on
    # SmolLM2) is 3 minutes; a class server sets this lower
    cpu_seconds: float = 180.0

    @classmethod
    def from_env(cls, environ=None) -> LabBudget:
        """The default, or the value of SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS when it is set."""
        raw = (os.environ if environ is None else environ).get(LAB_BUDGET_ENV, "").strip()
        if not raw:
            return cls()
        try:
            value = float(raw.replace("_", ""))
        except ValueError:
            value = math.nan
        if not value > 0:  # also catches nan
            raise PatternError(
                f"{LAB_BUDGET_ENV} must be a positive number of seconds, got {raw[:40]!r}",
                "budget_env",
                name=LAB_BUDGET_ENV,
                value=raw[:40],
            )
        return cls(value)


@dataclass(frozen=True)
class LabPrice:
    """A Lab request's predicted CPU seconds, split into the dense pass and the rows, with the budget."""

    model: str
    tokens: int
    rows: int  # rows that will be computed (cached ones excluded)
    dense_seconds: float
    row_seconds: float  # all rows together
    budget_seconds: float
    heads: int | None = None  # layers × heads of a local model priced by scaling (None: measured)
    kind: str = "lab"  # "lab" (text × patterns × budgets) or "memory" (a retrieval grid, `price_memory`)
    trials: int | None = None  # memory: trials per cell (what a refusal suggests lowering first)

    @property
    def cpu_seconds(self) -> float:
        """The whole request."""
        return self.dense_seconds + self.row_seconds

    @property
    def over_budget(self) -> bool:
        """Whether the request exceeds the budget."""
        return self.cpu_seconds > self.budget_seconds


def _cost(model: str, item: str, tokens: int, heads: int | None) -> float:
    """One measured cost at `tokens`, interpolated linearly between measured token counts.

    Below the smallest measurement it scales with T, above the largest with T² (attention's share
    grows with length)."""
    scale = 1.0
    if model not in MEASURED:
        scale = (heads or REFERENCE_HEADS) / REFERENCE_HEADS
        model = REFERENCE_MODEL
    table = MEASURED[model]
    points = sorted(table)
    xs = np.array(points, dtype=float)
    ys = np.array([table[t][item] for t in points])
    if tokens < xs[0]:
        value = ys[0] * tokens / xs[0]
    elif tokens > xs[-1]:
        value = ys[-1] * (tokens / xs[-1]) ** 2
    else:
        value = float(np.interp(tokens, xs, ys))
    return scale * value


def price_rows(
    model: str,
    tokens: int,
    structured: int,
    data_dependent: int,
    *,
    heads: int | None = None,
    budget: LabBudget | None = None,
) -> LabPrice:
    """The predicted CPU seconds of computing these rows (structured and data-dependent) at `tokens`.

    No row to compute costs nothing: the dense pass only runs for rows that are not cached."""
    budget = budget or LabBudget.from_env()
    rows = structured + data_dependent
    dense = 0.0
    if rows:
        dense = (
            (1 + PLAIN_DENSE_SHARE) * _cost(model, "dense", tokens, heads)
            + max(0, structured - 1) * _cost(model, "dense_job", tokens, heads)
            + data_dependent * _cost(model, "dense_job_dd", tokens, heads)
        )
    passes = structured * _cost(model, "row", tokens, heads) + data_dependent * _cost(model, "row_dd", tokens, heads)
    return LabPrice(model, int(tokens), rows, dense, passes, budget.cpu_seconds, heads)


def price_lab(
    model: str,
    tokens: int,
    patterns: Sequence[str],
    budgets: Sequence[float],
    *,
    heads: int | None = None,
    budget: LabBudget | None = None,
) -> LabPrice:
    """The predicted CPU seconds of a Lab request of patterns × budgets at `tokens`, none of it cached."""
    structured = sum(len(budgets) for p in patterns if p not in DATA_DEPENDENT)
    data_dependent = sum(len(budgets) for p in patterns if p in DATA_DEPENDENT)
    return price_rows(model, tokens, structured, data_dependent, heads=heads, budget=budget)


def check_tokens(tokens: int, token_cap: int | None) -> None:
    """Refuse a token count over the deployment's cap (None: no cap)."""
    if token_cap is not None and tokens > token_cap:
        raise PatternError(
            f"this server runs the Lab on at most {token_cap:,} tokens; choose {token_cap:,} or fewer",
            "lab_token_cap",
            tokens=int(tokens),
            cap=int(token_cap),
        )


def refuse_over_budget(price: LabPrice, budget: LabBudget | None = None) -> None:
    """Raise PatternError `lab_over_budget` when the price exceeds the budget, naming what would fit.

    Suggestions: the largest token count of `TOKEN_LADDER` below the request at which the same rows
    fit, and the number of rows (at this request's average cost per row) that fit at these tokens."""
    budget = budget or LabBudget(price.budget_seconds)
    if price.cpu_seconds <= budget.cpu_seconds:
        return
    if price.kind == "memory":
        _refuse_memory(price, budget)
    share_dd = 0.0
    if price.rows:  # recover the mix of row kinds from the price (rows of each kind cost differently)
        st = _cost(price.model, "row", price.tokens, price.heads)
        dd = _cost(price.model, "row_dd", price.tokens, price.heads)
        share_dd = 0.0 if dd == st else min(1.0, max(0.0, (price.row_seconds / price.rows - st) / (dd - st)))
    data_dependent = round(price.rows * share_dd)
    structured = price.rows - data_dependent
    fits = []
    for t in TOKEN_LADDER:
        smaller = price_rows(price.model, t, structured, data_dependent, heads=price.heads, budget=budget)
        if t < price.tokens and smaller.cpu_seconds <= budget.cpu_seconds:
            fits.append(t)
    fit_tokens = max(fits, default=0)
    base = _cost(price.model, "dense", price.tokens, price.heads)
    per_row = (price.cpu_seconds - base) / max(1, price.rows)  # a row's own pass plus its mask in the dense pass
    fit_rows = max(0, min(price.rows - 1, int((budget.cpu_seconds - base) // per_row))) if per_row > 0 else 0
    lower = []
    if fit_tokens:
        lower.append(f"at most {fit_tokens:,} tokens")
    if fit_rows:
        lower.append(f"at most {fit_rows} pattern × budget pairs")
    advice = " or ".join(lower) or "fewer tokens, patterns and budgets"
    raise PatternError(
        f"this Lab run would take about {price.cpu_seconds:,.0f} CPU seconds, over this server's "
        f"{budget.cpu_seconds:,.0f}: choose {advice}",
        "lab_over_budget",
        seconds=round(price.cpu_seconds),
        budget=round(budget.cpu_seconds),
        tokens=price.tokens,
        rows=price.rows,
        fit_tokens=fit_tokens,
        fit_rows=fit_rows,
    )


# ---------------------------------------------------------------------------------------------
# The retrieval grid (memory_eval.run_memory). Its work is prompts read by the model and a few
# answer tokens decoded per prompt, so it is priced from what it will compute rather than from
# measured rows: per (arm, length) the tokens prefilled (the prefix reuse of `run_memory` taken
# into account), the attention pairs those tokens read, and the decode steps. Coefficients are
# CPU seconds of SmolLM2 with one torch thread, fitted to `python -m benchmarks.retrieval --calibrate`
# runs on this 2-core machine (see docs/PERFORMANCE.md, "Retrieval grid").
MEMORY_NEW_TOKENS = {"passkey": 7, "multikey": 11}  # = memory_eval.NEW_TOKENS (kept torch-free here)
MEMORY_COSTS: dict[str, float] = {
    # 8,192-token prefills here (benchmarks.retrieval --prefill, load ~20): dense 64.9 s = tokens × token +
    # n²/2 × pair_dense; streaming at 10% 35.3 s = tokens × token + 10% of the pairs × pair_structured
    "token": 3.5e-3,  # a prefilled token's linear layers, norms and rotary (all 30 layers)
    "pair_dense": 1.1e-6,  # one causal (query, key) pair of fused SDPA, all 270 heads
    "pair_structured": 2.2e-6,  # one kept pair under a structured pattern (block gather, edges included)
    "pair_scored": 4.0e-6,  # one pair a data-dependent pattern scores, selects and reads through a mask
    # top-k in the grid scores each pair once and reads its choice from those scores (memory_exec.GridPass):
    # 1.29 vs 2.83 CPU s per SmolLM2 layer at 4,096 tokens, so 0.46 x (pair_scored + pair_structured x 10%).
    # It had under-priced the arm by a third (241 priced, 361.7 ran); since top-k selects by np.partition
    # (learned.top_per_row) the default grid's top-k arm ran 248.5 (bf16) and 310.8 CPU s (fp32) against
    # 241 and 309 priced (b75a93d, load 3-10), so the coefficient stands.
    "pair_topk": 1.8e-6,
    # a prefilled token with the decoder's linear layers in bfloat16 (linear_dtype="bfloat16"): the 1,024-token
    # dense arm took 14.7 vs 23.4 CPU s (5 depths x 2 trials, same load ~30), 8.7 s less over 6,042 tokens
    "token_bfloat16": 1.9e-3,
    "step": 0.06,  # one decode step (a forward of one token; Python and cache overhead dominate)
    "mask_cell": 2.0e-9,  # one cell of the (N, N) structured mask built per (arm, length)
    "arm_setup": 0.3,  # prompts built and tokenised, the pattern fitted, its expression built
}


def _memory_schedule(length: int, depths: Sequence[float], trials: int, reuse: bool) -> tuple[float, float]:
    """Tokens prefilled and causal pairs they read for one (arm, length), in run_memory's order.

    Prompts run deepest needle first; a prompt shares with the one before it everything up to its
    own needle (about depth × length tokens), so it prefills only the rest. Without reuse every
    prompt prefills in full."""
    n = float(length)
    tokens = pairs = 0.0
    first = True
    for d in sorted((float(x) for x in depths), reverse=True):
        for _ in range(trials):
            start = 0.0 if (first or not reuse) else d * n
            tokens += n - start
            pairs += (n * n - start * start) / 2
            first = False
    return tokens, pairs


def price_memory(
    model_key: str,
    task: str,
    lengths: Sequence[int],
    depths: Sequence[float],
    trials: int,
    patterns: Sequence[str],
    budgets: Sequence[float],
    *,
    include_dense: bool = True,
    heads: int | None = None,
    budget: LabBudget | None = None,
    data_dependent_reuse: bool = True,
    linear_dtype: str = "float32",
) -> LabPrice:
    """The predicted CPU seconds of `run_memory` with these arguments, before any work (torch-free).

    `dense_seconds` is the dense arm, `row_seconds` every (pattern, budget) arm; `rows` the grid's
    rows (arms × lengths × depths), `tokens` the longest length. A model other than the measured
    SmolLM2 is scaled by its layers × heads (`heads`), as `price_rows` does. `linear_dtype="bfloat16"`
    prices the grid's bfloat16 linear layers."""
    budget = budget or LabBudget.from_env()
    scale = 1.0 if model_key == REFERENCE_MODEL else (heads or REFERENCE_HEADS) / REFERENCE_HEADS
    c = MEMORY_COSTS
    steps_per_prompt = MEMORY_NEW_TOKENS.get(task, 7) - 1  # the first answer token comes from the prefill
    prompts = len(depths) * int(trials)

    token = c["token_bfloat16"] if linear_dtype == "bfloat16" else c["token"]

    def arm(kind: str, density: float) -> float:
        total = 0.0
        for n in lengths:
            reuse = kind not in ("data_dependent", "topk") or data_dependent_reuse
            tokens, pairs = _memory_schedule(int(n), depths, int(trials), reuse)
            total += token * tokens + c["step"] * prompts * steps_per_prompt
            if kind == "dense":
                total += c["pair_dense"] * pairs
            elif kind == "structured":
                total += c["pair_structured"] * pairs * density + c["mask_cell"] * float(n) ** 2 + c["arm_setup"]
            elif kind == "topk":  # scores every causal pair once, reads its choice from those scores
                total += c["pair_topk"] * pairs + c["arm_setup"]
            else:  # scores every causal pair, then reads the kept ones
                total += (c["pair_scored"] + c["pair_structured"] * density) * pairs + c["arm_setup"]
        return scale * total

    dense = arm("dense", 1.0) if include_dense else 0.0
    rows = 0.0
    for p in patterns:
        for b in budgets:
            kind = "topk" if p == "topk" else "data_dependent" if p in DATA_DEPENDENT else "structured"
            rows += arm(kind, float(b))
    arms = int(include_dense) + len(patterns) * len(budgets)
    return LabPrice(
        model_key,
        int(max(lengths, default=0)),
        arms * len(lengths) * len(depths),
        dense,
        rows,
        budget.cpu_seconds,
        heads,
        kind="memory",
        trials=int(trials),
    )


def _refuse_memory(price: LabPrice, budget: LabBudget) -> None:
    """The refusal of a retrieval grid: its cost is about linear in trials and cells, so name what fits."""
    share = budget.cpu_seconds / price.cpu_seconds
    trials = price.trials or 1
    fit_trials = int(trials * share)
    advice = f"at most {fit_trials} trial{'s' if fit_trials != 1 else ''} per cell" if fit_trials >= 1 else ""
    fewer = "fewer or shorter lengths, fewer depths or patterns"
    raise PatternError(
        f"this retrieval grid would take about {price.cpu_seconds:,.0f} CPU seconds, over this server's "
        f"{budget.cpu_seconds:,.0f}: choose {advice + ' or ' if advice else ''}{fewer}",
        "lab_over_budget",
        seconds=round(price.cpu_seconds),
        budget=round(budget.cpu_seconds),
        tokens=price.tokens,
        rows=price.rows,
        fit_tokens=0,
        fit_rows=0,
        fit_trials=fit_trials,
    )
