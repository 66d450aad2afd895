"""Three personas across pages in a real browser (issue 17): leaving and returning by the sidebar,
Back, Forward, Reload and a language switch mid-journey. After every move: no exception, no error
box, the state kept, and the URL says what the page shows. Then screenshots of every page after a
round trip, in both languages, at desktop and phone size (test-artifacts/)."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, track_runs, wait_charts, wait_ready
from ui.i18n import t

pytestmark = [pytest.mark.browser, pytest.mark.model]
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
NAV = {
    "home": "nav.home",
    "explorer": "nav.explorer",
    "inspector": "nav.inspector",
    "lab": "lab.nav",
    "cost": "nav.cost",
    "learn": "nav.learn",
}
OWN_TEXT = (
    "Marta kept the ledger of the harbour for forty years. Every ship that came in was written down with "
    "its cargo, its captain and the weather. When the archive burned, her ledger was the only record left, "
    "and the town rebuilt its history from her careful, cramped handwriting, page after page, ship by ship."
)
EXPLORER_DEFAULT = ("longformer", 4096)  # what the Explorer shows for a URL without its parameters
OWN_URL = ("explorer", "inspector", "lab", "cost")  # the pages whose URL this suite checks after Back
# ms: the first Inspector or Lab run of a fresh server loads a model on a busy machine
LONG = int(os.environ.get("SPARSE_JOURNEY_TIMEOUT_MS", "300000"))


@pytest.fixture
def journey(browser, fresh_server):
    """A new session (its own browser context) on this module's server, at desktop size."""
    context = track_runs(browser.new_context(viewport={"width": 1440, "height": 900}))
    page = context.new_page()
    page.set_default_timeout(LONG)
    page.base = fresh_server
    yield page
    context.close()


def query(page) -> dict[str, str]:
    return dict(parse_qsl(urlparse(page.url).query, keep_blank_values=True))


def path(page) -> str:
    return urlparse(page.url).path.strip("/")


def settle(page) -> None:
    wait_ready(page, timeout=LONG)
    clean(page)


def clean(page, lang: str = "") -> None:
    """No traceback and no error box on the page."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
    for code in ("en", "zh"):
        prefix = t("err.prefix", code, msg="").strip()
        expect(page.get_by_test_id("stAlert").filter(has_text=prefix)).to_have_count(0)


def nav_links(page):
    """The sidebar's page links (ui.chrome.page_links)."""
    return page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")


def sidebar(page, name: str, lang: str = "en") -> None:
    """A sidebar link, as a person clicks it: the URL then names that page."""
    open_sidebar(page)
    nav_links(page).filter(has_text=t(NAV[name], lang)).click()
    page.wait_for_function(f"(location.pathname.replace(/^\\/+|\\/+$/g, '') || 'home') === '{name}'")
    settle(page)


def _drawer_open(page) -> bool:
    return page.evaluate("document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().right > 0")


DRAWER_SETTLED = (
    "(() => { const r = document.querySelector('[data-testid=stSidebar]').getBoundingClientRect();"
    " return r.left >= 0 || r.right <= 0; })()"
)
DRAWER_OPEN = "document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().left >= 0"


def open_sidebar(page) -> None:
    """On a phone the sidebar is a drawer, open or closed: open it if its links are off screen.

    Waits for the drawer to stand still first: a link closes it, and a check made mid-slide read a
    closing drawer as open (its link was then outside the viewport)."""
    page.wait_for_function(DRAWER_SETTLED)
    if not _drawer_open(page):
        page.get_by_test_id("stExpandSidebarButton").click()
    page.wait_for_function(DRAWER_OPEN)


def close_sidebar(page) -> None:
    """Close the drawer on a phone, where it covers the page (a link closes it too); a desktop's sidebar stays."""
    if page.viewport_size["width"] < 700 and _drawer_open(page):
        page.get_by_test_id("stSidebarCollapseButton").locator("button").first.click()
        page.wait_for_function("document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().right <= 0")


