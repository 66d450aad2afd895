"""Pattern Lab: which pattern keeps the most of a model at which budget, on a text ("is it fluent?") and in
a retrieval grid ("does it remember?"), side by side as two views of the same patterns and budgets.

Widgets → one engine call per view (`lab.run_lab`, `memory_eval.run_memory`, each priced first and
queued in `jobs.HEAVY`) → figures from `ui.lab_figures`, words from `ui.lab_text`. State lives in the URL.
A run stopped by Cancel (whose click reruns the page and so interrupts the run) keeps the rows it finished.
"""

from __future__ import annotations

import json

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sparse_core import PatternError, jobs, lab, memory_eval, models, retrieval
from ui import deploy
from ui import lab_figures as F
from ui import lab_state as S
from ui import lab_text as T
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    keep_valid,
    lang,
    option_labels,
    pattern_titles,
    read_query,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.chrome import show_error as _show_engine_error
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


def show_error(error: Exception) -> None:
    _show_engine_error(T.error_message(error, lang()))


def _multi(label: str, options: list, key: str, fmt) -> None:
    """Pills that show every option at once and wrap (directly in a column they scroll and hide some)."""
    chosen = [v for v in st.session_state.get(key, []) if v in options]
    if chosen != st.session_state.get(key):
        st.session_state[key] = chosen
    st.pills(label, options, selection_mode="multi", wrap=True, key=key, format_func=fmt, persist_state=PERSIST)


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
    _multi(tr("lab.patterns"), lab.lab_patterns(causal), "lab_patterns", pattern_titles())
    _multi(tr("lab.budgets"), S.BUDGETS, "lab_budgets", lambda b: f"{b:.0%}")
    return local or model, S.text_of(source, st.session_state.get("lab_own", "")), causal


def _queued(work, start: str):
    """Run `work(progress)` in its turn in the heavy-job queue (as this session), a progress bar showing the
    place in line, then progress; an engine refusal (price, token cap, queue limit) is a message."""
    slot = st.empty()  # the bordered box goes with the bar when the run ends
    with slot.container(border=True):  # padding above: the bar's text line was cut at the column's top edge
        bar = st.progress(0.0, text=start)
    titles, language = pattern_titles(), lang()

    def progress(done: int, total: int, label: str) -> None:
        shown = F.arm_label(label, titles, language)
        bar.progress(done / max(total, 1), text=tr("lab.progress", done=done, total=total, label=shown))

    st.session_state.lab_cancel = False
    owner = get_script_run_ctx().session_id  # one session may hold only a few places in the heavy-job queue
    try:
        with jobs.HEAVY.turn(on_wait=lambda ahead: bar.progress(0.0, text=tr("lab.queued", ahead=ahead)), owner=owner):
            return work(progress, lambda: st.session_state.get("lab_cancel", False))
    except PatternError as e:
        show_error(e)
    finally:
        slot.empty()


def _price_caption(quote) -> None:
    caption, over = T.price_caption(quote, lang())
    (st.warning if over else st.caption)(caption)


def _request_cancel() -> None:
    st.session_state.lab_cancel = True


