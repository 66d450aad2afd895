"""Attention Inspector: a real model's attention on pasted text, dense vs sparse."""

from __future__ import annotations

import hashlib
import html
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from sparse_core import PATTERNS, PatternError, get, make, models
from sparse_core.export import parse_layers
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


# -- process-wide state ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _engine():
    """The attention module, imported once: sessions arriving together wait here instead of racing
    through torch's and transformers' first imports (which raised ImportError for some of them)."""
    from sparse_core import attention

    return attention


@st.cache_resource(show_spinner=False)
def _timings() -> dict:
    """Seconds of the last load and comparison per model (and token count), measured on this machine."""
    return {}


def _last_time(step: str, model: str, n: int | None = None) -> str:
    """ "last time: 1.4 s (159 tokens)" from the closest measured run, or "" when none is known."""
    runs = _timings().get((step, model))
    if not runs:
        return ""
    if n is None:
        seconds, size = runs[max(runs)], None
    else:
        size = min(runs, key=lambda m: abs(m - n))
        seconds = runs[size]
    if size is None or size == n:
        return tr("in.last_time", s=f"{seconds:.1f}")
    return tr("in.last_time_n", s=f"{seconds:.1f}", n=size)


def _expect_slow(args: tuple, model: str, n: int) -> bool:
    """Whether this comparison is new to the session and took over SLOW seconds last time at a similar length."""
    if hash(args) in st.session_state.get("in_seen", []):
        return False
    runs = _timings().get(("compare", model)) or {}
    return any(seconds > SLOW and size >= n * 0.7 for size, seconds in runs.items())


def _record(step: str, model: str, seconds: float, n: int = 0) -> None:
    _timings().setdefault((step, model), {})[n] = seconds


@st.cache_resource(show_spinner=False, max_entries=4)
def _compare(key: str, text: str, limit: int, pattern: str, params: tuple):
    """Dense and sparse passes (the engine caches the dense pass per model and text on its own)."""
    engine = _engine()
    lm = models.load(key)
    tokens = engine.tokenize(lm, text, limit)
    spec = make(pattern, lm.info.causal, **dict(params))
    start = time.perf_counter()
    result = engine.compare(lm, tokens, spec.expr(), (0, 0))
    _record("compare", key, time.perf_counter() - start, len(tokens.ids))
    return result


@st.cache_data(show_spinner=False, max_entries=256)
def _fit(pattern: str, n: int, causal: bool, start: tuple | None = None) -> F.Fit:
    return F.scaled_params(get(pattern), n, causal, dict(start) if start else None)


# -- callbacks (they run before the next script run, while widget state may still be set) --------
def _open_clicked_head() -> None:
    event = st.session_state.get("in_overview")
    points = event.selection.points if event else []
    if points and "customdata" in points[0]:
        data = points[0]["customdata"]  # (layer, head); the browser sends it as {"0": layer, "1": head}
        if isinstance(data, dict):
            data = [data[k] for k in sorted(data, key=int)]
        st.session_state.in_layer, st.session_state.in_head = (int(v) for v in data)


def _text_edited() -> None:
    st.session_state.in_example = ""  # the picker now says "your own text"
    st.session_state.in_example_loaded = None


def _apply_fit(pattern: str, params: dict) -> None:
    for name, value in params.items():
        st.session_state[param_key("in", pattern, name)] = value


def _scale_to_text(pattern: str, n: int, causal: bool, current: tuple) -> None:
    _apply_fit(pattern, _fit(pattern, n, causal, current).params)


def _set_auto_params(definition, n: int, causal: bool) -> None:
    """Parameters the user has not touched follow the text: paper defaults shrunk until the pattern is sparse here."""
    auto = st.session_state.setdefault("in_auto", {})
    keys = {p.name: param_key("in", definition.name, p.name) for p in definition.params}
    current = {name: st.session_state.get(k) for name, k in keys.items()}
    last = auto.get(definition.name)
    untouched = all(v is None for v in current.values()) or (last is not None and current == last["params"])
    if untouched and (last is None or (last["n"], last["causal"]) != (n, causal) or current != last["params"]):
        try:
            params = _fit(definition.name, n, causal).params
        except PatternError:
            return
        _apply_fit(definition.name, params)
        auto[definition.name] = {"params": dict(params), "n": n, "causal": causal}


