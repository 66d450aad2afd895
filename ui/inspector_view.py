"""The Inspector's results drawn from one `inspection` result: the numbers, one head's maps, the token view
and the per-head table. Figures come from `ui.inspector_figures`; this module places them."""

from __future__ import annotations

import hashlib
import html

import pandas as pd
import streamlit as st

from sparse_core.inspection_long import LONG_FROM

from . import inspector_figures as F
from .chrome import DOWNLOAD_CONFIG, PERSIST, keep_valid, lang, option_labels, tr, write_query
from .figures import head_overview
from .i18n import STRINGS
from .inspector_state import scale_to_text, view_values
from .safe import plain

s = st.session_state


def _gap() -> str:
    """Between two sentences: a space in English, none in Chinese (its full stop carries the gap)."""
    return "" if lang() == "zh" else " "


def _colon() -> str:
    """A label's colon: a full-width one after Chinese text ("该头保留的质量：96.9%")."""
    return "：" if lang() == "zh" else ": "


def _fmt(value, spec: str) -> str:
    return "—" if value is None or value != value else format(value, spec)  # None or nan: nothing to show


def numbers(result, lm, key: str, pattern: str) -> None:
    """The model line, the summary metrics, the dense warning with its fit button, the rule and the timing."""
    sm, n, causal = result.summary, result.n, result.causal
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
        all_rows += _gap() + tr("in.all_rows_agreement", agreement=f"{sm.agreement:.1%}")
    st.caption(tr("in.changed_rows", changed=f"{sm.changed_rows:,}", n=f"{n:,}") + _gap() + all_rows)
    if sm.dense:
        st.warning(tr("in.too_dense", share=f"{sm.density:.0%}", n=f"{n:,}"), icon="🫥")
        st.button(
            tr("in.scale_button", n=f"{n:,}"),
            key="in_scale_fit",
            on_click=scale_to_text,
            args=(pattern, n, causal),
            type="primary",
        )
    if result.selection:
        rule = _gap().join(tr(f"in.rule_{name}") for name in result.selection)
        st.info(tr("in.per_head_rule", rule=rule), icon="🧭")
    seconds = result.seconds
    times = {k: f"{seconds.get(k, 0):.2f}" for k in ("dense", "masks", "sparse")}
    if getattr(result, "long", False):  # the long dense pass is not cached (its q/k are the memory bound)
        st.caption(tr("in.timing_long", limit=LONG_FROM, **times))
    else:
        st.caption(tr("in.timing", **times))


# -- one head, redrawn alone when the head, scale or token changes ----------------------------------
def _open_clicked_head() -> None:
    event = s.get("in_overview")
    points = event.selection.points if event else []
    if points and "customdata" in points[0]:
        data = points[0]["customdata"]  # (layer, head); the browser sends it as {"0": layer, "1": head}
        if isinstance(data, dict):
            data = [data[k] for k in sorted(data, key=int)]
        s.in_layer, s.in_head = (int(v) for v in data)


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
    if getattr(result, "long", False) and hide_first:
        # a pooled map's first block holds many tokens: the engine pools without token 0's row and column
        # instead of the figures dropping the whole block (the view is kept by the result, as every head view)
        view = result.head(layer, head, start=1)
        hide_first = False
    else:
        view = result.head(layer, head)
    head_maps(view, result.tokens, scale, hide_first)
    token_panel(view, result.tokens.labels)
    write_query("in", {**url, **view_values()})


def head_maps(view, tokens, scale: str, hide_first: bool) -> None:
    """The selected head: dense, mask, sparse and difference, on the chosen colour scale."""
    kept = f"{tr('in.mass_head')}{_colon()}{view.mass_kept:.1%}"
    st.subheader(f"{tr('in.layer')} {view.layer} · {tr('in.head')} {view.head} — {kept}")
    if len(view.empty_rows):
        st.caption(tr("in.rows_fixed", n=f"{len(view.empty_rows):,}"))
    if getattr(view, "pooled", False):
        side = len(view.edges) - 1
        block = f"{len(tokens.ids) / side:.0f}"
        st.caption(tr("in.long_note", limit=LONG_FROM, block=block, side=side))
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


def table(result) -> None:
    """One row per (layer, head), sorted by mass kept, with translated headers."""
    st.subheader(tr("in.table"))
    columns = {
        tr(f"in.{name}" if name in ("layer", "head") else f"in.{name}_col"): v for name, v in result.table().items()
    }
    percent = {
        col: st.column_config.ProgressColumn(col, format="%.1f%%", min_value=0, max_value=100)
        for col in (tr("in.kept_col"), tr("in.kept_changed_col"), tr("in.density_col"))
    }
    st.dataframe(
        pd.DataFrame(columns).sort_values(tr("in.kept_col")), hide_index=True, key="in_table", column_config=percent
    )
