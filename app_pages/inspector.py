"""Attention Inspector: a real model's attention on pasted text, dense vs sparse.

Widgets -> one engine call (`sparse_core.inspection.inspect_text`, cached per text, pattern and
parameters) -> figures from `ui.inspector_figures`. The page holds only widget state: the URL, the
parameters that follow the text (announced, with an undo), and the model's progress."""

from __future__ import annotations

import hashlib
import html
import os
import threading
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from sparse_core import PATTERNS, PatternError, get, models
from sparse_core.export import parse_layers
from sparse_core.scale import scale_to_n
from ui import deploy
from ui import inspector_figures as F
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    keep_valid,
    lang,
    option_labels,
    pattern_summary,
    pattern_titles,
    read_query,
    show_error,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.figures import head_overview
from ui.i18n import STRINGS
from ui.query import QueryParam
from ui.safe import plain
from ui.widgets import param_key, param_widgets

EXAMPLES = {p.stem: p for p in sorted((Path(__file__).parents[1] / "assets" / "examples").glob("*.txt"))}
LIMITS = [32, 64, 128, 256, 384, 512]
OWN = "own"  # the URL's name for a pasted text, which the URL itself cannot carry
DEFAULT_PATTERN = "window"
QUERY = [
    QueryParam("model", "choice", next(iter(models.MODELS)), choices=list(models.MODELS)),
    QueryParam("text", "choice", "en_story", choices=[*EXAMPLES, OWN]),
    QueryParam("tokens", "choice", 256, choices=LIMITS),
    QueryParam("pattern", "text", DEFAULT_PATTERN, max_length=400),
    QueryParam("layer", "int", 2, minimum=0, maximum=255),
    QueryParam("head", "int", 0, minimum=0, maximum=255),
    QueryParam("token", "int", -1, minimum=-1, maximum=LIMITS[-1] - 1),
    QueryParam("scale", "choice", "linear", choices=F.SCALES),
    QueryParam("hide_first", "bool", False),
]
URL_NAMES = [q.name for q in QUERY]
# Seconds: steps measured above this get their time shown next time. The browser test lowers it to
# 0, a "slowed step", so that it can check the progress stays in the viewport on any machine.
SLOW = float(os.environ.get("SPARSE_EXPLORER_SLOW_STEP_SECONDS", "1.0"))
TICK = 0.5  # seconds between updates of the first-use counter
STAGES = {"waiting": "wait", "starting": "start", "reading": "read", "saving": "save", "converted": "done"}
s = st.session_state


# -- process-wide state ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _engine():
    """The inspection module, imported once: sessions arriving together wait here instead of racing
    through torch's and transformers' first imports (which raised ImportError for some of them)."""
    from sparse_core import inspection

    return inspection


@st.cache_resource(show_spinner=False)
def _timings() -> dict:
    """Seconds of the last load and comparison per model, by token count, measured on this machine."""
    return {}


def _last_time(step: str, model: str, n: int | None = None) -> str:
    """ "last time: 1.4 s (159 tokens)" from the closest measured run, or "" when none is known."""
    runs = _timings().get((step, model))
    if not runs:
        return ""
    size = max(runs) if n is None else min(runs, key=lambda m: abs(m - n))
    if n is None or size == n:
        return tr("in.last_time", s=f"{runs[size]:.1f}")
    return tr("in.last_time_n", s=f"{runs[size]:.1f}", n=size)


@st.cache_resource(show_spinner=False, max_entries=4)
def _inspect(key: str, text: str, limit: int, pattern: str, params: tuple):
    """The one engine call (the engine caches the dense pass per model and text on its own)."""
    start = time.perf_counter()
    result = _engine().inspect_text(models.load(key), text, pattern, dict(params), limit)
    _timings().setdefault(("compare", key), {})[result.n] = time.perf_counter() - start
    return result


# -- parameters that follow the text, announced ---------------------------------------------------
def _stored_params(pattern: str) -> dict:
    """The parameter widgets' values of `pattern` as stored (paper defaults where none is yet)."""
    return {p.name: s.get(param_key("in", pattern, p.name), p.default) for p in get(pattern).params}


