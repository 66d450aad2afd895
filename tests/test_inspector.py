"""Attention Inspector page: example texts, every kind of bad input, and a real browser run."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_ready
from tests.conftest import app_test

PAGE = "app_pages/inspector.py"
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def at():
    at = app_test(timeout=300)
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def metric(at, label):
    return next(m.value for m in at.metric if m.label.startswith(label))


def heatmap_titles(at):
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text") for c in at.get("plotly_chart")]


def test_example_text_gives_four_heatmaps_and_metrics(at):
    assert not at.error
    assert {
        "Dense attention",
        "Pattern on these tokens",
        "Sparse attention (masked inside the model)",
        "Sparse − dense",
    } <= set(heatmap_titles(at))
    assert metric(at, "Mass kept, all heads").endswith("%")
    assert at.dataframe[0].value.shape[0] == 6 * 12  # one row per head


@pytest.mark.parametrize("example", ["zh_story", "code_review", "mixed_scripts"])
def test_every_example_renders(at, example):
    at.selectbox(key="in_example").set_value(example).run()
    assert not at.exception and not at.error


@pytest.mark.parametrize(
    "text, expect_error",
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("🙂🚀🔥 " * 50, None),
        ("这是一个中文句子，用来测试。" * 10, None),
        ("مرحبا بالعالم שלום עולם", None),
        ("bell\x07 null\x00 escape\x1b[31m red", None),
        ("<script>alert(1)</script> <b>bold</b>", None),
    ],
)
def test_bad_and_unusual_text(at, text, expect_error):
    at.selectbox(key="in_example").set_value("").run()
    at.text_area(key="in_text").input(text).run()
    assert not at.exception
    if expect_error:
        assert expect_error in at.error[0].value
    else:
        assert not at.error
        assert "<script>" not in json.dumps([json.loads(c.proto.spec) for c in at.get("plotly_chart")])


def test_very_long_text_is_truncated_with_a_notice(at):
    at.text_area(key="in_text").input("All work and no play. " * 4600).run()  # ~100,000 characters
    assert not at.exception and not at.error
    assert "only the first 256 are inspected" in at.warning[0].value


def test_data_dependent_pattern_names_its_source(at):
    at.text_area(key="in_text").input("The cat sat on the mat because the mat was warm and soft.").run()
    at.selectbox(key="in_pattern").set_value("topk").run()
    at.number_input(key="in_layer").set_value(3).run()
    assert not at.exception and not at.error
    assert "layer 3, head 0" in at.info[0].value


def test_causal_model_reports_next_token_agreement(at):
    at.selectbox(key="in_pattern").set_value("window").run()
    at.radio(key="in_model").set_value("smollm2").run()
    assert not at.exception and not at.error
    assert metric(at, "Next-token agreement").endswith("%")
    assert at.dataframe[0].value.shape[0] == 30 * 9
    at.radio(key="in_model").set_value("minilm").run()


@pytest.mark.browser
def test_inspector_in_a_real_browser(ready_page, app_url):
    page = ready_page
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(app_url + "/inspector")
    wait_ready(page, timeout=240_000)
    box = page.get_by_role("textbox", name="Text", exact=True)
    box.fill("Sparse attention keeps a few pairs. 稀疏注意力只保留少数词元对。 🙂")
    box.press("Control+Enter")
    wait_ready(page, timeout=120_000)
    page.get_by_role("combobox", name="Sparse pattern").click()
    page.get_by_role("option", name="Global tokens").click()
    wait_ready(page, timeout=120_000)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(5, timeout=60_000)  # overview + 4 maps
    expect(page.get_by_text("Sparse attention (masked inside the model)")).to_be_visible()
    expect(page.get_by_text("稀").first).to_be_attached()  # CJK token labels are characters
    screenshot(page, "inspector")
    # clicking a tile of the layers x heads overview opens that head (MiniLM: 6 layers x 12 heads)
    grid = page.get_by_test_id("stPlotlyChart").first.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(grid["x"] + grid["width"] * 9.5 / 12, grid["y"] + grid["height"] * 4.5 / 6)
    wait_ready(page, timeout=120_000)
    expect(page.get_by_role("heading", name="Layer 4 · Head 9", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "inspector-clicked-head")
