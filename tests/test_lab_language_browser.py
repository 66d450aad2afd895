"""The Pattern Lab across a language switch in a real browser (English → 中文 → English): the pasted text, the
open view, every setting and the results stay; the URL carries option keys, never labels, and is the same
before and after apart from `lang`. Streamlit 1.67 sends a picker's value back as its label, so only a browser
shows the defect (AppTest hands back values): the walk saw the text picker fall back to the first long text and
`task=密钥（一个 5 位数）&filler=英文` in the URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_charts, wait_ready
from ui.i18n import STRINGS

pytestmark = [pytest.mark.browser, pytest.mark.model]
START = "model=smollm2&text=en_story&tokens=64&patterns=window&budgets=0.25&lang=en"
OWN = "A short text of my own, pasted to see which pattern keeps the most of the model. " * 3


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def switch_language(page, lang: str) -> None:
    page.get_by_test_id("stSidebar").get_by_text({"en": "English", "zh": "中文"}[lang], exact=True).click()
    wait_ready(page)
    assert query(page).get("lang") == lang


def toggle_pill(page, name: str) -> None:
    """Two clicks on a pill: two reruns that leave the setting as it was (a rerun after the switch is where
    the stale labels were read back)."""
    for _ in range(2):
        page.get_by_test_id("stMain").get_by_role("button", name=name, exact=True).first.click()
        wait_ready(page)


def picker_text(page, nth: int = 0) -> str:
    """What the nth picker of the page's main part shows (0: the text, 1: the chart's y or the task)."""
    return page.get_by_test_id("stMain").get_by_test_id("stSelectbox").nth(nth).locator("input").input_value()


def test_a_language_round_trip_keeps_text_view_settings_results_and_url(ready_page, app_url):
    page = ready_page
    page.goto(f"{app_url}/lab?{START}")
    wait_ready(page, timeout=240_000)
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=STRINGS["lab.src_own"]["en"]).click()
    wait_ready(page)
    main.get_by_role("textbox").first.fill(OWN)
    main.get_by_role("textbox").first.press("Control+Enter")
    wait_ready(page)
    main.get_by_role("button", name=STRINGS["lab.run"]["en"], exact=True).click()
    wait_ready(page, timeout=600_000)
    expect(main.get_by_test_id("stDataFrame")).to_have_count(1, timeout=120_000)
    main.get_by_test_id("stSelectbox").nth(1).click()  # the chart's y: away from its default too
    page.get_by_role("option", name=STRINGS["lab.col_agreement"]["en"]).click()
    wait_ready(page)
    # the Memory view's settings away from their defaults: a second task, Chinese filler
    page.get_by_role("tab", name=STRINGS["lab.view_memory"]["en"]).click()
    wait_ready(page)
    main.get_by_test_id("stSelectbox").nth(1).click()
    page.get_by_role("option", name=STRINGS["lab.mem_task_multikey"]["en"]).click()
    wait_ready(page)
    main.get_by_text(STRINGS["lab.mem_filler_zh"]["en"], exact=True).click()
    wait_ready(page)
    before = query(page)
    assert before["text"] == "own" and before["task"] == "multikey" and before["filler"] == "zh", before
    assert before["y"] == "agreement", before

    switch_language(page, "zh")
    toggle_pill(page, "30%")
    after_zh = query(page)
    assert after_zh == before | {"lang": "zh"}, after_zh
    assert picker_text(page) == STRINGS["lab.src_own"]["zh"]
    expect(main.get_by_role("textbox").first).to_have_value(OWN)
    expect(main.get_by_role("tab", name=STRINGS["lab.view_memory"]["zh"])).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name=STRINGS["lab.view_quality"]["zh"]).click()
    wait_ready(page)
    expect(main.get_by_test_id("stDataFrame")).to_have_count(1)  # the run's rows, in the new language
    wait_charts(page)
    assert picker_text(page, 1) == STRINGS["lab.col_agreement"]["zh"]
    screenshot(page, "lab-language-zh")

    switch_language(page, "en")
    page.get_by_role("tab", name=STRINGS["lab.view_memory"]["en"]).click()
    wait_ready(page)
    toggle_pill(page, "30%")
    assert query(page) == before, query(page)
    assert picker_text(page) == STRINGS["lab.src_own"]["en"]
    expect(main.get_by_role("textbox").first).to_have_value(OWN)
    page.get_by_role("tab", name=STRINGS["lab.view_quality"]["en"]).click()
    wait_ready(page)
    expect(main.get_by_test_id("stDataFrame")).to_have_count(1)  # the results are still there
    assert picker_text(page, 1) == STRINGS["lab.col_agreement"]["en"]
    page.get_by_role("tab", name=STRINGS["lab.view_memory"]["en"]).click()
    wait_ready(page)
    # a reload reads the URL: nothing in it is refused
    page.reload()
    wait_ready(page, timeout=240_000)
    expect(page.get_by_test_id("stAlert").filter(has_text="was not used")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert query(page) == before, query(page)
    screenshot(page, "lab-language-en-again")
