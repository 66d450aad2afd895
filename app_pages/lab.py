"""Pattern Lab: which pattern keeps the most of a model at which budget, measured on a text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sparse_core import PatternError, jobs, lab, models
from ui import deploy
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    keep_valid,
    option_labels,
    pattern_titles,
    read_query,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.chrome import show_error as _show_engine_error
from ui.query import QueryParam

ASSETS = Path(__file__).parents[1] / "assets"
EXAMPLES = {p.stem: p for p in sorted((ASSETS / "examples").glob("*.txt"))}
LONG = {p.stem: p for p in sorted((ASSETS / "long").glob("*.txt"))}
SOURCES = [*LONG, *EXAMPLES, "own"]
TOKEN_STEPS = [64, 128, 256, 512, 1024, 2048]
CAP = deploy.current().max_lab_tokens  # the deployment's token cap (SPARSE_EXPLORER_MAX_LAB_TOKENS)
TOKENS = [t for t in TOKEN_STEPS if t <= CAP] or [CAP]  # a capped server offers only what it runs
BUDGETS = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5]
X_AXES = ["density", "flops_share"]
METRICS = ["ppl_change", "kl_changed", "agreement", "mass_kept", "cosine"]
ENCODER_METRICS = ["mass_kept", "cosine"]
SHOWN = ["pattern", "budget", "value", "density", "flops_share", "mass_kept", "cosine", "ppl_sparse", "ppl_change",
         "agreement", "kl_changed", "kl_all", "params"]  # fmt: skip
SPECS = [
    QueryParam("model", "choice", "smollm2", choices=list(models.MODELS)),
    QueryParam("text", "choice", next(iter(LONG), "own"), choices=SOURCES),
    QueryParam("tokens", "choice", min(512, TOKENS[-1]), choices=TOKENS),
    QueryParam("patterns", "text", "window,streaming,bigbird", max_length=400),
    QueryParam("budgets", "text", "0.05,0.1,0.25", max_length=200),
    QueryParam("x", "choice", "density", choices=X_AXES),
    QueryParam("y", "choice", "ppl_change", choices=METRICS),
]
URL_NAMES = [spec.name for spec in SPECS]
PERCENT_COLUMNS = ("budget", "density", "flops_share", "mass_kept", "agreement")  # fractions, shown as %


# -- state: URL <-> widgets ----------------------------------------------------------------
def _load_from_url() -> None:
    """Widgets start from the URL; a bad value falls back to its default with a message."""
    values, problems = read_query(SPECS)
    causal = models.MODELS[values["model"]].causal
    try:
        patterns = [p for p in lab.parse_patterns(values["patterns"]) if p in lab.lab_patterns(causal)]
    except PatternError as e:
        problems.append(tr("lab.bad_patterns", msg=str(e)))
        patterns = ["window", "bigbird"]
    try:
        budgets = [b for b in lab.parse_budgets(values["budgets"]) if b in BUDGETS]
    except PatternError as e:
        problems.append(tr("lab.bad_budgets", msg=str(e)))
        budgets = [0.05, 0.1, 0.25]
    st.session_state.update(
        lab_model=values["model"],
        lab_source=values["text"],
        lab_tokens=values["tokens"],
        lab_patterns=patterns,
        lab_budgets=budgets,
        lab_x=values["x"],
        lab_y=values["y"],
        lab_url_problems=problems,
    )


def _sync_url() -> None:
    s = st.session_state
    write_query(
        "lab",
        {
            "model": s.lab_model,
            "text": s.lab_source,
            "tokens": str(s.lab_tokens),
            "patterns": ",".join(s.lab_patterns),
            "budgets": ",".join(f"{b:g}" for b in s.lab_budgets),
            "x": s.lab_x,
            "y": s.lab_y,
        },
    )


def _text(source: str) -> str:
    if source == "own":
        return st.session_state.get("lab_own", "")
    path = LONG.get(source) or EXAMPLES[source]
    return path.read_text(encoding="utf-8")


LAB_ERRORS = {"not_fittable", "bad_budget", "lab_not_causal", "lab_data_dependent_decode"}


def show_error(error: Exception) -> None:
    """The lab's own engine errors translated here (their catalog keys are lab.err_*), others as usual."""
    code = getattr(error, "code", None)
    if code in LAB_ERRORS:
        _show_engine_error(tr(f"lab.err_{code}", **error.fields))
    else:
        _show_engine_error(error)