def _run_cancel(run_key: str, cancel_key: str) -> bool:
    b1, b2 = st.columns(2)
    run = b1.button(tr("lab.mem_run" if run_key == "lab_mem_run" else "lab.run"), key=run_key, type="primary")
    b2.button(tr("lab.cancel"), key=cancel_key, on_click=_request_cancel)
    return run


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
        _price_caption(lab.price(*args, token_cap=CAP))
        if run:
            _queued(lambda progress, cancel: lab.run_lab(*args, progress, cancel, token_cap=CAP), tr("lab.starting"))
        table = lab.run_lab(*args, cached_only=True)
    except PatternError as e:
        show_error(e)
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
    config["pattern"] = st.column_config.SelectboxColumn(
        tr("lab.col_pattern"), options=sorted(set(table["pattern"])), format_func=titles, disabled=True
    )
    st.dataframe(table[[c for c in T.SHOWN if c in table]], hide_index=True, key="lab_table", column_config=config)
    strip = F.layer_strip(lab.layer_table(table), tr("lab.strip"), tr("in.layer"), titles, lang())
    st.plotly_chart(strip, key="lab_strip", config=DOWNLOAD_CONFIG)
    d1, d2 = st.columns(2)
    download_button(d1, tr("lab.csv"), lambda: table.to_csv(index=False), "pattern_lab.csv", "text/csv")
    download_button(d2, tr("lab.json"), lambda: lab.to_json(table), "pattern_lab.json", "application/json")
    if causal:
        _continuation(model, text, table)


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
    _multi(tr("lab.mem_lengths"), LENGTHS, "lab_mem_lengths", lambda n: f"{n:,}")
    st.caption(tr("lab.mem_cap", cap=f"{CAP:,}"))
    _multi(tr("lab.mem_depths"), S.DEPTHS, "lab_mem_depths", lambda d: f"{d:.0%}")
    run = _run_cancel("lab_mem_run", "lab_mem_cancel")
    if not s.lab_mem_lengths or not s.lab_mem_depths:
        st.info(tr("lab.mem_pick"))
        return
    request = T.memory_request(model, s)
    key, store = (*request, s.lab_mem_filler), _memory_store()
    try:
        quote = memory_eval.price_memory(*request)
        _price_caption(quote)
        if run and quote.over_budget:
            st.error(T.refusal(quote, max(request[2]), lang()))
        elif run:
            rows: list[dict] = []
            s[PARTIAL] = (key, rows)  # filled as rows arrive: what an interrupted run leaves

            def work(progress, cancel):
                return memory_eval.run_memory(
                    *request, lang=s.lab_mem_filler, progress=progress, cancel=cancel, on_row=rows.append
                )

            result = _queued(work, tr("lab.starting"))
            if result is not None and result.cancelled:  # the engine saw Cancel between two trials
                s[PARTIAL] = (key, result.rows)
            elif result is not None:
                store[key] = result
                s.pop(PARTIAL)
    except PatternError as e:
        show_error(e)
        return
    partial = s.get(PARTIAL)
    if key in store:
        _memory_results(store[key])
    elif partial and partial[0] == key and partial[1]:
        st.warning(T.partial_note(len(partial[1]), T.memory_rows_expected(request), lang()))
        _memory_results(memory_eval.MemoryResult(list(partial[1]), cancelled=True))
    else:
        st.info(tr("lab.mem_not_run"))


def _memory_results(result) -> None:
    titles, language = pattern_titles(), lang()
    fig, facts = F.memory_heatmaps(result.rows, titles, language)
    st.plotly_chart(fig, key="lab_memory", config=DOWNLOAD_CONFIG)
    compare = F.memory_compare(facts)
    if compare:
        st.caption(tr(compare[0], **compare[1]))
    summary = F.memory_summary(result.rows, titles, language)
    percent = {c: st.column_config.NumberColumn(c, format="percent") for c in summary.columns[1:3]}
    st.dataframe(summary, hide_index=True, key="lab_mem_table", column_config=percent)
    if not result.cancelled:  # a stopped run's CPU seconds were never read
        prompts = sum(f["trials"] for f in facts.values())
        st.caption(tr("lab.mem_done", prompts=prompts, seconds=f"{result.cpu_seconds:,.0f}"))
    rows = json.dumps(result.rows, ensure_ascii=False, indent=1)
    download_button(st, tr("lab.json"), lambda: rows, "pattern_lab_memory.json", "application/json")


@st.fragment
def _continuation(model: str, text: str, table) -> None:
    """Greedy continuation, dense and sparse side by side (a fragment: it reruns alone)."""
    st.subheader(tr("lab.continue"))
    st.caption(tr("lab.continue_help"))
    structured, labels = T.continuation_choices(table, pattern_titles(), lang())
    if structured.empty:
        st.info(tr("lab.continue_none"))
        return
    c1, c2 = st.columns([2, 1])
    keep_valid("lab_cont", labels, labels[0])
    choice = c1.selectbox(tr("lab.continue_pattern"), labels, key="lab_cont", persist_state=PERSIST)
    steps = c2.slider(tr("lab.continue_steps"), 4, lab.MAX_NEW_TOKENS, 24, key="lab_steps", persist_state=PERSIST)
    if not st.button(tr("lab.continue_run"), key="lab_cont_run"):
        return
    row = structured.iloc[labels.index(choice)]
    try:
        with st.spinner(tr("lab.continuing")):
            pattern = (row["pattern"], json.loads(row["params"]))
            out = lab.continue_text(model, text, pattern, int(steps), int(st.session_state.lab_tokens))
    except PatternError as e:
        show_error(e)
        return
    if out.divergence is None:
        st.success(tr("lab.same", n=steps))
    else:
        st.warning(tr("lab.diverges", i=out.divergence + 1, n=steps))
    a, b = st.columns(2)
    a.markdown(f"**{tr('lab.dense')}**")
    a.text(F.marked(out.dense_pieces, out.divergence))
    b.markdown(f"**{tr('lab.sparse', pattern=pattern_titles()(row['pattern']), budget=f'{row.budget:.0%}')}**")
    b.text(F.marked(out.sparse_pieces, out.divergence))


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
        quality_view(model_key, text, is_causal, _run_cancel("lab_run", "lab_cancel_button"))
    else:
        memory_view(model_key, is_causal)