# -- state: URL <-> widgets --------------------------------------------------------------------
def _load_from_url() -> list[str]:
    """Widgets start from the URL (first visit, Back, Forward, a link); returns plain-text problems.

    A pasted text is not in the URL: `text=own` keeps the session's own text, if it has one."""
    values, problems = read_query(QUERY)
    s = st.session_state
    s.in_model = values["model"]
    if values["text"] == OWN:
        s.in_example = ""
    else:
        s.in_example = values["text"]
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
        _apply_fit(layer.name, layer.params)
    return problems


def _url_values(model: str, limit: int, pattern: str, params: dict) -> dict[str, str]:
    """What the URL says for the widgets as they stand (one head's view included)."""
    s = st.session_state
    return {
        "model": model,
        "text": s.get("in_example") or OWN,
        "tokens": str(limit),
        "pattern": f"{pattern}({','.join(f'{k}={v}' for k, v in params.items())})",
        **_view_values(),
    }


def _view_values() -> dict[str, str]:
    """The URL's part for one head's view, which the head_view fragment rewrites alone."""
    s = st.session_state
    token = s.get("in_token_at")
    return {
        "layer": str(s.get("in_layer", 2)),
        "head": str(s.get("in_head", 0)),
        "token": str(-1 if token is None else token),
        "scale": s.get("in_scale") or "linear",
        "hide_first": "1" if s.get("in_hide_first") else "0",
    }


def _stored_params(pattern: str) -> dict:
    """The parameter widgets' values of `pattern` as stored (defaults where none is yet)."""
    return {p.name: st.session_state.get(param_key("in", pattern, p.name), p.default) for p in get(pattern).params}


# -- helpers -----------------------------------------------------------------------------------
def _stage(message: str) -> str:
    """The conversion's progress message in the session's language (the engine reports English stages)."""
    for prefix, key in (
        ("waiting", "in.stage_wait"),
        ("starting", "in.stage_start"),
        ("reading", "in.stage_read"),
        ("saving", "in.stage_save"),
        ("converted", "in.stage_done"),
    ):
        if message.startswith(prefix):
            return tr(key)
    return message


TICK = 0.5  # seconds between updates of the first-use counter


def _load_ticking(key: str, bar, begun: float):
    """models.load in a worker thread while this run redraws the bar every TICK seconds.

    The engine reports a stage only when one begins, and reading the 4-bit weights is one stage of
    over a minute: the counter stood at "0 s" all along. The worker only records the last report
    (Streamlit elements are drawn from the script's own thread); this thread draws it, with the time."""
    last = {"share": 0.0, "message": "starting"}
    outcome: dict = {}

    def report(share: float, message: str) -> None:
        last.update(share=share, message=message)

    def work() -> None:
        try:
            outcome["model"] = models.load(key, progress=report)
        except BaseException as e:  # noqa: BLE001 - re-raised in the script's thread below
            outcome["error"] = e

    worker = threading.Thread(target=work, name=f"load-{key}", daemon=True)
    worker.start()
    while worker.is_alive():
        seconds = time.perf_counter() - begun
        bar.progress(min(1.0, last["share"]), text=f"{_stage(last['message'])} · {seconds:.0f} s")
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
                begun = time.perf_counter()
                lm = _load_ticking(key, bar, begun)
                bar.progress(0.97, text=tr("in.stage_first_run"))
        _record("convert", key, time.perf_counter() - begun)  # once per machine: not an estimate for a load
        return lm, status
    start = time.perf_counter()
    with box, st.spinner(f"{tr('in.loading', model=title)} {_last_time('load', key)}"):
        _engine()
        lm = models.load(key)
    if time.perf_counter() - start > SLOW:
        _record("load", key, time.perf_counter() - start)
    return lm, None


