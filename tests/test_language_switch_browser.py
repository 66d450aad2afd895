"""English → 中文 → English in a real browser keeps the Explorer's layers and the Cost page's pickers. Streamlit
1.67 sends a picker's value back as its label, so after a switch the browser's old-language labels no longer
matched (AppTest hands back values and cannot show it): the Explorer's streaming layer became a window and its
intersection a union; the Cost page's patterns emptied (ui.chrome.resend_after_language_switch)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import wait_ready

pytestmark = pytest.mark.browser


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def round_trip(page) -> list[dict[str, str]]:
    seen = [query(page)]
    for lang, label in (("zh", "中文"), ("en", "English")):
        page.get_by_test_id("stSidebar").get_by_text(label, exact=True).click()
        wait_ready(page)
        assert query(page).get("lang") == lang
        seen.append(query(page))
    return [{k: v for k, v in q.items() if k != "lang"} for q in seen]


@pytest.mark.parametrize(
    "path",
    [
        "explorer?lang=en&pattern=window(window=64)%2Bstreaming(sinks=4)&n=8192&op=intersection&causal=1",
        "cost?lang=en&patterns=window,streaming",
    ],
)
def test_a_language_round_trip_keeps_every_picker(ready_page, app_url, path):
    page = ready_page
    page.goto(f"{app_url}/{path}")
    wait_ready(page, timeout=240_000)
    before, zh, after = round_trip(page)
    assert before == zh == after, (before, after)
    assert "streaming" in (before.get("pattern", "") + before.get("patterns", ""))  # the non-default value is there
