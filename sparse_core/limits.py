"""Per-request budgets: what one request may cost, predicted before any work is done.

Every limit lives in `Budget`, with its default here and nowhere else. A deployment tightens (or
loosens) any of them with an environment variable `SPARSE_EXPLORER_BUDGET_<NAME>`, e.g.
`SPARSE_EXPLORER_BUDGET_SEGMENT_EVALS=50000000`.

`predict_cost` estimates the work of `stats`, `mask_view` and `dense_mask` from the expression
alone: it probes each primitive's segments on a few sample rows (how many segment slots a row
costs), counts the inclusion-exclusion subsets of the union's terms, and prices data-dependent
primitives from their parameters. `check_budget` turns an over-budget prediction into a
`PatternError` that says what to lower.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from itertools import combinations
from typing import Any

import numpy as np

from .params import PatternError

ENV_PREFIX = "SPARSE_EXPLORER_BUDGET_"

# Constants other modules read: keep them equal to the defaults below.
MAX_N = 1 << 20
DENSE_MAX_N = 8192
DATA_DEPENDENT_MAX_N = 4096


# k-means++ seeding picks one centroid at a time (a pass over all 2n points per pick), measured here at
# about ten batched iterations' worth per cluster: 1,024 clusters cost 400 ms at n = 4,096 even with one
# iteration, which a budget on iterations alone let through
KMEANS_SEEDING_WEIGHT = 10


@dataclass(frozen=True)
class Budget:
    """Every per-request limit; override any field with SPARSE_EXPLORER_BUDGET_<FIELD>."""

    max_n: int = MAX_N  # sequence length
    dense_n: int = DENSE_MAX_N  # token-level (n, n) masks: views and downloads
    data_dependent_n: int = DATA_DEPENDENT_MAX_N  # patterns that score every pair
    # rows x segment slots as the engine counts them; measured 30-58 million per CPU second at 2^20
    # (2-core dev machine), so the default keeps stats near the 1 s promise
    segment_evals: int = 60_000_000
    dnf_terms: int = 12  # union terms counted by inclusion-exclusion (2^T - 1 subsets)
    memory_bytes: int = 768 << 20  # the largest intermediate segment tables (predicted)
    scored_pairs: int = 1 << 26  # (query, key) scores of data-dependent patterns
    kmeans_work: int = 1_500_000_000  # 2n points x clusters x (iterations + seeding) x d: ~220 ms here
    lsh_work: int = 2_000_000_000  # n x rounds x (d x buckets/2 + n)
    block_cells: int = DENSE_MAX_N * DENSE_MAX_N  # a drawn or downloaded (n/B)^2 block layout
    dense_bytes: int = 64 << 20  # a downloaded dense mask (one byte per cell)
    csv_n: int = 2048  # a CSV of more cells than this squared is not useful
    # random keys drawn per request (a BigBird random-block pick counts RANDOM_BLOCK_WEIGHT keys): each
    # key costs ~60 ns through row degrees, block layout and view at 2^20 here, so the explorer's whole
    # rerun stays within its 300 ms target (random_keys = 3 at n = 2^20 draws 3.1 million)
    random_draws: int = 3_500_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Budget:
        """Defaults, overridden by SPARSE_EXPLORER_BUDGET_<NAME> variables."""
        env = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or not raw.strip():
                continue
            try:
                value = int(float(raw.replace("_", "")))
            except (ValueError, OverflowError):
                raise PatternError(
                    f"{ENV_PREFIX}{f.name.upper()} must be a whole number, got {clip_text(raw)!r}",
                    "budget_env",
                    name=ENV_PREFIX + f.name.upper(),
                    value=clip_text(raw),
                ) from None
            changes[f.name] = max(1, value)
        return replace(cls(), **changes)


def current() -> Budget:
    """The budget in force now (environment read on every call, so tests and deployments can change it)."""
    return Budget.from_env()


def clip_text(text: Any, limit: int = 40) -> str:
    """User text shortened for an error message: at most `limit` characters, then '…'."""
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class Cost:
    """Predicted work of one request; `lower[metric]` names what to lower for that metric."""

    n: int
    block: int
    dnf_terms: int = 0
    ie_subsets: int = 0
    segment_evals: int = 0
    memory_bytes: int = 0
    scored_pairs: int = 0
    kmeans_work: int = 0
    lsh_work: int = 0
    block_cells: int = 0
    dense_bytes: int = 0
    random_draws: int = 0
    lower: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lower"}
        out["lower"] = {k: list(v) for k, v in self.lower}
        return out


# -- per-primitive probes ------------------------------------------------------------------
PROBE_ROWS = 64
PROBE_WORK = 1 << 21  # rows x slots a probe may touch; past it the static estimate is used
PROBE_SLOTS = 1 << 12  # slots built by a Python loop per column: past this, use the static estimate
BYTES_PER_SLOT = 80  # measured peaks at 2^20: random(8) 0.7x, dilated(256, 256) 1.4x of this estimate

# The parameters that drive a primitive's cost, as the pattern forms call them.
COST_PARAMS = {
    "RandomKeys": ("random_keys",),
    "RandomBlocks": ("random_blocks",),
    "Dilated": ("window", "dilation"),
    "SummaryColumns": ("summary",),
    "StrideColumns": ("stride",),
    "Window": ("window",),
    "Blocks": ("neighbors",),
    "GlobalTokens": ("global_tokens",),
    "Sinks": ("sinks",),
    "TopK": ("k",),
    "LSH": ("buckets", "rounds"),
    "Routing": ("clusters", "iterations"),
    "BlockGating": ("top_blocks",),
    "VerticalSlash": ("vertical", "slash", "last_q"),
}


def _params_of(prim) -> tuple[str, ...]:
    name = type(prim).__name__
    if name in COST_PARAMS:
        return COST_PARAMS[name]
    own = [f.name for f in fields(prim) if f.name not in ("causal", "seed") and isinstance(getattr(prim, f.name), int)]
    return tuple(own[:1])


def _static_slots(prim, n: int, block: int) -> tuple[int, int, int]:
    """(slots per row, slots per block row, extra work per row) as the engine builds them today.

    Used where a probe itself would be expensive; unknown primitives count as one slot.
    """
    name = type(prim).__name__
    g = lambda a, d=0: int(getattr(prim, a, d))  # noqa: E731
    nb = -(-n // block)
    if name == "Dilated":
        w, d = g("window"), max(1, g("dilation", 1))
        reach = min(w, (n - 1) // d)  # shifts beyond the sequence are clipped
        shifts = (reach + 1 if prim.causal else 2 * reach + 1) if d > block else 1
        return 1, shifts, 0
    if name == "StrideColumns":
        s = g("stride", 1)
        aligned = s % block == 0 or block % s == 0
        return 1, 1 if aligned else 2 * ((n - 1) // s) + 1, 0
    if name == "SummaryColumns":
        s, c = g("stride", 1), g("summary", 1)
        return c, (s // block + 2 if s % block == 0 else 2), 0
    if name == "RandomKeys":
        r = g("random_keys", 1)
        return r, min(r * block, nb + 1), 2 * r  # the key table, built for rows and for block rows
    if name == "RandomBlocks":
        r, b = g("random_blocks", 1), max(1, g("block", 1))
        return r, (block // b + 2) * r, 0
    return 1, 1, 0


def _own(prim, name: str):
    """The primitive's own `name` method, or None where only the generic base class defines it."""
    for cls in type(prim).__mro__:
        if name in vars(cls):
            return None if cls.__name__ in ("Primitive", "Expr", "DataDependent") else getattr(prim, name)
    return None


