"""Attention Inspector: a real model's attention on pasted text, dense vs sparse.

Widgets -> one engine call (`sparse_core.inspection.inspect_text`, cached per text, pattern and
parameters; past 512 tokens priced, queued and run on request with progress and a cancel) -> figures
placed by `ui.inspector_view`. Widget state (the URL, the parameters that follow the text) lives in
`ui.inspector_state`, the model's and the comparison's progress in `ui.inspector_progress`."""

from __future__ import annotations

import streamlit as st

from sparse_core import PATTERNS, PatternError, get, models
from ui import inspector_progress as run
from ui import inspector_state as state
from ui import inspector_view as view
from ui.chrome import (
    PERSIST,
    keep_valid,
    option_labels,
    pattern_summary,
    pattern_titles,
    show_error,
    show_problems,
    tr,
    url_is_new,
)
from ui.safe import plain
from ui.widgets import param_widgets

s = st.session_state

st.title(tr("in.title"))
st.caption(tr("in.lead"))
with st.expander(tr("in.how")):
    st.markdown(tr("in.how_text"))
    st.markdown(f"**{tr('in.defs_title')}**")
    st.markdown(tr("in.defs"))
    if not models.local_models_allowed():  # for whoever runs the server, not in a visitor's way
        st.caption(tr("in.local_off_admin", env=models.ALLOW_LOCAL_ENV))

if url_is_new("in", state.URL_NAMES):  # the session's first visit, Back, Forward or a link
    show_problems(state.load_from_url())

# -- widgets ---------------------------------------------------------------------------------------
left, right = st.columns([1, 2.3], gap="large")
with right:
    box = st.container()  # progress lives here, at the top of the results, where the eye is
state.unlabel_choices()  # before keep_valid: a choice sent back as its label is still that choice
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
    keep_valid("in_example", ["", *state.EXAMPLES], "en_story")
    s.setdefault("in_example", "en_story")
    example = st.selectbox(
        tr("in.example"),
        ["", *state.EXAMPLES],
        key="in_example",
        format_func=option_labels(lambda k: f"in.ex_{k}" if k else "in.own"),
        persist_state=PERSIST,
    )
    if example and s.get("in_example_loaded") != example:
        s.in_text, s.in_example_loaded = state.EXAMPLES[example].read_text(encoding="utf-8"), example
    if not isinstance(s.get("in_text", ""), str):
        s.in_text = ""
    text = st.text_area(
        tr("in.text"), key="in_text", height=180, max_chars=200_000, on_change=state.text_edited, persist_state=PERSIST
    )
    if not example:  # the link names no text: say so before someone shares it
        st.caption(tr("in.own_not_in_link"))
    # the model's own context under the deployment's cap (a typed folder: the cap; its context clamps later)
    options = state.limits(None if local else models.MODELS[model_key].max_tokens)
    keep_valid("in_limit", options, state.DEFAULT_TOKENS if state.DEFAULT_TOKENS in options else options[-1])
    limit = st.select_slider(tr("in.limit"), options, key="in_limit", help=tr("in.limit_help"), persist_state=PERSIST)
    keep_valid("in_pattern", list(PATTERNS), state.DEFAULT_PATTERN)

# a typed folder by its resolved path: one cached result per folder, however it is spelt
key = models.model_key(local) if local else model_key
if not example and not text.strip():
    # a link with text=own opened in a new session, or a cleared box: a hint, not an error
    with box:
        st.info(tr("in.own_missing"), icon="📋")
    state.stop_with_url(model_key, limit)

title = tr(f"in.model_{key}") if key in models.MODELS else plain(key)  # a typed path is shown as text
status = None
try:
    lm, status = run.load(key, title, box)
    tokens = run.engine().tokenize(lm, text, limit)  # n first: the parameter widgets follow it
except PatternError as e:
    with box:
        show_error(e)
    state.stop_with_url(model_key, limit)

n, causal = len(tokens.ids), lm.info.causal
with left:
    st.caption(tr("in.count", n=f"{n:,}"))
    if tokens.truncated_chars:
        total, chars = f"{tokens.total_tokens:,}", f"{tokens.truncated_chars:,}"
        st.warning(tr("in.truncated", total=total, n=f"{n:,}", chars=chars))
    with st.container(border=True):
        names = list(PATTERNS)
        pattern = st.selectbox(
            tr("in.pattern"),
            names,
            index=names.index(state.DEFAULT_PATTERN),
            key="in_pattern",
            format_func=pattern_titles(),
            persist_state=PERSIST,
        )
        st.caption(pattern_summary(pattern))
        state.follow_text(pattern, n, causal)
        values = param_widgets(get(pattern), "in")
        state.announce_rescale(pattern, dict(values))
    if causal:
        st.caption(tr("in.causal_note"))

# -- the one engine call -------------------------------------------------------------------------
args = (key, text, limit, pattern, tuple(values.items()))
try:
    if n > run.engine().LONG_FROM:  # priced, queued, on request, with progress and a cancel
        result = run.long_run(args, lm, tokens, title, box, get(pattern).data_dependent)
        if result is None:
            state.stop_with_url(model_key, limit)
    else:
        result = run.compare(args, n, title, box)
except PatternError as e:
    if status is not None:
        status.update(label=tr("in.load_failed", model=title), state="error")
    with box:
        show_error(e)
    state.stop_with_url(model_key, limit)

# -- results -------------------------------------------------------------------------------------
with right:
    view.numbers(result, lm, key, pattern)
view.head_view(result, state.url_values(model_key, limit, pattern, dict(values)))
view.table(result)
if status is not None:  # "ready" only once everything above has been drawn
    status.update(label=tr("in.loaded", model=title), state="complete", expanded=False)
