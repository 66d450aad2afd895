"""The Lab's Memory view in a real browser: a link opens it, Run retrieval draws one heatmap per arm from the
real engine (SmolLM2, the smallest grid), the URL keeps the grid, and nothing on the page is a traceback or cut."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, wait_charts, wait_ready
from ui.i18n import STRINGS

pytestmark = [pytest.mark.browser, pytest.mark.model]
GRID = "model=smollm2&patterns=window&budgets=0.25&view=memory&lengths=256,512&depths=0.1,0.9&trials=1"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_memory_view_runs_a_small_grid_and_keeps_it_in_the_url(ready_page, app_url, lang):
    page = ready_page
    page.goto(f"{app_url}/lab?{GRID}&lang={lang}")
    wait_ready(page, timeout=240_000)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(STRINGS["lab.mem_lead"][lang][:30])).to_be_visible()
    main.get_by_role("button", name=STRINGS["lab.mem_run"][lang]).click()
    wait_ready(page, timeout=600_000)  # SmolLM2: 8 prompts of 256-512 tokens, dense and the window
    chart = main.get_by_test_id("stPlotlyChart")
    expect(chart).to_have_count(1, timeout=120_000)
    wait_charts(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(main.get_by_text(STRINGS["lab.dense"][lang], exact=True).first).to_be_attached()
    query = {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}
    assert {k: query.get(k) for k in ("view", "lengths", "depths", "trials")} == {
        "view": "memory",
        "lengths": "256,512",
        "depths": "0.1,0.9",
        "trials": "1",
    }
    screenshot(page, f"lab-memory-{lang}")
    # the long-text picker shows its whole label (issue 17: cut in 中文): the box showing the chosen option
    # (an input in Streamlit 1.67) is as wide as its text
    label = STRINGS["lab.src_keeper_of_the_light"][lang]
    value, scroll, client = page.get_by_test_id("stSelectbox").first.evaluate(
        "el => { const i = el.querySelector('input'); return [i.value, i.scrollWidth, i.clientWidth]; }"
    )
    assert value == label and scroll <= client + 1, (label, value, scroll, client)


def test_cancel_mid_run_keeps_the_rows_already_finished(ready_page, app_url):
    """Issue 19: Cancel reruns the page, which interrupts the run; the rows finished before it stay, drawn and
    marked as a partial grid, and the URL still holds the grid. Waits on the progress bar, never on a clock."""
    page = ready_page
    grid = "model=smollm2&patterns=window&budgets=0.25&view=memory&lengths=256,512&depths=0.1,0.5,0.9&trials=1"
    page.goto(f"{app_url}/lab?{grid}&lang=en")
    wait_ready(page, timeout=240_000)
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name=STRINGS["lab.mem_run"]["en"]).click()
    # one trial per cell: a trial done is a row handed to the page; Cancel while the grid is far from done
    expect(main.get_by_text(re.compile(r"^[1-6] of 12 done"))).to_be_visible(timeout=600_000)
    main.get_by_role("button", name=STRINGS["lab.cancel"]["en"], exact=True).click()
    wait_ready(page, timeout=300_000)
    warning = main.get_by_test_id("stAlert").filter(has_text=STRINGS["lab.mem_cancelled"]["en"])
    expect(warning).to_have_count(1)
    done = int(re.search(r"(\d+) of 12 cells were finished", warning.inner_text()).group(1))
    assert 1 <= done < 12
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(1)
    wait_charts(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    query = {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}
    assert {k: query.get(k) for k in ("view", "lengths", "depths", "trials")} == {
        "view": "memory",
        "lengths": "256,512",
        "depths": "0.1,0.5,0.9",
        "trials": "1",
    }
    screenshot(page, "lab-memory-cancelled")
