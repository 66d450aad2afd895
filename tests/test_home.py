import json

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_ready
from tests.conftest import app_test


def test_home_renders_live_numbers_in_both_languages():
    at = app_test().run()
    assert not at.exception
    assert at.title[0].value == "Sparse Attention Explorer"
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    sparse = json.loads(charts[1].proto.spec)
    assert "of dense" in sparse["layout"]["title"]["text"]
    at.select_slider(key="home_n").set_value(512).run()
    assert "262,144 pairs" in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
    at.sidebar.radio(key="_lang_widget").set_value("zh").run()
    assert not at.exception and at.title[0].value == "稀疏注意力探索器"
    assert at.query_params["lang"] == ["zh"] or at.query_params["lang"] == "zh"


@pytest.mark.browser
def test_home_in_a_real_browser(ready_page, app_url):
    page = ready_page
    page.goto(app_url)
    wait_ready(page)
    expect(page.get_by_role("heading", name="Sparse Attention Explorer", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
    expect(page.get_by_text("of dense").first).to_be_visible()
    screenshot(page, "home-en")
    page.goto(app_url + "/?lang=zh")
    wait_ready(page)
    expect(page.get_by_role("heading", name="稀疏注意力探索器", exact=True)).to_be_visible()
    expect(page.get_by_text("稠密：").first).to_be_visible()
    screenshot(page, "home-zh")
