"""Attention Inspector page: example texts, bad input, honest numbers, defaults that fit the text,
figures with token text at every length, and the deployment switch for local models."""

import json
import re

import numpy as np
import pytest

from sparse_core import PATTERNS, get
from sparse_core.inspection import DENSE_SHARE, mask_states
from sparse_core.scale import density, scale_to_n
from tests.conftest import app_test
from ui import inspector_figures as F

PAGE = "app_pages/inspector.py"
model = pytest.mark.model


@pytest.fixture(scope="module")
def at():
    at = app_test(timeout=300)
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def charts(at) -> dict:
    out = {}
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec["layout"].get("title", {}).get("text")
        out[title or f"untitled{len(out)}"] = spec
    return out


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


# -- the page in AppTest -----------------------------------------------------------------------
@model
def test_example_text_gives_four_maps_metrics_and_a_token_view(at):
    assert not at.error
    assert {
        "Dense attention",
        "Pattern on these tokens",
        "Sparse attention (masked inside the model)",
        "Sparse − dense",
    } <= set(charts(at))
    assert metric(at, "Mass kept").endswith("%")
    assert metric(at, "Density").endswith("%")
    assert metric(at, "Empty rows").isdigit()
    assert next(s for s in at.selectbox if s.label == "Query token").value is not None
    assert at.dataframe[0].value.shape[0] == 6 * 12  # one row per head
    # the model's title names its source and precision
    assert any("all-MiniLM-L6-v2, safetensors fp32" in m.value.replace("\\", "") for m in at.markdown)


@model
@pytest.mark.parametrize("example", ["zh_story", "code_review", "mixed_scripts"])
def test_every_example_renders(at, example):
    at.selectbox(key="in_example").set_value(example).run()
    assert not at.exception and not at.error


@model
def test_unknown_tokens_are_labelled_unk_with_the_original_in_the_hover(at):
    at.selectbox(key="in_example").set_value("zh_story").run()
    dense = charts(at)["Dense attention"]
    axis = dense["layout"]["xaxis"]
    assert "[UNK]" in axis["ticktext"]
    unk = [c for c in dense["data"][0]["x"] if " [UNK] · " in c]
    assert unk and all("“" in c for c in unk)  # the hover category carries the original characters


@model
@pytest.mark.parametrize(
    "text, expect_error",
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("🙂🚀🔥 " * 50, None),
        ("这是一个中文句子，用来测试。" * 10, None),
        ("مرحبا بالعالم שלום עולם", None),
        ("bell\x07 null\x00 escape\x1b[31m red", None),
        ("<script>alert(1)</script> <b>bold</b>", None),
    ],
)
def test_bad_and_unusual_text(at, text, expect_error):
    at.selectbox(key="in_example").set_value("").run()
    at.text_area(key="in_text").input(text).run()
    assert not at.exception
    if expect_error == "empty":  # with no example picked, an empty box is a hint to paste, not an error
        assert not at.error and any("paste your text" in i.value for i in at.info)
    elif expect_error:
        assert expect_error in at.error[0].value
    else:
        assert not at.error
        assert "<script>" not in json.dumps(list(charts(at).values()))


@model
def test_editing_the_text_switches_the_picker_to_your_own_text(at):
    at.selectbox(key="in_example").set_value("en_story").run()
    assert at.selectbox(key="in_example").value == "en_story"
    at.text_area(key="in_text").input("My own words about attention and sparsity.").run()
    assert at.selectbox(key="in_example").value == ""
    at.selectbox(key="in_example").set_value("en_story").run()  # picking the example again loads it again
    assert at.text_area(key="in_text").value.startswith("Maria")


@model
def test_very_long_text_is_truncated_with_a_notice(at):
    at.text_area(key="in_text").input("All work and no play. " * 4600).run()  # ~100,000 characters
    assert not at.exception and not at.error
    assert "only the first 256 are inspected" in at.warning[0].value


@model
def test_a_short_text_gets_parameters_that_fit_it(at):
    """A 63-token paragraph under the paper's window 64 would keep every pair: the page shrinks it."""
    at.selectbox(key="in_pattern").set_value("window").run()
    at.text_area(key="in_text").input("word " * 61).run()  # [CLS] + 61 + [SEP] = 63 tokens
    assert not at.exception and not at.error
    assert at.number_input(key="in_window_window").value < 64
    assert percent(metric(at, "Density")) <= 0.5
    assert percent(metric(at, "Mass kept")) < 1.0
    # issue 17: the change is announced, naming the old and new values, and can be undone
    note = next(i.value for i in at.info if "Fitted to these 63 tokens" in i.value)
    assert f"window 64 → {at.number_input(key='in_window_window').value}" in note
    at.button(key="in_rescale_undo").click().run()
    assert at.number_input(key="in_window_window").value == 64
    assert not any("Fitted to these" in i.value for i in at.info)
    at.text_area(key="in_text").input("word " * 40).run()  # the user's own values now stay
    assert at.number_input(key="in_window_window").value == 64
    assert any("dense" in w.value for w in at.warning)  # and the page says what they mean here