def _head_mask(result, layer: int, head: int, sparse_map: np.ndarray):
    """(applied mask, empty rows) of one head: per-head for data-dependent patterns, shared otherwise."""
    own = getattr(result, "head_mask", None)
    if callable(own):  # an engine that offers it directly
        applied, fixed = own(layer, head)
        return np.asarray(applied, dtype=bool), list(fixed)
    fixed = getattr(result, "fixed_rows", None)
    if not getattr(result, "per_head", False) or (layer, head) == (result.qk_source or (0, 0)):
        return np.asarray(result.keep, dtype=bool), list(fixed if fixed is not None else [])
    keep_of = getattr(result.sparse.attentions, "_keep", None)
    applied = None
    if callable(keep_of):
        found = keep_of(layer, head)
        applied = None if found is None else np.asarray(found, dtype=bool)
    if applied is None:
        applied = sparse_map > 0  # exactly zero outside the applied mask
    # the empty rows keep only their own token; mark them when that identifies them without doubt
    only_self = np.flatnonzero((applied.sum(1) == 1) & np.diag(applied)[: applied.shape[0]])
    empty = getattr(result, "empty_rows", None)
    count = int(empty[layer, head]) if empty is not None else -1
    return applied, list(only_self) if len(only_self) == count else []


def _fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def _selection_rule(pattern: str, result) -> str | None:
    """The translated selection rule of a data-dependent pattern, with the variant that runs."""
    variant = getattr(result, "variant", None) or ""
    if not (get(pattern).data_dependent or getattr(result, "selection_rule", None)):
        return None
    name = "routing_online" if "online" in variant and pattern == "routing" else pattern
    rule = tr(f"in.rule_{name}") if f"in.rule_{name}" in STRINGS else getattr(result, "selection_rule", "")
    if pattern == "vertical_slash":
        rule += " " + tr("in.rule_vs_causal" if "causal" in variant else "in.rule_vs_last")
    return rule


# -- the page ----------------------------------------------------------------------------------
st.title(tr("in.title"))
st.caption(tr("in.lead"))
with st.expander(tr("in.how")):
    st.markdown(tr("in.how_text"))
    st.markdown(f"**{tr('in.defs_title')}**")
    st.markdown(tr("in.defs"))

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
    else:
        st.caption(tr("in.local_off", env=models.ALLOW_LOCAL_ENV))
    keep_valid("in_example", ["", *EXAMPLES], "en_story")
    if "in_example" not in st.session_state:
        st.session_state.in_example = "en_story"
    example = st.selectbox(
        tr("in.example"),
        ["", *EXAMPLES],
        key="in_example",
        format_func=option_labels(lambda k: f"in.ex_{k}" if k else "in.own"),
        persist_state=PERSIST,
    )
    if example and st.session_state.get("in_example_loaded") != example:
        st.session_state.in_text = EXAMPLES[example].read_text(encoding="utf-8")
        st.session_state.in_example_loaded = example
    if not isinstance(st.session_state.get("in_text", ""), str):
        st.session_state.in_text = ""
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

key = local or model_key


def _stop_with_url() -> None:
    """Stop before the results; the URL still says what the widgets say (head_view writes it otherwise)."""
    pattern_now = st.session_state.get("in_pattern", DEFAULT_PATTERN)
    write_query("in", _url_values(model_key, limit, pattern_now, _stored_params(pattern_now)))
    st.stop()


if not example and not text.strip():
    # a link with text=own opened in a new session, or a cleared box: a hint, not an error
    with box:
        st.info(tr("in.own_missing"), icon="📋")
    _stop_with_url()

title = tr(f"in.model_{key}") if key in models.MODELS else plain(key)  # a typed path is shown as text
status = None
try:
    lm, status = _load(key, title, box)
    A = _engine()
    tokens = A.tokenize(lm, text, limit)
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
        definition = get(pattern)
        st.caption(pattern_summary(pattern))
        _set_auto_params(definition, n, causal)
        values = param_widgets(definition, "in")
        st.caption(tr("in.auto_note", n=n))
    if causal:
        st.caption(tr("in.causal_note"))

