"""Learn: every step renders live in both languages; the tour can be walked in a real browser."""

import base64
import io
import json
import re
import string

import numpy as np
import pytest
from playwright.sync_api import expect

from sparse_core import memory
from tests.browser import screenshot, wait_charts, wait_ready
from tests.conftest import app_test
from tests.links import follow_link
from ui.figures import KEPT_RGB, human
from ui.i18n import STRINGS

pytestmark = pytest.mark.model
STEPS = sum(1 for key in STRINGS if re.fullmatch(r"le\.s[0-9]+", key))  # the tour's steps, by their headings


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
    for step in range(1, STEPS + 1):
        at.radio(key="step").set_value(step).run()
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
    at.radio(key="step").set_value(1).run()
    before = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][-1]["x"]
    at.select_slider(key="le_n1").set_value(1 << 20).run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][-1]["x"] != before
    at.radio(key="step").set_value(6).run()
    at.slider(key="le_layers6").set_value(1).run()
    one = values(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["customdata"])
    at.slider(key="le_layers6").set_value(8).run()
    eight = values(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["customdata"])
    assert np.isfinite(eight).sum() > np.isfinite(one).sum() > 0  # the receptive field grows with depth


def test_next_and_previous_walk_the_tour():
    at = app_test(timeout=300)
    at.run()
    at.switch_page("app_pages/learn.py").run()
    for step in range(2, STEPS + 1):
        at.button(key="le_next").click().run()
        assert at.radio(key="step").value == step
        assert at.subheader[0].value == STRINGS[f"le.s{step}"]["en"]
    assert at.button(key="le_next").disabled
    at.button(key="le_prev").click().run()
    assert at.radio(key="step").value == STEPS - 1


def test_the_step_is_bound_to_the_url_and_survives_a_round_trip():
    at = app_test(timeout=300)
    at.query_params["step"] = "3"
    at.switch_page("app_pages/learn.py").run()
    radio = at.radio(key="step")
    # Streamlit itself keeps ?step= equal to the widget (the browser test checks the address bar);
    # digits, so a link means the same step in either language
    assert radio.proto.query_param_key == "step" and list(radio.options) == [str(s) for s in range(1, STEPS + 1)]
    assert radio.value == 3
    at.radio(key="step").set_value(6).run()
    follow_link(at, "app_pages/home.py").run()  # the sidebar's links, as the app draws them
    follow_link(at, "app_pages/learn.py").run()
    assert not at.exception and at.radio(key="step").value == 6
    assert at.subheader[0].value == STRINGS["le.s6"]["en"]