INTERVAL_CLASSES = {"Window", "Blocks", "GlobalTokens", "Sinks", "RandomKeys", "RandomBlocks"}


@dataclass(frozen=True)
class Probe:
    """What one primitive costs per row: segment slots, and whether they are plain intervals."""

    slots: int
    block_slots: int
    extra: int  # other work per row (key tables)
    intervals: bool
    block_intervals: bool
    block_work: int = 0  # the primitive's own estimate of its block-level work, where it gives one


def _slots_of(segs) -> int:
    # A closed-form set (e.g. segments.ColumnSet) counts in O(1) per row: one slot, never materialised.
    return len(segs) if isinstance(segs, (list, tuple)) else 1


def _intervals_of(segs) -> bool:
    """Step-1 (or single-key) segments: the engine counts unions of these by a sweep."""
    if not isinstance(segs, (list, tuple)):
        return False
    return all(s.step == 1 or int(np.max(s.count, initial=0)) <= 1 for s in segs)


def _sample(total: int, k: int) -> np.ndarray:
    return np.unique(np.r_[np.linspace(0, total - 1, max(1, k)).astype(np.int64), total - 1])


def _probe(prim, n: int, block: int) -> Probe:
    """Segment slots per row and per block row, and extra work per row.

    A primitive's own `segment_count(n)` / `block_cost_estimate(n, block)` (or `cost_estimate(n)`,
    rows x segments) is trusted; otherwise slots are measured on sample rows when that is cheap,
    else estimated statically.
    """
    slots, bslots, extra = _static_slots(prim, n, block)
    known = type(prim).__name__ in INTERVAL_CLASSES
    intervals = block_intervals = known
    nb = -(-n // block)
    counted = _own(prim, "segment_count")
    estimate = _own(prim, "cost_estimate")
    block_counted = _own(prim, "block_segment_count")
    block_estimate = _own(prim, "block_cost_estimate")
    if counted is not None:
        slots = int(counted(n))
    elif estimate is not None:
        slots = -(-int(estimate(n)) // max(1, n))
    if slots <= PROBE_SLOTS and slots * (PROBE_ROWS + 1) <= PROBE_WORK:
        rows = _sample(n, PROBE_ROWS if counted is None and estimate is None else 2)
        segs = prim.segments(rows, n)
        intervals = _intervals_of(segs)
        if counted is None and estimate is None:
            slots = _slots_of(segs)
    per_brow = bslots * max(1, min(block, n)) if type(prim).__name__ == "RandomKeys" else bslots
    if block_counted is not None:
        bslots = int(block_counted(n, block))
    block_work = int(block_estimate(n, block)) if block_estimate is not None else 0
    if block_work:
        extra = 0  # the primitive's estimate already includes its key tables
    if bslots <= PROBE_SLOTS and per_brow <= PROBE_WORK:
        k = 2 if block_counted is not None else max(1, min(PROBE_ROWS, PROBE_WORK // max(1, per_brow)))
        segs = prim.block_segments(_sample(nb, k), n, block)
        block_intervals = _intervals_of(segs)
        if block_counted is None:
            bslots = _slots_of(segs)
    return Probe(max(1, slots), max(1, bslots), extra, intervals, block_intervals, block_work)


# A random-block pick is drawn once, then listed in the block layout and in the view (each a
# block row's span of picks): measured ~6 random keys' worth of work per pick at 2^20.
RANDOM_BLOCK_WEIGHT = 6


def random_draws(prims, n: int) -> int:
    """Random keys drawn (and listed) for one request, random-block picks weighted by RANDOM_BLOCK_WEIGHT."""
    total = 0
    for p in prims:
        name = type(p).__name__
        if name == "RandomKeys":
            total += n * int(p.random_keys)
        elif name == "RandomBlocks":
            total += RANDOM_BLOCK_WEIGHT * -(-n // max(1, int(p.block))) * int(p.random_blocks)
    return total


REFINE_SAMPLE = 16
REFINE_FACTOR = 3


def _refine_rows(terms: list[tuple], n: int, block: int, probes: dict[int, Probe]) -> int:
    """Rows the engine re-counts exactly to refine intersection blocks: candidate blocks x block size.

    Candidates are counted on a few sample block rows with the engine's own block segments; where
    that would be costly, every block pair is assumed a candidate.
    """
    from . import analysis, segments

    loose = [t for t in terms if len(t) > 1]
    if not loose:
        return 0
    nb = -(-n // block)
    cap = int(getattr(analysis, "REFINE_MAX_ROWS", 1 << 23))
    prims = {id(p): p for t in loose for p in t}
    if len(loose) > REFINE_SAMPLE or any(probes[k].block_slots > PROBE_SLOTS for k in prims):
        return min(cap, n * nb)
    brows = _sample(nb, REFINE_SAMPLE)
    segs = {k: p.block_segments(brows, n, block) for k, p in prims.items()}
    candidates = segments.count_union([[segs[id(p)] for p in t] for t in loose], len(brows), universe=nb)
    rows = int(float(np.mean(candidates)) * nb * block)
    return rows if rows <= cap else 0  # past the cap the engine keeps the loose layout (no refinement)


def predict_slots(prim, n: int, block: int = 128) -> int:
    """Segment slots per query row of one primitive at n tokens (probed or estimated, never built in full)."""
    return _probe(prim, n, block).slots


def _ie_max_terms() -> int:
    from . import segments

    return int(getattr(segments, "IE_MAX_TERMS", 12))


def _inclusion_exclusion(terms: list[tuple], slots: dict[int, int]) -> tuple[int, int]:
    """(sum over inclusion-exclusion subsets of the product of slots, largest product)."""
    total = peak = 0
    for size in range(1, len(terms) + 1):
        for subset in combinations(terms, size):
            seen: dict[int, int] = {}
            for term in subset:
                for p in term:
                    seen[id(p)] = slots[id(p)]
            prod = 1
            for v in seen.values():
                prod *= v
            total += prod
            peak = max(peak, prod)
    return total, peak


def _union_work(terms: list[tuple], slots: dict[int, int], intervals: bool, universe: int) -> tuple[int, int]:
    """(work per row, largest table per row) of counting a union the way the engine does.

    One term: its intersection. All intervals: a sweep over every term's intervals (sorting
    costs ~3 passes). Few terms: inclusion-exclusion. Many strided terms: a bitmap of the
    universe per row.
    """
    products = []
    for term in terms:
        prod = 1
        for p in {id(p): p for p in term}:
            prod *= slots[p]
        products.append(prod)
    if len(terms) == 1:
        return products[0], products[0]
    if intervals:
        return 3 * sum(products), sum(products)
    if len(terms) <= max(_ie_max_terms(), 1) and len(terms) <= 16:
        return _inclusion_exclusion(terms, slots)
    return universe + sum(products), universe + max(products)


def _data_dependent_work(prim, n: int, d: int = 64) -> dict[str, int]:
    name = type(prim).__name__
    g = lambda a, default=1: int(getattr(prim, a, default))  # noqa: E731
    out = {"scored_pairs": n * n}
    if name == "Routing":
        c = min(g("clusters"), 2 * n)
        out["kmeans_work"] = 2 * n * c * (g("iterations") + 1 + KMEANS_SEEDING_WEIGHT) * d
    elif name == "LSH":
        out["lsh_work"] = n * g("rounds") * (d * max(1, g("buckets") // 2) + n)
    elif name == "BlockGating":
        out["scored_pairs"] = n * (-(-n // max(1, g("block")))) + n * n
    return out


def predict_cost(
    expr, n: int, block: int = 128, *, what: str = "stats", budget: Budget | None = None, vectors_dim: int = 64
) -> Cost:
    """Estimated work of one request, computed from parameters and a few probe rows only.

    what: "stats" (row degrees + block layout), "dense" (an (n, n) mask), "layout" (the block
    layout drawn or downloaded) or "view" (the explorer's mask view).
    """
    n, block = int(n), int(block)
    nb = -(-n // block)
    terms = expr.terms()
    prims = expr.primitives()
    lower: dict[str, list[str]] = {}

    def blame(metric: str, names) -> None:
        bucket = lower.setdefault(metric, [])
        for name in names:
            if name not in bucket:
                bucket.append(name)

    work = {"scored_pairs": 0, "kmeans_work": 0, "lsh_work": 0}
    structured = [p for p in prims if not p.data_dependent]
    for p in prims:
        if p.data_dependent:
            for metric, amount in _data_dependent_work(p, n, vectors_dim).items():
                work[metric] += amount
                blame(metric, _params_of(p))
    n_terms = len(terms)
    cost = dict(n=n, block=block, dnf_terms=n_terms, ie_subsets=(1 << n_terms) - 1 if n_terms < 63 else 1 << 62, **work)
    if expr.data_dependent:
        # the engine scores data-dependent expressions densely: every primitive becomes an (n, n) mask
        cost["memory_bytes"] = n * n * (len(prims) + 2)
        cost["dense_bytes"] = n * n
    limit_terms = (current() if budget is None else budget).dnf_terms
    cost["random_draws"] = random_draws(structured, n)
    for p in structured:
        if type(p).__name__ in ("RandomKeys", "RandomBlocks"):
            blame("random_draws", _params_of(p))
    if structured and not expr.data_dependent:
        probes = {id(p): _probe(p, n, block) for p in structured}
        slots = {k: v.slots for k, v in probes.items()}
        bslots = {k: v.block_slots for k, v in probes.items()}
        intervals = all(v.intervals for v in probes.values())
        block_intervals = all(v.block_intervals for v in probes.values())
        if n_terms > limit_terms and not (intervals and block_intervals):
            blame("dnf_terms", ["layers"])  # counted by inclusion-exclusion or a bitmap: refuse before listing
            return Cost(**cost, lower=tuple((k, tuple(v)) for k, v in lower.items()))
        cost["dnf_terms"] = 0 if intervals and block_intervals else n_terms
        ie, peak = _union_work(terms, slots, intervals, n)
        bie, bpeak = _union_work(terms, bslots, block_intervals, nb)
        extra = sum(v.extra for v in probes.values()) * n + sum(v.block_work for v in probes.values())
        evals = n * ie + 2 * nb * bie + extra
        # intersections are refined by exact counting; measured ~3x the cost of a plain row count
        evals += REFINE_FACTOR * _refine_rows(terms, n, block, probes) * ie
        if what == "view" and n > 2048:
            evals += (1 << 20) * ie
        chunk = min(n, 1 << 16)
        cost["segment_evals"] = evals
        # ~10 int64 temporaries per slot while segments are merged, intersected and summed
        cost["memory_bytes"] = BYTES_PER_SLOT * max(chunk * peak, nb * bpeak, chunk * max(slots.values()))
        worst = max(structured, key=lambda p: slots[id(p)] * n + bslots[id(p)] * nb)
        for metric in ("segment_evals", "memory_bytes"):
            blame(metric, _params_of(worst))
            if n_terms > 1 and ie > 8 * sum(slots.values()):  # the subsets of several terms dominate
                blame(metric, ["layers"])
    elif n_terms > limit_terms:
        blame("dnf_terms", ["layers"])
    if what in ("dense", "view") and (what == "dense" or n <= 2048):
        cost["dense_bytes"] = n * n
    if what in ("layout", "view"):
        cost["block_cells"] = nb * nb
        blame("block_cells", ["n"])
    for metric in ("segment_evals", "memory_bytes", "scored_pairs", "kmeans_work", "lsh_work", "dense_bytes"):
        blame(metric, ["n"])
    if cost["random_draws"]:
        blame("random_draws", ["n"])
    return Cost(**cost, lower=tuple((k, tuple(v)) for k, v in lower.items()))


# -- messages ------------------------------------------------------------------------------
def human_count(x: float) -> str:
    """3.2 billion, 200 million, 4,096: counts people can read at a glance."""
    if x >= 1e15:
        return f"{x:.1e}".replace("e+", " × 10^")
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if x >= size:
            v = x / size
            return f"{v:,.1f} {word}".replace(".0 ", " ") if v < 100 else f"{v:,.0f} {word}"
    return f"{int(x):,}"


_WHAT = {
    "segment_evals": "evaluate ~{amount} row segments",
    "memory_bytes": "hold ~{amount} of segment tables",
    "scored_pairs": "score ~{amount} query-key pairs",
    "kmeans_work": "do ~{amount} k-means operations",
    "lsh_work": "do ~{amount} hashing operations",
    "block_cells": "draw ~{amount} block cells",
    "dense_bytes": "build a dense mask of ~{amount} cells",
}


def human_bytes(x: float) -> str:
    """Bytes in binary units: 512 MiB, 3.1 GiB."""
    for size, unit in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if x >= size:
            return f"{x / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{int(x)} B"


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def over_budget(cost: Cost, budget: Budget) -> PatternError | None:
    """The error for the metric furthest over its limit, or None if the request fits."""
    lower = dict(cost.lower)
    if cost.dnf_terms > budget.dnf_terms:
        return PatternError(
            f"this combination expands to {cost.dnf_terms} union terms (limit {budget.dnf_terms}): "
            "combine fewer layers, or use union instead of intersection",
            "budget_terms",
            terms=cost.dnf_terms,
            limit=budget.dnf_terms,
        )
    worst, ratio = None, 1.0
    for metric in (*_WHAT, "random_draws"):
        limit = getattr(budget, metric)
        amount = getattr(cost, metric)
        if amount > limit and amount / limit > ratio:
            worst, ratio = metric, amount / limit
    if worst is None:
        return None
    if worst == "random_draws":
        return _random_draws_error(cost, budget, list(lower.get(worst, ("n",))))
    amount, limit = getattr(cost, worst), getattr(budget, worst)
    params = list(lower.get(worst, ("n",)))
    fmt = human_bytes if worst == "memory_bytes" else human_count
    what = _WHAT[worst].format(amount=fmt(amount))
    return PatternError(
        f"this request would {what} (limit {fmt(limit)}): lower {_or(params)}",
        "budget_" + worst,
        amount=f"{amount:,}",
        limit=f"{limit:,}",
        params=", ".join(params),
    )


def _random_draws_error(cost: Cost, budget: Budget, params: list[str]) -> PatternError:
    # BigBird's random blocks get their own code: its advice (larger blocks) has no place in random_keys'
    blocks = "random_blocks" in params
    advice = f"lower {_or(params)}" + (", or use larger blocks" if blocks else "")
    return PatternError(
        f"this request would draw ~{cost.random_draws:,} random keys "
        f"(limit {budget.random_draws:,} per request): {advice}",
        "budget_random_block_draws" if blocks else "budget_random_draws",
        amount=f"{cost.random_draws:,}",
        limit=f"{budget.random_draws:,}",
        params=_or(params),
    )


def check_budget(expr, n: int, block: int = 128, budget: Budget | None = None, *, what: str = "stats") -> Cost:
    """Refuse, with a PatternError that says what to lower, a request predicted to exceed the budget."""
    budget = current() if budget is None else budget
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise PatternError(f"n must be a positive whole number, got {clip_text(n)!r}")
    if not isinstance(block, (int, np.integer)) or isinstance(block, bool) or block < 1:
        raise PatternError(f"block size must be a positive whole number, got {clip_text(block)!r}")
    if n > budget.max_n:
        raise PatternError(
            f"n = {n:,} is above this server's limit of {budget.max_n:,}",
            "budget_n",
            n=f"{n:,}",
            limit=f"{budget.max_n:,}",
        )
    if expr.data_dependent and n > budget.data_dependent_n:
        raise PatternError(
            f"data-dependent patterns score every pair, so n is limited to {budget.data_dependent_n:,} (got {n:,})",
            "data_dependent_n",
            limit=f"{budget.data_dependent_n:,}",
            n=f"{n:,}",
        )
    if what == "dense" and n > budget.dense_n:
        raise PatternError(
            f"a dense mask at n = {n:,} has {human_count(n * n)} cells; the limit is n = {budget.dense_n:,}: "
            "use the block layout instead",
            "budget_dense_n",
            n=f"{n:,}",
            limit=f"{budget.dense_n:,}",
        )
    draws = random_draws([p for p in expr.primitives() if not p.data_dependent], n)
    if draws > budget.random_draws:  # refused before any probe (probing a random pattern draws its table)
        names = [
            x for p in expr.primitives() if type(p).__name__ in ("RandomKeys", "RandomBlocks") for x in _params_of(p)
        ]
        raise _random_draws_error(Cost(n, block, random_draws=draws), budget, list(dict.fromkeys(names + ["n"])))
    cost = predict_cost(expr, n, block, what=what, budget=budget)
    problem = over_budget(cost, budget)
    if problem is not None:
        raise problem
    return cost
