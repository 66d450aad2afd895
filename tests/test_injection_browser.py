"""Issue 10 in a real browser: crafted links on every page load nothing from elsewhere, open no
dialog, and render no link or image from the link's text."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser import wait_ready
from tests.test_fuzz_urls import INJECTIONS, PARAMS

pytestmark = pytest.mark.browser

PATHS = {"home": "/", "explorer": "/explorer", "learn": "/learn", "cost": "/cost", "inspector": "/inspector"}
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
INJECTED = ("127.0.0.1:9", "example.invalid", "http://x", "src=x")


def _url(app_url: str, page: str, attack: str) -> str:
    query = "&".join(f"{name}={quote(attack, safe='')}" for name in PARAMS[page])
    return f"{app_url}{PATHS[page]}?{query}"


@pytest.mark.parametrize("page_name", list(PATHS))
def test_crafted_links_stay_text(ready_page, app_url, page_name):
    browser_page = ready_page
    dialogs, outside = [], []
    browser_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_page.on("request", lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url))
    attacks = INJECTIONS if page_name != "inspector" else INJECTIONS[:1] + INJECTIONS[3:]  # the inspector loads a model
    for attack in attacks:
        browser_page.goto(_url(app_url, page_name, attack))
        wait_ready(browser_page, timeout=300_000)
        assert not dialogs, dialogs
        assert not outside, outside
        main = browser_page.locator("[data-testid=stMain]")
        links = main.locator("a[href^=http]").evaluate_all("els => els.map(e => e.href)")
        images = main.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src') || '')")
        assert not [u for u in links if any(s in u for s in INJECTED)], links
        assert not [s for s in images if any(x in s for x in INJECTED) or s == "x"], images
        assert "Traceback" not in main.inner_text()
