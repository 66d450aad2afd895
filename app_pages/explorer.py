"""Pattern Explorer: pick, see, count, compare, export, share."""

from __future__ import annotations

import uuid

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sparse_core import PATTERNS, PatternError, analysis, get, make
from sparse_core.cost import stats
from sparse_core.export import Config, downloads, format_layers, parse_layers
from sparse_core.views import MaskView, degree_profile, mask_view
from ui.chrome import (
    DOWNLOAD_CONFIG,
    error_text,
    lang,
    option_labels,
    pattern_summary,
    pattern_title,
    pattern_titles,
    show_error,
    tr,
)
from ui.figures import human, mask_image, short_n
from ui.widgets import param_widgets, reset_params

BLOCK_OPTIONS = [16, 32, 64, 128, 256]
N_OPTIONS = [
    16,
    32,
    64,
    100,
    128,
    256,
    500,
    512,
    1000,
    1024,
    2048,
    4096,
    8192,
    10_000,
    16_384,
    32_768,
    65_536,
    100_000,
    131_072,
    262_144,
    524_288,
    1_000_000,
    1_048_576,
]
NAMES = list(PATTERNS)


# -- state: URL <-> widgets ----------------------------------------------------------------
def _new_layer(name: str = "window", params: dict | None = None) -> str:
    lid = uuid.uuid4().hex[:6]
    st.session_state[f"ex_{lid}_pattern"] = name
    for key, value in (params or {}).items():
        st.session_state[f"ex_{lid}_{name}_{key}"] = value
    return lid


def _load_from_url() -> None:
    qp = st.query_params
    st.session_state.ex_layers = []
    try:
        n = int(qp.get("n", 4096))
        if n not in N_OPTIONS:
            raise PatternError(f"n = {n} is not one of the offered lengths")
        causal = qp.get("causal", "0") == "1"
        layers = parse_layers(qp.get("pattern", "longformer(window=256,global_tokens=1)"), causal)
        block = int(qp.get("block", 128))
        if block not in BLOCK_OPTIONS:
            raise PatternError(f"block size {block} is not one of {BLOCK_OPTIONS}")
        op = qp.get("op", "union")
        if op not in ("union", "intersection"):
            raise PatternError(f"op must be union or intersection, got {op!r}")
    except (PatternError, ValueError) as e:
        st.session_state.ex_url_problem = str(e)
        n, causal, block, op = 4096, False, 128, "union"
        layers = [make("longformer")]
    st.session_state.update(ex_n=n, ex_causal=causal, ex_block=block, ex_op=op)
    st.session_state.ex_layers = [_new_layer(s.name, s.params) for s in layers]


def _sync_url(config: Config) -> None:
    st.query_params.update(
        {
            "pattern": format_layers(config.layers),
            "n": str(config.n),
            "causal": "1" if config.causal else "0",
            "op": config.op,
            "block": str(config.block),
        }
    )


def _add_layer() -> None:
    st.session_state.ex_layers.append(_new_layer("global"))


def _remove_layer(lid: str) -> None:
    st.session_state.ex_layers.remove(lid)


# -- cached engine calls -------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _analyse(layers_text: str, op: str, causal: bool, n: int, block: int, d_head: int):
    config = Config(parse_layers(layers_text, causal), n, op, block, causal)
    expr = config.expr()
    analysis.check_n(n, expr)
    deg = analysis.row_degree(expr, n)
    s = stats(expr, n, block, d_head, degrees=deg)
    return s, degree_profile(deg), mask_view(expr, n)


@st.cache_data(max_entries=16, show_spinner=False)
def _tile(layers_text: str, op: str, causal: bool, n: int, r0: int, c0: int, size: int):
    config = Config(parse_layers(layers_text, causal), n, op, 128, causal)
    return analysis.mask_tile(config.expr(), n, r0, r0 + size, c0, c0 + size)


@st.cache_data(max_entries=8, show_spinner=False)
def _downloads(layers_text: str, op: str, causal: bool, n: int, block: int) -> dict[str, bytes]:
    return downloads(Config(parse_layers(layers_text, causal), n, op, block, causal))


# -- widgets ---------------------------------------------------------------------------------
if "ex_layers" not in st.session_state:
    _load_from_url()

st.title(tr("ex.title"))
st.caption(tr("ex.lead"))
if problem := st.session_state.pop("ex_url_problem", None):
    st.warning(tr("ex.url_problem", msg=problem))

