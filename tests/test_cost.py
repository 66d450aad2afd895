"""Cost & Speed: exact scaling curves, memory budgets, and compiled block-sparse correctness."""

import json

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from sparse_core import analysis, make
from sparse_core.cost import MODEL_PRESETS, ModelConfig, model_cost, stats
from sparse_core.scaling import curve, fitted_slope, largest_n_within, prefill_memory
from tests.browser import screenshot, wait_ready
from tests.conftest import app_test

PAGE = "app_pages/cost.py"


def test_fitted_slopes_recover_the_exponents():
    ns = [1 << e for e in range(8, 21)]
    model = MODEL_PRESETS["Llama-2-7B"]
    window = curve(make("window", window=128).expr(), model, ns)
    assert fitted_slope(ns, [p.model["prefill_flops_dense"] for p in window]) == pytest.approx(2.0, abs=1e-9)
    assert fitted_slope(ns, [p.model["prefill_flops_sparse"] for p in window]) == pytest.approx(1.0, abs=0.01)
    strided = curve(make("strided", stride=128).expr(), model, ns)
    # a fixed stride is O(n^2 / l): the slope climbs from ~1 towards 2 as the strided columns take over
    assert 1.6 < fitted_slope(ns, [p.model["prefill_flops_sparse"] for p in strided]) < 2.0


def test_largest_n_is_the_exact_boundary():
    model = ModelConfig(2, 4, 2, 64, "fp16")
    expr = make("streaming", sinks=4, window=60).expr()
    budget = 50e6
    for sparse in (False, True):
        n = largest_n_within(expr, model, budget, sparse)

        def memory(m, sparse=sparse):
            s = stats(expr, m, 128, model.d_head)
            from sparse_core.scaling import CurvePoint

            return prefill_memory(CurvePoint(m, s, model_cost(s, model)), model, sparse)

        assert memory(n) <= budget < memory(n + 1)


def test_kv_cache_of_local_patterns_stops_growing():
    model = MODEL_PRESETS["Mistral-7B (GQA)"]
    points = curve(make("mistral", window=4096).expr(), model, [8192, 65536, 1 << 20])
    kv = {p.model["kv_cache_bytes_sparse"] for p in points}
    assert kv == {2 * 32 * 8 * 128 * 2 * 4096}


@pytest.mark.parametrize(
    "name, params, block",
    [("window", {"window": 40}, 128), ("bigbird", {"block": 64}, 64), ("streaming", {"sinks": 4, "window": 100}, 128)],
)
def test_compiled_block_sparse_matches_a_masked_dense_reference(name, params, block):
    from sparse_core.flex import to_block_mask
    from sparse_core.speed import compiled_flex

    n = 512
    expr = make(name, **params).expr()
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 2, n, 32) for _ in range(3))
    out = compiled_flex("cpu")(q, k, v, block_mask=to_block_mask(expr, n, block))
    keep = torch.as_tensor(analysis.dense_mask(expr, n))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)


def test_cost_page_shows_slopes_and_budgets():
    at = app_test(timeout=300)
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [t["name"] for t in specs[0]["data"]]
    assert any(n.startswith("dense (slope 2.00)") for n in names)
    assert any("Sliding window" in n and "slope 1.0" in n for n in names)
    table = at.dataframe[0].value
    assert "Sliding window" in table.index and table.loc["Sliding window", "largest n, dense"] == "32,768"
    at.selectbox(key="co_model").set_value("custom").run()
    at.number_input(key="co_h_custom").set_value(6).run()
    at.number_input(key="co_k_custom").set_value(4).run()
    assert "heads must be a multiple of kv_heads" in at.error[0].value  # clear, and the page still stands


def test_measuring_speed_in_the_page():
    at = app_test(timeout=600)
    at.switch_page(PAGE).run()
    at.multiselect(key="co_speed_ns").set_value([1024]).run()
    at.button(key="co_measure_button").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["n"]) == ["1,024"]
    row = table.iloc[0]
    assert row["block-sparse (ms)"] > 0 and row["ideal 1/density"] >= row["block ideal"] > 1
    assert np.isfinite(row["SDPA + boolean mask (ms)"])


@pytest.mark.browser
def test_cost_page_in_a_real_browser(ready_page, app_url):
    page = ready_page
    page.goto(app_url + "/cost")
    wait_ready(page)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(4)  # prefill and decoding tabs
    expect(page.get_by_text("slope 2.00").first).to_be_attached()
    page.get_by_role("tab", name="Memory budget").click()
    expect(page.get_by_label("Memory budget (GiB)")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_text("largest n, sparse")).to_be_attached()  # the grid is a canvas; headers are ARIA
    screenshot(page, "cost")
