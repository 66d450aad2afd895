"""Issue 14: five people open the inspector at the same moment on a freshly started server.

The server is this test's own (not the session fixture), so the first imports of torch and
transformers and the first model load really happen while five sessions ask at once.
"""

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS, track_runs, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.model]
SESSIONS = 5


def test_five_sessions_open_the_inspector_at_once_on_a_fresh_server(fresh_server, playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        pages = []
        for _ in range(SESSIONS):
            context = track_runs(browser.new_context(viewport={"width": 1280, "height": 900}))
            pages.append(context.new_page())
        for page in pages:  # all five ask before any answer arrives
            page.goto(fresh_server + "/inspector", wait_until="commit")
        for i, page in enumerate(pages):
            wait_ready(page, timeout=300_000)
            expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=300_000)
            expect(page.get_by_text("Dense attention").first).to_be_attached(timeout=120_000)
            expect(page.get_by_test_id("stException"), f"session {i}").to_have_count(0)
            expect(page.get_by_text("ImportError"), f"session {i}").to_have_count(0)
            expect(page.get_by_test_id("stAlertContentError"), f"session {i}").to_have_count(0)
    finally:
        browser.close()