try:
    spec = make(pattern, causal, **values)
    args = (key, text, limit, pattern, tuple(spec.params.items()))
    waiting = tr("in.computing", n=n, model=title, last=_last_time("compare", key, n))
    if _expect_slow(args, key, n):  # the spinner may be above the fold when a widget far down changed
        st.toast(waiting, icon="⏳", duration="long")  # 4 s was gone before a busy page redrew
    with box, st.spinner(waiting, show_time=True):
        result = _compare(*args)
    st.session_state.setdefault("in_seen", []).append(hash(args))
    del st.session_state.in_seen[:-8]
except PatternError as e:
    if status is not None:
        status.update(label=tr("in.load_failed", model=title), state="error")
    with box:
        show_error(e)
    _stop_with_url()

# -- results: the numbers ----------------------------------------------------------------------
info = lm.info
with right:
    st.markdown(f"**{tr('in.model_line')}** {plain(getattr(info, 'full_title', info.title))}")
    if getattr(info, "notes", ""):
        st.caption(tr(f"in.notes_{key}") if f"in.notes_{key}" in STRINGS else info.notes)

    mass_all = getattr(result, "mass_kept_all_mean", float(np.mean(result.mass_kept)))
    mass_changed = getattr(result, "mass_kept_changed_mean", float("nan"))
    density = getattr(result, "density", float("nan"))
    if np.isnan(density):
        density = float(result.keep.mean())
    density_raw = getattr(result, "density_raw", float(result.keep.mean()))
    changed = getattr(result, "changed_rows", None)
    changed_n = int(np.sum(changed)) if changed is not None else n
    empty = getattr(result, "empty_rows", None)
    empty_total = int(np.sum(empty)) if empty is not None else int(result.rows_fixed)
    cos_changed = getattr(result, "cosine_changed_mean", float("nan"))

    m1, m2, m3, m4 = st.columns(4)
    m1.metric(tr("in.mass"), _fmt(mass_changed, ".1%"), help=tr("in.mass_help", all=f"{mass_all:.1%}"))
    m2.metric(
        tr("in.density"),
        f"{density:.1%}",
        help=tr(
            "in.density_help",
            raw=f"{density_raw:.1%}",
            kept=f"{getattr(result, 'kept_pairs', 0):,}",
            allowed=f"{getattr(result, 'allowed_pairs', 0):,}",
        ),
    )
    m3.metric(
        tr("in.cosine"),
        _fmt(cos_changed, ".4f"),
        tr("in.worst", v=f"{result.cosine.min():.4f}"),
        delta_color="off",
        delta_arrow="off",
        help=tr("in.cosine_help", all=f"{result.cosine.mean():.4f}"),
    )
    m4.metric(tr("in.empty"), f"{empty_total:,}", help=tr("in.empty_help"))
    if result.agreement is not None:
        p1, p2, p3 = st.columns(3)
        agree_changed = getattr(result, "agreement_changed", None)
        p1.metric(
            tr("in.agreement"), _fmt(agree_changed, ".1%"), help=tr("in.agreement_help", all=f"{result.agreement:.1%}")
        )
        p2.metric(tr("in.ppl_sparse"), _fmt(result.perplexity_sparse, ".2f"), help=tr("in.ppl_help"))
        p3.metric(tr("in.ppl_dense"), _fmt(result.perplexity_dense, ".2f"), help=tr("in.ppl_help"))
    all_rows = tr("in.all_rows", mass=f"{mass_all:.1%}", cosine=f"{result.cosine.mean():.4f}", raw=f"{density_raw:.1%}")
    if result.agreement is not None:
        all_rows += " " + tr("in.all_rows_agreement", agreement=f"{result.agreement:.1%}")
    st.caption(tr("in.changed_rows", changed=changed_n, n=n) + " " + all_rows)

    if density > F.DENSE_SHARE:
        st.warning(tr("in.too_dense", share=f"{density:.0%}", n=n), icon="🫥")
        st.button(
            tr("in.scale_button", n=n),
            key="in_scale_fit",
            on_click=_scale_to_text,
            args=(pattern, n, causal, tuple(spec.params.items())),
            type="primary",
        )
    rule = _selection_rule(pattern, result)
    if rule:
        st.info(tr("in.per_head_rule", rule=rule), icon="🧭")
    seconds = getattr(result, "seconds", {}) or {}
    if seconds:
        st.caption(
            tr(
                "in.timing",
                dense=f"{seconds.get('dense', 0):.2f}",
                masks=f"{seconds.get('masks', 0):.2f}",
                sparse=f"{seconds.get('sparse', 0):.2f}",
            )
        )