def screens(page, name: str, most: int) -> None:
    """Screenshots down the page, one viewport at a time (Streamlit scrolls inside its main section)."""
    scroller = "document.querySelector('[data-testid=stMain]')"
    step = page.viewport_size["height"] - 60
    pages = -(-page.evaluate(f"{scroller}.scrollHeight") // step)
    for i in range(1, min(most, pages)):
        page.evaluate(f"{scroller}.scrollTo(0, {i * step})")
        wait_charts(page)
        screenshot(page, f"{name}-{i + 1}")
    page.evaluate(f"{scroller}.scrollTo(0, 0)")


def switch_language(page, lang: str) -> None:
    page.get_by_test_id("stSidebar").get_by_text({"en": "English", "zh": "中文"}[lang], exact=True).click()
    settle(page)
    assert query(page).get("lang") == lang


def back(page, to: str) -> None:
    """One Back: the browser shows page `to` (each page change is one history entry)."""
    page.go_back()
    settle(page)
    assert path(page) == to, f"Back did not reach {to!r}: {page.url}"


def forward(page, to: str) -> None:
    """One Forward: the browser shows page `to`."""
    page.go_forward()
    settle(page)
    assert path(page) == to, f"Forward did not reach {to!r}: {page.url}"


def reload(page) -> None:
    page.reload()
    settle(page)


def choose(page, box: str, option: str) -> None:
    """Pick an option of a selectbox by typing it (a click on a listed option can race a rerun)."""
    combo = page.get_by_role("combobox", name=box)
    combo.click()
    combo.fill(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    settle(page)


def slide(page, label: str, steps: int) -> None:
    """Move a select slider by whole options with the arrow keys, one rerun per step."""
    thumb = page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")
    for _ in range(abs(steps)):
        thumb.focus()
        thumb.press("ArrowRight" if steps > 0 else "ArrowLeft")
        settle(page)


def combo_value(page, box: str) -> str:
    return page.get_by_role("combobox", name=box).input_value()


def explorer_shows(page, lang: str = "en") -> tuple[str, str]:
    """(pattern title in the first layer's picker, n on the slider), as the page shows them."""
    title = combo_value(page, t("ex.layer", lang, i=1))
    slider = page.get_by_test_id("stSlider").filter(has_text=t("ex.n", lang)).get_by_role("slider").first
    return title, slider.get_attribute("aria-valuetext") or ""


def assert_explorer(page, pattern: str, n: int, lang: str = "en") -> None:
    """The Explorer shows `pattern` at `n`, and its URL says the same and nothing of another page's."""
    title, shown_n = explorer_shows(page, lang)
    assert title == t(f"pattern.{pattern}", lang), (title, page.url)
    assert shown_n in (f"{n // 1024}k", f"{n:,}", str(n)) or shown_n.startswith(str(n // 1024)), shown_n
    url = query(page)
    assert set(url) <= {"lang", "pattern", "n", "causal", "op", "block", "d_head"}, url
    if set(url) <= {"lang"}:  # none of its parameters: the URL says "the Explorer's defaults"
        assert (pattern, n) == EXPLORER_DEFAULT, (pattern, n, page.url)
    else:
        assert url["pattern"].startswith(pattern + "(") and url["n"] == str(n), url


# -- personas ---------------------------------------------------------------------------------
def test_student_learn_then_explorer_then_home_and_back(journey):
    page = journey
    page.goto(page.base + "/learn")
    settle(page)
    learn_url = query(page)
    sidebar(page, "explorer")
    assert "step" not in query(page)  # Learn's parameter stays on Learn
    assert_explorer(page, "longformer", 4096)
    sidebar(page, "home")
    back(page, "explorer")
    assert_explorer(page, "longformer", 4096)
    back(page, "learn")  # its own parameters back with it
    assert query(page).get("step", "1") == learn_url.get("step", "1")  # the step the student left
    assert set(query(page)) <= {"lang", "step"}, page.url
    switch_language(page, "zh")
    sidebar(page, "explorer", "zh")
    assert_explorer(page, "longformer", 4096, "zh")
    forward_target = page.url
    sidebar(page, "home", "zh")
    back(page, "explorer")
    assert page.url == forward_target
    screenshot(page, "journey-student-explorer-zh")


def test_practitioner_chooses_a_pattern_for_a_32k_model(journey):
    page = journey
    page.goto(page.base + "/explorer")
    settle(page)
    choose(page, "Pattern 1", "BigBird")
    slide(page, "Sequence length n", 3)  # 4k → 8k → 10,000 → 16k
    slide(page, "Sequence length n", 1)  # → 32k
    assert_explorer(page, "bigbird", 32_768)
    choose(page, "Pattern 1", "Longformer")
    assert_explorer(page, "longformer", 32_768)
    longformer_url = page.url
    sidebar(page, "cost")
    assert "pattern" not in query(page) and "n" not in query(page)
    sidebar(page, "explorer")  # the measured failure: back as Sliding window at n = 16
    assert_explorer(page, "longformer", 32_768)
    assert page.url == longformer_url
    sidebar(page, "cost")
    back(page, "explorer")
    assert_explorer(page, "longformer", 32_768)
    forward(page, "cost")
    reload(page)
    assert path(page) == "cost"
    back(page, "explorer")
    assert_explorer(page, "longformer", 32_768)
    reload(page)
    assert_explorer(page, "longformer", 32_768)
    switch_language(page, "zh")
    assert_explorer(page, "longformer", 32_768, "zh")
    screenshot(page, "journey-practitioner-explorer-zh")


def test_researcher_pastes_text_inspects_one_token_and_visits_the_lab(journey):
    page = journey
    page.goto(page.base + "/inspector")
    settle(page)
    box = page.get_by_role("textbox", name="Text", exact=True)
    box.fill(OWN_TEXT)
    box.press("Control+Enter")
    settle(page)
    assert combo_value(page, "Example text") == t("in.own", "en")
    assert query(page)["text"] == "own"
    expect(page.get_by_text("a shared link cannot carry it", exact=False)).to_be_visible()
    # One token's attention, then every change that raised the TypeError of issue 17
    choose(page, "Query token", "#40 ")
    assert query(page)["token"] == "40"
    choose(page, "Sparse pattern", t("pattern.vertical_slash", "en"))
    assert query(page)["pattern"].startswith("vertical_slash(")
    choose(page, "Query token", "#12 ")
    choose(page, "Sparse pattern", t("pattern.block_gating", "en"))
    layer = page.get_by_role("spinbutton", name="Layer")
    layer.fill("5")
    layer.press("Enter")
    settle(page)
    assert query(page)["layer"] == "5"
    slide(page, "Tokens to inspect", -2)  # 256 → 128 → 64: a new token list
    assert query(page)["tokens"] == "64"
    token = combo_value(page, "Query token")
    assert token.startswith(f"#{query(page)['token']} "), (token, page.url)
    choose(page, "Query token", "#30 ")
    # another model: another tokenizer, so another token list under the picked token
    page.get_by_test_id("stRadio").get_by_text("SmolLM2", exact=False).first.click()
    settle(page)
    assert query(page)["model"] == "smollm2"
    token = combo_value(page, "Query token")
    assert token.startswith(f"#{query(page)['token']} "), (token, page.url)
    inspector_url = page.url
    sidebar(page, "lab")
    sidebar(page, "inspector")
    assert page.get_by_role("textbox", name="Text", exact=True).input_value() == OWN_TEXT
    assert page.url == inspector_url
    back(page, "lab")
    back(page, "inspector")
    assert query(page)["pattern"].startswith("block_gating(")
    assert page.get_by_role("textbox", name="Text", exact=True).input_value() == OWN_TEXT
    switch_language(page, "zh")
    assert page.get_by_role("textbox", name="文本", exact=True).input_value() == OWN_TEXT
    reload(page)  # a new session: the link keeps everything but the pasted text, and says so
    assert query(page)["pattern"].startswith("block_gating(") and query(page)["text"] == "own"
    expect(page.get_by_text(t("in.own_missing", "zh"), exact=False)).to_be_visible()
    screenshot(page, "journey-researcher-after-reload-zh")


# -- every page after a round trip, both languages, desktop and phone ---------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_after_a_round_trip(browser, fresh_server, size, lang):
    width, height = SIZES[size]
    context = track_runs(browser.new_context(viewport={"width": width, "height": height}))
    page = context.new_page()
    page.set_default_timeout(LONG)
    page.goto(f"{fresh_server}/?lang={lang}")
    settle(page)
    for name in NAV:
        open_sidebar(page)
        sidebar(page, name, lang)
        before = page.url
        open_sidebar(page)
        sidebar(page, "home" if name != "home" else "cost", lang)
        back(page, name if name != "home" else "")
        if name in OWN_URL:  # Home and Learn (app_pages/home.py, learn.py) keep their URLs themselves
            assert page.url == before, (name, before, page.url)
        wait_charts(page)
        overflow = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=stMain]'); return [m.scrollWidth, m.clientWidth]; }"
        )
        assert overflow[0] <= overflow[1] + 1, f"{name} ({lang}, {size}) is {overflow[0]} px wide"
        close_sidebar(page)
        screenshot(page, f"roundtrip-{name}-{lang}-{size}")
        if size == "phone" and name in ("explorer", "inspector"):  # the charts, where the toolbar was in the way
            screens(page, f"roundtrip-{name}-{lang}-{size}", most=5)
    context.close()