@model
def test_a_dense_pattern_says_so_and_one_click_scales_it(at):
    at.text_area(key="in_text").input("The cat sat on the mat because the mat was warm and soft. " * 4).run()
    at.selectbox(key="in_pattern").set_value("window").run()
    at.number_input(key="in_window_window").set_value(400).run()
    assert percent(metric(at, "Density")) == 1.0
    assert any("dense" in w.value for w in at.warning)
    at.button(key="in_scale_fit").click().run()
    assert not at.exception
    assert at.number_input(key="in_window_window").value < 400
    assert percent(metric(at, "Density")) <= 0.5
    assert not any("dense" in w.value for w in at.warning)


@model
def test_data_dependent_pattern_states_its_rule_and_masks_differ_per_head(at):
    at.text_area(key="in_text").input("The cat sat on the mat because the mat was warm and soft. " * 3).run()
    at.selectbox(key="in_pattern").set_value("topk").run()
    at.number_input(key="in_topk_k").set_value(4).run()
    assert not at.exception and not at.error
    assert "chooses its own keys" in at.info[0].value and "k keys with the highest scores" in at.info[0].value
    at.number_input(key="in_layer").set_value(3).run()
    at.number_input(key="in_head").set_value(0).run()
    first = charts(at)["Pattern on these tokens"]["data"][0]["z"]
    at.number_input(key="in_head").set_value(7).run()
    second = charts(at)["Pattern on these tokens"]["data"][0]["z"]
    assert first != second  # each head chose from its own queries and keys
    assert "Layer 3 · Head 7" in [s.value for s in at.subheader][0]


@model
def test_scale_and_hide_first_follow_the_url():
    at = app_test(timeout=300)
    at.switch_page(PAGE)
    at.query_params["scale"] = "log"
    at.query_params["hide_first"] = "1"
    at.run()
    assert not at.exception
    dense = charts(at)["Dense attention"]
    assert "10⁻⁴" in dense["data"][0]["colorbar"]["ticktext"]
    assert not dense["data"][0]["x"][0].startswith("#0 ")  # the first token is hidden
    at.segmented_control(key="in_scale").set_value("row").run()
    assert at.query_params["scale"] in ("row", ["row"])


@model
def test_a_bad_url_value_gets_a_message_and_the_default():
    at = app_test(timeout=300)
    at.switch_page(PAGE)
    at.query_params["scale"] = "![x](http://127.0.0.1:9/p.png)"
    at.run()
    assert not at.exception
    assert at.segmented_control(key="in_scale").value == "linear"
    assert any("scale" in w.value for w in at.warning)


@model
def test_local_model_folders_follow_the_deployment_switch(monkeypatch):
    monkeypatch.delenv("SPARSE_EXPLORER_ALLOW_LOCAL_MODELS", raising=False)
    at = app_test(timeout=300)
    at.switch_page(PAGE).run()
    assert not [w for w in at.text_input if w.key == "in_local"]
    # issue 17: a visitor reads no variable name; the note for whoever runs the server sits in "how"
    assert any("SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=1" in c.value for c in at.expander[0].caption)
    assert [c.value for c in at.caption if "SPARSE_EXPLORER" in c.value] == [at.expander[0].caption[-1].value]
    monkeypatch.setenv("SPARSE_EXPLORER_ALLOW_LOCAL_MODELS", "1")
    at.run()
    assert at.text_input(key="in_local")


@model
def test_causal_model_reports_agreement_perplexity_and_its_source(at):
    at.text_area(key="in_text").input("The cat sat on the mat because the mat was warm and soft. " * 3).run()
    at.selectbox(key="in_pattern").set_value("vertical_slash").run()
    at.radio(key="in_model").set_value("smollm2").run()
    assert not at.exception and not at.error
    assert metric(at, "Next-token agreement").endswith("%")
    assert float(metric(at, "Perplexity, sparse")) > 1 and float(metric(at, "Perplexity, dense")) > 1
    assert any("causal estimate (this model is causal)" in box.value for box in at.info)  # beside the fit note
    assert any("SmolLM2-135M-Instruct, Q4_1 GGUF → fp32" in m.value.replace("\\", "") for m in at.markdown)
    assert at.dataframe[0].value.shape[0] == 30 * 9
    at.radio(key="in_model").set_value("minilm").run()