# -- figures (Plotly only; candidates for ui/figures.py) -------------------------------------
def pareto_figure(table: pd.DataFrame, x: str, y: str, x_title: str, y_title: str) -> go.Figure:
    """One line per pattern through its budgets; the hover names the fitted parameters."""
    fig = go.Figure()
    for name, rows in table.sort_values(x).groupby("pattern", sort=False):
        fig.add_trace(
            go.Scatter(
                x=rows[x],
                y=rows[y],
                mode="lines+markers",
                name=pattern_titles()(name),
                customdata=np.stack([rows["params"], rows["budget"]], axis=-1),
                hovertemplate=f"{x_title} %{{x:.2%}}<br>{y_title} %{{y:.4g}}<br>%{{customdata[0]}}"
                "<br>budget %{customdata[1]:.0%}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        height=380,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(title=x_title, tickformat=".0%"),
        yaxis=dict(title=y_title),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def layer_strip(layers: pd.DataFrame, title: str, layer_label: str) -> go.Figure:
    """Mass kept per layer: one row per (pattern, budget), so one sees where a pattern loses mass."""
    fig = go.Figure(
        go.Heatmap(
            z=layers.to_numpy(float),
            x=[str(i) for i in range(layers.shape[1])],
            y=list(layers.index),
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            hovertemplate=f"%{{y}} · {layer_label} %{{x}}: %{{z:.1%}}<extra></extra>",
            colorbar=dict(tickformat=".0%"),
        )
    )
    fig.update_layout(
        # the title starts below the toolbar's band (a phone shows the toolbar at all times)
        title=dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top", pad=dict(t=28)),
        height=150 + 22 * len(layers),
        margin=dict(l=10, r=10, t=70, b=10),
        xaxis=dict(title=layer_label),
    )
    return fig


# -- sections --------------------------------------------------------------------------------
def _inputs() -> tuple[str, str, bool]:
    """The model, text, patterns and budgets widgets; returns (model key, text, causal)."""
    keep_valid("lab_model", list(models.MODELS), SPECS[0].default)
    keep_valid("lab_source", SOURCES, SPECS[1].default)
    keep_valid("lab_tokens", TOKENS, SPECS[2].default)
    model = st.radio(
        tr("lab.model"),
        list(models.MODELS),
        key="lab_model",
        format_func=option_labels(lambda k: f"in.model_{k}"),
        persist_state=PERSIST,
    )
    local = ""
    if models.local_models_allowed():
        local = st.text_input(tr("lab.local"), key="lab_local", help=tr("lab.local_help"), persist_state=PERSIST)
        local = local.strip()
    source = st.selectbox(
        tr("lab.text"),
        SOURCES,
        key="lab_source",
        format_func=option_labels(lambda k: f"lab.src_{k}"),
        persist_state=PERSIST,
    )
    if source == "own":
        # persist_state keeps the pasted text while another source is picked and across pages
        st.text_area(tr("lab.own"), key="lab_own", height=140, max_chars=200_000, persist_state=PERSIST)
        st.caption(tr("in.own_not_in_link"))
    st.select_slider(tr("lab.tokens"), TOKENS, key="lab_tokens", help=tr("lab.tokens_help"), persist_state=PERSIST)
    causal = models.MODELS[model].causal
    if local:
        try:
            causal = models.load(local).info.causal  # cached per process; a bad folder is reported below
        except PatternError:
            pass
    offered = lab.lab_patterns(causal)
    chosen = [p for p in st.session_state.get("lab_patterns", []) if p in offered]
    if chosen != st.session_state.get("lab_patterns"):
        st.session_state.lab_patterns = chosen
    budgets = [b for b in st.session_state.get("lab_budgets", []) if b in BUDGETS]
    if budgets != st.session_state.get("lab_budgets"):
        st.session_state.lab_budgets = budgets
    # a pills group shows every pattern at once (a multiselect box folded the chosen ones away)
    st.pills(
        tr("lab.patterns"),
        offered,
        selection_mode="multi",
        wrap=True,  # directly in a column pills stay on one scrolling row, which hid BigBird again
        key="lab_patterns",
        format_func=pattern_titles(),
        persist_state=PERSIST,
    )
    st.pills(
        tr("lab.budgets"),
        BUDGETS,
        selection_mode="multi",
        wrap=True,
        key="lab_budgets",
        format_func=lambda b: f"{b:.0%}",
        persist_state=PERSIST,
    )
    return local or model, _text(source), causal


def _run(model: str, text: str) -> None:
    """Compute the missing rows with a progress bar; a click on Cancel stops between rows."""
    s = st.session_state
    with st.container(border=True):  # padding above: the bar's text line was cut at the column's top edge
        bar = st.progress(0.0, text=tr("lab.starting"))
    titles = pattern_titles()

    def progress(done: int, total: int, label: str) -> None:
        name, _, budget = label.partition("@")  # the engine's row label, "window@0.05"
        try:
            shown = f"{titles(name)} · {float(budget):.0%}"
        except ValueError:
            shown = tr("lab.starting")  # the dense pass
        bar.progress(done / max(total, 1), text=tr("lab.progress", done=done, total=total, label=shown))

    s.lab_cancel = False
    owner = get_script_run_ctx().session_id  # one session may hold only a few places in the heavy-job queue
    try:
        with jobs.HEAVY.turn(on_wait=lambda ahead: bar.progress(0.0, text=tr("lab.queued", ahead=ahead)), owner=owner):
            lab.run_lab(
                model, text, s.lab_patterns, s.lab_budgets, int(s.lab_tokens), progress,
                lambda: s.get("lab_cancel", False), token_cap=CAP,
            )  # fmt: skip
    except PatternError as e:  # over the price budget, the token cap or the session's queue limit
        show_error(e)
    bar.empty()


def _price(model: str, text: str) -> None:
    """The run's predicted CPU seconds beside the server's budget, before anything is computed."""
    s = st.session_state
    try:
        quote = lab.price(model, text, s.lab_patterns, s.lab_budgets, int(s.lab_tokens), token_cap=CAP)
    except PatternError as e:
        show_error(e)
        return
    if quote.rows or quote.dense_seconds:
        caption = tr("lab.price", seconds=f"{quote.cpu_seconds:,.0f}", budget=f"{quote.budget_seconds:,.0f}")
        (st.warning if quote.over_budget else st.caption)(caption)


def _request_cancel() -> None:
    st.session_state.lab_cancel = True


def _results(table: pd.DataFrame, causal: bool) -> None:
    """Pareto chart, sortable table, per-layer heat strip and downloads."""
    metrics = METRICS if causal else ENCODER_METRICS
    keep_valid("lab_y", metrics, metrics[0])
    keep_valid("lab_x", X_AXES, X_AXES[0])
    c1, c2 = st.columns(2)
    x = c1.radio(
        tr("lab.x"),
        X_AXES,
        key="lab_x",
        horizontal=True,
        format_func=option_labels(lambda k: f"lab.col_{k}"),
        persist_state=PERSIST,
    )
    y = c2.selectbox(
        tr("lab.y"), metrics, key="lab_y", format_func=option_labels(lambda k: f"lab.col_{k}"), persist_state=PERSIST
    )
    st.caption(tr(f"lab.help_{y}"))
    fig = pareto_figure(table, x, y, tr(f"lab.col_{x}"), tr(f"lab.col_{y}"))
    st.plotly_chart(fig, key="lab_pareto", config=DOWNLOAD_CONFIG)
    # the rows stay the engine's (the CLI prints the same); the columns show them as the chart does:
    # pattern titles, fractions as percentages
    names = sorted(set(table["pattern"]))
    config = {c: st.column_config.Column(tr(f"lab.col_{c}")) for c in SHOWN}
    config |= {c: st.column_config.NumberColumn(tr(f"lab.col_{c}"), format="percent") for c in PERCENT_COLUMNS}
    config["pattern"] = st.column_config.SelectboxColumn(
        tr("lab.col_pattern"), options=names, format_func=pattern_titles(), disabled=True
    )
    st.dataframe(
        table[[c for c in SHOWN if c in table.columns]], hide_index=True, key="lab_table", column_config=config
    )
    st.plotly_chart(
        layer_strip(lab.layer_table(table), tr("lab.strip"), tr("in.layer")), key="lab_strip", config=DOWNLOAD_CONFIG
    )
    d1, d2 = st.columns(2)
    d1.download_button(
        tr("lab.csv"),
        data=lambda: table.to_csv(index=False),
        file_name="pattern_lab.csv",
        mime="text/csv",
        on_click="ignore",
    )
    d2.download_button(
        tr("lab.json"),
        data=lambda: lab.to_json(table),
        file_name="pattern_lab.json",
        mime="application/json",
        on_click="ignore",
    )


def _marked(pieces: list[str], divergence: int | None) -> str:
    """The continuation as plain text, the first divergent token onwards between ⟦ ⟧."""
    if divergence is None:
        return "".join(pieces)
    return "".join(pieces[:divergence]) + "⟦" + "".join(pieces[divergence:]) + "⟧"


@st.fragment
def _continuation(model: str, text: str, table: pd.DataFrame) -> None:
    """Greedy continuation, dense and sparse side by side (a fragment: it reruns alone)."""
    st.subheader(tr("lab.continue"))
    st.caption(tr("lab.continue_help"))
    structured = table[~table["pattern"].isin(["topk", "block_gating"])]
    if structured.empty:
        st.info(tr("lab.continue_none"))
        return
    titles = pattern_titles()
    labels = [f"{titles(r.pattern)} · {r.budget:.0%}" for r in structured.itertuples()]
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
    with a:
        st.markdown(f"**{tr('lab.dense')}**")
        st.text(_marked(out.dense_pieces, out.divergence))
    with b:
        st.markdown(f"**{tr('lab.sparse', pattern=pattern_titles()(row['pattern']), budget=f'{row.budget:.0%}')}**")
        st.text(_marked(out.sparse_pieces, out.divergence))


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
    b1, b2 = st.columns(2)
    run = b1.button(tr("lab.run"), key="lab_run", type="primary")
    b2.button(tr("lab.cancel"), key="lab_cancel_button", on_click=_request_cancel)
_sync_url()

with right:
    if not st.session_state.lab_patterns or not st.session_state.lab_budgets:
        st.info(tr("lab.pick"))
        st.stop()
    if not text.strip():
        st.info(tr("lab.empty"))
        st.stop()
    _price(model_key, text)
    if run:
        _run(model_key, text)
    try:
        results = lab.run_lab(
            model_key, text, st.session_state.lab_patterns, st.session_state.lab_budgets,
            int(st.session_state.lab_tokens), cached_only=True,
        )  # fmt: skip
    except PatternError as e:
        show_error(e)
        st.stop()
    if results.empty:
        st.info(tr("lab.not_run"))
        st.stop()
    st.caption(tr("lab.rows", rows=len(results), tokens=int(results["tokens"].iloc[0])))
    _results(results, is_causal)

if is_causal:
    _continuation(model_key, text, results)