# -- results: one head, redrawn alone when the head, scale or token changes -----------------------
def _clamp(key: str, top: int, default: int) -> None:
    """A stored layer or head of another model (MiniLM has 6 layers, SmolLM2 30) is put in range."""
    value = st.session_state.get(key)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= top:
        st.session_state[key] = min(default, top)  # the widget then takes its value from here alone


@st.fragment
def head_view(result, tokens, layers: int, heads: int, causal: bool, url: dict) -> None:
    """Overview, head picker, the four maps and the token view; a head change reruns only this."""
    overview, controls = st.columns([1.4, 1], gap="medium")
    with overview:
        st.markdown(f"**{tr('in.overview')}**")
        thumbs = getattr(result, "thumbs_dense", None)
        if thumbs is None:
            thumbs = _engine().thumbnails(result.dense.attentions)
        st.plotly_chart(
            head_overview(thumbs, result.mass_kept, lang()),
            key="in_overview",
            on_select=_open_clicked_head,
            selection_mode="points",
            config={"displayModeBar": False},
        )
    with controls:
        c1, c2 = st.columns(2)
        _clamp("in_layer", layers - 1, 2)
        _clamp("in_head", heads - 1, 0)
        layer = int(c1.number_input(tr("in.layer"), 0, layers - 1, "min", key="in_layer", persist_state=PERSIST))
        head = int(c2.number_input(tr("in.head"), 0, heads - 1, "min", key="in_head", persist_state=PERSIST))
        keep_valid("in_scale", F.SCALES, "linear")
        scale = st.segmented_control(
            tr("in.scale"),
            list(F.SCALES),
            key="in_scale",
            format_func=option_labels(lambda s: f"in.scale_{s}"),
            help=tr("in.scale_help"),
            persist_state=PERSIST,
        )
        if scale is None:  # a click on the selected segment clears it: the linear scale is what is drawn
            st.session_state.in_scale = scale = "linear"
        hide_first = st.toggle(
            tr("in.hide_first"), key="in_hide_first", help=tr("in.hide_first_help"), persist_state=PERSIST
        )
    dense_map, sparse_map, applied = head_maps(result, tokens, layer, head, causal, scale, hide_first)
    token_panel(tokens, dense_map, sparse_map, applied)
    write_query("in", {**url, **_view_values()})


def head_maps(result, tokens, layer: int, head: int, causal: bool, scale: str, hide_first: bool):
    """The selected head: dense, mask, sparse and difference, on the chosen colour scale."""
    labels, hover = tokens.labels, getattr(tokens, "hover", None) or None
    dense_map = result.dense.attentions[layer, head].astype(np.float32)
    sparse_map = result.sparse.attentions[layer, head].astype(np.float32)
    applied, fixed = _head_mask(result, layer, head, sparse_map)
    allowed = np.tril(np.ones_like(applied)) if causal else None
    codes = F.mask_codes(applied, allowed, fixed)
    mass_head = float(result.mass_kept[layer, head])
    st.subheader(f"{tr('in.layer')} {layer} · {tr('in.head')} {head} — {tr('in.mass_head')}: {mass_head:.1%}")
    empty = getattr(result, "empty_rows", None)
    if empty is not None and int(empty[layer, head]):
        st.caption(tr("in.rows_fixed", n=int(empty[layer, head])))
    kw = dict(hover=hover, hide_first=hide_first, lang=lang())
    a, b = st.columns(2)
    a.plotly_chart(
        F.attention_map(dense_map, labels, tr("in.dense"), scale=scale, **kw),
        key="in_dense",
        config=DOWNLOAD_CONFIG,
    )
    b.plotly_chart(F.mask_map(codes, labels, tr("in.mask"), **kw), key="in_mask", config=DOWNLOAD_CONFIG)
    c, d = st.columns(2)
    c.plotly_chart(
        F.attention_map(sparse_map, labels, tr("in.sparse"), scale=scale, **kw), key="in_sparse", config=DOWNLOAD_CONFIG
    )
    d.plotly_chart(
        F.attention_map(sparse_map - dense_map, labels, tr("in.diff"), scale=scale, diff=True, **kw),
        key="in_diff",
        config=DOWNLOAD_CONFIG,
    )
    return dense_map, sparse_map, applied


