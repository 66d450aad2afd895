"""Pattern Lab page: URL state, run, results, downloads, continuation, bad links, Chinese."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from sparse_core import lab
from tests.conftest import ROOT
from ui.i18n import STRINGS

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


def test_smollm2_continuation_side_by_side_in_chinese(monkeypatch):
    from sparse_core import jobs

    at = run_page("smollm2", "window,streaming", "0.25", lang="zh")
    assert "ppl_change" in table(at).columns
    at.slider(key="lab_steps").set_value(6).run()
    real, held = lab.continue_text, []

    def recording(*args, **kwargs):
        held.append(len(jobs.HEAVY))  # two prefills of the text: heavy at 8,192 tokens, so it takes the queue
        return real(*args, **kwargs)

    monkeypatch.setattr(lab, "continue_text", recording)
    at.button(key="lab_cont_run").click().run()
    assert not at.exception, at.exception
    assert held == [1]
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
    # wide enough for its longest title: at the default width the walk read "Sliding winc…", "StreamingL…"
    assert config["pattern"]["width"] >= 7.5 * len("Sliding window") + 24, config["pattern"]


def test_pareto_ticks_have_the_decimals_their_spacing_needs():
    """The walk at 2,048 tokens: densities 9.94%-9.99% read "10%" on every tick."""
    import pandas as pd

    from ui.lab_figures import pareto_figure, percent_ticks

    near = pd.DataFrame({"pattern": ["window", "window"], "density": [0.0994, 0.0999], "ppl_change": [0.1, 0.2]})
    fig = pareto_figure(near.assign(params="{}", budget=0.1), "density", "ppl_change", "d", "p", str)
    assert fig.layout.xaxis.tickformat == ".2%"  # ticks 0.01% apart
    ticks = {f"{v:{fig.layout.xaxis.tickformat}}" for v in (0.0994, 0.0996, 0.0998)}
    assert len(ticks) == 3
    assert percent_ticks([0.01, 0.5]) == ".0%" and percent_ticks([0.02, 0.06]) == ".1%"
    assert percent_ticks([0.1]) == ".1%"
    one = pareto_figure(near.assign(params="{}", budget=0.1, density=0.0978), "density", "ppl_change", "d", "p", str)
    assert tuple(one.layout.xaxis.range) == pytest.approx((0.0928, 0.1028))  # not Plotly's -50%-100%


def test_a_long_pattern_title_fits_its_column():
    from ui.lab_text import title_width

    assert title_width(["StreamingLLM (sinks + window)"]) >= 7.5 * 29 + 24
    assert title_width(["StreamingLLM（注意力汇 + 窗口）"]) > title_width(["StreamingLLM (sinks"])


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


# -- the Memory view (issue 19): "does it remember?" beside "is it fluent?" ----------------------
def _rows(labels: dict[str, tuple[str, float | None]], lengths, depths, trials: int, correct) -> list[dict]:
    """run_memory rows as the engine gives them (memory_eval.ROW_KEYS), `correct(label, n, d)` keys recalled."""
    from sparse_core import memory_eval, retrieval

    out = []
    for label, (pattern, budget) in labels.items():
        for n in lengths:
            for d in depths:
                c = correct(label, n, d)
                acc = retrieval.accuracy([True] * c + [False] * (trials - c))
                row = dict.fromkeys(memory_eval.ROW_KEYS)
                row |= {"task": "passkey", "lang": "en", "model": "smollm2", "pattern": pattern, "budget": budget}
                row |= {"label": label, "density": budget or 1.0, "length": n, "tokens": n, "depth": d}
                row |= {"depth_measured": d, "accuracy": acc.accuracy, "correct": c, "trials": trials}
                row |= {"ci_low": acc.ci_low, "ci_high": acc.ci_high, "decode_note": memory_eval.DECODE_NOTES["dense"]}
                out.append(row)
    return out


def _array(data):
    """A plotly array from a chart spec, whether a list or a typed base64 array with its shape."""
    import base64

    import numpy as np

    if isinstance(data, dict) and "bdata" in data:
        flat = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        return flat.reshape([int(v) for v in str(data.get("shape", len(flat))).split(",")])
    return np.array(data, dtype=float)


@pytest.fixture
def memory_engine(monkeypatch):
    """The engine's price and run stubbed (the real ones are in test_memory_view_runs_the_real_engine): the
    calls are recorded, the run returns rows with a known number of keys recalled per cell."""
    import streamlit as st

    from sparse_core import jobs, lab_price, memory_eval

    calls = {"price": [], "run": [], "queued": [], "over": False, "linear": []}

    def price(model, task, lengths, depths, trials, patterns, budgets, *, include_dense=True, linear_dtype="float32"):
        calls["price"].append((model, task, lengths, depths, trials, patterns, budgets))
        calls["linear"].append(linear_dtype)
        seconds = 300.0 if calls["over"] else 12.0
        return lab_price.LabPrice(model, max(lengths), 1, seconds / 2, seconds / 2, 180.0, kind="memory", trials=trials)

    def run(model, task, lengths, depths, trials, patterns, budgets, *, lang="en", progress=None, cancel=None, **kw):
        calls["run"].append((model, task, lengths, depths, trials, patterns, budgets, lang))
        calls["linear"].append(kw.get("linear_dtype", "float32"))
        calls["queued"].append(len(jobs.HEAVY))  # this run holds the heavy queue's place
        labels = {"dense": ("dense", None)} | {f"{p}@{b:g}": (p, b) for p in patterns for b in budgets}
        # dense recalls every key; a pattern recalls only at the deepest depth (the key inside its window)
        rows = _rows(
            labels, lengths, depths, trials, lambda lab, n, d: trials if lab == "dense" or d == max(depths) else 0
        )
        if progress:
            progress(1, 2, "window@0.25")
        return memory_eval.MemoryResult(rows, False, 3.0, 3.0)

    monkeypatch.setattr(memory_eval, "price_memory", price, raising=False)
    monkeypatch.setattr(memory_eval, "run_memory", run)
    st.cache_resource.clear()  # the page's store of computed grids starts empty
    yield calls
    st.cache_resource.clear()


MEMORY_URL = dict(model="smollm2", patterns="window,streaming", budgets="0.25", view="memory", task="multikey",
                  lengths="256,512", depths="0.1,0.9", trials="2", filler="zh")  # fmt: skip


def test_memory_view_state_comes_from_the_url_and_is_priced_before_a_run(memory_engine):
    at = page(**MEMORY_URL)
    assert not at.exception
    s = at.session_state
    assert (s["lab_view"], s["lab_mem_task"], s["lab_mem_trials"], s["lab_mem_filler"]) == (
        "memory",
        "multikey",
        2,
        "zh",
    )
    assert s["lab_mem_lengths"] == [256, 512] and s["lab_mem_depths"] == [0.1, 0.9]
    for name, value in MEMORY_URL.items():
        assert at.query_params[name] in (value, [value]), name
    assert memory_engine["price"] == [
        ("smollm2", "multikey", (256, 512), (0.1, 0.9), 2, ("window", "streaming"), (0.25,))
    ]
    assert "Predicted cost: about 12 CPU seconds (this server allows 180)." in [c.value for c in at.caption]
    assert not memory_engine["run"] and any("Run retrieval" in i.value for i in at.info)


def test_the_bfloat16_switch_is_in_the_url_and_reaches_the_price_and_the_run(memory_engine):
    at = page(**MEMORY_URL)
    assert not at.exception and at.toggle(key="lab_mem_bf16").value is False
    assert at.query_params["bf16"] in ("0", ["0"]) and memory_engine["linear"] == ["float32"]
    at.toggle(key="lab_mem_bf16").set_value(True).run()
    at.button(key="lab_mem_run").click().run()
    assert not at.exception and at.query_params["bf16"] in ("1", ["1"])
    assert memory_engine["linear"][-2:] == ["bfloat16", "bfloat16"]  # priced, then run, in bfloat16
    linked = page(**MEMORY_URL, bf16="1")  # a shared link keeps the switch
    assert linked.toggle(key="lab_mem_bf16").value is True


def test_memory_run_draws_one_heatmap_per_arm_from_the_engine_rows(memory_engine):
    at = page(**MEMORY_URL)
    at.button(key="lab_mem_run").click().run()
    assert not at.exception and not at.error
    assert memory_engine["run"] == [
        ("smollm2", "multikey", (256, 512), (0.1, 0.9), 2, ("window", "streaming"), (0.25,), "zh")
    ]
    assert memory_engine["queued"] == [1]
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == "lab_memory").proto.spec)
    heat = spec["data"]
    window, streaming = (f"{STRINGS[f'pattern.{p}']['en']} · 25%" for p in ("window", "streaming"))
    assert [h["meta"] for h in heat] == ["Dense", window, streaming]  # dense first, titles as the other chart
    for h in heat:
        assert h["x"] == ["256", "512"] and h["y"] == ["10%", "90%"]
        dense = h["meta"] == "Dense"
        for i, depth in enumerate((0.1, 0.9)):
            recalled = 2 if dense or depth == 0.9 else 0
            assert h["text"][i] == [f"{recalled}/2"] * 2  # the cell says keys recalled of trials
            assert _array(h["z"])[i].tolist() == [recalled / 2] * 2
    # the caption is read back from the cells drawn: dense 8 of 8; each pattern 4 of 8
    caption = next(c.value for c in at.caption if c.value.startswith("Dense recalled"))
    assert caption == f"Dense recalled 8 of 8 keys; {window} recalled 4 of 8, {streaming} 4 of 8."
    summary = at.dataframe[0].value
    assert list(summary["Pattern"]) == ["Dense", window, streaming]
    assert list(summary["keys recalled"]) == ["8/8", "4/8", "4/8"]
    # a return to the page (a new session with the same link) shows the grid without a run
    again = page(**MEMORY_URL)
    assert not again.exception and len(memory_engine["run"]) == 1
    assert any(c.key == "lab_memory" for c in again.get("plotly_chart"))


def test_a_memory_run_over_budget_is_refused_with_its_price_and_what_to_lower(memory_engine):
    memory_engine["over"] = True
    at = page(**MEMORY_URL)
    assert any("Predicted cost: about 300 CPU seconds" in w.value for w in at.warning)  # before the click
    at.button(key="lab_mem_run").click().run()
    assert not at.exception and not memory_engine["run"]
    error = " ".join(e.value for e in at.error)
    assert "300 CPU seconds" in error and "180" in error and "512-token" in error and "fewer lengths" in error
    assert "Trials per cell that fit: at most 1." in error  # 2 trials at 300 s: 1 fits in 180 (the engine's count)


def test_memory_view_of_an_encoder_says_it_needs_a_causal_model(memory_engine):
    at = page(**(MEMORY_URL | {"model": "minilm", "patterns": "window"}))
    assert not at.exception and any("causal" in i.value for i in at.info)
    assert not memory_engine["price"]


def test_bad_memory_link_values_warn_and_fall_back(memory_engine):
    at = page(**(MEMORY_URL | {"lengths": "99999,<b>x</b>", "depths": "2", "trials": "0", "task": "sql"}))
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "lengths" in warning and "depths" in warning and "<b>" not in warning
    s = at.session_state
    assert s["lab_mem_lengths"] == [256, 512] and s["lab_mem_depths"] == [0.1, 0.5, 0.9]
    assert (s["lab_mem_trials"], s["lab_mem_task"]) == (1, "passkey")


def test_memory_lengths_stop_at_the_deployments_token_cap(memory_engine, monkeypatch):
    monkeypatch.setenv("SPARSE_EXPLORER_MAX_LAB_TOKENS", "512")
    at = page(**(MEMORY_URL | {"lengths": "256,2048"}))
    assert not at.exception
    assert [int(o) for o in at.button_group(key="lab_mem_lengths").options] == [256, 512]
    assert at.session_state["lab_mem_lengths"] == [256, 512]  # the link's 2,048 is refused with a notice
    assert any("lengths" in w.value for w in at.warning)


def test_make_runs_8192_token_cap_reaches_both_views_with_lengths_that_fit(memory_engine, monkeypatch):
    """Issues 7 and 19: under `make run` the perplexity slider reaches 8,192 tokens, and the memory view's top
    length is the longest prompt SmolLM2 reads with its answer (8,192 itself was always refused)."""
    from sparse_core import memory_eval

    monkeypatch.setenv("SPARSE_EXPLORER_MAX_LAB_TOKENS", "8192")
    at = page(model="smollm2", text="en_story", tokens="8192", patterns="window", budgets="0.1")
    assert not at.exception and not at.warning
    assert [int(o) for o in at.select_slider(key="lab_tokens").options][-3:] == [2048, 4096, 8192]
    assert at.session_state["lab_tokens"] == 8192
    # a pasted 8,192-token text: one structured row is priced under make run's budget (admitted, not refused)
    monkeypatch.setenv("SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS", "600")
    at.session_state["lab_source"] = "own"
    at.session_state["lab_own"] = " ".join([(ROOT / "assets" / "long" / "keeper_of_the_light.txt").read_text()] * 6)
    at.run()
    assert not at.exception
    quote = lab.price("smollm2", at.session_state["lab_own"], ["window"], [0.1], 8192)
    assert quote.tokens == 8192 and not quote.over_budget
    shown = [c.value for c in at.caption if c.value.startswith("Predicted cost")]
    assert shown == [f"Predicted cost: about {quote.cpu_seconds:,.0f} CPU seconds (this server allows 600)."]
    at = page(**(MEMORY_URL | {"lengths": f"4096,{memory_eval.longest_prompt(8192)}"}))
    assert not at.exception
    lengths = [int(o.replace(",", "")) for o in at.button_group(key="lab_mem_lengths").options]
    assert lengths == [256, 512, 1024, 2048, 4096, memory_eval.longest_prompt(8192)]
    assert at.session_state["lab_mem_lengths"] == [4096, memory_eval.longest_prompt(8192)]


def test_views_switch_through_the_tabs_and_the_url_follows(memory_engine):
    at = page(model="smollm2", patterns="window", budgets="0.25")
    assert at.session_state["lab_view"] == "quality" and at.button(key="lab_run")
    at.session_state["lab_tab_en"] = "Remembers? Retrieval"
    at.run()
    assert not at.exception and at.session_state["lab_view"] == "memory"
    assert at.query_params["view"] in ("memory", ["memory"])
    assert at.button(key="lab_mem_run")


def test_arm_labels_speak_as_the_chart_in_both_languages():
    from ui.chrome import pattern_titles
    from ui.lab_figures import arm_label

    titles = {"window": "Sliding window", "streaming": "StreamingLLM"}.get
    assert arm_label("window@0.05", titles) == "Sliding window · 5%"
    assert arm_label("dense", titles, "zh") == "稠密"
    assert arm_label('streaming{"sinks": 4}', titles) == "StreamingLLM"
    assert callable(pattern_titles)


def test_memory_view_runs_the_real_engine():
    """SmolLM2 on the smallest grid, through the real price and run: no stub between page and engine."""
    import streamlit as st

    st.cache_resource.clear()
    at = page(
        model="smollm2", patterns="window", budgets="0.25", view="memory", lengths="256", depths="0.5", trials="1"
    )
    at.button(key="lab_mem_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    heat = json.loads(next(c for c in at.get("plotly_chart") if c.key == "lab_memory").proto.spec)["data"]
    assert [h["meta"] for h in heat] == ["Dense", "Sliding window · 25%"]
    assert all(h["text"][0][0] in ("0/1", "1/1") for h in heat)


# -- Cancel keeps what was finished (issue 19): a click on Cancel reruns the page, which interrupts the run
def _interrupted_run(monkeypatch, finished: int, engine_saw_cancel: bool = False):
    """A stub run_memory that hands over `finished` rows through `on_row`, as the engine does, then stops: by
    returning a cancelled result (the engine saw Cancel), or as an interrupting rerun does (the script stops
    inside the run, so run_memory never returns)."""
    import streamlit as st

    from sparse_core import memory_eval

    calls = []

    def run(model, task, lengths, depths, trials, patterns, budgets, *, lang="en", on_row=None, **kw):
        labels = {"dense": ("dense", None)} | {f"{p}@{b:g}": (p, b) for p in patterns for b in budgets}
        rows = _rows(labels, lengths, depths, trials, lambda lab, n, d: trials)
        calls.append(rows)
        for row in rows[:finished]:
            on_row(row)
        if engine_saw_cancel:
            return memory_eval.MemoryResult(rows[:finished], True, 1.0, 1.0)
        st.stop()  # what an interrupting rerun does: the script ends inside the run

    monkeypatch.setattr(memory_eval, "run_memory", run)
    return calls


@pytest.mark.parametrize("engine_saw_cancel", [False, True], ids=["rerun-interrupts", "engine-cancels"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_stopped_memory_run_shows_the_rows_it_finished(memory_engine, monkeypatch, engine_saw_cancel, lang):
    calls = _interrupted_run(monkeypatch, finished=3, engine_saw_cancel=engine_saw_cancel)
    at = page(lang, **MEMORY_URL)
    at.button(key="lab_mem_run").click().run()
    at.button(key="lab_mem_cancel").click().run()  # the rerun a Cancel click makes
    assert not at.exception and not at.error
    # 3 arms (dense, window, streaming) x 2 lengths x 2 depths = 12 rows asked for; 3 finished
    note = STRINGS["lab.mem_partial"][lang].format(done=3, total=12)
    assert any(note in w.value for w in at.warning), [w.value for w in at.warning]
    heat = json.loads(next(c for c in at.get("plotly_chart") if c.key == "lab_memory").proto.spec)["data"]
    finished = [(r["label"], r["length"], r["depth"]) for r in calls[0][:3]]
    # the whole grid asked for, as the note says (the walk: unreached arms and depths were left out while the
    # note said "blank"): every arm's 2 x 2 panel, only dense's finished cells filled
    dense, window, streaming = (STRINGS[k][lang] for k in ("lab.dense", "pattern.window", "pattern.streaming"))
    assert [h["meta"] for h in heat] == [dense, f"{window} · 25%", f"{streaming} · 25%"]
    for h in heat:
        assert list(h["x"]) == ["256", "512"] and list(h["y"]) == ["10%", "90%"]
    z = _array(heat[0]["z"])  # rows: depths 0.1, 0.9; columns: lengths 256, 512
    drawn = {(n, d) for i, d in enumerate((0.1, 0.9)) for j, n in enumerate((256, 512)) if z[i][j] == z[i][j]}
    assert drawn == {(n, d) for _, n, d in finished}  # the cell not reached is blank (NaN), not 0
    assert all(v != v for h in heat[1:] for row in _array(h["z"]) for v in row)  # pattern arms not reached
    shown = next(w.value for w in at.warning if note in w.value)
    assert shown == STRINGS["lab.mem_cancelled"][lang] + ("" if lang == "zh" else " ") + note  # no space in 中文
    json_rows = at.session_state["lab_mem_partial"][1]
    assert [(r["label"], r["length"], r["depth"]) for r in json_rows] == finished
    for name, value in MEMORY_URL.items():  # the URL still holds the grid
        assert at.query_params[name] in (value, [value]), name
    # a partial grid stays this session's: another session with the same link has nothing measured
    other = page(lang, **MEMORY_URL)
    assert not other.exception and not any(c.key == "lab_memory" for c in other.get("plotly_chart"))


def test_a_changed_grid_does_not_show_another_grids_partial_rows(memory_engine, monkeypatch):
    _interrupted_run(monkeypatch, finished=2)
    at = page(**MEMORY_URL)
    at.button(key="lab_mem_run").click().run()
    at.run()
    assert any("2 of 12 cells" in w.value for w in at.warning)
    at.button_group(key="lab_mem_depths").set_value([0.1]).run()  # another grid: its own (empty) state
    assert not at.exception and not any(c.key == "lab_memory" for c in at.get("plotly_chart"))
    assert any("Run retrieval" in i.value for i in at.info)


def test_a_whole_memory_run_after_a_stopped_one_replaces_its_partial_rows(memory_engine, monkeypatch):
    from sparse_core import memory_eval

    whole = memory_eval.run_memory  # the fixture's stub: every row, not cancelled
    _interrupted_run(monkeypatch, finished=2)
    at = page(**MEMORY_URL)
    at.button(key="lab_mem_run").click().run()
    monkeypatch.setattr(memory_eval, "run_memory", whole)
    at.button(key="lab_mem_run").click().run()
    assert not at.exception and not at.warning
    assert "lab_mem_partial" not in at.session_state
    assert list(at.dataframe[0].value["keys recalled"]) == ["8/8", "4/8", "4/8"]  # the whole grid, from the run


def test_a_stopped_perplexity_run_keeps_its_finished_rows_and_says_what_is_missing(monkeypatch):
    """The engine caches each row as it finishes (lab.run_lab): the script stopped inside the second row's pass
    (as a Cancel click's rerun stops it) leaves the first row, shown with the count of rows still to run."""
    import streamlit as st

    passes = []
    real = lab.sparse_row

    def second_stops(*args, **kw):
        passes.append(args[3])
        if len(passes) == 2:
            st.stop()
        return real(*args, **kw)

    monkeypatch.setattr(lab, "sparse_row", second_stops)
    at = page(model="minilm", text="en_story", tokens="64", patterns="window", budgets="0.1,0.25")
    at.button(key="lab_run").click().run()
    at.button(key="lab_cancel_button").click().run()
    assert not at.exception
    assert list(table(at)["budget"]) == [0.1]
    assert any(STRINGS["lab.partial"]["en"].format(rows=1, total=2) == i.value for i in at.info)
    at.button(key="lab_run").click().run()  # Run computes the rest
    assert list(table(at)["budget"]) == [0.1, 0.25] and not any("rows are measured" in i.value for i in at.info)


def test_a_run_whose_rows_are_all_cached_does_not_wait_behind_another_sessions_heavy_job():
    from sparse_core import jobs

    first = table(run_page("minilm", "window", "0.25"))
    ticket = jobs.HEAVY.enter(owner="another session")  # a heavy job holds the one place in the queue
    try:
        at = AppTest.from_file(str(PAGE), default_timeout=60)  # queued behind it, this run would time out
        at.session_state["lang"] = "en"
        for key, value in dict(model="minilm", text="en_story", tokens="64", patterns="window", budgets="0.25").items():
            at.query_params[key] = value
        at.run()
        at.button(key="lab_run").click().run()
        assert not at.exception, at.exception
        assert table(at).equals(first)
    finally:
        jobs.HEAVY.leave(ticket)


def test_heavy_work_takes_the_queue_when_a_row_is_gone_after_light_said_all_cached(monkeypatch):
    """light() said every row was cached, then a row was evicted before the run: the run must not compute it
    outside the queue. Here light() is made to say yes with nothing cached: the rows are computed in a turn."""
    from sparse_core import jobs

    real = lab.run_lab
    held: list[int] = []

    def recording(*args, cached_only=False, **kwargs):
        if not cached_only:
            held.append(len(jobs.HEAVY))  # places taken in the heavy queue while the rows are computed
        return real(*args, cached_only=cached_only, **kwargs)

    monkeypatch.setattr(lab, "pending", lambda *a: 0)  # "all cached": stale, as after an eviction
    monkeypatch.setattr(lab, "run_lab", recording)
    at = run_page("minilm", "window", "0.25")
    assert held == [1]  # computed once, holding its place in the queue
    assert list(table(at)["budget"]) == [0.25]


def test_the_light_check_tokenises_the_text_once_however_long_the_wait(monkeypatch):
    """light() is polled every 0.5 s while a run waits; it used to tokenise the whole text at every poll."""
    from sparse_core import jobs

    calls = {"ids": 0, "pending": 0}
    real_ids, real_pending = lab.request_ids, lab.pending

    def ids(*a, **k):
        calls["ids"] += 1
        return real_ids(*a, **k)

    def pending(*a):
        calls["pending"] += 1
        if calls["pending"] == 3:
            jobs.HEAVY.leave(ticket)  # the job ahead ends after two polls (0.5 s each)
        return real_pending(*a)

    monkeypatch.setattr(lab, "request_ids", ids)
    monkeypatch.setattr(lab, "pending", pending)
    ticket = jobs.HEAVY.enter(owner="another session")
    try:
        at = run_page("minilm", "window", "0.25")
    finally:
        jobs.HEAVY.leave(ticket)
    assert calls["pending"] >= 3 and calls["ids"] == 1
    assert list(table(at)["budget"]) == [0.25]


def test_the_depth_title_of_the_heatmaps_reads_level_in_chinese():
    """A y-axis title is turned on its side: 深度 read sideways (the walk). In 中文 it stands level above the
    first column's depth ticks; English keeps the axis title."""
    from ui.lab_figures import memory_heatmaps

    row = {"label": "dense", "length": 256, "depth": 0.5, "accuracy": 1.0, "correct": 1, "trials": 1}
    row |= {"ci_low": 0.2, "ci_high": 1.0, "depth_measured": 0.5}
    zh, _ = memory_heatmaps([row], str, "zh")
    assert not zh.layout.yaxis.title.text
    level = [a for a in zh.layout.annotations if a.text == STRINGS["lab.mem_depth"]["zh"]]
    assert len(level) == 1 and level[0].textangle in (None, 0) and level[0].yanchor == "bottom"
    en, _ = memory_heatmaps([row], str, "en")
    assert en.layout.yaxis.title.text == STRINGS["lab.mem_depth"]["en"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_text_shorter_than_the_tokens_chosen_is_said_so(lang):
    """The walk: 8,192 tokens chosen on a text of ~6,678 said nothing (the Inspector says how long the text is)."""
    at = page(lang, model="minilm", text="en_story", tokens="512", patterns="window", budgets="0.25")
    assert not at.exception
    n = len(lab.request_ids("minilm", EXAMPLE.read_text(encoding="utf-8"), 512))
    assert n < 512
    said = STRINGS["lab.short_text"][lang].format(n=f"{n:,}", asked="512")
    assert said in [i.value for i in at.info], [i.value for i in at.info]
    full = page(lang, model="minilm", text="en_story", tokens="64", patterns="window", budgets="0.25")
    assert not any(STRINGS["lab.short_text"][lang][:8] in i.value for i in full.info)


def test_the_progress_bar_moves_within_a_row_layer_by_layer(monkeypatch):
    """The walk: "0 of 3 done: Dense" stayed for 97 s, then jumped. The bar says each layer of each pass."""
    from streamlit.delta_generator import DeltaGenerator

    texts, real = [], DeltaGenerator.progress

    def recording(self, value, text=None):
        texts.append((value, text))
        return real(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", recording)
    at = page(model="minilm", text="en_story", tokens="64", patterns="window", budgets="0.1,0.25")
    at.button(key="lab_run").click().run()
    assert not at.exception
    layer = STRINGS["lab.progress_layer"]["en"]
    window = STRINGS["pattern.window"]["en"]
    assert (0.0, layer.format(done=0, total=2, label="Dense", layer=1, layers=6)) in texts
    assert (0.25, layer.format(done=0, total=2, label=f"{window} · 10%", layer=3, layers=6)) in texts
    assert (0.75, layer.format(done=1, total=2, label=f"{window} · 25%", layer=3, layers=6)) in texts


def test_the_layer_strips_hover_uses_a_chinese_colon_in_chinese():
    """中文 typography: no ASCII colon after Chinese text (层 3: 50%)."""
    import pandas as pd

    from ui.lab_figures import layer_strip

    layers = pd.DataFrame([[0.5, 0.6]], index=["window@0.1"])
    zh = layer_strip(layers, "t", STRINGS["in.layer"]["zh"], str, "zh").data[0].hovertemplate
    en = layer_strip(layers, "t", "Layer", str, "en").data[0].hovertemplate
    assert "%{x}：%{z" in zh and ": " not in zh
    assert "%{x}: %{z" in en
