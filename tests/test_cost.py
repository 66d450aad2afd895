"""Cost & Speed: exact scaling curves, memory budgets, and compiled block-sparse correctness."""

import json
import threading
import time

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from sparse_core import analysis, jobs, make
from sparse_core.cost import MODEL_PRESETS, ModelConfig, model_cost, stats
from sparse_core.scaling import curve, fitted_slope, largest_n_within, prefill_memory
from tests.browser import wait_ready
from tests.conftest import ROOT, app_test
from tests.test_learn import full_screenshot
from ui.i18n import STRINGS

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


@pytest.mark.slow  # torch.compile of FlexAttention: ~28 CPU-s here
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


def _open(tab: str | None = None, lang: str = "en"):
    at = app_test(timeout=600)
    at.query_params["lang"] = lang
    at.run()
    at.switch_page(PAGE).run()
    if tab:
        at.session_state[f"co_tab_{lang}"] = tab
        at.run()
    assert not at.exception and not at.error
    return at


def test_cost_page_shows_slopes_and_budgets():
    at = _open()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [t["name"] for t in specs[0]["data"]]
    assert any(n.startswith("dense (slope 2.00)") for n in names)
    assert any("Sliding window" in n and "slope 1.0" in n for n in names)
    for spec in specs:  # one notation on every log axis
        assert spec["layout"]["yaxis"]["type"] == "log" and spec["layout"]["yaxis"]["exponentformat"] == "power"
    at.session_state["co_tab_en"] = "Memory budget"
    at.run()
    table = at.table[0].value
    assert "Sliding window" in table.index and table.loc["Sliding window", "largest n, dense"] == "32,768"
    at.selectbox(key="co_model").set_value("custom").run()
    at.number_input(key="co_h_custom").set_value(6).run()
    at.number_input(key="co_k_custom").set_value(4).run()
    assert "heads must be a multiple of kv_heads" in at.error[0].value.replace("\\", "")  # clear; the page stands


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_links_patterns_are_read_deduplicated_and_capped_and_its_unknown_names_named(lang):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=600)
    at.session_state["lang"] = lang
    at.query_params["patterns"] = "window,<b>nosuch</b>,window,bigbird,streaming,mistral,dilated,global"
    at.query_params["model"] = "Mistral-7B (GQA)"
    at.run()
    assert not at.exception
    # written out by hand: the known names in order, each once, the first five
    assert at.session_state["co_patterns"] == ["window", "bigbird", "streaming", "mistral", "dilated"]
    assert at.session_state["co_model"] == "Mistral-7B (GQA)"
    warning = " ".join(w.value for w in at.warning)
    assert "nosuch" in warning and STRINGS["co.unknown"][lang] in warning and "<b>" not in warning
    kept = "window,bigbird,streaming,mistral,dilated"
    assert at.query_params["patterns"] in (kept, [kept])  # the URL says what the page uses


def test_only_the_open_tab_computes():
    at = _open()
    assert len(at.get("plotly_chart")) == 2 and not at.table  # prefill only: no budget table, no decode charts
    at.session_state["co_tab_en"] = "Memory budget"
    at.run()
    assert not at.get("plotly_chart") and len(at.table) == 1
    at.session_state["co_tab_en"] = "Decoding"
    at.run()
    assert len(at.get("plotly_chart")) == 2
    shown = " ".join(m.value for m in at.markdown)
    assert "KV cache held" in shown and "to generate one token" in shown and "whole model (QK" not in shown


def test_the_open_tab_survives_a_language_switch():
    at = _open("Memory budget")
    at.radio(key="_lang_widget").set_value("zh").run()
    assert not at.exception and len(at.table) == 1 and not at.get("plotly_chart")


def test_speed_runs_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SPARSE_EXPLORER_ALLOW_SPEED_RUNS", "0")
    at = _open("Measured speed")
    assert not at.button and any("SPARSE_EXPLORER_ALLOW_SPEED_RUNS=0" in i.value for i in at.info)


def test_a_run_over_the_servers_budget_is_refused_before_any_work():
    at = _open("Measured speed")
    at.selectbox(key="co_model").set_value("Llama-3-70B (GQA)").run()
    at.select_slider(key="co_speed_heads").set_value(16).run()
    at.multiselect(key="co_speed_ns").set_value([16384]).run()
    at.button(key="co_measure_button").click().run()
    assert not at.exception and "GFLOP" in at.error[0].value and "fewer heads" in at.error[0].value


@pytest.mark.slow  # times real kernels: ~5 CPU-s
def test_measuring_speed_waits_its_turn_and_uses_the_models_head_size():
    at = _open("Measured speed")
    at.selectbox(key="co_model").set_value("custom").run()
    at.number_input(key="co_d_custom").set_value(32).run()
    at.multiselect(key="co_speed_ns").set_value([1024]).run()
    at.select_slider(key="co_speed_heads").set_value(1).run()
    holder = jobs.HEAVY.enter()  # someone else's run is in progress
    seen = []

    def let_go():
        deadline = time.monotonic() + 300
        while len(jobs.HEAVY) < 2 and time.monotonic() < deadline:  # the page has queued behind the holder
            time.sleep(0.05)
        seen.append(len(jobs.HEAVY))
        time.sleep(0.6)  # a poll or more while queued
        jobs.HEAVY.leave(holder)

    releaser = threading.Thread(target=let_go)
    releaser.start()
    try:
        at.button(key="co_measure_button").click().run()
    finally:
        jobs.HEAVY.leave(holder)
        releaser.join(10)
    assert seen == [2] and len(jobs.HEAVY) == 0
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["n"]) == ["1,024"] and list(table["d_head"]) == [32]
    row = table.iloc[0]
    assert row["block-sparse (ms)"] > 0 and row["ideal 1/density"] >= row["block ideal"] > 1
    assert np.isfinite(row["SDPA + boolean mask (ms)"])


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_cost_page_in_a_real_browser(ready_page, app_url, lang, width, height):
    page = ready_page
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{app_url}/cost?lang={lang}")
    wait_ready(page)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(
        2, timeout=60_000
    )  # only the open tab (prefill) is drawn
    expect(page.get_by_text(STRINGS["co.slope"][lang].split(" ")[0]).first).to_be_attached(timeout=60_000)
    full_screenshot(page, f"cost-{lang}-{width}-prefill")
    for tab in ("co.tab_decode", "co.tab_budget", "co.tab_speed"):
        page.get_by_role("tab", name=STRINGS[tab][lang]).click()
        wait_ready(page)
        if tab == "co.tab_decode":
            expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2, timeout=60_000)
        if tab == "co.tab_budget":
            expect(page.get_by_label(STRINGS["co.budget"][lang])).to_be_visible(timeout=60_000)
            expect(page.get_by_text(STRINGS["co.largest_sparse"][lang])).to_be_attached(
                timeout=60_000
            )  # grid headers are ARIA
        if tab == "co.tab_speed":
            expect(page.get_by_role("button", name=STRINGS["co.measure"][lang])).to_be_visible(timeout=60_000)
        full_screenshot(page, f"cost-{lang}-{width}-{tab.split('_')[-1]}")
