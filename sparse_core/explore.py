"""The questions the app's pages ask, each answered by one call: what a configuration keeps and costs
(`explore`), an exact region of it (`explore_tile`), it beside library patterns (`compare`), what can be
downloaded (`export_plan`), and how cost grows with n for a model (`growth`, `context_fits`).

Plain NumPy on top of the engine, no UI: the pages, the CLI and the benchmarks call the same functions,
and every call checks n and the request budget before computing anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import limits, memory, registry
from .analysis import DATA_DEPENDENT_MAX_N, check_n, mask_tile, row_degree
from .cost import DTYPE_BYTES, ModelConfig, Stats, stats
from .export import Config, file_names, file_sizes, format_layers
from .params import PatternError
from .scaling import SCALING_NS, CurvePoint, curve
from .views import TOKEN_VIEW_MAX_N, DegreeProfile, MaskView, degree_profile, mask_view

DENSE_SHARE = 0.9  # above this share of the pairs a model could attend, a pattern is announced as dense
LAYOUT_MAX_BLOCKS = limits.DENSE_MAX_N  # a block layout is a dense (blocks x blocks) table: the dense limit applies
TILE_SIZES = (16, 32, 64, 128, 256, 512)  # zoom regions, in tokens a side


def allowed_pairs(layers: list[registry.PatternSpec], op: str, n: int) -> int:
    """Pairs a model could attend: the causal triangle when the combination is causal, else n²."""
    causal = any(s.causal for s in layers) if op == "intersection" else all(s.causal for s in layers)
    return n * (n + 1) // 2 if causal else n * n


def kv_cache_bytes(tokens: int, d_head: int, dtype: str = "fp16") -> int:
    """Bytes one head's decode cache holds for `tokens` keys: K and V, d_head values each, in `dtype`."""
    if dtype not in DTYPE_BYTES:
        raise PatternError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {limits.clip_text(dtype)!r}")
    return tokens * 2 * d_head * DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class Exploration:
    """Everything the explorer shows for one configuration: exact counts, the degree profile, the mask view."""

    config: Config
    stats: Stats
    profile: DegreeProfile
    view: MaskView
    allowed: int  # pairs a model could attend at this n (the causal triangle or n²)
    kv_dtype: str
    kv_bytes: int  # one head's decode cache, K and V, at n

    @property
    def share(self) -> float:
        """Kept pairs as a share of the allowed ones (a causal pattern is measured against its triangle)."""
        return self.stats.nnz / self.allowed

    @property
    def dense(self) -> bool:
        """Whether the pattern keeps (nearly) every pair it could: then it saves nothing at this n."""
        return self.share > DENSE_SHARE

    @property
    def kv_bounded(self) -> bool:
        """Whether the decode cache stops short of n (a sliding window's does; a global token's does not)."""
        return self.stats.kv_tokens_sparse < self.config.n


def count(expr, n: int, block: int, d_head: int = 64) -> tuple[Stats, DegreeProfile, MaskView]:
    """What the explorer computes for one expression (any nesting): exact stats, the degree profile and the
    bounded mask view, refused up front when over budget. The explorer, the CLI's `stats` and the budget
    search (benchmarks/budget_search.py) all run this call, so the promise is measured on what a user waits for.

    The budget prices the stats. The view is not priced but bounded: at most 512 block rows a side, its refinement
    and its exact shares within 2^22 planned units each (views.DENSITY_MAX_WORK, analysis.REFINE_MAX_WORK), so it
    skips the engine's coarse guard too (random(8) at 2^20: 0.16 s, 86 MB; the budget searches time it with the
    rest)."""
    check_n(n, expr)
    limits.check_budget(expr, n, block)
    degrees = row_degree(expr, n)
    s = stats(expr, n, block, d_head, degrees=degrees, priced=True)
    return s, degree_profile(degrees), mask_view(expr, n, priced=True)


