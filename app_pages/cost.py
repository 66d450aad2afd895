"""Cost & Speed: how cost grows with n, and measured block-sparse speed on this machine.

Sections: the pattern and model pickers, then four lazy tabs (`prefill_tab`, `decode_tab`,
`budget_tab`, `speed_tab`): only the open tab computes. Memory fits come from sparse_core.memory,
the same numbers as the Learn page; speed runs wait their turn in sparse_core.jobs.HEAVY.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from sparse_core import PATTERNS, PatternError, jobs, make, memory
from sparse_core.cost import DTYPE_BYTES, MODEL_PRESETS, ModelConfig
from sparse_core.explore import context_fits, growth
from ui import cost_state as S
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    keep_valid,
    lang,
    pattern_title,
    pattern_titles,
    read_query,
    resend_after_language_switch,
    show_error,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.figures import growth_chart, speed_chart, speed_table
from ui.widgets import pattern_complexity

HAS_GPU = torch.cuda.is_available()


# -- state: URL <-> widgets ----------------------------------------------------------------
def _load_from_url() -> None:
    """The pickers start from the URL (first visit, Back, Forward, a link); unknown names get a message."""
    values, problems = read_query(S.SPECS)
    st.session_state.update(S.from_url(values, problems, lang()))


# -- engine results ---------------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _fits(names: tuple[str, ...], model: ModelConfig, budget_bytes: int):
    return context_fits(list(names), model, budget_bytes)


@st.cache_resource(max_entries=64, show_spinner=False)
def _timing(name: str, n: int, heads: int, d_head: int, block: int, device: str):
    from sparse_core.speed import APP_THREADS, measure

    dtype = "fp32" if device == "cpu" else "bf16"
    return measure(make(name).expr(), n, heads, d_head, block, dtype, device, masked_sdpa=True, threads=APP_THREADS)


def _pair(charts: list[tuple[str, go.Figure, str]]) -> None:
    """Two charts side by side (stacked on a phone), each under its title."""
    for column, (title, fig, key) in zip(st.columns(2), charts, strict=True):
        column.markdown(f"**{title}**")
        column.plotly_chart(fig, key=key, config=DOWNLOAD_CONFIG)


# -- pickers ---------------------------------------------------------------------------------------
def pattern_picker() -> list[str]:
    """Up to five patterns at their paper defaults."""
    return st.multiselect(
        tr("co.patterns"),
        list(PATTERNS),
        max_selections=S.MAX_PATTERNS,
        key="co_patterns",
        format_func=pattern_titles(),
        persist_state=PERSIST,
    )


def model_picker() -> ModelConfig | None:
    """A preset model, or a custom one; None (with a message) when the custom numbers don't make a model."""
    left, right = st.columns([1, 3])
    keep_valid("co_model", S.MODELS, S.MODELS[2])
    custom_label = tr("co.custom")
    preset = left.selectbox(
        tr("co.model"),
        S.MODELS,
        key="co_model",
        format_func=lambda m: custom_label if m == S.CUSTOM else m,
        persist_state=PERSIST,
    )
    base = MODEL_PRESETS.get(preset, S.CUSTOM_BASE)
    custom = preset not in MODEL_PRESETS
    numbers = dict(disabled=not custom, persist_state=PERSIST)
    with right:
        c = st.columns(5)
        layers = c[0].number_input(tr("co.layers"), 1, 256, base.layers, key=f"co_l_{preset}", **numbers)
        heads = c[1].number_input(tr("co.heads"), 1, 256, base.heads, key=f"co_h_{preset}", **numbers)
        kv = c[2].number_input(tr("co.kv_heads"), 1, 256, base.kv_heads, key=f"co_k_{preset}", **numbers)
        d_head = c[3].number_input(tr("co.d_head"), 8, 512, base.d_head, key=f"co_d_{preset}", **numbers)
        dtype = c[4].selectbox(
            tr("co.dtype"),
            list(DTYPE_BYTES),
            index=list(DTYPE_BYTES).index(base.dtype),
            key=f"co_t_{preset}",
            **numbers,
        )
    try:
        return ModelConfig(int(layers), int(heads), int(kv), int(d_head), dtype)
    except PatternError as e:
        show_error(e)
        return None


