"""Deep links under st.navigation, on a freshly started server: each page opens first-hand with its
own title, the sidebar navigation and a working language switch (issue 9, part 3)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, track_runs, wait_charts, wait_ready

pytestmark = pytest.mark.browser

DEEP_LINKS = [
    ("/explorer?pattern=window(window=8)&n=256", "Pattern Explorer", "模式探索"),
    ("/inspector", "Attention Inspector", "注意力检查"),
    ("/lab?model=minilm&tokens=64", "Pattern Lab", "模式实验室"),
    ("/cost", "Cost & Speed", "成本与速度"),
    ("/learn?step=3", "Learn", "学习"),
    ("/?lang=zh", "稀疏注意力探索器", "稀疏注意力探索器"),
]


@pytest.mark.parametrize(
    "path, title, title_zh", DEEP_LINKS, ids=[d[0].split("?")[0].strip("/") or "home" for d in DEEP_LINKS]
)
def test_deep_link_opens_its_page(browser, fresh_server, path, title, title_zh):
    context = track_runs(browser.new_context(viewport={"width": 1440, "height": 900}))  # a new session per link
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(fresh_server + path)
    wait_ready(page, timeout=300_000)
    heading = page.locator("[data-testid=stMain] h1").first
    expect(heading).to_contain_text(title, timeout=60_000)
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=60_000)
    nav = page.get_by_test_id("stSidebarNavLink")
    expect(nav).to_have_count(6)
    assert "Traceback" not in page.locator("[data-testid=stMain]").inner_text()
    name = path.split("?")[0].strip("/") or "home"
    wait_charts(page)
    screenshot(page, f"deeplink-{name}")
    if "lang=zh" not in path:
        page.get_by_test_id("stSidebar").get_by_text("中文", exact=True).click()
        wait_ready(page, timeout=300_000)
        expect(page.locator("[data-testid=stMain] h1").first).to_contain_text(title_zh, timeout=60_000)
        expect(nav.first).to_contain_text("首页")
        wait_charts(page)
        screenshot(page, f"deeplink-{name}-zh")
    context.close()


PHONE_PAGES = [("/", "home"), ("/lab?model=minilm&tokens=64", "lab")]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("path, name", PHONE_PAGES, ids=[p[1] for p in PHONE_PAGES])
def test_pages_fit_a_phone_in_both_languages(browser, fresh_server, path, name, lang):
    """At 390×844 nothing sticks out sideways (a cut label shows up as page-wide horizontal overflow)."""
    context = track_runs(browser.new_context(viewport={"width": 390, "height": 844}))
    page = context.new_page()
    page.set_default_timeout(300_000)
    sep = "&" if "?" in path else "?"
    page.goto(f"{fresh_server}{path}{sep}lang={lang}")
    wait_ready(page, timeout=300_000)
    wait_charts(page)
    overflow = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]'); return [m.scrollWidth, m.clientWidth]; }"
    )
    assert overflow[0] <= overflow[1] + 1, f"{name} ({lang}) is {overflow[0]} px wide in a {overflow[1]} px view"
    screenshot(page, f"phone-{name}-{lang}")
    context.close()