def _apply(pattern: str, params: dict) -> None:
    for name, value in params.items():
        s[param_key("in", pattern, name)] = value


def _scale_to_text(pattern: str, n: int, causal: bool) -> None:
    _apply(pattern, scale_to_n(pattern, _stored_params(pattern), n, causal).params)


def _undo_rescale(pattern: str) -> None:
    """Back to the values before the page fitted them; from now on they are the user's own."""
    note = s.pop("in_rescaled", None)
    if note and note["pattern"] == pattern:
        _apply(pattern, note["before"])
    s.setdefault("in_auto", {})[pattern] = {"params": None}


def _follow_text(pattern: str, n: int, causal: bool) -> None:
    """Parameters the user has not touched follow the text (paper defaults scaled to n); a change is
    announced below the widgets with an undo, never made silently."""
    auto = s.setdefault("in_auto", {})
    fresh = all(param_key("in", pattern, p.name) not in s for p in get(pattern).params)
    current, last = _stored_params(pattern), auto.get(pattern)
    untouched = fresh or (last is not None and current == last["params"])
    if not untouched or (last is not None and (last["n"], last["causal"]) == (n, causal)):
        return
    try:
        params = scale_to_n(pattern, get(pattern).defaults(), n, causal).params
    except PatternError:
        return
    _apply(pattern, params)
    auto[pattern] = {"params": dict(params), "n": n, "causal": causal}
    note = s.get("in_rescaled")
    before = note["before"] if note and note["pattern"] == pattern and not fresh else current
    s.in_rescaled = {"pattern": pattern, "before": before, "after": dict(params), "n": n} if params != before else None


def _announce_rescale(pattern: str, values: dict) -> None:
    note = s.get("in_rescaled")
    if not note or note["pattern"] != pattern or values != note["after"]:
        return
    label = {k: tr(f"param.{k}") if f"param.{k}" in STRINGS else k for k in values}
    changes = ", ".join(
        f"{label[k]} {v} → {note['after'][k]}" for k, v in note["before"].items() if v != note["after"][k]
    )
    st.info(tr("in.rescaled", n=note["n"], changes=changes), icon="📏")
    st.button(tr("in.rescale_undo"), key="in_rescale_undo", on_click=_undo_rescale, args=(pattern,))


# -- state: URL <-> widgets --------------------------------------------------------------------
def _load_from_url() -> list[str]:
    """Widgets start from the URL (first visit, Back, Forward, a link); returns plain-text problems.

    A pasted text is not in the URL: `text=own` keeps the session's own text, if it has one."""
    values, problems = read_query(QUERY)
    s.in_model, s.in_example = values["model"], "" if values["text"] == OWN else values["text"]
    s.in_limit, s.in_layer, s.in_head = values["tokens"], values["layer"], values["head"]
    s.in_scale, s.in_hide_first = values["scale"], values["hide_first"]
    s.in_token_at = values["token"] if values["token"] >= 0 else None
    try:
        layer = parse_layers(values["pattern"], models.MODELS[values["model"]].causal)[0]
    except (PatternError, IndexError) as e:
        problems.append(tr("q.problem_pattern", name="pattern", reason=str(e)))
        layer = None
    s.in_pattern = layer.name if layer else DEFAULT_PATTERN
    if layer and "(" in values["pattern"]:  # a bare name keeps the parameters that follow the text
        _apply(layer.name, layer.params)
        s.setdefault("in_auto", {})[layer.name] = {"params": None}  # the link's values are kept as given
    return problems


def _url_values(model: str, limit: int, pattern: str, params: dict) -> dict[str, str]:
    """What the URL says for the widgets as they stand (one head's view included)."""
    return {
        "model": model,
        "text": s.get("in_example") or OWN,
        "tokens": str(limit),
        "pattern": f"{pattern}({','.join(f'{k}={v}' for k, v in params.items())})",
        **_view_values(),
    }


def _view_values() -> dict[str, str]:
    """The URL's part for one head's view, which the head_view fragment rewrites alone."""
    token = s.get("in_token_at")
    return {
        "layer": str(s.get("in_layer", 2)),
        "head": str(s.get("in_head", 0)),
        "token": str(-1 if token is None else token),
        "scale": s.get("in_scale") or "linear",
        "hide_first": "1" if s.get("in_hide_first") else "0",
    }


