"""The Attention Inspector in a real browser: change the pattern, open a head from the overview,
use the token view, and take screenshots at desktop and phone size in both languages."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import running_server, screenshot, wait_ready
from ui.pages import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.model]
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
TITLES = {
    "en": ("Text", "Sparse pattern", "Dense attention", "One token's attention", "Query token"),
    "zh": ("文本", "稀疏模式", "稠密注意力", "单个词元的注意力", "查询词元"),
}


@pytest.fixture(scope="module")
def app_url():
    """This module's own server, where every step counts as slow: the progress check must not depend
    on how fast this machine happens to be (one torch thread makes top-k fast here)."""
    with running_server({"SPARSE_EXPLORER_SLOW_STEP_SECONDS": "0"}) as url:
        yield url


def _open(page, app_url, lang: str) -> None:
    page.goto(f"{app_url}/inspector?lang={lang}")
    wait_ready(page, timeout=240_000)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=120_000)


def screens(page, name: str, most: int = 8) -> None:
    """Screenshots down the whole page, one viewport at a time (Streamlit scrolls inside its main section)."""
    scroller = "document.querySelector('[data-testid=stMain]')"
    height = page.evaluate(f"{scroller}.scrollHeight")
    step = page.viewport_size["height"] - 60
    for i in range(min(most, -(-height // step))):
        page.evaluate(f"{scroller}.scrollTo(0, {i * step})")
        # two animation frames: plotly redraws the charts that came into view before the shot
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        screenshot(page, f"{name}-{i + 1}")


def choose(page, box: str, option: str) -> None:
    """Pick an option of a selectbox by typing it (a click on a listed option can race a rerun)."""
    combo = page.get_by_role("combobox", name=box)
    combo.click()
    combo.fill(option)
    page.get_by_role("option").filter(has_text=option).first.click()


def test_change_pattern_click_a_tile_and_use_the_token_view(ready_page, app_url):
    page = ready_page
    page.set_viewport_size({"width": 1440, "height": 900})
    _open(page, app_url, "en")
    box = page.get_by_role("textbox", name="Text", exact=True)
    box.fill("Sparse attention keeps a few pairs. 稀疏注意力只保留少数词元对。 👩‍👩‍👧 🙂")
    box.press("Control+Enter")
    wait_ready(page, timeout=120_000)
    expect(page.get_by_role("combobox", name="Example text")).to_have_value("(your own text)")  # follows the edit
    choose(page, "Sparse pattern", "Global tokens")
    wait_ready(page, timeout=120_000)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(6, timeout=60_000)  # overview, 4 maps, token view
    expect(page.get_by_text("Sparse attention (masked inside the model)")).to_be_visible()
    expect(page.get_by_text("👩‍👩‍👧").first).to_be_attached()  # a ZWJ sequence is one emoji, not \u200d
    expect(page.get_by_text("\\u200d")).to_have_count(0)
    # clicking a tile of the layers x heads overview opens that head (MiniLM: 6 layers x 12 heads)
    overview = page.get_by_test_id("stPlotlyChart").first
    overview.scroll_into_view_if_needed()
    grid = overview.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(grid["x"] + grid["width"] * 9.5 / 12, grid["y"] + grid["height"] * 4.5 / 6)
    wait_ready(page, timeout=120_000)
    expect(page.get_by_role("heading", name="Layer 4 · Head 9", exact=False)).to_be_visible(timeout=60_000)
    # the token view: pick another query token
    choose(page, "Query token", "#3 ")
    wait_ready(page, timeout=60_000)
    view = page.get_by_test_id("stPlotlyChart").last
    view.scroll_into_view_if_needed()
    expect(view.locator(".textpoint").first).to_be_attached(timeout=30_000)
    expect(view).to_contain_text("Sparse")  # the token text sits beside each line
    # the log scale changes the URL
    page.get_by_test_id("stButtonGroup").get_by_text("log", exact=True).click()
    wait_ready(page, timeout=60_000)
    page.wait_for_url("**scale=log**", timeout=30_000)
    # a slow step (every step counts as slow on this module's server) shows progress in the viewport
    page.get_by_test_id("stMain").evaluate("e => e.scrollTo(0, 0)")
    choose(page, "Sparse pattern", "Top-k")
    # one poll checks text and position together: the toast times out, so two separate reads can race it
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stToast"]')].some(t => {
            const top = t.getBoundingClientRect().top;
            return t.textContent.includes('last time') && top >= 0 && top < window.innerHeight;
        })""",
        timeout=60_000,
    )  # "last time": an estimate measured on this machine
    screenshot(page, "inspector-progress")
    wait_ready(page, timeout=120_000)
    expect(page.get_by_text("chooses its own keys").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "inspector-interactions")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots_without_cut_labels(ready_page, app_url, lang, size):
    page = ready_page
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    _open(page, app_url, lang)
    text, pattern, dense, token_view, token = TITLES[lang]
    if lang == "zh":  # Chinese labels on the axes too (MiniLM reads most of them as [UNK])
        choose(page, "示例文本", "短篇故事（中文）")
        wait_ready(page, timeout=120_000)
    expect(page.get_by_role("textbox", name=text, exact=True)).to_be_visible()
    expect(page.get_by_text(dense).first).to_be_attached()
    expect(page.get_by_role("heading", name=token_view)).to_be_attached()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    # metric labels and values are never cut with an ellipsis
    for metric in page.get_by_test_id("stMetric").all():
        for part in ("stMetricLabel", "stMetricValue"):
            cell = metric.get_by_test_id(part)
            assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), cell.inner_text()
    # no chart is wider than the viewport
    for chart in page.get_by_test_id("stPlotlyChart").all():
        box = chart.bounding_box()
        assert box is None or box["x"] + box["width"] <= width + 1
    screens(page, f"inspector-{size}-{lang}")


@pytest.fixture(scope="module")
def long_url():
    """A server that offers 1,024 tokens: past 512 a run waits for its button, the state the walk found."""
    with running_server({"SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS": "1024"}) as url:
        yield url


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_english_chinese_english_keeps_a_long_pasted_text_and_every_setting(ready_page, long_url):
    # The model radio came back from 中文 as its English label; keep_valid reset it to MiniLM and the text,
    # tokens (1,024 -> 256), parameters and head went with it (found in a browser walk, reproduced here)
    page = ready_page
    page.goto(f"{long_url}/inspector?lang=en&model=smollm2&tokens=1024&pattern=longformer&layer=25&head=4&token=700")
    wait_ready(page, timeout=240_000)
    text = "The key opens more than one door, said the old woman, and she smiled at the child. " * 80
    box = page.locator(".st-key-in_text textarea")  # by its key: its label is translated
    box.fill(text)
    box.press("Control+Enter")
    wait_ready(page, timeout=240_000)
    expect(page.get_by_role("button", name="Inspect 1,024 tokens")).to_be_visible()
    before = _query(page.url)
    assert before["model"] == "smollm2" and before["text"] == "own" and before["tokens"] == "1024"
    sidebar = page.get_by_test_id("stSidebar")
    for lang, label, button in (("zh", "中文", "检查 1,024 个词元"), ("en", "English", "Inspect 1,024 tokens")):
        sidebar.get_by_text(label, exact=True).click()
        wait_ready(page, timeout=240_000)
        expect(page.get_by_role("button", name=button)).to_be_visible()
        assert _query(page.url) == {**before, "lang": lang}
        assert box.input_value().strip() == text.strip()
    expect(sidebar.get_by_test_id("stPageLink-NavLink")).to_have_count(len(PAGES))
    expect(page.get_by_test_id("stException")).to_have_count(0)