# -- past 512 tokens (issue 19 item 3) ----------------------------------------------------------
LONG_TEXT = "The key opens more than one door, said the old woman, and she smiled at the child. " * 80


def _long_page(monkeypatch, cap: int, budget: float | None = None):
    monkeypatch.setenv("SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS", str(cap))
    if budget is not None:
        monkeypatch.setenv("SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS", str(budget))
    at = app_test(timeout=600)
    at.switch_page(PAGE).run()
    at.radio(key="in_model").set_value("smollm2").run()
    at.text_area(key="in_text").input(LONG_TEXT).run()
    return at


@model
def test_a_long_text_is_priced_runs_on_request_shows_progress_and_pooled_maps(monkeypatch):
    from streamlit.elements.lib.mutable_status_container import StatusContainer

    from sparse_core import inspection

    at = _long_page(monkeypatch, cap=1024)
    slider = at.select_slider(key="in_limit")
    assert [int(x) for x in slider.options] == [32, 64, 128, 256, 384, 512, 1024]  # the cap, under 8,192
    slider.set_value(1024).run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("1,024 tokens: about") for c in at.caption)  # the price, before any work
    assert "1,024 tokens inspected" in [c.value for c in at.caption]  # thousands separated, as the button
    assert not at.metric  # nothing runs until asked
    assert [b.key for b in at.button if b.key.startswith("in_long")] == ["in_long_run"]  # no Cancel before a run
    # the status says "running" until the run has ended: leaving `with status:` marked it complete at once
    events, update, inspect_text = [], StatusContainer.update, inspection.inspect_text
    monkeypatch.setattr(
        StatusContainer, "update", lambda self, **kw: events.append(kw.get("state")) or update(self, **kw)
    )
    monkeypatch.setattr(inspection, "inspect_text", lambda *a: events.append("ran") or inspect_text(*a))
    next(b for b in at.button if b.key == "in_long_run").click().run()
    assert not at.exception and not at.error
    assert "ran" in events and "complete" not in events[: events.index("ran")], events
    assert not [b.key for b in at.button if b.key.startswith("in_long")]  # the row is gone once the run is done
    assert any("runs again on every inspection" in c.value for c in at.caption)  # the long dense pass is not cached
    bars = [(p.proto.value, p.proto.text) for p in at.get("progress")]
    assert (100, "Sparse pass: layer 30 of 30") in bars  # the last of 60 per-layer reports
    assert float(metric(at, "Perplexity, dense")) > 1
    assert any("each map is pooled" in c.value and "512 × 512 blocks" in c.value for c in at.caption)
    z = next(v for k, v in charts(at).items() if "Dense" in k)["data"][0]["z"]
    shape = z["shape"] if isinstance(z, dict) else f"{len(z)}, {len(z[0])}"  # Plotly may send z as typed bytes
    assert shape.replace(" ", "") == "512,512"  # block means, never 1,024 x 1,024
    assert at.dataframe[0].value.shape[0] == 30 * 9
    assert "tokens=1024" in "&".join(f"{k}={v}" for k, v in at.query_params.items())
    from ui import inspector_progress as run

    timings = run._timings()  # the long run's seconds (queue wait included) are no short comparison's
    assert 1024 in timings[("long", "smollm2")] and 1024 not in timings.get(("compare", "smollm2"), {})
    assert "Past 512 tokens" in next(c.value for c in at.caption if "each map is pooled" in c.value)
    at.toggle(key="in_hide_first").set_value(True).run()  # only token 0's row and column, not its 2-token block
    assert not at.exception and not at.error
    dense = next(v for k, v in charts(at).items() if "Dense" in k)
    assert dense["data"][0]["x"][0] == "#0 #1–2" and len(dense["data"][0]["x"]) == 512  # 1,023 tokens in 512 blocks


@model
def test_a_long_text_over_the_budget_is_refused_naming_the_tokens_that_fit(monkeypatch):
    at = _long_page(monkeypatch, cap=2048, budget=10)  # its ~1,600 tokens priced ~14 s, 1,024 ~8 s
    at.select_slider(key="in_limit").set_value(2048).run()
    assert not at.exception
    assert any("choose fewer tokens (at most 1024 fit)" in e.value.replace("\\", "") for e in at.error), at.error
    assert not any(b.key == "in_long_run" for b in at.button)


# -- figures, without Streamlit ----------------------------------------------------------------
def _labels(n):
    return [f"tok{i}" if i % 7 else "[UNK]" for i in range(n)]


