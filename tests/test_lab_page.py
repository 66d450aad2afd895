"""Pattern Lab page: URL state, run, results, downloads, continuation, bad links, Chinese."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from sparse_core import lab
from tests.conftest import ROOT

PAGE = ROOT / "app_pages" / "lab.py"
EXAMPLE = ROOT / "assets" / "examples" / "en_story.txt"
pytestmark = pytest.mark.model


@pytest.fixture(autouse=True)
def _memory_cache_only(lab_memory_cache):
    yield


def page(lang: str = "en", **query) -> AppTest:
    """The lab page on its own, started from a URL."""
    at = AppTest.from_file(str(PAGE), default_timeout=600)
    at.session_state["lang"] = lang
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def table(at):
    assert len(at.dataframe) == 1
    return at.dataframe[0].value


def run_page(model: str, patterns: str, budgets: str, lang: str = "en") -> AppTest:
    at = page(lang, model=model, text="en_story", tokens="64", patterns=patterns, budgets=budgets)
    assert not at.exception
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    return at


def test_state_comes_from_the_url_and_goes_back_to_it():
    at = page(
        model="minilm", text="en_story", tokens="64", patterns="window,block", budgets="0.1,0.25", x="flops_share"
    )
    assert not at.exception
    assert at.session_state["lab_patterns"] == ["window", "block"]
    assert at.session_state["lab_budgets"] == [0.1, 0.25]
    assert at.session_state["lab_x"] == "flops_share"
    assert at.query_params["patterns"] in ("window,block", ["window,block"])
    assert any("Run" in i.value for i in at.info)  # nothing measured yet: no model work until asked


def test_run_shows_chart_table_strip_and_downloads():
    at = run_page("minilm", "window,block", "0.1,0.25")
    rows = table(at)
    assert len(rows) == 4 and set(rows["pattern"]) == {"window", "block"}
    assert {"density", "mass_kept", "cosine"} <= set(rows.columns)
    assert "ppl_change" not in rows.columns  # an encoder: no next-token metrics
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert {"lab_pareto", "lab_strip"} <= set(charts)
    assert len(charts["lab_pareto"]["data"]) == 2  # one line per pattern
    assert "window" in charts["lab_pareto"]["data"][0]["customdata"][0][0]  # hover carries the parameters
    assert len(at.get("download_button")) == 2
    again = page(model="minilm", text="en_story", tokens="64", patterns="window,block", budgets="0.1,0.25")
    assert table(again).equals(rows)  # a reload of the URL is served from the cache, no Run needed


def test_bad_link_values_warn_and_fall_back():
    at = page(model="gpt-9", patterns="window,<b>x</b>", budgets="7", tokens="-3", text="../etc/passwd")
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "gpt" in warning and "<b>" not in warning  # shown escaped, as text
    assert at.session_state["lab_model"] == "smollm2"


def test_smollm2_continuation_side_by_side_in_chinese():
    at = run_page("smollm2", "window,streaming", "0.25", lang="zh")
    assert "ppl_change" in table(at).columns
    at.slider(key="lab_steps").set_value(6).run()
    at.button(key="lab_cont_run").click().run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert len(texts) == 2
    assert any(m.value.startswith("**稠密") for m in at.markdown)


def test_page_in_chinese_shows_no_english_ui_text():
    import re

    from tests.test_i18n import ENGLISH, _visible_texts

    at = run_page("minilm", "window", "0.1", lang="zh")
    shown = "\n".join(_visible_texts(at))
    leaked = [s for s in ENGLISH if s in shown]
    assert not leaked, leaked
    assert re.search(r"[\u4e00-\u9fff]", shown)


def test_the_table_speaks_as_the_chart_titles_and_percentages():
    """Issue 17: the table showed internal names and fractions beside a chart of titles and percentages."""
    at = run_page("minilm", "window,block", "0.1,0.25")
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["pattern"]["type_config"]["type"] == "selectbox"
    shown = {o["label"] for o in config["pattern"]["type_config"]["options"]}
    assert shown == {"Sliding window", "Block / banded"}
    for column in ("budget", "density", "mass_kept"):
        assert config[column]["type_config"]["format"] == "percent", column


def test_every_lab_pattern_is_a_visible_pill():
    """Issue 17: the Patterns box folded the chosen patterns away and hid BigBird."""
    at = page(model="smollm2", text="en_story", tokens="64")
    pills = at.button_group(key="lab_patterns")
    assert "BigBird" in pills.options and len(pills.options) == len(lab.lab_patterns(True))
    assert pills.proto.wrap  # directly in a column, unwrapped pills scroll sideways and hide the rest


def test_the_deployments_token_cap_and_the_price_reach_the_page(monkeypatch):
    # a class server caps the Lab at 256 tokens: a link asking for 2,048 is refused with a message,
    # the slider offers nothing above the cap, and the predicted cost is shown before any run
    monkeypatch.setenv("SPARSE_EXPLORER_MAX_LAB_TOKENS", "256")
    at = page(model="minilm", text="en_story", tokens="2048", patterns="window", budgets="0.1")
    assert not at.exception
    assert any("tokens" in w.value for w in at.warning)  # the link's 2,048 is not offered here
    assert max(int(o) for o in at.select_slider(key="lab_tokens").options) == 256
    assert at.session_state["lab_tokens"] <= 256
    expected = lab.price("minilm", EXAMPLE.read_text(), ["window"], [0.1], at.session_state["lab_tokens"])
    shown = [c.value for c in at.caption if c.value.startswith("Predicted cost")]
    assert shown == [f"Predicted cost: about {expected.cpu_seconds:,.0f} CPU seconds (this server allows 180)."]


def test_a_run_over_the_price_budget_is_refused_naming_what_fits(monkeypatch):
    monkeypatch.setenv("SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS", "0.001")
    at = page(model="minilm", text="en_story", tokens="64", patterns="window", budgets="0.1")
    assert any("Predicted cost" in w.value for w in at.warning)  # shown as a warning before the click
    at.button(key="lab_run").click().run()
    assert not at.exception
    assert any("CPU seconds" in e.value and "fewer" in e.value for e in at.error)
    assert not at.dataframe  # nothing was computed
