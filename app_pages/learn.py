"""Learn: a guided tour of sparse attention in eight live steps, in English and Chinese.

One function per step (`full_attention` ... `price`), listed in SECTIONS; the tour at the bottom
picks the step from session state (first visit: the validated `?step=`). Memory arithmetic comes
from sparse_core.memory, the same numbers as the Cost & Speed page.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sparse_core import analysis, make, memory, models
from sparse_core import attention as A
from sparse_core.cost import MODEL_PRESETS
from sparse_core.reach import layers_to_connect, reachability
from sparse_core.scaling import curve
from sparse_core.views import MaskView
from ui.chrome import (
    DOWNLOAD_CONFIG,
    lang,
    option_labels,
    pattern_title,
    pattern_titles,
    read_query,
    show_problems,
    tr,
)
from ui.figures import DROPPED_RGB, KEPT_RGB, human, mask_image
from ui.i18n import STRINGS
from ui.query import QueryParam

STEPS = 8
STORY = (Path(__file__).parents[1] / "assets" / "examples" / "en_story.txt").read_text(encoding="utf-8")
MODEL_7B = MODEL_PRESETS["Llama-2-7B"]
N1 = [1 << e for e in range(10, 21)]
LOG_AXIS = dict(type="log", exponentformat="power", dtick=1)  # one notation, decades only, on every log axis
MARGIN = dict(l=10, r=10, t=50, b=10)
GAIN_PATTERNS = ("mistral", "bigbird", "streaming")
THUMB_PX = 256  # thumbnails are upscaled to about this many pixels, nearest neighbour


# -- engine results, cached per process -------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _dense_run():
    lm = models.load("minilm")
    tokens = A.tokenize(lm, STORY, 256)
    return lm, tokens, A.forward(lm, tokens.ids)


@st.cache_data(show_spinner=False, max_entries=8)
def _weight_summary(layer: int):
    """Step 2's numbers for one layer: histogram of weights, mean top-k share, share below 1%."""
    _, _, dense = _dense_run()
    weights = np.asarray(dense.attentions[layer], dtype=np.float32)  # (H, T, T)
    flat = np.clip(weights.ravel(), 1e-6, 1)
    edges = np.logspace(-6, 0, 49)
    counts, _ = np.histogram(flat, bins=edges)
    ranked = -np.sort(-weights, axis=-1)  # each row sorted high to low
    share = np.cumsum(ranked, axis=-1).mean(axis=(0, 1))  # (T,) mean share held by the top-k keys
    return np.sqrt(edges[:-1] * edges[1:]), counts, share, float((flat < 0.01).mean())


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


@st.cache_data(show_spinner=False, max_entries=64)
def _small_mask(name: str, n: int) -> np.ndarray:
    return analysis.dense_mask(_small(name, n).expr(), n)


