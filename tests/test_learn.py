"""Learn: every step renders live in both languages; the tour can be walked in a real browser."""

import base64
import json

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_ready
from tests.conftest import app_test
from ui.i18n import STRINGS

pytestmark = pytest.mark.model


def values(data) -> np.ndarray:
    """A plotly array from a chart spec, whether sent as a list or as a typed base64 array."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.array(data, dtype=float)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_step_renders_in_both_languages(lang):
    at = app_test(timeout=300)
    at.query_params["lang"] = lang
    at.run()
    at.switch_page("app_pages/learn.py").run()
    for step in range(1, 9):
        at.radio(key="le_step").set_value(step).run()
        assert not at.exception and not at.error, (lang, step)
        assert at.subheader[0].value == STRINGS[f"le.s{step}"][lang]
        assert STRINGS[f"le.t{step}"][lang].split("\n")[0][:40] in at.markdown[0].value
        assert at.get("plotly_chart") or at.dataframe, f"step {step} has no live figure"


def test_figures_react_to_the_reader():
    at = app_test(timeout=300)
    at.run()
    at.switch_page("app_pages/learn.py").run()
    at.radio(key="le_step").set_value(1).run()
    before = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][1]["x"]
    at.select_slider(key="le_n1").set_value(1 << 20).run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][1]["x"] != before
    at.radio(key="le_step").set_value(6).run()
    at.slider(key="le_layers6").set_value(1).run()
    one = values(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["customdata"])
    at.slider(key="le_layers6").set_value(8).run()
    eight = values(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["customdata"])
    assert np.isfinite(eight).sum() > np.isfinite(one).sum() > 0  # the receptive field grows with depth


def test_next_and_previous_walk_the_tour_and_the_url_remembers():
    at = app_test(timeout=300)
    at.run()
    at.switch_page("app_pages/learn.py").run()
    for step in range(2, 9):
        at.button(key="le_next").click().run()
        assert at.radio(key="le_step").value == step
    assert at.button(key="le_next").disabled
    at.button(key="le_prev").click().run()
    assert at.radio(key="le_step").value == 7 and at.query_params["step"] in ("7", ["7"])


@pytest.mark.browser
@pytest.mark.parametrize("lang, next_label", [("en", "Next →"), ("zh", "下一步 →")])
def test_walk_the_tour_in_a_real_browser(ready_page, app_url, lang, next_label):
    page = ready_page
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(f"{app_url}/learn?lang={lang}&step=1")
    wait_ready(page, timeout=240_000)
    for step in range(1, 9):
        expect(page.get_by_role("heading", name=STRINGS[f"le.s{step}"][lang])).to_be_visible(timeout=120_000)
        expect(page.get_by_test_id("stPlotlyChart").or_(page.get_by_test_id("stDataFrame")).first).to_be_visible()
        screenshot(page, f"learn-{lang}-step{step}")
        if step < 8:
            page.get_by_role("button", name=next_label).click()
            wait_ready(page, timeout=120_000)
