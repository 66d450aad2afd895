"""Learn: a guided tour of sparse attention in eight live steps, in English and Chinese."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sparse_core import analysis, make, models
from sparse_core import attention as A
from sparse_core.cost import MODEL_PRESETS
from sparse_core.reach import layers_to_connect, reachability
from sparse_core.scaling import curve, largest_n_within
from sparse_core.views import MaskView
from ui.chrome import DOWNLOAD_CONFIG, lang, option_labels, pattern_title, pattern_titles, tr
from ui.figures import human, mask_image

STEPS = 8
STORY = (Path(__file__).parents[1] / "assets" / "examples" / "en_story.txt").read_text(encoding="utf-8")
MODEL_7B = MODEL_PRESETS["Llama-2-7B"]
GPUS = [("RTX 4090", 24), ("A100 / H100", 80), ("H200", 141)]


@st.cache_resource(show_spinner=False)
def _dense_run():
    lm = models.load("minilm")
    tokens = A.tokenize(lm, STORY, 256)
    return lm, tokens, A.forward(lm, tokens.ids)


@st.cache_resource(show_spinner=False)
def _price(names: tuple[str, ...]):
    lm, tokens, _ = _dense_run()
    out = {}
    for name in names:
        result = A.compare(lm, tokens, _small(name, len(tokens.ids)).expr())
        out[name] = (float(result.mass_kept.mean()), float(result.cosine.mean()), float(result.keep.mean()))
    return len(tokens.ids), out


def _small(name: str, n: int):
    """Each pattern scaled to a small n so that its structure is visible."""
    w = max(2, n // 16)
    params = {
        "window": {"window": w},
        "dilated": {"window": max(1, w // 2), "dilation": 2},
        "global": {"global_tokens": max(1, n // 32)},
        "block": {"block": max(2, n // 8)},
        "random": {"random_keys": max(1, n // 32)},
        "lsh": {"buckets": 4},
        "topk": {"k": max(1, n // 16)},
        "longformer": {"window": w, "global_tokens": max(1, n // 64)},
        "bigbird": {"block": max(2, n // 16), "random_blocks": 2, "global_blocks": 1},
        "strided": {"stride": max(2, int(np.sqrt(n)))},
        "fixed": {"stride": max(2, n // 8), "summary": max(1, n // 32)},
        "streaming": {"sinks": max(1, n // 64), "window": w},
    }[name]
    return make(name, **params)


def _mini(name: str, n: int, key: str):
    mask = analysis.dense_mask(_small(name, n).expr(), n)
    fig = mask_image(MaskView(mask, False, 1, n), height=250, lang=lang())
    fig.update_layout(margin=dict(l=0, r=0, t=20, b=0))
    fig.update_xaxes(title=None, showticklabels=False)
    fig.update_yaxes(title=None, showticklabels=False)
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})
    d = make(name).definition
    st.caption(f"**{pattern_title(name)}** · {d.complexity} · {mask.mean():.0%}")


def step1():
    n = st.select_slider(
        tr("le.f1_n"), [1 << e for e in range(10, 21)], value=1 << 15, key="le_n1", format_func=lambda v: f"{v:,}"
    )
    ns = np.array([1 << e for e in range(10, 21)], dtype=float)
    per_layer = MODEL_7B.heads * ns * ns * MODEL_7B.dtype_bytes
    fig = go.Figure(
        go.Scatter(x=ns, y=per_layer, mode="lines", name=tr("le.f1_title"), line=dict(color="#313191", width=3))
    )
    for gpu, gib in GPUS:
        fig.add_hline(y=gib * 2**30, line_dash="dot", annotation_text=tr("le.f1_gpu", gpu=gpu, mem=f"{gib} GB"))
    now = MODEL_7B.heads * n * n * MODEL_7B.dtype_bytes
    fig.add_trace(
        go.Scatter(
            x=[n],
            y=[now],
            mode="markers",
            marker=dict(size=14, color="#e4572e"),
            name=tr("le.f1_now", n=f"{n:,}", mem=human(now, "B")),
        )
    )
    fig.update_xaxes(type="log", title="n", tickformat=",d")
    fig.update_yaxes(type="log", title="B", exponentformat="SI")
    fig.update_layout(
        title=tr("le.f1_title"), height=420, legend=dict(orientation="h", y=-0.2), margin=dict(l=10, r=10, t=50, b=10)
    )
    st.plotly_chart(fig, key="le_fig1", config=DOWNLOAD_CONFIG)
    st.metric(tr("le.f1_now", n=f"{n:,}", mem=""), human(now, "B"))
    for gpu, gib in GPUS:
        st.caption(tr("le.f1_fits", gpu=gpu, n=f"{int(np.sqrt(gib * 2**30 / MODEL_7B.heads / 2)):,}"))


def step2():
    with st.spinner(tr("le.loading")):
        lm, tokens, dense = _dense_run()
    layer = st.slider(tr("le.f2_layer"), 0, lm.layers - 1, 2, key="le_layer2")
    weights = dense.attentions[layer].astype(np.float32)  # (H, T, T)
    n = weights.shape[-1]
    flat = np.clip(weights.ravel(), 1e-6, 1)
    edges = np.logspace(-6, 0, 49)
    counts, _ = np.histogram(flat, bins=edges)
    hist = go.Figure(go.Bar(x=np.sqrt(edges[:-1] * edges[1:]), y=counts, marker_color="#313191"))
    hist.update_xaxes(type="log", title=tr("le.f2_weight"), exponentformat="power")
    hist.update_yaxes(title=tr("le.f2_count"))
    hist.update_layout(title=tr("le.f2_hist"), height=360, margin=dict(l=10, r=10, t=50, b=10), bargap=0)
    ranked = -np.sort(-weights, axis=-1)  # (H, T, T) each row sorted high to low
    share = np.cumsum(ranked, axis=-1).mean(axis=(0, 1))  # (T,) mean share held by the top-k keys
    ks = np.arange(1, n + 1)
    topk = go.Figure(go.Scatter(x=ks, y=share, mode="lines", line=dict(color="#e4572e", width=3)))
    topk.update_xaxes(type="log", title="k")
    topk.update_yaxes(title=tr("le.f2_share"), tickformat=".0%", range=[0, 1.02])
    topk.update_layout(title=tr("le.f2_topk"), height=360, margin=dict(l=10, r=10, t=50, b=10))
    a, b = st.columns(2)
    a.plotly_chart(hist, key="le_fig2a", config=DOWNLOAD_CONFIG)
    b.plotly_chart(topk, key="le_fig2b", config=DOWNLOAD_CONFIG)
    k = 8
    st.info(tr("le.f2_summary", tiny=f"{(flat < 0.01).mean():.0%}", k=k, share=f"{share[k - 1]:.0%}", n=n))


def step3():
    name = st.selectbox(
        tr("le.f3_pattern"),
        ["window", "global", "random", "strided", "bigbird", "longformer"],
        key="le_pattern3",
        format_func=pattern_titles(),
    )
    n = 16
    mask = analysis.dense_mask(_small(name, n).expr(), n)
    graph = nx.DiGraph((int(i), int(j)) for i, j in zip(*np.nonzero(mask), strict=True) if i != j)
    graph.add_nodes_from(range(n))
    pos = nx.circular_layout(graph)
    xs, ys = [], []
    for i, j in graph.edges():
        xs += [pos[i][0], pos[j][0], None]
        ys += [pos[i][1], pos[j][1], None]
    fig = go.Figure(
        [
            go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(49,51,145,0.35)", width=1.5), hoverinfo="skip"),
            go.Scatter(
                x=[pos[i][0] for i in range(n)],
                y=[pos[i][1] for i in range(n)],
                mode="markers+text",
                text=[str(i) for i in range(n)],
                marker=dict(size=22, color="#f2f3fa", line=dict(color="#313191", width=2)),
                hovertext=[f"{tr('fig.query')} {i}: {graph.out_degree(i)}" for i in range(n)],
                hoverinfo="text",
            ),
        ]
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(
        title=tr("le.f3_graph", edges=graph.number_of_edges()),
        showlegend=False,
        height=420,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    a, b = st.columns(2)
    a.plotly_chart(fig, key="le_fig3a", config=DOWNLOAD_CONFIG)
    b.plotly_chart(
        mask_image(MaskView(mask, False, 1, n), tr("le.f3_mask"), height=420, lang=lang()),
        key="le_fig3b",
        config=DOWNLOAD_CONFIG,
    )


def step4():
    n = st.select_slider(tr("le.f4_n"), [32, 64, 128], value=64, key="le_n4")
    names = ["window", "dilated", "global", "block", "random", "lsh", "topk"]
    cols = st.columns(4)
    for i, name in enumerate(names):
        with cols[i % 4]:
            _mini(name, n, f"le_fig4_{name}")


def step5():
    n = 128
    cols = st.columns(5)
    for col, name in zip(cols, ["longformer", "bigbird", "strided", "fixed", "streaming"], strict=True):
        with col:
            _mini(name, n, f"le_fig5_{name}")


def step6():
    n = 64
    names = ["window", "dilated", "longformer", "bigbird", "strided", "block"]
    a, b, c = st.columns(3)
    name = a.selectbox(tr("le.f3_pattern"), names, key="le_pattern6", format_func=pattern_titles())
    query = b.slider(tr("le.f6_query"), 0, n - 1, n // 2, key="le_query6")
    depth = c.slider(tr("le.f6_layers"), 1, 12, 4, key="le_layers6")
    spec = _small(name, n)
    mask = analysis.dense_mask(spec.expr(), n)
    reach = reachability(mask, depth)
    first = np.full(n, np.nan)
    for layer in range(depth, 0, -1):
        first[reach[layer - 1][query]] = layer
    fig = go.Figure(
        go.Bar(
            x=np.arange(n),
            y=np.where(np.isnan(first), 0, depth + 1 - first),
            marker=dict(
                color=first, colorscale="Viridis_r", cmin=1, cmax=depth, colorbar=dict(title=tr("le.f6_layers"))
            ),
            customdata=first,
            hovertemplate=f"{tr('fig.key')} %{{x}}<br>{tr('le.f6_reached')} %{{customdata}}<extra></extra>",
        )
    )
    fig.add_vline(x=query, line_dash="dot")
    fig.update_yaxes(visible=False)
    fig.update_xaxes(title=tr("fig.key"))
    fig.update_layout(title=tr("le.f6_title", q=query), height=320, margin=dict(l=10, r=10, t=50, b=10))
    st.plotly_chart(fig, key="le_fig6", config=DOWNLOAD_CONFIG)
    rows = []
    for other in names:
        other_spec = _small(other, n)
        needed = layers_to_connect(analysis.dense_mask(other_spec.expr(), n), causal=other_spec.causal)
        rows.append(
            {
                tr("le.f3_pattern"): pattern_title(other),
                tr("le.f6_layers_col"): tr("le.f6_never") if needed is None else str(needed),
            }
        )
    st.markdown(f"**{tr('le.f6_table', n=n)}**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="le_table6")


@st.cache_data(show_spinner=False)
def _gains(n: int):
    budget = 80 * 2**30
    rows = {}
    for name in ("mistral", "bigbird", "streaming"):
        expr = make(name).expr()
        point = curve(expr, MODEL_7B, [n])[0]
        if not rows:  # the dense baseline is the same whatever the pattern
            rows["dense"] = (
                point.model["prefill_flops_dense"],
                point.model["score_bytes_dense_per_layer"],
                largest_n_within(expr, MODEL_7B, budget, sparse=False),
            )
        rows[name] = (
            point.model["prefill_flops_sparse"],
            point.model["score_bytes_sparse_per_layer"],
            largest_n_within(expr, MODEL_7B, budget, sparse=True),
        )
    return rows


def step7():
    n = st.select_slider(
        tr("le.f7_n"), [1 << e for e in range(12, 21)], value=1 << 17, key="le_n7", format_func=lambda v: f"{v:,}"
    )
    rows = _gains(n)
    table = pd.DataFrame(
        {
            (tr("co.dense") if name == "dense" else pattern_title(name)): {
                tr("le.f7_compute"): human(f, "FLOP"),
                tr("le.f7_memory"): human(m, "B"),
                tr("le.f7_context"): ("≥ " if c >= 1 << 20 else "") + f"{c:,}",
            }
            for name, (f, m, c) in rows.items()
        }
    ).T
    st.dataframe(table, key="le_table7")
    dense_flops = rows["dense"][0]
    fig = go.Figure(
        go.Bar(
            x=[tr("co.dense") if k == "dense" else pattern_title(k) for k in rows],
            y=[v[0] for v in rows.values()],
            marker_color=["#888", "#313191", "#e4572e", "#17bebb"],
            text=[f"{dense_flops / v[0]:,.0f}×" for v in rows.values()],
            textposition="outside",
        )
    )
    fig.update_yaxes(type="log", title=tr("le.f7_compute"), exponentformat="SI")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10))
    st.plotly_chart(fig, key="le_fig7", config=DOWNLOAD_CONFIG)


def step8():
    names = ("window", "longformer", "bigbird", "streaming", "random", "topk")
    with st.spinner(tr("le.loading")):
        n, price = _price(names)
    labels = [pattern_title(x) for x in names]
    fig = go.Figure(
        [
            go.Bar(x=labels, y=[price[x][0] for x in names], name=tr("le.f8_mass"), marker_color="#313191"),
            go.Bar(x=labels, y=[price[x][2] for x in names], name=tr("le.f8_density"), marker_color="#c9c9e8"),
            go.Scatter(
                x=labels,
                y=[price[x][1] for x in names],
                name=tr("le.f8_cos"),
                mode="markers",
                marker=dict(size=16, color="#e4572e", symbol="diamond"),
            ),
        ]
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_layout(
        title=tr("le.f8_title", n=n),
        barmode="group",
        height=460,
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
        margin=dict(l=10, r=10, t=80, b=10),
    )
    fig.update_xaxes(tickangle=0, automargin=True)
    st.plotly_chart(fig, key="le_fig8", config=DOWNLOAD_CONFIG)


# -- the tour ----------------------------------------------------------------------------------
if "le_step" not in st.session_state:
    asked = st.query_params.get("step", "1")
    st.session_state.le_step = int(asked) if asked.isdigit() and 1 <= int(asked) <= STEPS else 1


def _go(delta: int) -> None:
    st.session_state.le_step = min(STEPS, max(1, st.session_state.le_step + delta))


st.title(tr("le.title"))
st.caption(tr("le.lead"))
st.radio(
    tr("le.step"),
    list(range(1, STEPS + 1)),
    key="le_step",
    horizontal=True,
    format_func=option_labels(lambda s: f"le.s{s}"),
    label_visibility="collapsed",
)
step = st.session_state.le_step
st.query_params["step"] = str(step)
text, figure = st.columns([1, 1.8], gap="large")
with text:
    st.subheader(tr(f"le.s{step}"))
    st.markdown(tr(f"le.t{step}"))
    prev, nxt = st.columns(2)
    prev.button(tr("le.prev"), on_click=_go, args=(-1,), disabled=step == 1, use_container_width=True, key="le_prev")
    nxt.button(
        tr("le.next"),
        on_click=_go,
        args=(1,),
        disabled=step == STEPS,
        use_container_width=True,
        key="le_next",
        type="primary",
    )
with figure:
    [step1, step2, step3, step4, step5, step6, step7, step8][step - 1]()