@st.cache_data(show_spinner=False, max_entries=64)
def _thumbnail(name: str, n: int) -> tuple[np.ndarray, float]:
    """A mask as an RGB picture, upscaled without smoothing, and its density."""
    mask = _small_mask(name, n)
    scale = max(1, THUMB_PX // n)
    big = np.kron(mask, np.ones((scale, scale), dtype=bool))
    rgb = np.where(big[..., None], np.array(KEPT_RGB, np.uint8), np.array(DROPPED_RGB, np.uint8))
    return rgb, float(mask.mean())


@st.cache_data(show_spinner=False)
def _layers_needed(names: tuple[str, ...], n: int) -> list[int | None]:
    return [layers_to_connect(_small_mask(name, n), causal=_small(name, n).causal) for name in names]


@st.cache_data(show_spinner=False)
def _gains(n: int) -> dict[str, tuple[float, float]]:
    """Step 7 at one n: (prefill FLOPs, one layer's score bytes) for dense and three patterns."""
    rows = {}
    for name in GAIN_PATTERNS:
        point = curve(make(name).expr(), MODEL_7B, [n])[0]
        if not rows:  # the dense baseline is the same whatever the pattern
            rows["dense"] = (point.model["prefill_flops_dense"], point.model["score_bytes_dense_per_layer"])
        rows[name] = (point.model["prefill_flops_sparse"], point.model["score_bytes_sparse_per_layer"])
    return rows


@st.cache_data(show_spinner=False)
def _longest(budget_bytes: int) -> dict[str, int]:
    """Step 7: the longest prompt whose prefill fits the budget; it does not depend on the slider's n."""
    out = {"dense": memory.largest_dense_n(MODEL_7B, budget_bytes)}
    for name in GAIN_PATTERNS:
        out[name] = memory.largest_n(make(name).expr(), MODEL_7B, budget_bytes, sparse=True)
    return out


def complexity(name: str) -> str:
    """A pattern's complexity: the engine's formula, or the catalog's words where it has words."""
    return tr(f"cx.{name}") if f"cx.{name}" in STRINGS else make(name).definition.complexity


def _at_least(n: int) -> str:
    return ("≥ " if n >= memory.MAX_N else "") + f"{n:,}"


def _thumbnails(names, n: int) -> None:
    """Small mask pictures that wrap to the width (four across on a desktop, two on a phone)."""
    grid = st.container(horizontal=True, gap="medium")
    for name in names:
        rgb, density = _thumbnail(name, n)
        with grid.container(width=150, gap="small"):
            st.image(rgb, width="stretch", output_format="PNG")
            st.caption(f"**{pattern_title(name)}** · {complexity(name)} · {density:.0%}")


# -- the steps ----------------------------------------------------------------------------------
def full_attention() -> None:
    """Step 1: dense prefill memory against n, with three GPUs' memory."""
    n = st.select_slider(tr("le.f1_n"), N1, value=1 << 15, key="le_n1", format_func=lambda v: f"{v:,}")
    ns = np.array(N1, dtype=float)
    total = memory.dense_prefill_bytes(MODEL_7B, ns)
    kv = memory.kv_cache_bytes(MODEL_7B, ns)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=total,
            mode="lines",
            name=tr("le.f1_total"),
            line=dict(color="#313191", width=3),
            customdata=[memory.format_bytes(v) for v in total],
            hovertemplate="n = %{x:,}<br>%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=kv,
            mode="lines",
            name=tr("le.f1_kv"),
            line=dict(color="#17bebb", width=2, dash="dash"),
            customdata=[memory.format_bytes(v) for v in kv],
            hovertemplate="n = %{x:,}<br>%{customdata}<extra></extra>",
        )
    )
    # GPU lines are data traces named in the legend: annotations on a log axis land off the plot, and
    # labels beside lines 0.25 decades apart collide on a phone
    for gpu, color, dash in zip(
        memory.GPUS, ("#9a9a9a", "#5f5f5f", "#222222"), ("dot", "dash", "dashdot"), strict=True
    ):
        fig.add_trace(
            go.Scatter(
                x=[ns[0], ns[-1]],
                y=[gpu.memory_bytes] * 2,
                mode="lines",
                name=tr("le.f1_gpu", gpu=gpu.name, mem=memory.format_bytes(gpu.memory_bytes)),
                line=dict(color=color, dash=dash, width=1.5),
                hovertemplate="%{fullData.name}<extra></extra>",
            )
        )
    now = int(memory.dense_prefill_bytes(MODEL_7B, n))
    fig.add_trace(
        go.Scatter(
            x=[n],
            y=[now],
            mode="markers",
            marker=dict(size=14, color="#e4572e"),
            name=tr("le.f1_marker", n=f"{n:,}"),
            hovertemplate=f"n = {n:,}<br>{memory.format_bytes(now)}<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="n", tickformat=",d", dtick=1)
    fig.update_yaxes(**LOG_AXIS, title=tr("le.f1_bytes"))
    fig.update_layout(
        title=tr("le.f1_title"),
        height=440,
        legend=dict(orientation="h", y=-0.24, yanchor="top"),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    st.plotly_chart(fig, key="le_fig1", config=DOWNLOAD_CONFIG)
    scores, cache = memory.score_bytes_per_layer(MODEL_7B, n), memory.kv_cache_bytes(MODEL_7B, n)
    st.metric(tr("le.f1_metric", n=f"{n:,}"), memory.format_bytes(now))
    st.caption(tr("le.f1_parts", scores=memory.format_bytes(scores), kv=memory.format_bytes(cache)))
    for gpu in memory.GPUS:
        fits = memory.largest_dense_n(MODEL_7B, gpu.memory_bytes)
        st.caption(tr("le.f1_fits", gpu=gpu.name, mem=memory.format_bytes(gpu.memory_bytes), n=f"{fits:,}"))


def tiny_weights() -> None:
    """Step 2: a real model's attention weights are mostly tiny."""
    with st.spinner(tr("le.loading")):
        lm, _, _ = _dense_run()
    layer = st.slider(tr("le.f2_layer"), 0, lm.layers - 1, 2, key="le_layer2")
    centres, counts, share, tiny = _weight_summary(layer)
    # bars on a log axis leave gaps, so the bins are drawn at log10(weight) with power-of-ten labels
    hist = go.Figure(go.Bar(x=np.log10(centres), y=counts, marker_color="#313191", width=6 / len(centres)))
    decades = list(range(-6, 1))
    hist.update_xaxes(title=tr("le.f2_weight"), tickvals=decades, ticktext=[f"10<sup>{e}</sup>" for e in decades])
    hist.update_yaxes(title=tr("le.f2_count"))
    hist.update_layout(height=340, margin=dict(l=10, r=10, t=20, b=10), bargap=0)
    ks = np.arange(1, len(share) + 1)
    topk = go.Figure(go.Scatter(x=ks, y=share, mode="lines", line=dict(color="#e4572e", width=3)))
    topk.update_xaxes(**LOG_AXIS, title="k")
    topk.update_yaxes(title=tr("le.f2_share"), tickformat=".0%", range=[0, 1.02])
    topk.update_layout(height=340, margin=dict(l=10, r=10, t=20, b=10))
    a, b = st.columns(2)
    a.markdown(f"**{tr('le.f2_hist')}**")  # titles above the charts wrap on a narrow column; Plotly's would be cut
    a.plotly_chart(hist, key="le_fig2a", config=DOWNLOAD_CONFIG)
    b.markdown(f"**{tr('le.f2_topk')}**")
    b.plotly_chart(topk, key="le_fig2b", config=DOWNLOAD_CONFIG)
    k = 8
    st.info(tr("le.f2_summary", tiny=f"{tiny:.0%}", k=k, share=f"{share[k - 1]:.0%}", n=len(share)))


def _graph_figure(mask: np.ndarray) -> go.Figure:
    n = mask.shape[0]
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
        title=tr("le.f3_graph", edges=graph.number_of_edges()), showlegend=False, height=420, margin=MARGIN
    )
    return fig


def pattern_graph() -> None:
    """Step 3: a pattern drawn as a graph and as its adjacency matrix."""
    names = ["window", "global", "random", "strided", "bigbird", "longformer"]
    name = st.selectbox(tr("le.f3_pattern"), names, key="le_pattern3", format_func=pattern_titles())
    n = 16
    mask = _small_mask(name, n)
    a, b = st.columns(2)
    a.plotly_chart(_graph_figure(mask), key="le_fig3a", config=DOWNLOAD_CONFIG)
    b.plotly_chart(
        mask_image(MaskView(mask, False, 1, n), tr("le.f3_mask"), height=420, lang=lang()),
        key="le_fig3b",
        config=DOWNLOAD_CONFIG,
    )


def families() -> None:
    """Step 4: one thumbnail per family of patterns."""
    n = st.select_slider(tr("le.f4_n"), [32, 64, 128], value=64, key="le_n4")
    _thumbnails(["window", "dilated", "global", "block", "random", "lsh", "topk"], n)


def published() -> None:
    """Step 5: the published designs as thumbnails."""
    _thumbnails(["longformer", "bigbird", "strided", "fixed", "streaming"], 128)


def receptive_field() -> None:
    """Step 6: the layer at which each key first reaches a query, and layers to connect every pair."""
    n = 64
    names = ["window", "dilated", "longformer", "bigbird", "strided", "block"]
    a, b, c = st.columns(3)
    name = a.selectbox(tr("le.f3_pattern"), names, key="le_pattern6", format_func=pattern_titles())
    query = b.slider(tr("le.f6_query"), 0, n - 1, n // 2, key="le_query6")
    depth = c.slider(tr("le.f6_layers"), 1, 12, 4, key="le_layers6")
    reach = reachability(_small_mask(name, n), depth)
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
    fig.update_layout(title=tr("le.f6_title", q=query), height=320, margin=MARGIN)
    st.plotly_chart(fig, key="le_fig6", config=DOWNLOAD_CONFIG)
    needed = _layers_needed(tuple(names), n)
    rows = [
        {
            tr("le.f3_pattern"): pattern_title(other),
            tr("le.f6_layers_col"): tr("le.f6_never") if k is None else str(k),
        }
        for other, k in zip(names, needed, strict=True)
    ]
    st.markdown(f"**{tr('le.f6_table', n=n)}**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="le_table6")


def gains() -> None:
    """Step 7: compute, score memory and the longest prompt in 80 GiB, dense against three patterns."""
    n = st.select_slider(
        tr("le.f7_n"), [1 << e for e in range(12, 21)], value=1 << 17, key="le_n7", format_func=lambda v: f"{v:,}"
    )
    budget = memory.REFERENCE_GPU.memory_bytes
    with st.spinner(tr("le.computing")):
        rows, longest = _gains(n), _longest(budget)
    label = {name: tr("co.dense") if name == "dense" else pattern_title(name) for name in rows}
    table = pd.DataFrame(
        {
            label[name]: {
                tr("le.f7_compute"): human(f, "FLOP"),
                tr("le.f7_memory"): memory.format_bytes(m),
                tr("le.f7_context", mem=memory.format_bytes(budget)): _at_least(longest[name]),
            }
            for name, (f, m) in rows.items()
        }
    ).T
    st.table(table)  # a plain table wraps its headers on a phone; a data grid would scroll and cut them
    dense_flops = rows["dense"][0]
    names = list(rows)[::-1]  # dense on top of a horizontal bar chart: labels never overlap
    fig = go.Figure(
        go.Bar(
            y=[label[k] for k in names],
            x=[rows[k][0] for k in names],
            orientation="h",
            marker_color=["#17bebb", "#e4572e", "#313191", "#888"],
            text=[f"{dense_flops / rows[k][0]:,.0f}×" for k in names],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>%{x:.3s}FLOP<extra></extra>",
        )
    )
    fig.update_xaxes(**LOG_AXIS, title=tr("le.f7_compute"))
    fig.update_yaxes(automargin=True)
    fig.update_layout(height=320, margin=dict(l=10, r=40, t=30, b=10))
    st.plotly_chart(fig, key="le_fig7", config=DOWNLOAD_CONFIG)


def price() -> None:
    """Step 8: attention mass kept, density and output cosine of six patterns on real text."""
    names = ("window", "longformer", "bigbird", "streaming", "random", "topk")
    with st.spinner(tr("le.loading")):
        n, kept = _price(names)
    labels = [pattern_title(x) for x in names][::-1]  # horizontal bars: long names never overlap
    order = names[::-1]
    fig = go.Figure(
        [
            go.Bar(
                y=labels,
                x=[kept[x][2] for x in order],
                name=tr("le.f8_density"),
                orientation="h",
                marker_color="#c9c9e8",
            ),
            go.Bar(
                y=labels, x=[kept[x][0] for x in order], name=tr("le.f8_mass"), orientation="h", marker_color="#313191"
            ),
            go.Scatter(
                y=labels,
                x=[kept[x][1] for x in order],
                name=tr("le.f8_cos"),
                mode="markers",
                marker=dict(size=14, color="#e4572e", symbol="diamond"),
            ),
        ]
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_yaxes(automargin=True)
    fig.update_layout(
        title=tr("le.f8_title", n=n),
        barmode="group",
        height=520,
        legend=dict(orientation="h", y=-0.08, yanchor="top", x=0, xanchor="left"),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    st.plotly_chart(fig, key="le_fig8", config=DOWNLOAD_CONFIG)
    st.page_link(
        LAB_PAGE,
        label=tr("lab.learn_link"),
        icon="🧪",
        query_params={
            "model": "smollm2",
            "text": "keeper_of_the_light",
            "tokens": "512",
            "patterns": "window,streaming,bigbird",
            "budgets": "0.05,0.1,0.25",
            "y": "ppl_change",
        },
    )


LAB_PAGE = "app_pages/lab.py"
SECTIONS = [full_attention, tiny_weights, pattern_graph, families, published, receptive_field, gains, price]
STEP_PARAM = QueryParam("step", "int", 1, minimum=1, maximum=STEPS, max_length=16)


# -- the tour ----------------------------------------------------------------------------------
def _go(delta: int) -> None:
    st.session_state.le_step = min(STEPS, max(1, st.session_state.le_step + delta))


def _first_step() -> None:
    """On the first visit, the step comes from the URL through the validated reader; a bad one says so."""
    if "le_step" in st.session_state:
        return
    values, problems = read_query([STEP_PARAM])
    st.session_state.le_step = values["step"]
    st.session_state.le_problems = problems


def _navigation(step: int) -> None:
    prev, nxt = st.columns(2)
    prev.button(tr("le.prev"), on_click=_go, args=(-1,), disabled=step == 1, width="stretch", key="le_prev")
    nxt.button(
        tr("le.next"), on_click=_go, args=(1,), disabled=step == STEPS, width="stretch", key="le_next", type="primary"
    )


def tour() -> None:
    """The page: title, step picker, the step's text and navigation beside its live figure."""
    _first_step()
    st.title(tr("le.title"))
    st.caption(tr("le.lead"))
    show_problems(st.session_state.pop("le_problems", []))
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
        _navigation(step)
    with figure:
        SECTIONS[step - 1]()


tour()