@pytest.mark.parametrize("n", [2, 129, 512])
@pytest.mark.parametrize("scale", F.SCALES)
def test_every_map_names_tokens_in_the_hover_with_a_bounded_payload(n, scale):
    z = np.random.default_rng(0).dirichlet(np.ones(n), size=n).astype(np.float32)
    labels = _labels(n)
    fig = F.attention_map(z, labels, "t", scale=scale, hover=[f"“x{i}”" for i in range(n)])
    trace = fig.data[0]
    assert list(trace.x) == F.token_categories(labels, [f"“x{i}”" for i in range(n)])
    assert len(set(trace.x)) == n  # categories never merge repeated tokens
    assert "%{x}" in trace.hovertemplate and "%{y}" in trace.hovertemplate
    assert trace.customdata is None  # no n x n label payload
    assert len(fig.to_json()) < 20_000 + 8 * n * n  # base64 float32 cells, labels once per axis
    assert len(fig.layout.yaxis.ticktext) <= F.MAX_TICKS
    assert len(fig.layout.xaxis.ticktext) <= F.MAX_X_TICKS  # rotated labels side by side: fewer, never touching


def test_log_and_row_scales_and_hiding_the_first_token():
    z = np.array([[0.9, 0.1, 0.0], [0.5, 0.25, 0.25], [1e-6, 0.5, 0.5]], dtype=np.float32)
    assert np.allclose(F.scaled(z, "row").max(axis=1), 1)
    assert F.scaled(z, "log").min() == pytest.approx(np.log10(F.LOG_FLOOR))
    fig = F.attention_map(z, ["a", "b", "c"], "t", hide_first=True)
    assert fig.data[0].z.shape == (2, 2) and list(fig.data[0].x) == ["#1 b", "#2 c"]


def test_mask_codes_mark_outside_and_empty_rows_and_a_full_mask_is_dark():
    keep = np.tril(np.ones((4, 4), dtype=bool))
    codes = mask_states(keep, np.tril(np.ones((4, 4), dtype=bool)), empty_rows=[2])
    assert codes[0, 1] == 2 and codes[3, 0] == 1 and codes[2, 2] == 3
    fig = F.mask_map(np.ones((4, 4), dtype=np.uint8), list("abcd"), "t")
    assert fig.data[0].zmin < 1 < fig.data[0].zmax and fig.data[0].colorscale[3][1] == F.MASK_COLORS[1]


@pytest.mark.parametrize("n", [8, 64, 512])
def test_token_view_draws_at_most_the_top_keys_with_their_text(n):
    rng = np.random.default_rng(1)
    dense = rng.dirichlet(np.ones(n))
    sparse = np.where(np.arange(n) % 2 == 0, dense, 0)
    sparse /= sparse.sum()
    labels = [f"w{i}" for i in range(n)]
    fig = F.token_view(dense, sparse, labels, n // 2, ("d", "s"), kept=np.arange(n) % 2 == 0, top=24)
    keys = fig.data[0]
    assert len(keys.y) <= 48 and len(fig.layout.shapes) <= 2 * 48  # two panels
    # issue 17: a repeated token is told apart by its position, shown beside its text
    for text in keys.text:
        index, word = text.split(" ")
        assert word == f"w{index[1:]}"
    assert fig.data[1].text[0] == f"#{n // 2} w{n // 2}"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [32, 63, 256])
@pytest.mark.parametrize("name", list(PATTERNS))
def test_scaled_defaults_are_never_dense(name, n, causal):
    """Issue 12: no default the inspector picks keeps (nearly) every pair the model could attend
    (data-dependent patterns measured on the engine's synthetic vectors)."""
    fit = scale_to_n(name, get(name).defaults(), n, causal)
    assert 0 < fit.density <= DENSE_SHARE, (name, n, fit)
    assert fit.density == pytest.approx(density(name, fit.params, n, causal))
    get(name).validate(fit.params)


def test_paper_defaults_are_dense_on_a_short_text_so_scaling_matters():
    """The case from issue 12: window 64 on a 63-token text keeps every pair; the scaled window does not."""
    assert density("window", get("window").defaults(), 63, False) == 1.0
    assert scale_to_n("window", get("window").defaults(), 63, False).density <= 0.5