def token_panel(tokens, dense_map: np.ndarray, sparse_map: np.ndarray, applied: np.ndarray) -> None:
    """BertViz-style: one query token's weights as lines, dense and sparse side by side."""
    labels = tokens.labels
    st.subheader(tr("in.token_view"))
    n = len(labels)
    plain_labels = [html.unescape(x) for x in labels]
    # The picker's options are labelled by the tokens' text, and the browser sends back a label: after
    # the text, model or token count changed, an old label matched no option and Streamlit handed the
    # label itself (a str) to the page, which compared it with an int. So the picker is keyed by its
    # token list (an old label can never reach a new list) and the chosen index is kept beside it.
    key = f"in_token_{hashlib.sha1(chr(0).join(labels).encode()).hexdigest()[:12]}"
    at = st.session_state.get("in_token_at")
    if not isinstance(at, int) or not 0 <= at < n:
        at = n // 2
    if st.session_state.get(key) not in range(n):
        st.session_state[key] = at
    query = st.selectbox(
        tr("in.token"),
        list(range(n)),
        key=key,
        format_func=lambda i: f"#{i} {plain_labels[i]}",
        help=tr("in.token_help"),
    )
    st.session_state.in_token_at = query
    st.plotly_chart(
        F.token_view(
            dense_map[query],
            sparse_map[query],
            labels,
            query,
            (tr("in.dense"), tr("in.sparse_short")),
            kept=applied[query],
            lang=lang(),
        ),
        key="in_tokens",
        config={"displayModeBar": False},
    )
    st.caption(tr("in.token_caption", top=24, floor="1%"))


head_view(result, tokens, lm.layers, lm.heads, causal, _url_values(model_key, limit, pattern, dict(values)))

# -- per-head table ----------------------------------------------------------------------------
st.subheader(tr("in.table"))
entropy = getattr(result, "entropy", None)
if entropy is None:
    attn = np.asarray(result.dense.attentions, dtype=np.float32)
    entropy = -(attn * np.log2(np.clip(attn, 1e-12, None))).sum(-1).mean(-1)
density_heads = getattr(result, "density_heads", None)
changed_heads = getattr(result, "mass_kept_changed", None)
rows = []
for lyr in range(lm.layers):
    for hd in range(lm.heads):
        row = {
            tr("in.layer"): lyr,
            tr("in.head"): hd,
            tr("in.kept_col"): float(result.mass_kept[lyr, hd]) * 100,
            tr("in.entropy_col"): float(entropy[lyr, hd]),
        }
        if changed_heads is not None:
            row[tr("in.kept_changed_col")] = float(changed_heads[lyr, hd]) * 100
        if density_heads is not None:
            row[tr("in.density_col")] = float(density_heads[lyr, hd]) * 100
        if empty is not None:
            row[tr("in.empty_col")] = int(empty[lyr, hd])
        rows.append(row)
percent = {
    col: st.column_config.ProgressColumn(col, format="%.1f%%", min_value=0, max_value=100)
    for col in (tr("in.kept_col"), tr("in.kept_changed_col"), tr("in.density_col"))
}
st.dataframe(pd.DataFrame(rows).sort_values(tr("in.kept_col")), hide_index=True, key="in_table", column_config=percent)
if status is not None:  # "ready" only once everything above has been drawn
    status.update(label=tr("in.loaded", model=title), state="complete", expanded=False)
