"""Pattern Lab: which pattern keeps the most of a model at which budget, on a text ("is it fluent?") and in
a retrieval grid ("does it remember?"), side by side as two views of the same patterns and budgets.

Widgets → one engine call per view (`lab.run_lab`, `memory_eval.run_memory`, each priced first and
queued in `jobs.HEAVY`) → figures from `ui.lab_figures`, words from `ui.lab_text`, the queued run and result panels
from `ui.lab_view`. State lives in the URL.
A run stopped by Cancel (whose click reruns the page and so interrupts the run) keeps the rows it finished.
"""

from __future__ import annotations

import streamlit as st

from sparse_core import PatternError, lab, memory_eval, models, retrieval
from ui import deploy
from ui import lab_figures as F
from ui import lab_state as S
from ui import lab_text as T
from ui import lab_view as V
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    keep_valid,
    lang,
    option_labels,
    pattern_titles,
    read_query,
    resend_after_language_switch,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.downloads import download_button

CAP = deploy.current().max_lab_tokens  # the deployment's token cap (SPARSE_EXPLORER_MAX_LAB_TOKENS)
TOKENS, LENGTHS = S.tokens_offered(CAP), S.lengths_offered(CAP)
SPECS = S.specs(CAP)
URL_NAMES = [spec.name for spec in SPECS]


# -- state: URL <-> widgets ----------------------------------------------------------------
def _load_from_url() -> None:
    """Widgets start from the URL; a bad value falls back to its default with a message."""
    values, problems = read_query(SPECS)
    st.session_state.update(S.from_url(values, problems, CAP, lang()), lab_url_problems=problems)


# Streamlit 1.67 sends a selectbox's, radio's or pills' value back from the browser as its *label*, and reads
# it with the labels of the run that reads it: after a language switch the browser still held the old
# language's label, the next rerun could not match it and the widget fell back to its default or kept the
# label itself as its value (the walk: "My own text" became the first long text, and the URL said
# task=密钥（一个 5 位数）). The values themselves are language-free option keys.
LABELLED = (
    "lab_model", "lab_source", "lab_tokens", "lab_patterns", "lab_budgets", "lab_x", "lab_y", "lab_mem_task",
    "lab_mem_trials", "lab_mem_filler", "lab_mem_lengths", "lab_mem_depths", "lab_cont", "lab_steps",
)  # fmt: skip


# -- sections --------------------------------------------------------------------------------
def _inputs() -> tuple[str, str, bool]:
    """The model, text, patterns and budgets widgets; returns (model key, text, causal)."""
    for key, options, spec in (("lab_model", list(models.MODELS), 0), ("lab_source", S.SOURCES, 1)):
        keep_valid(key, options, SPECS[spec].default)
    keep_valid("lab_tokens", TOKENS, SPECS[2].default)
    model = st.radio(
        tr("lab.model"), list(models.MODELS), key="lab_model", format_func=option_labels(lambda k: f"in.model_{k}"),
        persist_state=PERSIST,
    )  # fmt: skip
    local = ""
    if models.local_models_allowed():
        local = st.text_input(tr("lab.local"), key="lab_local", help=tr("lab.local_help"), persist_state=PERSIST)
        local = local.strip()
    source = st.selectbox(
        tr("lab.text"), S.SOURCES, key="lab_source", format_func=option_labels(lambda k: f"lab.src_{k}"),
        persist_state=PERSIST,
    )  # fmt: skip
    if source == "own":
        # persist_state keeps the pasted text while another source is picked and across pages
        st.text_area(tr("lab.own"), key="lab_own", height=140, max_chars=200_000, persist_state=PERSIST)
        st.caption(tr("in.own_not_in_link"))
    st.select_slider(tr("lab.tokens"), TOKENS, key="lab_tokens", help=tr("lab.tokens_help"), persist_state=PERSIST)
    causal = S.is_causal(model, local)
    V.pills(tr("lab.patterns"), lab.lab_patterns(causal), "lab_patterns", pattern_titles())
    V.pills(tr("lab.budgets"), S.BUDGETS, "lab_budgets", lambda b: f"{b:.0%}")
    return local or model, S.text_of(source, st.session_state.get("lab_own", "")), causal


