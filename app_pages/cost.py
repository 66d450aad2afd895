"""Cost & Speed: how cost grows with n, and measured block-sparse speed on this machine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from sparse_core import PATTERNS, PatternError, make
from sparse_core.analysis import DATA_DEPENDENT_MAX_N
from sparse_core.cost import DTYPE_BYTES, MODEL_PRESETS, ModelConfig
from sparse_core.scaling import SCALING_NS, curve, fitted_slope, largest_n_within
from ui.chrome import DOWNLOAD_CONFIG, pattern_title, pattern_titles, show_error, tr
from ui.figures import human

COLORS = ["#313191", "#e4572e", "#17bebb", "#f0a202", "#76b041"]
HAS_GPU = torch.cuda.is_available()


@st.cache_data(max_entries=32, show_spinner=False)
def _curve(name: str, model: ModelConfig):
    spec = make(name)
    ns = [n for n in SCALING_NS if not spec.expr().data_dependent or n <= DATA_DEPENDENT_MAX_N]
    return ns, curve(spec.expr(), model, ns)


@st.cache_data(max_entries=64, show_spinner=False)
def _largest(name: str, model: ModelConfig, budget: float) -> tuple[int, int]:
    expr = make(name).expr()
    return largest_n_within(expr, model, budget, False), largest_n_within(expr, model, budget, True)


@st.cache_resource(max_entries=64, show_spinner=False)
def _timing(name: str, n: int, heads: int, d_head: int, block: int, device: str):
    from sparse_core.speed import measure

    return measure(
        make(name).expr(), n, heads, d_head, block, "fp32" if device == "cpu" else "bf16", device, masked_sdpa=True
    )


def _loglog(title: str, unit: str) -> go.Figure:
    fig = go.Figure()
    fig.update_xaxes(type="log", title="n", dtick=np.log10(4), tickformat=",d")
    fig.update_yaxes(type="log", title=unit, exponentformat="SI")
    fig.update_layout(title=title, height=430, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h"))
    return fig


def _line(fig, ns, values, name, color, dash=None, unit=""):
    slope = fitted_slope(ns, values)
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=values,
            name=f"{name} ({tr('co.slope', s=slope)})",
            mode="lines+markers",
            line=dict(color=color, dash=dash),
            customdata=[human(v, unit) for v in values],
            hovertemplate="n = %{x:,}<br>%{customdata} (%{y:,.0f})<extra>" + name + "</extra>",
        )
    )


st.title(tr("co.title"))
st.caption(tr("co.lead"))

names = [n for n in PATTERNS]
chosen = st.multiselect(
    tr("co.patterns"),
    names,
    default=["window", "bigbird", "streaming"],
    max_selections=5,
    key="co_patterns",
    format_func=pattern_titles(),
)
left, right = st.columns([1, 3])
preset = left.selectbox(tr("co.model"), [*MODEL_PRESETS, tr("co.custom")], index=2, key="co_model")
base = MODEL_PRESETS.get(preset, ModelConfig(32, 32, 8, 128, "bf16"))
with right:
    c = st.columns(5)
    custom = preset not in MODEL_PRESETS
    layers = c[0].number_input(tr("co.layers"), 1, 256, base.layers, disabled=not custom, key=f"co_l_{preset}")
    heads = c[1].number_input(tr("co.heads"), 1, 256, base.heads, disabled=not custom, key=f"co_h_{preset}")
    kv_heads = c[2].number_input(tr("co.kv_heads"), 1, 256, base.kv_heads, disabled=not custom, key=f"co_k_{preset}")
    d_head = c[3].number_input(tr("co.d_head"), 8, 512, base.d_head, disabled=not custom, key=f"co_d_{preset}")
    dtype = c[4].selectbox(
        tr("co.dtype"),
        list(DTYPE_BYTES),
        index=list(DTYPE_BYTES).index(base.dtype),
        disabled=not custom,
        key=f"co_t_{preset}",
    )
try:
    model = ModelConfig(int(layers), int(heads), int(kv_heads), int(d_head), dtype)
except PatternError as e:
    show_error(e)
    st.stop()
if not chosen:
    st.stop()

curves = {name: _curve(name, model) for name in chosen}
for name in chosen:
    if PATTERNS[name].data_dependent:
        st.caption(tr("co.data_dependent", p=pattern_title(name)))
ns_all = SCALING_NS
ref = curves[chosen[0]][1]
dense_points = {p.n: p for p in ref}

tab_prefill, tab_decode, tab_budget, tab_speed = st.tabs(
    [tr("co.tab_prefill"), tr("co.tab_decode"), tr("co.tab_budget"), tr("co.tab_speed")]
)

with tab_prefill:
    flops = _loglog(tr("co.flops_title"), "FLOP")
    memory = _loglog(tr("co.mem_title"), "B")
    ns_dense = [p.n for p in ref]
    _line(flops, ns_dense, [p.model["prefill_flops_dense"] for p in ref], tr("co.dense"), "#888", "dash", "FLOP")
    _line(memory, ns_dense, [p.model["score_bytes_dense_per_layer"] for p in ref], tr("co.dense"), "#888", "dash", "B")
    for color, name in zip(COLORS, chosen, strict=False):
        ns, points = curves[name]
        label = f"{pattern_title(name)} · {PATTERNS[name].complexity}"
        _line(flops, ns, [p.model["prefill_flops_sparse"] for p in points], label, color, unit="FLOP")
        _line(memory, ns, [p.model["score_bytes_sparse_per_layer"] for p in points], label, color, unit="B")
    a, b = st.columns(2)
    a.plotly_chart(flops, key="co_flops", config=DOWNLOAD_CONFIG)
    b.plotly_chart(memory, key="co_memory", config=DOWNLOAD_CONFIG)
    st.caption(tr("co.slope_note"))

with tab_decode:
    kv = _loglog(tr("co.kv_title"), "B")
    step = _loglog(tr("co.decode_title"), "FLOP")
    _line(kv, ns_dense, [p.model["kv_cache_bytes_dense"] for p in ref], tr("co.dense"), "#888", "dash", "B")
    _line(step, ns_dense, [p.model["decode_flops_dense"] for p in ref], tr("co.dense"), "#888", "dash", "FLOP")
    for color, name in zip(COLORS, chosen, strict=False):
        ns, points = curves[name]
        _line(kv, ns, [p.model["kv_cache_bytes_sparse"] for p in points], pattern_title(name), color, unit="B")
        _line(step, ns, [p.model["decode_flops_sparse"] for p in points], pattern_title(name), color, unit="FLOP")
    a, b = st.columns(2)
    a.plotly_chart(kv, key="co_kv", config=DOWNLOAD_CONFIG)
    b.plotly_chart(step, key="co_decode", config=DOWNLOAD_CONFIG)
    st.caption(tr("co.decode_note"))

with tab_budget:
    budget = st.number_input(tr("co.budget"), 0.1, 100_000.0, 80.0, step=8.0, key="co_budget")
    rows = {}
    for name in chosen:
        if PATTERNS[name].data_dependent:
            continue
        dense_n, sparse_n = _largest(name, model, budget * 2**30)
        rows[pattern_title(name)] = {
            tr("co.largest_dense"): f"{dense_n:,}",
            tr("co.largest_sparse"): ("≥ " if sparse_n >= 1 << 20 else "") + f"{sparse_n:,}",
            tr("co.gain"): f"{sparse_n / max(dense_n, 1):,.1f}×",
        }
    st.dataframe(pd.DataFrame(rows).T, key="co_budget_table")
    st.caption(tr("co.budget_note"))

with tab_speed:
    st.markdown(tr("co.speed_intro"))
    st.markdown(tr("co.honesty"))
    s1, s2, s3, s4, s5 = st.columns(5)
    timed = s1.selectbox(
        tr("co.speed_pattern"),
        [n for n in chosen if not PATTERNS[n].data_dependent] or ["window"],
        key="co_speed_pattern",
        format_func=pattern_titles(),
    )
    lengths = [1024, 2048, 4096, 8192, 16384] + ([32768, 65536] if HAS_GPU else [])
    picked = s2.multiselect(
        tr("co.speed_ns"), lengths, default=[1024, 4096], key="co_speed_ns", format_func=lambda v: f"{v:,}"
    )
    t_heads = s3.select_slider(tr("co.speed_heads"), [1, 2, 4, 8, 16], value=4, key="co_speed_heads")
    t_block = s4.select_slider(tr("co.speed_block"), [64, 128], value=128, key="co_speed_block")
    device = s5.selectbox(tr("co.device"), ["cpu", "cuda"] if HAS_GPU else ["cpu"], key="co_device")
    if HAS_GPU:
        st.caption(tr("co.gpu"))
    done = {
        n: _timing(timed, n, t_heads, 64, t_block, device)
        for n in sorted(picked)
        if st.session_state.get("co_measured", {}).get((timed, n, t_heads, t_block, device))
    }
    if st.button(tr("co.measure"), type="primary", key="co_measure_button"):
        bar = st.progress(0.0)
        todo = sorted(picked)
        measured = st.session_state.setdefault("co_measured", {})
        for i, n in enumerate(todo, 1):
            bar.progress((i - 1) / len(todo), text=tr("co.measuring", n=n, i=i, total=len(todo)))
            try:
                done[n] = _timing(timed, n, t_heads, 64, t_block, device)
            except PatternError as e:
                show_error(e)
                break
            measured[(timed, n, t_heads, t_block, device)] = True
        bar.progress(1.0, text=tr("co.done"))
    if not done:
        st.info(tr("co.no_results"))
    else:
        table = pd.DataFrame(
            [
                {
                    "n": f"{n:,}",
                    tr("co.col_dense"): r.dense_s * 1000,
                    tr("co.col_masked"): None if r.masked_sdpa_s is None else r.masked_sdpa_s * 1000,
                    tr("co.col_sparse"): r.sparse_s * 1000,
                    tr("co.col_compile"): r.compile_s,
                    tr("co.col_speedup"): r.speedup,
                    tr("co.col_ideal"): r.ideal,
                    tr("co.col_block_ideal"): r.block_ideal,
                    tr("co.col_share"): r.share_of_block_ideal,
                }
                for n, r in sorted(done.items())
            ]
        )
        st.dataframe(
            table,
            hide_index=True,
            key="co_speed_table",
            column_config={col: st.column_config.NumberColumn(format="%.2f") for col in table.columns if col != "n"},
        )
        fig = go.Figure()
        xs = [f"{n:,}" for n in sorted(done)]
        for label, key, color in (
            (tr("co.col_speedup"), "speedup", COLORS[0]),
            (tr("co.col_block_ideal"), "block_ideal", COLORS[2]),
            (tr("co.col_ideal"), "ideal", COLORS[1]),
        ):
            fig.add_trace(go.Bar(x=xs, y=[getattr(done[n], key) for n in sorted(done)], name=label, marker_color=color))
        fig.update_layout(
            title=tr("co.speed_chart"),
            barmode="group",
            height=380,
            yaxis_type="log",
            margin=dict(l=10, r=10, t=50, b=10),
            xaxis=dict(title="n", type="category"),
        )
        st.plotly_chart(fig, key="co_speed_chart", config=DOWNLOAD_CONFIG)
        st.markdown(tr("co.gap"))