def _stop_with_url() -> None:
    """Stop before the results; the URL still says what the widgets say (head_view writes it otherwise)."""
    pattern_now = s.get("in_pattern", DEFAULT_PATTERN)
    write_query("in", _url_values(model_key, limit, pattern_now, _stored_params(pattern_now)))
    st.stop()


# -- callbacks and the model's progress -----------------------------------------------------------
def _open_clicked_head() -> None:
    event = s.get("in_overview")
    points = event.selection.points if event else []
    if points and "customdata" in points[0]:
        data = points[0]["customdata"]  # (layer, head); the browser sends it as {"0": layer, "1": head}
        if isinstance(data, dict):
            data = [data[k] for k in sorted(data, key=int)]
        s.in_layer, s.in_head = (int(v) for v in data)


def _text_edited() -> None:
    s.in_example = ""  # the picker now says "your own text"
    s.in_example_loaded = None


def _load_ticking(key: str, bar, begun: float):
    """models.load in a worker thread while this run redraws the bar every TICK seconds.

    The engine reports a stage only when one begins, and reading the 4-bit weights is one stage of
    over a minute: the counter stood at "0 s" all along. The worker only records the last report
    (Streamlit elements are drawn from the script's own thread); this thread draws it, with the time."""
    last, outcome = {"share": 0.0, "message": "starting"}, {}

    def work() -> None:
        try:
            outcome["model"] = models.load(key, progress=lambda share, m: last.update(share=share, message=m))
        except BaseException as e:  # noqa: BLE001 - re-raised in the script's thread below
            outcome["error"] = e

    worker = threading.Thread(target=work, name=f"load-{key}", daemon=True)
    worker.start()
    while worker.is_alive():
        stage = next((f"in.stage_{v}" for k, v in STAGES.items() if last["message"].startswith(k)), None)
        text = tr(stage) if stage else last["message"]
        bar.progress(min(1.0, last["share"]), text=f"{text} · {time.perf_counter() - begun:.0f} s")
        worker.join(TICK)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["model"]


def _load(key: str, title: str, box):
    """The model, with its real stages shown at the top of the results; returns (model, open status or None)."""
    if key == "smollm2" and not models.smollm_converted():
        with box:
            status = st.status(tr("in.loading", model=title), expanded=True)
            with status:
                bar = st.progress(0.0, text=tr("in.stage_start"))
                lm = _load_ticking(key, bar, time.perf_counter())
                bar.progress(0.97, text=tr("in.stage_first_run"))
        return lm, status
    start = time.perf_counter()
    with box, st.spinner(f"{tr('in.loading', model=title)} {_last_time('load', key)}"):
        _engine()
        lm = models.load(key)
    if time.perf_counter() - start > SLOW:
        _timings().setdefault(("load", key), {})[0] = time.perf_counter() - start
    return lm, None


def _expect_slow(args: tuple, model: str, n: int) -> bool:
    """Whether this comparison is new to the session and took over SLOW seconds last time at a similar length."""
    runs = _timings().get(("compare", model)) or {}
    new = hash(args) not in s.get("in_seen", [])
    return new and any(seconds > SLOW and size >= n * 0.7 for size, seconds in runs.items())


def _fmt(value, spec: str) -> str:
    return "—" if value is None or value != value else format(value, spec)  # None or nan: nothing to show


# -- the page: widgets ---------------------------------------------------------------------------
st.title(tr("in.title"))
st.caption(tr("in.lead"))
with st.expander(tr("in.how")):
    st.markdown(tr("in.how_text"))
    st.markdown(f"**{tr('in.defs_title')}**")
    st.markdown(tr("in.defs"))
    if not models.local_models_allowed():  # for whoever runs the server, not in a visitor's way
        st.caption(tr("in.local_off_admin", env=models.ALLOW_LOCAL_ENV))

if url_is_new("in", URL_NAMES):  # the session's first visit, Back, Forward or a link
    show_problems(_load_from_url())