@model
def test_the_first_smollm2_conversion_shows_its_stages_and_ends_ready(tmp_path, monkeypatch):
    """A fresh cache folder forces the one-time GGUF conversion; its status box is at the top of the
    results, lists real stages, and says "ready" only once the comparison has been drawn."""
    monkeypatch.setenv("SPARSE_EXPLORER_CACHE", str(tmp_path))
    at = app_test(timeout=600)
    at.switch_page(PAGE).run()
    at.text_area(key="in_text").input("A short text for the first run.").run()
    at.radio(key="in_model").set_value("smollm2").run()
    assert not at.exception and not at.error
    status = at.status[0]
    assert status.label.endswith("ready") and status.state == "complete"
    stages = " ".join(p.proto.text for p in at.get("progress"))
    assert "first comparison" in stages
    assert charts(at)["Dense attention"]  # the page drew before "ready"
    assert (tmp_path / "smollm2-135m-instruct-fp32" / "config.json").exists()


def test_the_first_use_counter_ticks_while_a_stage_runs(monkeypatch):
    """Issue 17: "Reading the 4-bit GGUF weights · 0 s" stood for 78 s, since the engine reports a stage
    only when it begins. The page now redraws the counter while the load runs."""
    import time as clock

    from sparse_core import PatternError, models

    def slow_load(key, progress=None):
        if key != "smollm2":
            return real_load(key) if progress is None else real_load(key, progress=progress)
        progress(0.1, "reading the 4-bit GGUF weights")
        clock.sleep(1.6)  # one long stage with no report, as the real conversion's reading step
        raise PatternError("stopped by the test")

    real_load = models.load
    monkeypatch.setattr(models, "load", slow_load)
    monkeypatch.setattr(models, "smollm_converted", lambda: False)
    at = app_test(timeout=120)
    at.switch_page(PAGE).run()
    at.radio(key="in_model").set_value("smollm2").run()
    assert not at.exception
    texts = [p.proto.text for p in at.get("progress")]
    seconds = [int(m) for t in texts for m in re.findall(r"· (\d+) s", t)]
    assert seconds and max(seconds) >= 1, texts  # the last redraw came after a second, not at 0 s
    assert "stopped by the test" in at.error[0].value


# -- a page that ends early keeps the sidebar's links ----------------------------------------------
def _links(at) -> int:
    return len(at.sidebar.get("page_link"))


def test_a_link_with_own_text_in_a_new_session_keeps_the_sidebars_page_links():
    # with st.stop() every later Streamlit call raised, so app.py's links were dropped (found in a browser walk)
    from ui.pages import PAGES

    at = app_test()
    at.query_params["text"] = "own"
    at.switch_page(PAGE).run()
    assert not at.exception and at.info and "📋" in at.info[0].proto.icon
    assert _links(at) == len(PAGES)


@model
def test_a_long_run_waiting_or_cancelled_keeps_the_sidebars_page_links(monkeypatch):
    from ui import inspector_progress as run
    from ui.pages import PAGES

    run.release_long()  # a long result kept by an earlier test would be shown without waiting
    at = _long_page(monkeypatch, cap=1024)
    at.select_slider(key="in_limit").set_value(1024).run()
    assert not at.exception and not at.metric  # waiting for its button
    assert _links(at) == len(PAGES)
    assert not any(b.key == "in_long_cancel" for b in at.button)  # Cancel only while a run goes on
    at.session_state["in_cancel"] = True  # what Cancel's callback leaves for the next run
    at.run()
    assert not at.exception and not at.metric and "cancelled" in at.info[-1].value.lower()
    assert _links(at) == len(PAGES)


def test_chinese_sentences_join_without_ascii_spaces_and_labels_take_a_full_width_colon():
    at = app_test()
    at.query_params["lang"] = "zh"
    at.switch_page(PAGE).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "全部行" in c.value)
    assert "。全部行" in caption and "。 " not in caption, caption
    heading = next(h.value for h in at.subheader if "该头保留的质量" in h.value)
    assert "该头保留的质量：" in heading and ": " not in heading, heading


def test_a_choice_sent_back_as_its_label_in_either_language_is_still_that_choice(monkeypatch):
    # en -> 中文 -> en on a long text: the model radio came back as its English label, keep_valid reset it and
    # the model, text, tokens and parameters went with it (found in a browser walk; see the browser test)
    from ui import inspector_state as state
    from ui.i18n import t

    for code in ("en", "zh"):
        stored = {
            "in_model": t("in.model_smollm2", code),
            "in_example": t("in.own", code),
            "in_pattern": t("pattern.bigbird", code),
            "in_scale": t("in.scale_log", code),
        }
        monkeypatch.setattr(state, "s", stored)
        state.unlabel_choices()
        assert stored == {"in_model": "smollm2", "in_example": "", "in_pattern": "bigbird", "in_scale": "log"}
    stored = {"in_model": "no such model"}  # what is no label is left to keep_valid
    monkeypatch.setattr(state, "s", stored)
    state.unlabel_choices()
    assert stored == {"in_model": "no such model"}