# -- the tabs -----------------------------------------------------------------------------------------
def _dense_vs_sparse(chosen: list[str], model: ModelConfig, charts, label_of) -> None:
    """Two log-log charts of (dense key, sparse key, unit, title key, chart key): dense dashed, one line per pattern."""
    result = growth(chosen, model)
    labels = {name: label_of(name) for name in chosen}
    _pair([(tr(title), growth_chart(result, dense, sparse, unit, labels, lang()), key)
           for dense, sparse, unit, title, key in charts])  # fmt: skip


def _with_complexity(name: str) -> str:
    return f"{pattern_title(name)} · {pattern_complexity(name)}"


def prefill_tab(chosen: list[str], model: ModelConfig) -> None:
    """Whole-model prefill FLOPs and one layer's score memory against n, with fitted slopes."""
    charts = [
        ("prefill_flops_dense", "prefill_flops_sparse", "FLOP", "co.flops_title", "co_flops"),
        ("score_bytes_dense_per_layer", "score_bytes_sparse_per_layer", "B", "co.mem_title", "co_memory"),
    ]
    _dense_vs_sparse(chosen, model, charts, _with_complexity)
    st.caption(tr("co.slope_note"))


def decode_tab(chosen: list[str], model: ModelConfig) -> None:
    """KV cache held and FLOPs per generated token against the position n."""
    charts = [
        ("kv_cache_bytes_dense", "kv_cache_bytes_sparse", "B", "co.kv_title", "co_kv"),
        ("decode_flops_dense", "decode_flops_sparse", "FLOP", "co.decode_title", "co_decode"),
    ]
    _dense_vs_sparse(chosen, model, charts, pattern_title)
    st.caption(tr("co.decode_note"))


def budget_tab(chosen: list[str], model: ModelConfig) -> None:
    """The longest prompt whose prefill memory fits a budget, dense against each pattern."""
    budget = st.number_input(tr("co.budget"), 0.1, 100_000.0, 80.0, step=8.0, key="co_budget", persist_state=PERSIST)
    with st.spinner(tr("le.computing")):  # a new budget bisects on exact counts: up to a few seconds
        fits = _fits(tuple(chosen), model, memory.gib_to_bytes(budget))
    # a plain table wraps its headers on a phone; a data grid would cut them
    st.table(S.budget_table(fits, pattern_title, lang()))
    st.caption(tr("co.budget_note"))
    st.caption(tr("co.budget_same"))


def _speed_results(done: dict) -> None:
    table = speed_table(done, lang())
    st.dataframe(
        table,
        hide_index=True,
        key="co_speed_table",
        column_config={
            col: st.column_config.NumberColumn(format="%.2f") for col in table.columns[2:]
        },  # n and d_head are whole numbers
    )
    fig = speed_chart(done, lang())
    st.plotly_chart(fig, key="co_speed_chart", config=DOWNLOAD_CONFIG)
    st.markdown(tr("co.gap"))


def _run_speed(todo: list[int], timed: str, heads: int, d_head: int, block: int, device: str, done: dict) -> None:
    """Measure each length in its turn in the process-wide queue: queue position while waiting, then progress.

    Updating `box` raises when this session reruns or goes away, which gives the queue place back.
    """
    from sparse_core.speed import check_app_run

    try:
        for n in todo:
            check_app_run(n, heads, d_head, device)
    except PatternError as e:
        show_error(e)
        return
    measured = st.session_state.setdefault("co_measured", {})
    box = st.empty()
    with jobs.HEAVY.turn(on_wait=lambda ahead: box.info(tr("co.queued", ahead=ahead), icon="⏳")):
        bar = box.progress(0.0)
        for i, n in enumerate(todo, 1):
            bar.progress((i - 1) / len(todo), text=tr("co.measuring", n=n, i=i, total=len(todo)))
            try:
                done[n] = _timing(timed, n, heads, d_head, block, device)
            except Exception as e:  # noqa: BLE001 - a failed compile or kernel is a message, not a traceback
                show_error(e)
                break
            measured[(timed, n, heads, d_head, block, device)] = True
        bar.progress(1.0, text=tr("co.done"))