left, right = st.columns([1, 2.3], gap="large")
with right:
    box = st.container()  # progress lives here, at the top of the results, where the eye is
with left:
    keep_valid("in_model", list(models.MODELS), next(iter(models.MODELS)))
    model_key = st.radio(
        tr("in.model"),
        list(models.MODELS),
        key="in_model",
        format_func=option_labels(lambda k: f"in.model_{k}"),
        persist_state=PERSIST,
    )
    local = ""
    if models.local_models_allowed():
        local = st.text_input(tr("in.local"), key="in_local", help=tr("in.local_help"), persist_state=PERSIST)
        local = local.strip()
    keep_valid("in_example", ["", *EXAMPLES], "en_story")
    s.setdefault("in_example", "en_story")
    example = st.selectbox(
        tr("in.example"),
        ["", *EXAMPLES],
        key="in_example",
        format_func=option_labels(lambda k: f"in.ex_{k}" if k else "in.own"),
        persist_state=PERSIST,
    )
    if example and s.get("in_example_loaded") != example:
        s.in_text, s.in_example_loaded = EXAMPLES[example].read_text(encoding="utf-8"), example
    if not isinstance(s.get("in_text", ""), str):
        s.in_text = ""
    text = st.text_area(
        tr("in.text"), key="in_text", height=180, max_chars=200_000, on_change=_text_edited, persist_state=PERSIST
    )
    if not example:  # the link names no text: say so before someone shares it
        st.caption(tr("in.own_not_in_link"))
    cap = min(deploy.current().max_inspector_tokens, LIMITS[-1])  # the deployment's switch, never past the maps' 512
    options = sorted({x for x in LIMITS if x <= cap} | {cap})
    keep_valid("in_limit", options, 256 if 256 in options else options[-1])
    limit = st.select_slider(tr("in.limit"), options, key="in_limit", help=tr("in.limit_help"), persist_state=PERSIST)
    keep_valid("in_pattern", list(PATTERNS), DEFAULT_PATTERN)

# a typed folder by its resolved path: one cached result per folder, however it is spelt
key = models.model_key(local) if local else model_key
if not example and not text.strip():
    # a link with text=own opened in a new session, or a cleared box: a hint, not an error
    with box:
        st.info(tr("in.own_missing"), icon="📋")
    _stop_with_url()

title = tr(f"in.model_{key}") if key in models.MODELS else plain(key)  # a typed path is shown as text
status = None
try:
    lm, status = _load(key, title, box)
    tokens = _engine().tokenize(lm, text, limit)  # n first: the parameter widgets follow it
except PatternError as e:
    with box:
        show_error(e)
    _stop_with_url()

n, causal = len(tokens.ids), lm.info.causal
with left:
    st.caption(tr("in.count", n=n))
    if tokens.truncated_chars:
        st.warning(tr("in.truncated", total=f"{tokens.total_tokens:,}", n=n, chars=f"{tokens.truncated_chars:,}"))
    with st.container(border=True):
        names = list(PATTERNS)
        pattern = st.selectbox(
            tr("in.pattern"),
            names,
            index=names.index(DEFAULT_PATTERN),
            key="in_pattern",
            format_func=pattern_titles(),
            persist_state=PERSIST,
        )
        st.caption(pattern_summary(pattern))
        _follow_text(pattern, n, causal)
        values = param_widgets(get(pattern), "in")
        _announce_rescale(pattern, dict(values))
    if causal:
        st.caption(tr("in.causal_note"))

# -- the one engine call -------------------------------------------------------------------------
try:
    args = (key, text, limit, pattern, tuple(values.items()))
    waiting = tr("in.computing", n=n, model=title, last=_last_time("compare", key, n))
    if _expect_slow(args, key, n):  # the spinner may be above the fold when a widget far down changed
        st.toast(waiting, icon="⏳", duration="long")  # 4 s was gone before a busy page redrew
    with box, st.spinner(waiting, show_time=True):
        result = _inspect(*args)
    s.in_seen = [*s.get("in_seen", []), hash(args)][-8:]
except PatternError as e:
    if status is not None:
        status.update(label=tr("in.load_failed", model=title), state="error")
    with box:
        show_error(e)
    _stop_with_url()