def explore(config: Config, d_head: int = 64, kv_dtype: str = "fp16") -> Exploration:
    """Exact stats, degree profile and bounded mask view of `config`, refused up front when over budget."""
    s, profile, view = count(config.expr(), config.n, config.block, d_head)
    return Exploration(
        config=config,
        stats=s,
        profile=profile,
        view=view,
        allowed=allowed_pairs(config.layers, config.op, config.n),
        kv_dtype=kv_dtype,
        kv_bytes=kv_cache_bytes(s.kv_tokens_sparse, d_head, kv_dtype),
    )


@dataclass(frozen=True)
class Tile:
    """An exact token-level region of a mask: `view.image[r, c]` is query row0 + r, key col0 + c."""

    view: MaskView
    row0: int
    col0: int


def tile_corner(n: int, size: int, corner: int | None) -> int:
    """A region's first row (or column) inside 0 .. n - size: kept when it fits, else the middle of the mask."""
    size = min(size, n)
    if corner is None or not 0 <= corner <= n - size:
        return min(n - size, n // 2)
    return corner


def explore_tile(config: Config, row0: int, col0: int, size: int) -> Tile:
    """The exact mask of a size × size region (clipped to the mask) starting at (row0, col0), for any n."""
    if size not in TILE_SIZES:
        raise PatternError(f"region size must be one of {', '.join(map(str, TILE_SIZES))}, got {size!r}")
    n = config.n
    size = min(size, n)
    row0, col0 = tile_corner(n, size, row0), tile_corner(n, size, col0)
    image = mask_tile(config.expr(), n, row0, row0 + size, col0, col0 + size)
    return Tile(MaskView(image, False, 1, size), row0, col0)


@dataclass(frozen=True)
class Compared:
    """One column of a comparison: its pattern text, and its exploration or the reason it was refused."""

    name: str  # a library pattern's name, or "" for the user's own configuration
    layers: str  # the configuration in the URL's form
    complexity: str  # the patterns' complexities, " / "-joined
    result: Exploration | None
    error: PatternError | None = None


def compare(config: Config, names: list[str], d_head: int = 64, own: Exploration | None = None) -> list[Compared]:
    """The user's configuration first, then each named library pattern at its paper defaults, at the same n,
    block size and causality; a refused one carries its error instead of stopping the others.

    `own`, the exploration of `config` already at hand (the mask tab's), is reused rather than recomputed."""
    columns = [("", config)]
    columns += [(name, Config([registry.make(name, config.causal)], config.n, "union", config.block, config.causal))
                for name in names]  # fmt: skip
    out = []
    for name, cfg in columns:
        complexity = " / ".join(dict.fromkeys(registry.get(s.name).complexity for s in cfg.layers))
        try:
            reuse = own is not None and not name and own.stats.d_head == d_head
            result, error = (own if reuse else explore(cfg, d_head)), None
        except PatternError as e:
            result, error = None, e
        out.append(Compared(name, format_layers(cfg.layers), complexity, result, error))
    return out


@dataclass(frozen=True)
class ExportPlan:
    """The downloads offered for a configuration: names, sizes known before building, one verdict per file.

    `refused[name]` is None when the file is offered, else the engine's reason. `too_large` says that
    token-level masks are past the dense limit at this n (the block layout is offered instead, unless
    `refused["block_layout.npy"]` says why not); `csv_limit` that only CSV is left out.
    """

    names: list[str]
    sizes: dict[str, int]
    refused: dict[str, PatternError | None]
    too_large: bool
    csv_limit: bool
    dense_n: int
    csv_n: int


def smallest_layout_block(n: int) -> int:
    """The smallest power-of-two block size whose layout fits LAYOUT_MAX_BLOCKS blocks a side at n."""
    block = 1
    while -(-n // block) > LAYOUT_MAX_BLOCKS:
        block *= 2
    return block


def _refusal(config: Config, name: str) -> PatternError | None:
    """The budget's verdict on building `name`, predicted before any button is offered."""
    if name == "pattern.json":
        return None
    nb = -(-config.n // config.block)
    if name == "block_layout.npy" and nb > LAYOUT_MAX_BLOCKS:
        b = smallest_layout_block(config.n)
        limit = f"{LAYOUT_MAX_BLOCKS:,}"
        return PatternError(
            f"The block layout would be {nb:,} × {nb:,} blocks (limit {limit}); choose a block size of {b} or more.",
            "layout_blocks",
            nb=f"{nb:,}",
            limit=limit,
            b=b,
        )
    budget = limits.current()
    dense = name.startswith("mask") or (name == "flex_mask.py" and config.n <= budget.dense_n)
    try:
        limits.check_budget(config.expr(), config.n, config.block, what="dense" if dense else "layout")
    except PatternError as e:
        return e
    return None


def export_plan(config: Config) -> ExportPlan:
    """What the export tab offers: every file's size and verdict, decided before any message is written,
    so that the messages agree with the buttons."""
    budget = limits.current()
    names = file_names(config)
    return ExportPlan(
        names=names,
        sizes=file_sizes(config),
        refused={name: _refusal(config, name) for name in names},
        too_large=config.n > budget.dense_n,
        csv_limit=config.n <= budget.dense_n and "mask.csv" not in names,
        dense_n=budget.dense_n,
        csv_n=budget.csv_n,
    )


@dataclass(frozen=True)
class Growth:
    """Exact curves against n for a model: the dense baseline and one curve per pattern (its own n range)."""

    dense: tuple[CurvePoint, ...]
    curves: dict[str, tuple[CurvePoint, ...]]


@functools.lru_cache(maxsize=64)  # a page adds one pattern at a time: the others' curves are reused
def pattern_curve(name: str, model: ModelConfig) -> tuple[CurvePoint, ...]:
    """One library pattern at its defaults over SCALING_NS (data-dependent ones up to their n limit)."""
    expr = registry.make(name).expr()
    ns = [n for n in SCALING_NS if not expr.data_dependent or n <= DATA_DEPENDENT_MAX_N]
    return tuple(curve(expr, model, ns))


def growth(names: list[str], model: ModelConfig) -> Growth:
    """How prefill, memory and decode costs grow with n for each named pattern, beside dense attention."""
    if not names:
        raise PatternError("choose at least one pattern")
    curves = {name: pattern_curve(name, model) for name in names}
    # the dense figures do not depend on the pattern: take them from the curve that reaches the furthest
    dense = max(curves.values(), key=len)
    return Growth(dense, curves)


@dataclass(frozen=True)
class Fit:
    """The longest prompt whose prefill memory fits a budget, dense and with one pattern."""

    name: str
    dense_n: int
    sparse_n: int
    capped: bool  # sparse_n reached the engine's largest n: the true figure is at least this

    @property
    def gain(self) -> float:
        """How many times longer a prompt the pattern fits."""
        return memory.context_gain(self.dense_n, self.sparse_n)


def context_fit(name: str, model: ModelConfig, budget_bytes: int) -> Fit:
    """One pattern's longest prompt within `budget_bytes` of prefill memory (exact bisection on counts)."""
    expr = registry.make(name).expr()
    if expr.data_dependent:
        raise PatternError(f"{name} chooses its keys from the data: its memory has no closed form")
    dense_n = memory.largest_n(expr, model, budget_bytes, False)
    sparse_n = memory.largest_n(expr, model, budget_bytes, True)
    return Fit(name, dense_n, sparse_n, sparse_n >= memory.MAX_N)


def context_fits(names: list[str], model: ModelConfig, budget_bytes: int) -> list[Fit]:
    """context_fit for each structured pattern in `names` (data-dependent ones are left out)."""
    return [context_fit(name, model, budget_bytes) for name in names if not registry.get(name).data_dependent]


def demo_mask(n: int) -> tuple[np.ndarray, Exploration]:
    """Home's live example: Longformer scaled to n (window n/16, 2 global tokens), its token mask and counts."""
    if not 2 <= n <= TOKEN_VIEW_MAX_N:
        raise PatternError(f"the demo draws token masks: n must be 2 .. {TOKEN_VIEW_MAX_N:,}, got {n!r}")
    config = Config([registry.make("longformer", window=max(2, n // 16), global_tokens=2)], n)
    result = explore(config)
    return np.asarray(result.view.image, dtype=bool), result