controls, results = st.columns([1, 2.2], gap="large")
with controls:
    n = st.select_slider(tr("ex.n"), N_OPTIONS, key="ex_n", format_func=short_n)
    causal = st.toggle(tr("ex.causal"), key="ex_causal", help=tr("ex.causal_help"))
    specs, errors = [], []
    for i, lid in enumerate(st.session_state.ex_layers):
        with st.container(border=True):
            head, tail = st.columns([3, 1], vertical_alignment="bottom")
            name = head.selectbox(tr("ex.layer", i=i + 1), NAMES, key=f"ex_{lid}_pattern", format_func=pattern_titles())
            definition = get(name)
            tail.button(
                "↺",
                key=f"ex_{lid}_reset",
                on_click=reset_params,
                help=tr("ex.defaults"),
                args=(definition, f"ex_{lid}"),
                use_container_width=True,
            )
            st.caption(
                f"{pattern_summary(name)}  \n"
                f"{tr('ex.complexity')}: **{definition.complexity}** · " + tr("ex.reference", ref=definition.reference)
            )
            values = param_widgets(definition, f"ex_{lid}")
            try:
                specs.append(make(name, causal, **values))
            except PatternError as e:
                errors.append(error_text(e))
                show_error(e)
            if len(st.session_state.ex_layers) > 1:
                st.button(tr("ex.remove"), key=f"ex_{lid}_remove", on_click=_remove_layer, args=(lid,))
    if len(st.session_state.ex_layers) < 4:
        st.button(tr("ex.add"), on_click=_add_layer, use_container_width=True)
    if len(st.session_state.ex_layers) > 1:
        st.radio(tr("ex.op"), ["union", "intersection"], key="ex_op", format_func=option_labels(lambda o: f"ex.{o}"))
    left, right = st.columns(2)
    block = left.select_slider(tr("ex.block"), BLOCK_OPTIONS, key="ex_block", help=tr("ex.block_help"))
    d_head = right.select_slider(tr("ex.d_head"), [32, 64, 128, 256], value=64, key="ex_d_head")

if errors:
    results.info(tr("err.prefix", msg=errors[0]))
    st.stop()

config = Config(specs, n, st.session_state.get("ex_op", "union"), block, causal)
layers_text = format_layers(specs)
_sync_url(config)
try:
    s, profile, view = _analyse(layers_text, config.op, causal, n, block, d_head)
except PatternError as e:
    with results:
        show_error(e)
    st.stop()

# -- results ---------------------------------------------------------------------------------
with results:
    tab_mask, tab_compare, tab_export = st.tabs([tr("ex.tab_mask"), tr("ex.tab_compare"), tr("ex.tab_export")])