def quality_view(model: str, text: str, causal: bool, run: bool) -> None:
    """Fluent? The Pareto chart of perplexity (or mass kept) against density, the table, the layer strip.

    Each finished row is cached by the engine as it is computed, so a run stopped by Cancel (or any rerun
    that interrupts it) keeps its rows: the cached ones are shown, with how many of the asked-for are missing."""
    s = st.session_state
    if not text.strip():
        st.info(tr("lab.empty"))
        return
    args = (model, text, s.lab_patterns, s.lab_budgets, int(s.lab_tokens))
    try:
        quote = lab.price(*args, token_cap=CAP)
        V.price_caption(quote)
        short = T.short_text_note(quote, int(s.lab_tokens), lang())
        if short:
            st.info(short)
        if run:
            ids = lab.request_ids(model, text, int(s.lab_tokens), token_cap=CAP)  # once, not at every poll
            patterns, budgets, rows = (
                list(s.lab_patterns),
                list(s.lab_budgets),
                len(s.lab_patterns) * len(s.lab_budgets),
            )

            def cheap():  # every row cached: served from the cache; one evicted since: None, and it is queued
                return True if len(lab.run_lab(*args, cached_only=True)) == rows else None

            V.queued(
                lambda progress, cancel: lab.run_lab(*args, progress, cancel, token_cap=CAP, on_layer=progress),
                tr("lab.starting"),
                light=lambda: lab.pending(model, ids, patterns, budgets) == 0,  # a class's repeat of a run
                cheap=cheap,
            )
        table = lab.run_lab(*args, cached_only=True)
    except PatternError as e:
        V.show_error(e)
        return
    if table.empty:
        st.info(tr("lab.not_run"))
        return
    st.caption(tr("lab.rows", rows=len(table), tokens=int(table["tokens"].iloc[0])))
    missing = T.lab_partial_note(table, s.lab_patterns, s.lab_budgets, lang())
    if missing:
        st.info(missing)
    metrics = S.METRICS if causal else S.ENCODER_METRICS
    keep_valid("lab_y", metrics, metrics[0])
    keep_valid("lab_x", S.X_AXES, S.X_AXES[0])
    c1, c2 = st.columns(2)
    labels = option_labels(lambda k: f"lab.col_{k}")
    x = c1.radio(tr("lab.x"), S.X_AXES, key="lab_x", horizontal=True, format_func=labels, persist_state=PERSIST)
    y = c2.selectbox(tr("lab.y"), metrics, key="lab_y", format_func=labels, persist_state=PERSIST)
    st.caption(tr(f"lab.help_{y}"))
    titles = pattern_titles()
    fig = F.pareto_figure(table, x, y, tr(f"lab.col_{x}"), tr(f"lab.col_{y}"), titles)
    st.plotly_chart(fig, key="lab_pareto", config=DOWNLOAD_CONFIG)
    # the rows stay the engine's (the CLI prints the same); the columns show them as the chart does:
    # pattern titles, fractions as percentages
    config = {c: st.column_config.Column(tr(f"lab.col_{c}")) for c in T.SHOWN}
    config |= {c: st.column_config.NumberColumn(tr(f"lab.col_{c}"), format="percent") for c in T.PERCENT_COLUMNS}
    names = sorted(set(table["pattern"]))
    config["pattern"] = st.column_config.SelectboxColumn(
        tr("lab.col_pattern"), options=names, format_func=titles, disabled=True,
        width=T.title_width([titles(n) for n in names]),
    )  # fmt: skip
    st.dataframe(table[[c for c in T.SHOWN if c in table]], hide_index=True, key="lab_table", column_config=config)
    strip = F.layer_strip(lab.layer_table(table), tr("lab.strip"), tr("in.layer"), titles, lang())
    st.plotly_chart(strip, key="lab_strip", config=DOWNLOAD_CONFIG)
    d1, d2 = st.columns(2)
    download_button(d1, tr("lab.csv"), lambda: table.to_csv(index=False), "pattern_lab.csv", "text/csv")
    download_button(d2, tr("lab.json"), lambda: lab.to_json(table), "pattern_lab.json", "application/json")
    if causal:
        V.continuation(model, text, table)


@st.cache_resource(show_spinner=False)
def _memory_store() -> dict:
    """Whole retrieval grids computed in this process, by request: a return to the page (any session) shows them."""
    return {}


PARTIAL = "lab_mem_partial"  # (request, rows finished so far) of this session's last run, kept as each row arrives


