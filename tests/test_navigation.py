"""Deep links under st.navigation, on a freshly started server: each page opens first-hand with its
own title, the sidebar's links and a working language switch (issue 9, part 3); a page change is one
history entry, Back and Forward step page by page, and a phone's drawer closes after a link (issue 17)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, track_runs, wait_charts, wait_ready
from ui.pages import PAGES

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
    nav = page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")
    expect(nav).to_have_count(len(PAGES), timeout=60_000)
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


LINK_LABEL = {p.name: p.title_key for p in PAGES}


def _history(page) -> int:
    return page.evaluate("history.length")


SHOWN_JS = "(location.pathname.replace(/^\\/+|\\/+$/g, '') || 'home')"


def _shown(page) -> str:
    """The page the URL names ('home' for the root)."""
    return urlparse(page.url).path.strip("/") or "home"


def test_each_page_change_is_one_history_entry_and_back_and_forward_step_page_by_page(browser, fresh_server):
    """Streamlit pushes a history entry for every URL change it is sent: a page change used to push
    the new page with the old page's parameters, then the new page's own (two or three entries), so
    the first Back landed on the page one was already on. Here every link, Back and Forward moves
    exactly one page, on a server no session has visited before (no page has shown its defaults)."""
    from ui.i18n import t

    context = track_runs(browser.new_context(viewport={"width": 1440, "height": 900}))
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(fresh_server + "/explorer?pattern=bigbird&n=4096")
    wait_ready(page, timeout=300_000)
    links = page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")
    visited = ["explorer"]
    start = _history(page)
    for name in ("cost", "learn", "home", "explorer", "lab"):
        links.filter(has_text=t(LINK_LABEL[name], "en")).click()
        page.wait_for_function(f"{SHOWN_JS} === '{name}'")
        wait_ready(page, timeout=300_000)
        visited.append(name)
        assert _history(page) == start + len(visited) - 1, f"{name}: {_history(page) - start} entries for {visited}"
    explorer_url = None
    for name in reversed(visited[:-1]):
        page.go_back()
        wait_ready(page, timeout=300_000)
        assert _shown(page) == name, f"Back should show {name}: {page.url}"
        explorer_url = explorer_url or (page.url if name == "explorer" else None)
    assert "bigbird" in explorer_url, explorer_url  # the Explorer came back as it was left
    for name in visited[1:]:
        page.go_forward()
        wait_ready(page, timeout=300_000)
        assert _shown(page) == name, f"Forward should show {name}: {page.url}"
    assert _history(page) == start + len(visited) - 1  # Back and Forward pushed nothing
    context.close()


def test_a_phone_drawer_closes_after_a_link(browser, fresh_server):
    """Streamlit's own navigation closes the sidebar drawer on a phone; the app's links must too."""
    context = track_runs(browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True))
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(fresh_server + "/")
    wait_ready(page, timeout=300_000)
    page.wait_for_function("window.__sparseCloseDrawer === true")  # the app's listener is in place
    sidebar = page.get_by_test_id("stSidebar")
    page.get_by_test_id("stExpandSidebarButton").click()
    expect(sidebar).to_have_js_property("offsetLeft", 0)
    sidebar.get_by_test_id("stPageLink-NavLink").filter(has_text="Cost & Speed").click()
    page.wait_for_url("**/cost?*")
    wait_ready(page, timeout=300_000)
    page.wait_for_function("document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().right <= 0")
    context.close()
