import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_ready
from tests.conftest import app_test
from ui.figures import human


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


def test_a_mask_that_keeps_every_pair_is_drawn_in_the_kept_colour():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from sparse_core.views import MaskView
    from ui.figures import KEPT_RGB, mask_image

    small = mask_image(MaskView(np.ones((64, 64), bool), False, 1, 64))
    assert small.data[0].zmin == 0 and small.data[0].zmax == 1 and small.data[0].z.min() == 1
    for view in (MaskView(np.ones((256, 256), bool), False, 1, 256), MaskView(np.ones((8, 8)), True, 512, 4096)):
        png = mask_image(view).data[0].source.split(",", 1)[1]
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
        assert (pixels == KEPT_RGB).all()


def test_home_reads_its_link_through_the_validated_reader():
    at = app_test()
    at.query_params["lang"] = "[Session expired - log in again](http://example.invalid)"
    at.run()
    assert not at.exception and at.title[0].value == "Sparse Attention Explorer"
    assert "\\[Session expired \\- log in again\\]\\(http\\:" in at.warning[0].value  # shown as text, escaped


@pytest.mark.browser
def test_wait_ready_waits_for_the_run_a_click_asked_for(ready_page, app_url):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    page = ready_page
    wire = {"asked": 0, "finished": []}  # what protobuf itself reads off the socket, to check the page's counter

    def sent(payload):
        msg = BackMsg()
        msg.ParseFromString(payload)
        wire["asked"] += msg.WhichOneof("type") == "rerun_script"

    def received(payload):
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        if msg.WhichOneof("type") == "script_finished":
            wire["finished"].append(msg.script_finished)

    page.on("websocket", lambda ws: (ws.on("framesent", sent), ws.on("framereceived", received)))
    page.goto(app_url + "/?lang=en")
    wait_ready(page)
    page.get_by_test_id("stSidebar").get_by_text("中文", exact=True).click()
    wait_ready(page)
    # one read, no retrying assertion: the run that the click asked for must already be over
    assert "稀疏注意力探索器" in page.locator("[data-testid=stMain] h1").first.inner_text()
    runs = page.evaluate("() => window.__stRuns")
    assert runs["asked"] == wire["asked"] >= 2 and runs["answered"] == runs["asked"]
    assert runs["finished"] == wire["finished"] and wire["finished"][-1] == ForwardMsg.FINISHED_SUCCESSFULLY


def test_home_links_every_page_that_app_py_declares_with_units_on_its_numbers():
    from ui.i18n import STRINGS
    from ui.pages import PAGES

    declared = PAGES  # the list app.py hands to st.navigation
    for lang in ("en", "zh"):
        at = app_test()
        at.query_params["lang"] = lang
        at.run()
        assert not at.exception
        # the main area's links (the sidebar has its own navigation links)
        links = [(link.proto.page, link.proto.label) for link in at.main.get("page_link")]
        others = [(p.path, p.title_key) for p in declared if not p.default]
        assert len(links) == len(others) >= 5
        for (path, key), (page, label) in zip(others, links, strict=True):
            assert page == Path(path).stem and STRINGS[key][lang] in label
        captions = [c.value for c in at.caption]
        for path, _ in others:  # each link has its description under it
            assert STRINGS[f"home.{Path(path).stem}"][lang] in captions
        n = at.select_slider(key="home_n").value
        saving = captions[0]
        assert saving.startswith(STRINGS["home.saving"][lang].split("{")[0])  # says what the numbers count
        assert human(n * n) in saving