def memory_view(model: str, causal: bool) -> None:
    """Remembers? A depth × length recall heatmap per (pattern, budget) and dense, priced and queued.

    Each finished row is kept in this session's state as the engine hands it over (`on_row`): a Cancel
    (the click reruns the page, which interrupts the run) or any other interrupting rerun leaves the rows
    finished so far, shown as a partial grid. Only a whole grid goes into the process-wide store."""
    s = st.session_state
    st.caption(tr("lab.mem_lead"))
    if not causal:
        st.info(tr("lab.mem_causal"))
        return
    keep_valid("lab_mem_task", list(retrieval.TASKS), "passkey")
    keep_valid("lab_mem_filler", list(retrieval.LANGS), "en")
    keep_valid("lab_mem_trials", S.TRIALS, 1)
    c1, c2, c3 = st.columns([1.4, 1, 1])
    c1.selectbox(tr("lab.mem_task"), retrieval.TASKS, key="lab_mem_task",
                 format_func=option_labels(lambda k: f"lab.mem_task_{k}"), persist_state=PERSIST)  # fmt: skip
    c2.select_slider(tr("lab.mem_trials"), S.TRIALS, key="lab_mem_trials", persist_state=PERSIST)
    c3.radio(tr("lab.mem_filler"), retrieval.LANGS, key="lab_mem_filler", horizontal=True,
             format_func=option_labels(lambda k: f"lab.mem_filler_{k}"), persist_state=PERSIST)  # fmt: skip
    st.toggle(tr("lab.mem_bf16"), key="lab_mem_bf16", help=tr("lab.mem_bf16_help"), persist_state=PERSIST)
    linear = S.linear_dtype(s)
    V.pills(tr("lab.mem_lengths"), LENGTHS, "lab_mem_lengths", lambda n: f"{n:,}")
    st.caption(tr("lab.mem_cap", cap=f"{CAP:,}"))
    V.pills(tr("lab.mem_depths"), S.DEPTHS, "lab_mem_depths", lambda d: f"{d:.0%}")
    run = V.run_cancel("lab_mem_run", "lab_mem_cancel")
    if not s.lab_mem_lengths or not s.lab_mem_depths:
        st.info(tr("lab.mem_pick"))
        return
    request = T.memory_request(model, s)
    key, store = (*request, s.lab_mem_filler, linear), _memory_store()
    try:
        quote = memory_eval.price_memory(*request, linear_dtype=linear)
        V.price_caption(quote)
        if run and quote.over_budget:
            st.error(T.refusal(quote, max(request[2]), lang()))
        elif run:
            rows: list[dict] = []
            s[PARTIAL] = (key, rows)  # filled as rows arrive: what an interrupted run leaves

            def work(progress, cancel):
                return memory_eval.run_memory(
                    *request,
                    lang=s.lab_mem_filler,
                    linear_dtype=linear,
                    progress=progress,
                    cancel=cancel,
                    on_row=rows.append,
                )

            result = V.queued(work, tr("lab.starting"))
            if result is not None and result.cancelled:  # the engine saw Cancel between two trials
                s[PARTIAL] = (key, result.rows)
            elif result is not None:
                store[key] = result
                s.pop(PARTIAL)
    except PatternError as e:
        V.show_error(e)
        return
    partial = s.get(PARTIAL)
    if key in store:
        V.memory_results(store[key])
    elif partial and partial[0] == key and partial[1]:
        st.warning(T.partial_note(len(partial[1]), T.memory_rows_expected(request), lang()))
        V.memory_results(memory_eval.MemoryResult(list(partial[1]), cancelled=True), T.memory_grid(request))
    else:
        st.info(tr("lab.mem_not_run"))


def _open_view() -> str:
    """The open view's tabs (lazy: only the open one runs); its name is the URL's `view`."""
    labels = [tr(f"lab.view_{v}") for v in S.VIEWS]
    keep_valid("lab_view", S.VIEWS, S.VIEWS[0])
    key = f"lab_tab_{lang()}"  # the tab state holds the label, so it is keyed per language
    if st.session_state.get(key) not in labels or st.session_state.get("lab_tab_view") != st.session_state.lab_view:
        st.session_state[key] = labels[S.VIEWS.index(st.session_state.lab_view)]
    tabs = st.tabs(labels, on_change="rerun", key=key)
    st.session_state.lab_view = st.session_state.lab_tab_view = S.VIEWS[next(i for i, t in enumerate(tabs) if t.open)]
    return st.session_state.lab_view


# -- page --------------------------------------------------------------------------------------
if url_is_new("lab", URL_NAMES):  # the session's first visit, Back, Forward or a link
    _load_from_url()
resend_after_language_switch("lab", LABELLED)
st.title(tr("lab.title"))
st.caption(tr("lab.lead"))
show_problems(st.session_state.pop("lab_url_problems", []))
with st.expander(tr("lab.how")):
    st.markdown(tr("lab.how_text"))

left, right = st.columns([1, 2.2], gap="large")
with left:
    model_key, text, is_causal = _inputs()
with right:
    view = _open_view()
    write_query("lab", S.to_url(st.session_state))
    if not st.session_state.lab_patterns or not st.session_state.lab_budgets:
        st.info(tr("lab.pick"))
    elif view == "quality":
        quality_view(model_key, text, is_causal, V.run_cancel("lab_run", "lab_cancel_button"))
    else:
        memory_view(model_key, is_causal)