# -- results: the numbers ----------------------------------------------------------------------
sm = result.summary
with right:
    st.markdown(f"**{tr('in.model_line')}** {plain(lm.info.full_title)}")
    if lm.info.notes:
        st.caption(tr(f"in.notes_{key}") if f"in.notes_{key}" in STRINGS else plain(lm.info.notes))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(tr("in.mass"), _fmt(sm.mass_changed, ".1%"), help=tr("in.mass_help", all=f"{sm.mass_all:.1%}"))
    density_help = tr(
        "in.density_help", raw=f"{sm.density_raw:.1%}", kept=f"{sm.kept_pairs:,}", allowed=f"{sm.allowed_pairs:,}"
    )
    m2.metric(tr("in.density"), f"{sm.density:.1%}", help=density_help)
    m3.metric(
        tr("in.cosine"),
        _fmt(sm.cosine_changed, ".4f"),
        tr("in.worst", v=f"{sm.cosine_worst:.4f}"),
        delta_color="off",
        delta_arrow="off",
        help=tr("in.cosine_help", all=f"{sm.cosine_all:.4f}"),
    )
    m4.metric(tr("in.empty"), f"{sm.empty_rows:,}", help=tr("in.empty_help"))
    all_rows = tr("in.all_rows", mass=f"{sm.mass_all:.1%}", cosine=f"{sm.cosine_all:.4f}", raw=f"{sm.density_raw:.1%}")
    if sm.agreement is not None:
        p1, p2, p3 = st.columns(3)
        p1.metric(
            tr("in.agreement"),
            _fmt(sm.agreement_changed, ".1%"),
            help=tr("in.agreement_help", all=f"{sm.agreement:.1%}"),
        )
        p2.metric(tr("in.ppl_sparse"), _fmt(sm.perplexity_sparse, ".2f"), help=tr("in.ppl_help"))
        p3.metric(tr("in.ppl_dense"), _fmt(sm.perplexity_dense, ".2f"), help=tr("in.ppl_help"))
        all_rows += " " + tr("in.all_rows_agreement", agreement=f"{sm.agreement:.1%}")
    st.caption(tr("in.changed_rows", changed=sm.changed_rows, n=n) + " " + all_rows)
    if sm.dense:
        st.warning(tr("in.too_dense", share=f"{sm.density:.0%}", n=n), icon="🫥")
        st.button(
            tr("in.scale_button", n=n),
            key="in_scale_fit",
            on_click=_scale_to_text,
            args=(pattern, n, causal),
            type="primary",
        )
    if result.selection:
        rule = " ".join(tr(f"in.rule_{name}") for name in result.selection)
        st.info(tr("in.per_head_rule", rule=rule), icon="🧭")
    seconds = result.comparison.seconds
    st.caption(tr("in.timing", **{k: f"{seconds.get(k, 0):.2f}" for k in ("dense", "masks", "sparse")}))


# -- results: one head, redrawn alone when the head, scale or token changes -----------------------
def _clamp(name: str, top: int, default: int) -> None:
    """A stored layer or head of another model (MiniLM has 6 layers, SmolLM2 30) is put in range, and said so."""
    value = s.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        s[name] = min(default, top)  # the widget then takes its value from here alone
        if isinstance(value, int) and not isinstance(value, bool):
            word = tr("in.layer" if name == "in_layer" else "in.head")
            st.caption(tr("in.clamped", what=word, old=value, count=top + 1, new=s[name]))