def speed_tab(chosen: list[str], model: ModelConfig) -> None:
    """Dense SDPA against compiled block-sparse FlexAttention, timed here with the model's head size."""
    st.markdown(tr("co.speed_intro"))
    st.markdown(tr("co.honesty"))
    if not jobs.speed_runs_allowed():
        st.info(tr("co.speed_off"))
        return
    from sparse_core.speed import APP_THREADS

    s1, s2, s3, s4, s5 = st.columns(5)
    timeable = S.timeable(chosen)
    keep_valid("co_speed_pattern", timeable, timeable[0])
    timed = s1.selectbox(
        tr("co.speed_pattern"), timeable, key="co_speed_pattern", format_func=pattern_titles(), persist_state=PERSIST
    )
    picked = s2.multiselect(
        tr("co.speed_ns"),
        S.speed_lengths(HAS_GPU),
        default=[1024, 4096],
        key="co_speed_ns",
        format_func=lambda v: f"{v:,}",
        persist_state=PERSIST,
    )
    heads = s3.select_slider(
        tr("co.speed_heads"), [1, 2, 4, 8, 16], value=4, key="co_speed_heads", persist_state=PERSIST
    )
    block = s4.select_slider(tr("co.speed_block"), [64, 128], value=128, key="co_speed_block", persist_state=PERSIST)
    devices = ["cpu", "cuda"] if HAS_GPU else ["cpu"]
    keep_valid("co_device", devices, "cpu")
    device = s5.selectbox(tr("co.device"), devices, key="co_device", persist_state=PERSIST)
    d_head = model.d_head
    st.caption(tr("co.speed_setup", d=d_head, threads=APP_THREADS))
    if HAS_GPU:
        st.caption(tr("co.gpu"))
    measured = st.session_state.get("co_measured", {})
    done = {
        n: _timing(timed, n, heads, d_head, block, device)
        for n in sorted(picked)
        if measured.get((timed, n, heads, d_head, block, device))
    }
    if st.button(tr("co.measure"), type="primary", key="co_measure_button"):
        _run_speed(sorted(picked), timed, heads, d_head, block, device, done)
    if done:
        _speed_results(done)
    else:
        st.info(tr("co.no_results"))


# -- the page ------------------------------------------------------------------------------------------
def _open_tab() -> tuple[list, int]:
    """Lazy tabs: only the open one runs. The state holds the label, so it is keyed per language; a
    language switch seeds the new key from the last open index (changing `default` would reset it)."""
    labels = [tr(key) for key in S.TABS]
    key = f"co_tab_{lang()}"
    if key not in st.session_state:
        st.session_state[key] = labels[st.session_state.get("co_tab_index", 0)]
    tabs = st.tabs(labels, on_change="rerun", key=key)
    opened = next((i for i, tab in enumerate(tabs) if tab.open), 0)
    st.session_state.co_tab_index = opened
    return tabs, opened


def page() -> None:
    """Pickers, then the open tab."""
    if url_is_new("co", S.URL_NAMES):
        _load_from_url()
    resend_after_language_switch("co", ["co_patterns", "co_model", "co_speed_pattern"])
    st.title(tr("co.title"))
    st.caption(tr("co.lead"))
    show_problems(st.session_state.pop("co_url_problems", []))
    chosen = pattern_picker()
    model = model_picker()
    write_query("co", S.to_url(st.session_state))
    if model is None or not chosen:
        return
    for name in chosen:
        if PATTERNS[name].data_dependent:
            st.caption(tr("co.data_dependent", p=pattern_title(name)))
    tabs, opened = _open_tab()
    with tabs[opened]:
        (prefill_tab, decode_tab, budget_tab, speed_tab)[opened](chosen, model)


page()
