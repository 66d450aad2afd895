"""Attention Inspector: a real model's attention on pasted text, dense vs sparse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from sparse_core import PATTERNS, PatternError, get, make, models
from sparse_core import attention as A
from ui.chrome import DOWNLOAD_CONFIG, lang, option_labels, pattern_summary, pattern_titles, show_error, tr
from ui.figures import attention_heatmap, head_overview
from ui.widgets import param_widgets

EXAMPLES = {p.stem: p for p in sorted((Path(__file__).parents[1] / "assets" / "examples").glob("*.txt"))}


@st.cache_resource(show_spinner=False, max_entries=2)  # SmolLM2 at 512 tokens keeps ~280 MB of maps a run
def _compare(key: str, text: str, limit: int, pattern: str, params: tuple, layer: int, head: int):
    lm = models.load(key)  # cached for the whole process
    tokens = A.tokenize(lm, text, limit)
    spec = make(pattern, lm.info.causal, **dict(params))
    result = A.compare(lm, tokens, spec.expr(), (layer, head))
    return result, A.thumbnails(result.dense.attentions)


def _load_with_progress(key: str):
    title = tr(f"in.model_{key}") if key in models.MODELS else key
    if key == "smollm2" and not models.smollm_converted():
        with st.status(tr("in.loading", model=title), expanded=True) as status:
            bar = st.progress(0.0)
            models.smollm_fp32_dir(lambda f, m: bar.progress(f, text=m))
            lm = models.load(key)
            status.update(label=tr("in.loaded", model=title), state="complete", expanded=False)
            return lm
    with st.spinner(tr("in.loading", model=title)):
        return models.load(key)


def _open_clicked_head() -> None:
    """Runs before the next script run, so the layer and head inputs can still be set."""
    event = st.session_state.get("in_overview")
    points = event.selection.points if event else []
    if points and "customdata" in points[0]:
        data = points[0]["customdata"]  # (layer, head); the browser sends it as {"0": layer, "1": head}
        if isinstance(data, dict):
            data = [data[k] for k in sorted(data, key=int)]
        st.session_state.in_layer, st.session_state.in_head = (int(v) for v in data)


# -- widgets -----------------------------------------------------------------------------------
st.title(tr("in.title"))
st.caption(tr("in.lead"))
with st.expander(tr("in.how")):
    st.markdown(tr("in.how_text"))

left, right = st.columns([1, 2.3], gap="large")
with left:
    model_key = st.radio(
        tr("in.model"), list(models.MODELS), key="in_model", format_func=option_labels(lambda k: f"in.model_{k}")
    )
    local = st.text_input(tr("in.local"), key="in_local", help=tr("in.local_help")).strip()
    if "in_example" not in st.session_state:
        st.session_state.in_example = "en_story"
    example = st.selectbox(
        tr("in.example"),
        ["", *EXAMPLES],
        key="in_example",
        format_func=option_labels(lambda k: f"in.ex_{k}" if k else "in.own"),
    )
    if example and st.session_state.get("in_example_loaded") != example:
        st.session_state.in_text = EXAMPLES[example].read_text(encoding="utf-8")
        st.session_state.in_example_loaded = example
    text = st.text_area(tr("in.text"), key="in_text", height=180, max_chars=200_000)
    limit = st.select_slider(
        tr("in.limit"), [32, 64, 128, 256, 384, 512], value=256, key="in_limit", help=tr("in.limit_help")
    )
    with st.container(border=True):
        names = list(PATTERNS)
        pattern = st.selectbox(
            tr("in.pattern"), names, index=names.index("window"), key="in_pattern", format_func=pattern_titles()
        )
        definition = get(pattern)
        st.caption(pattern_summary(pattern))
        values = param_widgets(definition, "in")

try:
    lm = _load_with_progress(local or model_key)
    spec = make(pattern, lm.info.causal, **values)
    tokens = A.tokenize(lm, text, limit)
except PatternError as e:
    with right:
        show_error(e)
    st.stop()

n = len(tokens.ids)
with left:
    st.caption(tr("in.count", n=n))
    if tokens.truncated_chars:
        st.warning(tr("in.truncated", total=f"{tokens.total_tokens:,}", n=n, chars=f"{tokens.truncated_chars:,}"))
    if lm.info.causal:
        st.caption(tr("in.causal_note"))
    c1, c2 = st.columns(2)
    layer = c1.number_input(tr("in.layer"), 0, lm.layers - 1, min(2, lm.layers - 1), key="in_layer")
    head = c2.number_input(tr("in.head"), 0, lm.heads - 1, 0, key="in_head")

try:
    # only data-dependent patterns depend on the viewed head: elsewhere switching heads reuses the run
    source = (int(layer), int(head)) if definition.data_dependent else (0, 0)
    result, thumbs = _compare(local or model_key, text, limit, pattern, tuple(spec.params.items()), *source)
except PatternError as e:
    with right:
        show_error(e)
    st.stop()

# -- results -----------------------------------------------------------------------------------
with right:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(tr("in.mass"), f"{result.mass_kept.mean():.1%}")
    m2.metric(tr("in.density"), f"{result.keep.mean():.1%}", help=f"{int(result.keep.sum()):,} / {n * n:,}")
    m3.metric(
        tr("in.cosine"),
        f"{result.cosine.mean():.4f}",
        tr("in.worst", v=f"{result.cosine.min():.4f}"),
        delta_color="off",
        delta_arrow="off",
        help=tr("in.cosine_help"),
    )
    if result.agreement is not None:
        m4.metric(
            tr("in.agreement"),
            f"{result.agreement:.1%}",
            tr("in.ppl", sparse=f"{result.perplexity_sparse:.2f}", dense=f"{result.perplexity_dense:.2f}"),
            delta_color="off",
            delta_arrow="off",
        )
    if result.qk_source is not None:
        st.info(tr("in.qk_source", layer=result.qk_source[0], head=result.qk_source[1]), icon="🧭")
    if result.rows_fixed:
        st.caption(tr("in.rows_fixed", n=result.rows_fixed))
    st.markdown(f"**{tr('in.overview')}**")
    st.plotly_chart(
        head_overview(thumbs, result.mass_kept, lang()),
        key="in_overview",
        on_select=_open_clicked_head,
        selection_mode="points",
        config={"displayModeBar": False},
    )

labels = tokens.labels
dense_map = result.dense.attentions[layer, head].astype(np.float32)
sparse_map = result.sparse.attentions[layer, head].astype(np.float32)
st.subheader(
    f"{tr('in.layer')} {layer} · {tr('in.head')} {head} — {tr('in.mass_head')}: {result.mass_kept[layer, head]:.1%}"
)
a, b = st.columns(2)
a.plotly_chart(
    attention_heatmap(dense_map, labels, tr("in.dense"), lang=lang()), key="in_dense", config=DOWNLOAD_CONFIG
)
b.plotly_chart(
    attention_heatmap(result.keep.astype(np.uint8), labels, tr("in.mask"), colorscale="Purples", lang=lang()),
    key="in_mask",
    config=DOWNLOAD_CONFIG,
)
c, d = st.columns(2)
c.plotly_chart(
    attention_heatmap(sparse_map, labels, tr("in.sparse"), lang=lang()), key="in_sparse", config=DOWNLOAD_CONFIG
)
d.plotly_chart(
    attention_heatmap(sparse_map - dense_map, labels, tr("in.diff"), colorscale="RdBu", zmid=0, lang=lang()),
    key="in_diff",
    config=DOWNLOAD_CONFIG,
)

st.subheader(tr("in.table"))
attn = result.dense.attentions.astype(np.float32)
entropy = -(attn * np.log2(np.clip(attn, 1e-12, None))).sum(-1).mean(-1)  # (L, H)
table = pd.DataFrame(
    [
        {
            tr("in.layer"): lyr,
            tr("in.head"): hd,
            tr("in.kept_col"): float(result.mass_kept[lyr, hd]) * 100,
            tr("in.entropy_col"): float(entropy[lyr, hd]),
        }
        for lyr in range(lm.layers)
        for hd in range(lm.heads)
    ]
).sort_values(tr("in.kept_col"))
st.dataframe(
    table,
    hide_index=True,
    key="in_table",
    column_config={
        tr("in.kept_col"): st.column_config.ProgressColumn(
            tr("in.kept_col"), format="%.1f%%", min_value=0, max_value=100
        )
    },
)
