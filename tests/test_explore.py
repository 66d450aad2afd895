"""sparse_core.explore: each page question's one call, against brute-force dense masks at small n."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_core import PatternError, limits, make, memory
from sparse_core.cost import MODEL_PRESETS
from sparse_core.explore import (
    DENSE_SHARE,
    LAYOUT_MAX_BLOCKS,
    compare,
    context_fits,
    demo_mask,
    explore,
    explore_tile,
    export_plan,
    growth,
    kv_cache_bytes,
)
from sparse_core.export import Config, parse_layers
from tests.oracle import oracle_mask

CONFIGS = [
    ("window(window=5)", "union", False),
    ("window(window=5)", "union", True),
    ("longformer(window=6,global_tokens=2)", "union", False),
    ("bigbird(block=8,window_blocks=3,global_blocks=2,random_blocks=2,seed=3)", "union", False),
    ("window(window=4)+global(global_tokens=3)", "union", True),
    ("strided(stride=7)+fixed(stride=8,summary=2)", "intersection", False),
    ("streaming(sinks=2,window=9)", "union", True),
]


def _config(text: str, op: str, causal: bool, n: int, block: int = 16) -> Config:
    return Config(parse_layers(text, causal), n, op, block, causal)


def _allowed(mask_shape: int, causal: bool) -> int:
    """Pairs a model may attend, counted pair by pair."""
    n = mask_shape
    return sum(1 for i in range(n) for j in range(n) if not causal or j <= i)


@pytest.mark.parametrize("text,op,causal", CONFIGS)
@pytest.mark.parametrize("n", [1, 37, 64, 130])
def test_explore_counts_profile_and_view_match_the_brute_force_mask(text, op, causal, n):
    config = _config(text, op, causal, n)
    truth = oracle_mask(config.expr(), n)
    result = explore(config, d_head=32)
    degrees = truth.sum(axis=1)
    assert result.stats.nnz == truth.sum()
    assert np.array_equal(result.view.image, truth) and not result.view.pooled
    # n <= 1024: one bin per row, so the profile is the degrees themselves
    assert np.array_equal(result.profile.low, degrees) and np.array_equal(result.profile.high, degrees)
    combined_causal = all(s.causal for s in config.layers) if op == "union" else any(s.causal for s in config.layers)
    assert result.allowed == _allowed(n, combined_causal)
    assert result.share == truth.sum() / result.allowed
    assert result.dense == (truth.sum() / result.allowed > DENSE_SHARE)
    assert result.stats.flops_sparse == 4 * 32 * truth.sum()


def test_kv_bytes_follow_the_cache_and_the_dtype():
    # a causal window of W tokens keeps exactly the last W keys at decode time, whatever n
    config = Config([make("window", True, window=8)], 4096, causal=True)
    half = explore(config, d_head=64, kv_dtype="fp16")
    full = explore(config, d_head=64, kv_dtype="fp32")
    assert half.stats.kv_tokens_sparse == 8 and half.kv_bounded
    assert half.kv_bytes == 8 * 2 * 64 * 2 and full.kv_bytes == 2 * half.kv_bytes
    assert kv_cache_bytes(10, 128, "fp8") == 10 * 2 * 128
    with pytest.raises(PatternError, match="dtype must be one of"):
        kv_cache_bytes(10, 128, "fp12")


def test_a_request_over_budget_is_refused_with_the_budgets_own_message():
    config = Config([make("random", random_keys=64)], 1 << 20)
    with pytest.raises(PatternError) as budget:
        limits.check_budget(config.expr(), config.n, config.block)
    with pytest.raises(PatternError) as ours:
        explore(config)
    assert str(ours.value) == str(budget.value) and "lower" in str(ours.value)
    with pytest.raises(PatternError, match="limited to 4,096"):
        explore(Config([make("topk")], 8192))


@pytest.mark.parametrize("text,op,causal", CONFIGS[:4])
@pytest.mark.parametrize("row0,col0,size", [(0, 0, 16), (100, 30, 32), (190, 190, 16), (5, 999, 64), (0, 0, 512)])
def test_a_zoom_tile_is_the_brute_force_region(text, op, causal, row0, col0, size):
    n = 200
    config = _config(text, op, causal, n)
    truth = oracle_mask(config.expr(), n)
    tile = explore_tile(config, row0, col0, size)
    side = min(size, n)
    # a corner that does not fit is moved to the middle of the mask, never cut short
    assert 0 <= tile.row0 <= n - side and 0 <= tile.col0 <= n - side
    if row0 <= n - side:
        assert tile.row0 == row0
    assert np.array_equal(tile.view.image, truth[tile.row0 : tile.row0 + side, tile.col0 : tile.col0 + side])


def test_a_zoom_tile_at_a_million_tokens_is_exact():
    config = Config([make("window", window=3)], 1 << 20)
    tile = explore_tile(config, 500_000, 499_990, 32)
    rows = np.arange(500_000, 500_032)[:, None]
    cols = np.arange(499_990, 500_022)[None, :]
    assert np.array_equal(tile.view.image, np.abs(rows - cols) < 3)
    with pytest.raises(PatternError, match="region size"):
        explore_tile(config, 0, 0, 1000)


def test_compare_puts_the_users_pattern_first_and_keeps_going_past_a_refusal():
    config = Config(parse_layers("window(window=5)"), 8192, block=64)
    columns = compare(config, ["streaming", "topk"])
    assert [c.name for c in columns] == ["", "streaming", "topk"]
    assert columns[0].result is not None and columns[0].result.stats.nnz == explore(config).stats.nnz
    assert columns[1].result is not None and columns[1].layers.startswith("streaming(")
    assert columns[2].result is None and "limited to 4,096" in str(columns[2].error)
    small = Config(parse_layers("window(window=5)"), 48, block=16)
    for column in compare(small, ["longformer", "bigbird"]):
        assert column.result is not None
        truth = oracle_mask(column.result.config.expr(), 48)
        assert column.result.stats.nnz == truth.sum() and column.complexity


@pytest.mark.parametrize("block", [16, 64, 128, 256])
def test_export_plan_at_a_million_gives_one_verdict_per_file(block):
    plan = export_plan(Config(parse_layers("window(window=256)"), 1 << 20, block=block))
    assert plan.too_large and not plan.csv_limit
    assert "mask.npy" not in plan.names and "block_layout.npy" in plan.names
    refused = plan.refused["block_layout.npy"]
    over = -(-(1 << 20) // block) > LAYOUT_MAX_BLOCKS
    assert (refused is not None) == over
    if over:
        assert refused.code == "layout_blocks" and "block size of 128 or more" in str(refused)
    assert plan.refused["pattern.json"] is None


def test_export_plan_below_the_dense_limit():
    small = export_plan(Config(parse_layers("window(window=3)"), 64))
    assert {"mask.npy", "mask.csv", "pattern.json", "flex_mask.py"} <= set(small.names)
    assert not small.too_large and not small.csv_limit and not any(small.refused.values())
    assert small.sizes["mask.npy"] > 64 * 64
    mid = export_plan(Config(parse_layers("window(window=3)"), 4096))
    assert mid.csv_limit and "mask.csv" not in mid.names and mid.csv_n == 2048


def test_growth_has_the_dense_baseline_and_one_curve_per_pattern():
    model = MODEL_PRESETS[next(iter(MODEL_PRESETS))]
    result = growth(["window", "topk"], model)
    assert set(result.curves) == {"window", "topk"}
    assert max(p.n for p in result.curves["topk"]) == 4096  # data-dependent: up to its limit
    assert [p.n for p in result.dense] == [p.n for p in result.curves["window"]]
    # dense attention scores every pair: 4·d·n² FLOPs a head, whatever the pattern
    assert all(p.stats.flops_dense == 4 * model.d_head * p.n * p.n for p in result.dense)
    with pytest.raises(PatternError):
        growth([], model)


def test_context_fits_are_the_exact_boundary_of_the_memory_budget():
    model = MODEL_PRESETS[next(iter(MODEL_PRESETS))]
    budget = memory.gib_to_bytes(24)
    fits = context_fits(["window", "topk"], model, budget)
    assert [f.name for f in fits] == ["window"]  # data-dependent patterns have no closed-form memory
    fit = fits[0]
    assert memory.dense_prefill_bytes(model, fit.dense_n) <= budget < memory.dense_prefill_bytes(model, fit.dense_n + 1)
    assert fit.sparse_n >= fit.dense_n and fit.gain == fit.sparse_n / fit.dense_n


@pytest.mark.parametrize("n", [32, 128, 512])
def test_homes_demo_is_the_brute_force_longformer(n):
    mask, result = demo_mask(n)
    truth = oracle_mask(make("longformer", window=max(2, n // 16), global_tokens=2).expr(), n)
    assert np.array_equal(mask, truth) and result.stats.nnz == truth.sum()
    with pytest.raises(PatternError):
        demo_mask(1 << 20)


# dilatedᶜ ∪ random(227) ∪ fixedᶜ ∪ randomᶜ(236) at 3,621, block 128: accepted by the budget, but the engine's coarse
# guard (block_cost: cells x terms) declined its block layout, and its mask view's with it: the Explorer showed an
# error in place of the page for a request it had accepted (an edge search's request, 2026-12-07)
GUARDED = Config(
    parse_layers("dilated(window=930556,dilation=4043)", True)
    + parse_layers("random(random_keys=227,seed=734)", False)
    + parse_layers("fixed(stride=980116,summary=6)", True)
    + parse_layers("random(random_keys=236,seed=781)", True),
    3621,
    "union",
    128,
    False,
)


def test_an_accepted_request_is_counted_whole_where_the_engines_own_guard_would_decline_it():
    from sparse_core import stats
    from sparse_core.analysis import block_layout

    expr = GUARDED.expr()
    limits.check_budget(expr, GUARDED.n, GUARDED.block)
    assert not stats(expr, GUARDED.n, GUARDED.block).block_available  # unpriced, the guard still stands
    result = explore(GUARDED)
    assert result.stats.block_available and result.view.pooled
    layout = block_layout(expr, GUARDED.n, GUARDED.block, priced=True)
    assert result.stats.kept_blocks == layout.kept_per_row().sum() > 0
    assert result.stats.executed_pairs == layout.executed_pairs()
    # the downloads the page offers for it are built too: the layout, and the FlexAttention script from it (a review
    # found the script's own layout still behind the guard, a button offered and then failing)
    from sparse_core.export_files import build_file

    plan = export_plan(GUARDED)
    assert "flex_mask.py" in plan.names
    for name in plan.names:
        assert plan.refused[name] is None, (name, plan.refused[name])
        assert build_file(GUARDED, name), name


@pytest.mark.parametrize(
    "text, n",
    [
        ("dilated(window=64,dilation=3)", 4096),  # few kept view blocks: exact shares
        ("logsparse()+window(window=300)", 1 << 15),  # 2^20 rows or fewer to re-count, but ~40 units each
        ("window(window=3000)+dilated(window=64,dilation=3)", 1 << 16),
    ],
)
def test_the_views_exact_densities_stay_within_their_planned_work(monkeypatch, text, n):
    from sparse_core import analysis, views

    expr = Config(parse_layers(text, False), n, "union", 128, False).expr()
    planned = []
    original = views.block_pair_counts

    def spy(expr, n, block, qi, kj, *rest):
        planned.append(analysis.refine_work(expr, n, block, len(qi)))
        return original(expr, n, block, qi, kj, *rest)

    monkeypatch.setattr(views, "ONE_PASS_VIEWS", False)  # the layout path, whose densities re-count rows
    monkeypatch.setattr(views, "block_pair_counts", spy)
    view = views.mask_view(expr, n, priced=True)
    block = view.block
    kept = int(analysis.block_layout(expr, n, block, priced=True).kept_per_row().sum())
    assert view.exact_density == (analysis.refine_work(expr, n, block, kept) <= views.DENSITY_MAX_WORK)
    assert all(work <= views.DENSITY_MAX_WORK for work in planned), planned
    if view.exact_density and n <= 4096:  # each cell: its block's kept pairs over the block's cells
        truth = oracle_mask(expr, n)
        cells = truth.reshape(n // block, block, n // block, block).sum(axis=(1, 3)) / (block * block)
        assert np.allclose(view.image, cells)
