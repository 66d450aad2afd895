"""Learn: every step renders live in both languages; the tour can be walked in a real browser."""

import base64
import json

import numpy as np
import pytest
from playwright.sync_api import expect

from sparse_core import memory
from tests.browser import screenshot, wait_charts, wait_ready
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
        assert at.get("plotly_chart") or at.dataframe or at.table or at.get("image"), f"step {step} has no live figure"
        for chart in at.get("plotly_chart"):  # one notation on every log axis: powers of ten, or plain n
            layout = json.loads(chart.proto.spec)["layout"]
            for axis in (v for k, v in layout.items() if k.startswith(("xaxis", "yaxis")) and v.get("type") == "log"):
                assert axis.get("exponentformat") == "power" or axis.get("tickformat") == ",d", (step, axis)


def test_figures_react_to_the_reader():
    at = app_test(timeout=300)
    at.run()
    at.switch_page("app_pages/learn.py").run()
    at.radio(key="le_step").set_value(1).run()
    before = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][-1]["x"]
    at.select_slider(key="le_n1").set_value(1 << 20).run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][-1]["x"] != before
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


def test_step_one_names_every_gpu_line():
    at = app_test(timeout=300)
    at.switch_page("app_pages/learn.py").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"].split(" (")[0]: t for t in spec["data"] if t.get("showlegend", True) is not False}
    for gpu in memory.GPUS:
        # named in the legend (annotations on a log axis would land at 10^y, off the plot)
        assert values(lines[gpu.name]["y"]).tolist() == [gpu.memory_bytes] * 2
    assert not spec["layout"].get("annotations")


@pytest.mark.parametrize("asked", ["²", "①", "9" * 5000, "-1", "0", "9", "<b>x</b>", "[x](http://127.0.0.1:9/a)"])
def test_a_bad_step_in_the_link_gives_the_first_step_and_a_plain_notice(asked):
    at = app_test(timeout=300)
    at.query_params["step"] = asked
    at.switch_page("app_pages/learn.py").run()
    assert not at.exception and not at.error
    assert at.radio(key="le_step").value == 1 and at.subheader[0].value == STRINGS["le.s1"]["en"]
    notice = " ".join(w.value for w in at.warning)
    assert "step" in notice and len(notice) < 600  # a 5,000-digit value is not echoed whole
    assert "<b>" not in notice and "](" not in notice  # user text is escaped, never markup
    at.radio(key="le_step").set_value(2).run()
    assert not at.warning  # the notice is said once


def test_a_good_step_in_the_link_opens_that_step():
    at = app_test(timeout=300)
    at.query_params["step"] = "5"
    at.switch_page("app_pages/learn.py").run()
    assert not at.exception and not at.warning and at.radio(key="le_step").value == 5


def full_screenshot(page, name: str):
    """The whole page at the viewport's width. Streamlit scrolls inside its own container, so the
    viewport grows to the content's height for the picture, then returns to its size."""
    wait_charts(page)
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight,"
        " ...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')]"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height), 8000)})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    path = screenshot(page, name)
    page.set_viewport_size(size)
    return path


def _inside_the_page(page, test_id: str) -> None:
    """Every element with this test id lies within the viewport's width (nothing is cut on the right)."""
    width = page.viewport_size["width"]
    boxes = [el.bounding_box() for el in page.get_by_test_id(test_id).all()]
    for box in filter(None, boxes):  # None: an element of the previous step, removed meanwhile
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (test_id, box, width)


def _no_overlap(page, selector: str) -> None:
    boxes = sorted((b for b in (el.bounding_box() for el in page.locator(selector).all()) if b), key=lambda b: b["y"])
    assert boxes, selector
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert a["y"] + a["height"] <= b["y"] + 0.5 or a["x"] + a["width"] <= b["x"] + 0.5, (selector, a, b)


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_walk_the_tour_in_a_real_browser(ready_page, app_url, lang, width, height):
    page = ready_page
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{app_url}/learn?lang={lang}&step=1")
    wait_ready(page, timeout=240_000)
    for step in range(1, 9):
        expect(page.get_by_role("heading", name=STRINGS[f"le.s{step}"][lang])).to_be_visible(timeout=120_000)
        figure = (
            page.get_by_test_id("stPlotlyChart")
            .or_(page.get_by_test_id("stDataFrame"))
            .or_(page.get_by_test_id("stTable"))
        )
        expect(figure.or_(page.get_by_test_id("stImage")).first).to_be_attached(timeout=60_000)
        wait_ready(page, timeout=120_000)
        wait_charts(page)
        if step in (4, 5):
            expect(page.get_by_test_id("stImage")).to_have_count(7 if step == 4 else 5, timeout=60_000)
            _inside_the_page(page, "stImage")
        if step == 8:  # pattern names on the category axis never overlap
            _no_overlap(page, "[data-testid=stPlotlyChart] .ytick text")
        _inside_the_page(page, "stPlotlyChart")
        full_screenshot(page, f"learn-{lang}-{width}-step{step}")
        if step < 8:
            page.get_by_role("button", name=STRINGS["le.next"][lang]).click()
            wait_ready(page, timeout=120_000)
