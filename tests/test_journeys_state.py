"""Issue 17: a page keeps its whole state on a round trip (sidebar, Back/Forward, Reload), its URL says
what it shows and holds no other page's parameters, and no stale widget value crashes a page.

AppTest with `switch_page` replays the sequences measured in the issue. A sidebar link carries the
page's state in its URL (ui.chrome.link_query; tests/links.follow_link sets it), or none while the
page shows its defaults; Back/Forward is a rerun whose URL is the page's earlier one; Reload is a
new session on that URL.
"""

from __future__ import annotations

import pytest

from tests.conftest import app_test
from tests.links import follow_link

EXPLORER, INSPECTOR, LAB, COST, LEARN = (f"app_pages/{p}.py" for p in ("explorer", "inspector", "lab", "cost", "learn"))
OWN_TEXT = (
    "Marta kept the ledger of the harbour for forty years. Every ship that came in was written down with "
    "its cargo, its captain and the weather. When the archive burned, her ledger was the only record left, "
    "and the town rebuilt its history from her careful, cramped handwriting, page after page."
)


def url(at) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def by_sidebar(at, page):
    """A sidebar link, as the app draws it, then the page runs."""
    return follow_link(at, page).run()


def clean(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def explorer_state(at) -> dict:
    lid = at.session_state["ex_layers"][0]
    return {
        "pattern": at.selectbox(key=f"ex_{lid}_pattern").value,
        "n": at.select_slider(key="ex_n").value,
        "block": at.select_slider(key="ex_block").value,
    }


@pytest.fixture
def bigbird_explorer():
    at = app_test()
    at.switch_page(EXPLORER).run()
    lid = at.session_state["ex_layers"][0]
    at.selectbox(key=f"ex_{lid}_pattern").set_value("bigbird").run()
    at.select_slider(key="ex_block").set_value(64).run()
    return clean(at)


def test_explorer_keeps_bigbird_at_4096_through_cost_and_back_by_the_sidebar(bigbird_explorer):
    at = bigbird_explorer
    before, link = explorer_state(at), url(at)
    assert before == {"pattern": "bigbird", "n": 4096, "block": 64}
    clean(by_sidebar(at, COST))
    clean(by_sidebar(at, EXPLORER))
    assert explorer_state(at) == before  # was Sliding window at n = 16, block 16
    assert url(at) == link
    assert not any("dense here" in w.value for w in at.warning)


def test_back_forward_and_reload_restore_the_explorer_from_its_url(bigbird_explorer):
    at = bigbird_explorer
    link = url(at)
    at.select_slider(key="ex_n").set_value(32_768).run()
    assert url(at)["n"] == "32768"
    for key, value in link.items():  # Back: the earlier URL comes back with the page
        at.query_params[key] = value
    clean(at.switch_page(EXPLORER).run())
    assert explorer_state(at) == {"pattern": "bigbird", "n": 4096, "block": 64} and url(at) == link
    reloaded = app_test()  # Reload: a new session on the same URL
    for key, value in link.items():
        reloaded.query_params[key] = value
    clean(reloaded.switch_page(EXPLORER).run())
    assert explorer_state(reloaded) == explorer_state(at) and url(reloaded) == link


def test_a_page_drops_the_parameters_of_the_page_it_comes_from(bigbird_explorer):
    at = bigbird_explorer
    link = url(at)
    follow_link(at, COST).run()
    at.query_params["model"] = "Llama-2-7B"  # the Cost page's own parameter, left in a URL that reaches the Explorer
    for key, value in link.items():
        at.query_params[key] = value
    clean(at.switch_page(EXPLORER).run())
    # (Learn's `step` is bound to its widget: Streamlit itself drops it when the page changes)
    assert "model" not in at.query_params
    assert url(at) == link


def test_cost_keeps_its_pickers_through_a_round_trip():
    at = app_test()
    at.switch_page(COST).run()
    at.multiselect(key="co_patterns").set_value(["longformer", "bigbird"]).run()
    at.selectbox(key="co_model").set_value("custom").run()
    clean(by_sidebar(at, EXPLORER))
    clean(by_sidebar(at, COST))
    assert at.multiselect(key="co_patterns").value == ["longformer", "bigbird"]
    assert at.selectbox(key="co_model").value == "custom"
    assert url(at)["patterns"] == "longformer,bigbird" and url(at)["model"] == "custom"
    assert set(url(at)) == {"lang", "patterns", "model"}  # none of the Explorer's


@pytest.mark.model
def test_inspector_keeps_its_example_and_text_through_a_round_trip():
    at = app_test(timeout=300)
    clean(at.switch_page(INSPECTOR).run())
    text = at.text_area(key="in_text").value
    assert at.selectbox(key="in_example").value == "en_story" and text
    clean(by_sidebar(at, COST))
    clean(by_sidebar(at, INSPECTOR))  # was an empty box and "the text is empty"
    assert at.selectbox(key="in_example").value == "en_story"
    assert at.text_area(key="in_text").value == text


@pytest.mark.model
def test_pasted_text_survives_a_page_change_and_the_link_says_it_cannot_carry_it():
    at = app_test(timeout=300)
    at.switch_page(INSPECTOR).run()
    at.text_area(key="in_text").input(OWN_TEXT).run()
    clean(at)
    assert at.selectbox(key="in_example").value == "" and url(at)["text"] == "own"
    assert any("cannot carry" in c.value for c in at.caption)
    clean(by_sidebar(at, LAB))
    clean(by_sidebar(at, INSPECTOR))
    assert at.text_area(key="in_text").value == OWN_TEXT


def token_box(at):
    """The "One token's attention" picker, found by its label (its key depends on the token list)."""
    return next(s for s in at.selectbox if s.label == "Query token")


@pytest.mark.model
@pytest.mark.parametrize(
    "change",
    [
        ("select_slider", "in_limit", 64),
        ("selectbox", "in_pattern", "vertical_slash"),
        ("selectbox", "in_pattern", "block_gating"),
        ("radio", "in_model", "smollm2"),
    ],
    ids=lambda c: f"{c[1]}={c[2]}",
)
def test_one_tokens_attention_survives_every_change_after_pasting_text(change):
    """After the change the picker holds a token of the new list and the URL names it. (The TypeError of
    issue 17 needs the browser, which sends back the old list's label: tests/test_journeys_browser.py.)"""
    kind, key, value = change
    at = app_test(timeout=600)
    at.switch_page(INSPECTOR).run()
    at.text_area(key="in_text").input(OWN_TEXT * 2).run()  # >= 80 tokens
    token_box(at).set_value(40).run()
    clean(at)
    getattr(at, kind)(key=key).set_value(value).run()
    clean(at)
    picked = token_box(at)
    assert isinstance(picked.value, int)
    assert url(at)["token"] == str(picked.value)


@pytest.mark.model
def test_lab_keeps_my_own_text_through_a_round_trip():
    at = app_test(timeout=300)
    at.switch_page(LAB).run()
    at.selectbox(key="lab_source").set_value("own").run()
    at.text_area(key="lab_own").input(OWN_TEXT).run()
    clean(by_sidebar(at, COST))
    clean(by_sidebar(at, LAB))
    assert at.selectbox(key="lab_source").value == "own"  # was dropped
    assert at.text_area(key="lab_own").value == OWN_TEXT
    assert url(at)["text"] == "own"