with tab_mask:
    fig_col, num_col = st.columns([1.35, 1])
    with fig_col:
        if not view.pooled:
            st.caption(tr("ex.token_view", n=f"{n:,}"))
        else:
            st.caption(tr("ex.pooled_view" if view.exact_density else "ex.pooled_binary", b=f"{view.block:,}"))
        image_format = st.session_state.get("ex_image_format", "png")
        st.plotly_chart(
            mask_image(view, lang=lang()),
            key="ex_mask",
            config={
                **DOWNLOAD_CONFIG,
                "toImageButtonOptions": {"format": image_format, "scale": 2, "filename": "sparse-mask"},
            },
        )
    with num_col:
        st.metric(tr("ex.kept_pairs"), human(s.nnz), help=f"{s.nnz:,} / {n * n:,}")
        st.metric(tr("ex.density"), f"{s.density:.4%}", help=f"{s.nnz:,} / {n * n:,} = {s.density:.10f}")
        st.metric(
            tr("ex.flops"),
            human(s.flops_sparse, "FLOP"),
            tr("ex.speedup", x=f"{s.speedup_ideal:,.1f}×"),
            delta_color="off",
            delta_arrow="off",
            help=tr("ex.help_flops", sparse=f"{s.flops_sparse:,}", dense=f"{s.flops_dense:,}", d=d_head),
        )
        st.metric(
            tr("ex.score_mem"),
            human(s.score_bytes_sparse, "B"),
            tr("ex.score_mem_delta", dense=human(s.score_bytes_dense, "B")),
            delta_color="off",
            delta_arrow="off",
            help=tr("ex.help_mem", sparse=f"{s.score_bytes_sparse:,}", dense=f"{s.score_bytes_dense:,}"),
        )
        st.metric(
            tr("ex.block_kernel"),
            human(s.flops_block, "FLOP"),
            tr("ex.block_waste", w=f"{s.block_waste:.1%}"),
            delta_color="off",
            delta_arrow="off",
            help=tr(
                "ex.help_blocks",
                kept=f"{s.kept_blocks:,}",
                total=f"{s.n_blocks**2:,}",
                b=block,
                pairs=f"{s.executed_pairs:,}",
            ),
        )
        if not s.block_exact:
            st.caption(tr("ex.block_inexact"))
        kv = tr("ex.kv_bounded", t=f"{s.kv_tokens_sparse:,}") if s.kv_tokens_sparse < n else tr("ex.kv_unbounded")
        st.metric(
            tr("ex.kv"),
            human(s.kv_tokens_sparse * 2 * d_head * 2, "B"),
            kv,
            delta_color="off",
            delta_arrow="off",
            help=tr("ex.help_kv", t=f"{s.kv_tokens_sparse:,}"),
        )
        st.caption(
            tr(
                "ex.softmax_line",
                label=tr("ex.softmax"),
                sparse=human(s.softmax_flops_sparse, "FLOP"),
                dense=human(s.softmax_flops_dense, "FLOP"),
            )
        )

    st.markdown(f"**{tr('ex.degree')}**")
    band = go.Figure(
        [
            go.Scatter(
                x=profile.start, y=profile.high, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"
            ),
            go.Scatter(
                x=profile.start,
                y=profile.low,
                mode="lines",
                fill="tonexty",
                line=dict(width=0),
                name=tr("ex.degree_range"),
                fillcolor="rgba(49,51,145,0.2)",
            ),
            go.Scatter(
                x=profile.start,
                y=profile.mean,
                mode="lines",
                name=tr("ex.degree_mean"),
                line=dict(color="rgb(49,51,145)"),
            ),
        ]
    )
    band.update_layout(
        height=240,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title=tr("fig.query"),
        yaxis_title=tr("ex.degree_axis"),
        legend=dict(orientation="h", y=1.15),
    )
    st.plotly_chart(band, key="ex_degree", config=DOWNLOAD_CONFIG)

    with st.expander(tr("ex.zoom")):
        size = st.select_slider(tr("ex.zoom_size"), [16, 32, 64, 128, 256, 512], value=min(64, n), key="ex_zoom_size")
        size = min(size, n)
        z1, z2 = st.columns(2)
        r0 = z1.number_input(tr("ex.zoom_row"), 0, n - size, min(n - size, n // 2), key="ex_zoom_r")
        c0 = z2.number_input(tr("ex.zoom_col"), 0, n - size, min(n - size, n // 2), key="ex_zoom_c")
        tile = _tile(layers_text, config.op, causal, n, int(r0), int(c0), size)
        fig = mask_image(MaskView(tile, False, 1, size), height=380, lang=lang())
        fig.update_xaxes(
            tickvals=list(range(0, size, max(1, size // 8))),
            ticktext=[str(c0 + v) for v in range(0, size, max(1, size // 8))],
        )
        fig.update_yaxes(
            tickvals=list(range(0, size, max(1, size // 8))),
            ticktext=[str(r0 + v) for v in range(0, size, max(1, size // 8))],
        )
        st.plotly_chart(fig, key="ex_zoom_fig", config=DOWNLOAD_CONFIG)

with tab_compare:
    default = [x for x in ("longformer", "bigbird", "streaming") if x in NAMES]
    chosen = st.multiselect(
        tr("ex.compare_pick"),
        [x for x in NAMES],
        default=default,
        max_selections=4,
        key="ex_compare",
        format_func=pattern_titles(),
    )
    if len(chosen) < 2:
        st.info(tr("ex.compare_need"))
    else:
        rows, cols = {}, st.columns(len(chosen))
        for col, name in zip(cols, chosen, strict=True):
            with col:
                spec = make(name, causal)
                text = format_layers([spec])
                try:
                    cs, _, cview = _analyse(text, "union", causal, n, block, d_head)
                except PatternError as e:
                    show_error(f"{pattern_title(name)}: {e}")
                    continue
                st.plotly_chart(
                    mask_image(cview, pattern_title(name), height=320, lang=lang()),
                    key=f"ex_cmp_{name}",
                    config=DOWNLOAD_CONFIG,
                )
                rows[pattern_title(name)] = {
                    tr("ex.kept_pairs"): f"{cs.nnz:,}",
                    tr("ex.density"): f"{cs.density:.4%}",
                    tr("ex.flops"): human(cs.flops_sparse, "FLOP"),
                    tr("ex.times_dense"): f"{cs.speedup_ideal:,.1f}",
                    tr("ex.block_kernel"): human(cs.flops_block, "FLOP"),
                    tr("ex.score_mem"): human(cs.score_bytes_sparse, "B"),
                    tr("ex.complexity"): get(name).complexity,
                }
        if rows:
            st.dataframe(pd.DataFrame(rows), key="ex_compare_table")

with tab_export:
    st.info(tr("ex.share"), icon="🔗")
    st.radio(tr("ex.image_format"), ["png", "svg"], key="ex_image_format", horizontal=True)
    files = _downloads(layers_text, config.op, causal, n, block)
    d1, d2, d3, d4 = st.columns(4)
    if "mask.npy" in files:
        d1.download_button(tr("ex.dl_npy"), files["mask.npy"], "mask.npy", "application/octet-stream", key="ex_dl_npy")
        d2.download_button(tr("ex.dl_csv"), files["mask.csv"], "mask.csv", "text/csv", key="ex_dl_csv")
    else:
        nb = -(-n // block)
        st.warning(
            tr(
                "ex.too_large",
                n=f"{n:,}",
                size=human(n * n, "B"),
                limit=f"{analysis.DENSE_MAX_N:,}",
                nb=f"{nb:,}",
                b=block,
            )
        )
        d1.download_button(
            tr("ex.dl_layout"),
            files["block_layout.npy"],
            "block_layout.npy",
            "application/octet-stream",
            key="ex_dl_layout",
        )
    d3.download_button(tr("ex.dl_json"), files["pattern.json"], "pattern.json", "application/json", key="ex_dl_json")
    d4.download_button(tr("ex.dl_flex"), files["flex_mask.py"], "flex_mask.py", "text/x-python", key="ex_dl_flex")
    st.markdown(f"**{tr('ex.flex_title')}**")
    st.code(files["flex_mask.py"].decode(), language="python")