@st.fragment
def head_view(result, url: dict) -> None:
    """Overview, head picker, the four maps and the token view; a head change reruns only this."""
    overview, controls = st.columns([1.4, 1], gap="medium")
    with overview:
        st.markdown(f"**{tr('in.overview')}**")
        st.plotly_chart(
            head_overview(result.thumbnails, result.mass_kept, lang()),
            key="in_overview",
            on_select=_open_clicked_head,
            selection_mode="points",
            config={"displayModeBar": False},
        )
    with controls:
        c1, c2 = st.columns(2)
        _clamp("in_layer", result.layers - 1, 2)
        _clamp("in_head", result.heads - 1, 0)
        layer = int(c1.number_input(tr("in.layer"), 0, result.layers - 1, "min", key="in_layer", persist_state=PERSIST))
        head = int(c2.number_input(tr("in.head"), 0, result.heads - 1, "min", key="in_head", persist_state=PERSIST))
        keep_valid("in_scale", F.SCALES, "linear")
        scale = st.segmented_control(
            tr("in.scale"),
            list(F.SCALES),
            key="in_scale",
            format_func=option_labels(lambda x: f"in.scale_{x}"),
            help=tr("in.scale_help"),
            persist_state=PERSIST,
        )
        if scale is None:  # a click on the selected segment clears it: the linear scale is what is drawn
            s.in_scale = scale = "linear"
        hide_first = st.toggle(
            tr("in.hide_first"), key="in_hide_first", help=tr("in.hide_first_help"), persist_state=PERSIST
        )
    view = result.head(layer, head)
    head_maps(view, result.tokens, scale, hide_first)
    token_panel(view, result.tokens.labels)
    write_query("in", {**url, **_view_values()})


def head_maps(view, tokens, scale: str, hide_first: bool) -> None:
    """The selected head: dense, mask, sparse and difference, on the chosen colour scale."""
    st.subheader(
        f"{tr('in.layer')} {view.layer} · {tr('in.head')} {view.head} — {tr('in.mass_head')}: {view.mass_kept:.1%}"
    )
    if len(view.empty_rows):
        st.caption(tr("in.rows_fixed", n=len(view.empty_rows)))
    titles = {k: tr(f"in.{k}") for k in ("dense", "mask", "sparse", "diff")}
    for (name, fig), column in zip(
        F.head_figures(view, tokens, titles, scale, hide_first, lang()).items(), st.columns(2) * 2, strict=True
    ):
        column.plotly_chart(fig, key=f"in_{name}", config=DOWNLOAD_CONFIG)


def token_panel(view, labels: list[str]) -> None:
    """BertViz-style: one query token's weights as lines, dense and sparse side by side."""
    st.subheader(tr("in.token_view"))
    n = len(labels)
    plain_labels = [html.unescape(x) for x in labels]
    # The picker's options are labelled by the tokens' text, and the browser sends back a label: after
    # the text, model or token count changed, an old label matched no option and Streamlit handed the
    # label itself (a str) to the page, which compared it with an int. So the picker is keyed by its
    # token list (an old label can never reach a new list) and the chosen index is kept beside it.
    key = f"in_token_{hashlib.sha1(chr(0).join(labels).encode()).hexdigest()[:12]}"
    at = s.get("in_token_at")
    if s.get(key) not in range(n):
        s[key] = at if isinstance(at, int) and 0 <= at < n else n // 2
    query = st.selectbox(
        tr("in.token"),
        list(range(n)),
        key=key,
        format_func=lambda i: f"#{i} {plain_labels[i]}",
        help=tr("in.token_help"),
    )
    s.in_token_at = query
    dense_row, sparse_row, kept = view.row(query)
    fig = F.token_view(
        dense_row, sparse_row, labels, query, (tr("in.dense"), tr("in.sparse_short")), kept=kept, lang=lang()
    )
    st.plotly_chart(fig, key="in_tokens", config={"displayModeBar": False})
    st.caption(tr("in.token_caption", top=24, floor="1%"))


head_view(result, _url_values(model_key, limit, pattern, dict(values)))

# -- per-head table ----------------------------------------------------------------------------
st.subheader(tr("in.table"))
columns = {tr(f"in.{name}" if name in ("layer", "head") else f"in.{name}_col"): v for name, v in result.table().items()}
percent = {
    col: st.column_config.ProgressColumn(col, format="%.1f%%", min_value=0, max_value=100)
    for col in (tr("in.kept_col"), tr("in.kept_changed_col"), tr("in.density_col"))
}
st.dataframe(
    pd.DataFrame(columns).sort_values(tr("in.kept_col")), hide_index=True, key="in_table", column_config=percent
)
if status is not None:  # "ready" only once everything above has been drawn
    status.update(label=tr("in.loaded", model=title), state="complete", expanded=False)