def test_step_one_names_every_gpu_line():
    at = app_test(timeout=300)
    at.switch_page("app_pages/learn.py").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"].split(" (")[0]: t for t in spec["data"] if t.get("showlegend", True) is not False}
    for gpu in memory.GPUS:
        # named in the legend (annotations on a log axis would land at 10^y, off the plot)
        assert values(lines[gpu.name]["y"]).tolist() == [gpu.memory_bytes] * 2
    assert not spec["layout"].get("annotations")


@pytest.mark.parametrize(
    "asked", ["²", "①", "9" * 5000, "-1", "0", str(STEPS + 1), "<b>x</b>", "[x](http://127.0.0.1:9/a)"]
)
def test_a_bad_step_in_the_link_gives_the_first_step_and_a_plain_notice(asked):
    at = app_test(timeout=300)
    at.query_params["step"] = asked
    at.switch_page("app_pages/learn.py").run()
    assert not at.exception and not at.error
    assert at.radio(key="step").value == 1 and at.subheader[0].value == STRINGS["le.s1"]["en"]
    notice = " ".join(w.value for w in at.warning)
    assert "step" in notice and len(notice) < 600  # a 5,000-digit value is not echoed whole
    assert "<b>" not in notice and "](" not in notice  # user text is escaped, never markup
    at.radio(key="step").set_value(2).run()
    assert not at.warning  # the notice is said once


def test_a_good_step_in_the_link_opens_that_step():
    at = app_test(timeout=300)
    at.query_params["step"] = "5"
    at.switch_page("app_pages/learn.py").run()
    assert not at.exception and not at.warning and at.radio(key="step").value == 5


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
    for step in range(1, STEPS + 1):
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
        if step < STEPS:
            page.get_by_role("button", name=STRINGS["le.next"][lang]).click()
            wait_ready(page, timeout=120_000)


# -- captions agree with the figure beside them ------------------------------------------------
def _template(key: str, lang: str) -> re.Pattern:
    """The catalog entry as a regex: each {field} a named group (a repeated field must repeat its value)."""
    text, seen, out = STRINGS[key][lang], set(), []
    for literal, field, _, _ in string.Formatter().parse(text):
        out.append(re.escape(literal))
        if field:
            out.append(f"(?P={field})" if field in seen else f"(?P<{field}>.+?)")
            seen.add(field)
    return re.compile("".join(out) + "$")


def _read(key: str, lang: str, texts) -> dict[str, str]:
    """The fields of the one shown text that the catalog entry `key` produced."""
    pattern = _template(key, lang)
    found = [m.groupdict() for m in (pattern.match(t) for t in texts) if m]
    assert len(found) == 1, (key, lang, texts)
    return found[0]


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%")) / (100 if text.endswith("%") else 1)


def _spec(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


class _Pictures:
    """What st.image stored, by media file id: the tests read the thumbnails' pixels as the browser would."""

    def __init__(self, monkeypatch):
        from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

        self.files: dict[str, bytes] = {}
        original = MemoryMediaFileStorage.load_and_get_id

        def keep(storage, data, mimetype, kind, filename=None):
            file_id = original(storage, data, mimetype, kind, filename)
            self.files[file_id] = data
            return file_id

        monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)

    def kept_share(self, url: str) -> float:
        from PIL import Image

        data = self.files[url.rsplit("/", 1)[-1].split(".")[0]]
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        return float((pixels == KEPT_RGB).all(axis=-1).mean())


def _captions(at) -> list[str]:
    return [c.value for c in at.caption] + [i.value for i in at.info]


def _check_step(at, step: int, lang: str, pictures: _Pictures) -> None:
    texts = _captions(at)
    if step == 1:
        marker = _spec(at, "le_fig1")["data"][-1]
        fields = _read("le.f1_metric", lang, [m.label for m in at.metric])
        assert _number(fields["n"]) == marker["x"][0]
        assert at.metric[0].value == memory.format_bytes(marker["y"][0])
        for trace in _spec(at, "le_fig1")["data"][2:-1]:  # one horizontal line per GPU, its bytes as y
            budget = values(trace["y"])[0]
            gpu = trace["name"].split(" (")[0].split("（")[0]
            fits = [_read("le.f1_fits", lang, [t]) for t in texts if _template("le.f1_fits", lang).match(t)]
            n = int(_number(next(f["n"] for f in fits if f["gpu"] == gpu)))
            assert (
                memory.dense_prefill_bytes(memory_model(), n)
                <= budget
                < memory.dense_prefill_bytes(memory_model(), n + 1)
            )
    elif step == 2:
        hist, curve = _spec(at, "le_fig2a")["data"][0], _spec(at, "le_fig2b")["data"][0]
        x, counts, share = values(hist["x"]), values(hist["y"]), values(curve["y"])
        fields = _read("le.f2_summary", lang, texts)
        assert fields["tiny"] == f"{counts[x < -2].sum() / counts.sum():.0%}"  # bars left of 10^-2
        assert fields["share"] == f"{share[int(fields['k']) - 1]:.0%}" and int(fields["n"]) == len(share)
        assert _read("le.f2_text", lang, [e.label for e in at.expander])["n"] == f"{len(share):,}"
    elif step == 3:
        for name in STEP3_PATTERNS:  # every pattern the step offers
            at.selectbox(key="le_pattern3").set_value(name).run()
            graph, matrix = _spec(at, "le_fig3a"), _spec(at, "le_fig3b")
            xs = values(graph["data"][0]["x"])
            assert np.isnan(xs[2::3]).all()  # start, tip, gap per arrow
            arrows = int(np.isfinite(xs[0::3]).sum())
            rings = int((values(graph["data"][1]["marker"]["line"]["width"]) > 2).sum())
            cells = int(values(matrix["data"][0]["z"]).sum())
            fields = _read("le.f3_counts", lang, _captions(at))
            assert int(fields["edges"]) == arrows and int(fields["loops"]) == rings and int(fields["cells"]) == cells
            assert arrows + rings == cells  # every dark cell is an arrow or a self-loop, nothing else
            assert f"{arrows}" in graph["layout"]["title"]["text"]
    elif step in (4, 5):
        images = at.get("image")
        shown = [c for c in texts if c.startswith("**")]
        assert len(images) == len(shown) >= 5
        for image, caption in zip(images, shown, strict=True):
            share = caption.rsplit(" · ", 1)[-1]
            assert _read("le.f4_kept", lang, [share])["share"] == f"{pictures.kept_share(image.value[0]):.0%}"
    elif step == 6:
        bars = _spec(at, "le_fig6")
        first = values(bars["data"][0]["customdata"])
        fields = _read("le.f6_reach", lang, texts)
        assert int(fields["reached"]) == np.isfinite(first).sum() and int(fields["n"]) == len(first)
        assert int(fields["q"]) == bars["layout"]["shapes"][0]["x0"]
        assert int(fields["layers"]) == bars["data"][0]["marker"]["cmax"]
    elif step == 7:
        bars = _spec(at, "le_fig7")["data"][0]
        table = at.table[0].value
        flops = dict(zip(bars["y"], values(bars["x"]), strict=True))
        dense = flops[STRINGS["co.dense"][lang]]
        for label, text in zip(bars["y"], bars["text"], strict=True):
            assert table.loc[label, STRINGS["le.f7_compute"][lang]] == human(flops[label], "FLOP")
            assert text == f"{dense / flops[label]:,.0f}×"
        fields = _read("le.f7_streaming", lang, texts)
        cache = table.loc[fields["pattern"], STRINGS["le.f7_cache"][lang]]
        assert cache == STRINGS["le.f7_cache_cell"][lang].format(tokens=fields["tokens"], bytes=fields["bytes"])
        assert fields["longest"] == table.loc[fields["pattern"], STRINGS["le.f7_context"][lang].format(mem="80 GiB")]
    elif step == 9:
        _check_remembering(at, lang, texts)
    elif step == 8:
        data = _spec(at, "le_fig8")["data"]
        density, mass = (dict(zip(d["y"], values(d["x"]), strict=True)) for d in data[:2])
        best = max(mass, key=mass.get)
        fields = _read("le.f8_best", lang, texts)
        assert (fields["pattern"], fields["mass"], fields["density"]) == (
            best,
            f"{mass[best]:.0%}",
            f"{density[best]:.0%}",
        )


def _check_remembering(at, lang: str, texts: list[str]) -> None:
    """Step 9: the caption's pattern is the most fluent bar of the left chart, its perplexity that bar's label,
    its keys the right chart's "correct/trials" for it and the sum of its heatmap's cells; dense likewise."""
    bars = _spec(at, "le_fig9a")["data"]
    ppl = dict(zip(bars[0]["y"], values(bars[0]["x"]), strict=True))
    ppl_text = dict(zip(bars[0]["y"], bars[0]["text"], strict=True))
    keys = dict(zip(bars[1]["y"], bars[1]["text"], strict=True))
    dense = STRINGS["lab.dense"][lang]
    fluent = min((label for label in ppl if label != dense), key=ppl.get)
    fields = _read("le.f9_caption", lang, texts)
    assert (fields["fluent"], fields["ppl"]) == (fluent, ppl_text[fluent])
    assert f"{fields['correct']}/{fields['trials']}" == keys[fluent]
    assert f"{fields['dense_correct']}/{fields['dense_trials']}" == keys[dense]
    cells = {}  # keys recalled per arm, recounted from the heatmap's cells ("correct/trials" each)
    for heat in _spec(at, "le_fig9b")["data"]:
        pairs = [tuple(map(int, c.split("/"))) for row in heat["text"] for c in row if c]
        cells[heat["meta"].split(" · ")[0]] = f"{sum(c for c, _ in pairs)}/{sum(n for _, n in pairs)}"
    assert cells[dense] == keys[dense] and cells[fluent] == keys[fluent]


def memory_model():
    from sparse_core.cost import MODEL_PRESETS

    return MODEL_PRESETS["Llama-2-7B"]


STEP3_PATTERNS = ["window", "global", "random", "strided", "bigbird", "longformer"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_caption_counts_what_its_figure_draws(lang, monkeypatch):
    """Each number in a step's captions is read back from the figure's own data (the plotly spec, the
    thumbnail's pixels, the table) and counted independently: "30 edges" beside 46 cells fails here."""
    pictures = _Pictures(monkeypatch)
    at = app_test(timeout=300)
    at.query_params["lang"] = lang
    at.switch_page("app_pages/learn.py").run()
    for step in range(1, STEPS + 1):
        at.radio(key="step").set_value(step).run()
        assert not at.exception, (lang, step)
        _check_step(at, step, lang, pictures)


def _shown_step(page) -> int:
    """The step whose heading the page shows (its number leads the heading in both languages)."""
    return int(page.locator("[data-testid=stMain] h3").first.inner_text().split(" ", 1)[0])


def _url_step(page) -> int | None:
    from urllib.parse import parse_qs, urlparse

    values = parse_qs(urlparse(page.url).query).get("step")
    return int(values[0]) if values else None


@pytest.mark.browser
def test_the_step_survives_sidebar_back_forward_and_reload(ready_page, app_url):
    page = ready_page
    sidebar = page.get_by_test_id("stSidebar")

    def act(action, expected: int | None):
        action()
        wait_ready(page, timeout=120_000)
        if expected is not None:  # on Learn: the heading shows the step and the URL says the same
            assert (_shown_step(page), _url_step(page)) == (expected, expected), page.url

    act(lambda: page.goto(f"{app_url}/learn?lang=en&step=3"), 3)
    act(lambda: sidebar.get_by_text("Home", exact=True).click(), None)
    assert "step" not in page.url  # Learn's parameter does not follow the user to another page
    act(page.go_back, 3)
    act(page.go_forward, None)
    act(page.go_back, 3)
    act(lambda: page.get_by_role("button", name=STRINGS["le.next"]["en"]).click(), 4)
    act(lambda: sidebar.get_by_text(STRINGS["nav.cost"]["en"], exact=True).click(), None)
    act(lambda: sidebar.get_by_text(STRINGS["nav.learn"]["en"], exact=True).click(), 4)
    act(page.reload, 4)
    act(lambda: page.get_by_test_id("stRadio").get_by_text("1", exact=True).click(), 1)
    act(lambda: page.get_by_role("button", name=STRINGS["le.next"]["en"]).click(), 2)
    act(page.go_back, 1)
    act(lambda: sidebar.get_by_text("中文", exact=True).click(), 1)
    assert page.locator("[data-testid=stMain] h3").first.inner_text() == STRINGS["le.s1"]["zh"]
