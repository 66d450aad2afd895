"""Plotly figures of the Learn page, free of Streamlit: each builder takes the engine's arrays and a language.

Builders whose figure has a caption beside it return `(figure, facts)`: the facts (counts of edges,
cells, keys, bytes) are computed here from the very arrays the traces are drawn from, so a caption
can never disagree with its figure.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from sparse_core.memory import format_bytes

from .figures import DROPPED_RGB, KEPT_RGB
from .i18n import t

LOG_AXIS = dict(type="log", exponentformat="power", dtick=1)  # one notation, decades only, on every log axis
MARGIN = dict(l=10, r=10, t=50, b=10)
GPU_STYLES = (("#9a9a9a", "dot"), ("#5f5f5f", "dash"), ("#222222", "dashdot"), ("#000000", "longdash"))
NODE_RADIUS = 0.075  # a node marker's radius in data units of the unit circle (marker size 22 at 420 px)


def memory_curve(ns, total, kv, gpus, n: int, now: int, lang: str = "en") -> go.Figure:
    """Step 1: dense prefill memory and the KV cache against n, one horizontal line per (gpu name, bytes)."""
    fig = go.Figure()
    for values, name, line in (
        (total, t("le.f1_total", lang), dict(color="#313191", width=3)),
        (kv, t("le.f1_kv", lang), dict(color="#17bebb", width=2, dash="dash")),
    ):
        fig.add_trace(
            go.Scatter(
                x=ns,
                y=values,
                mode="lines",
                name=name,
                line=line,
                customdata=[format_bytes(v) for v in values],
                hovertemplate="n = %{x:,}<br>%{customdata}<extra></extra>",
            )
        )
    # GPU lines are data traces named in the legend: annotations on a log axis land off the plot, and
    # labels beside lines 0.25 decades apart collide on a phone
    for (gpu, memory_bytes), (color, dash) in zip(gpus, GPU_STYLES, strict=False):
        fig.add_trace(
            go.Scatter(
                x=[ns[0], ns[-1]],
                y=[memory_bytes] * 2,
                mode="lines",
                name=t("le.f1_gpu", lang, gpu=gpu, mem=format_bytes(memory_bytes)),
                line=dict(color=color, dash=dash, width=1.5),
                hovertemplate="%{fullData.name}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[n],
            y=[now],
            mode="markers",
            marker=dict(size=14, color="#e4572e"),
            name=t("le.f1_marker", lang, n=f"{n:,}"),
            hovertemplate=f"n = {n:,}<br>{format_bytes(now)}<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="n", tickformat=",d", dtick=1)
    fig.update_yaxes(**LOG_AXIS, title=t("le.f1_bytes", lang))
    fig.update_layout(
        title=t("le.f1_title", lang),
        height=440,
        legend=dict(orientation="h", y=-0.24, yanchor="top"),
        margin=MARGIN,
    )
    return fig


def weight_histogram(edges: np.ndarray, counts: np.ndarray, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 2, left: the histogram of attention weights over log-spaced bins, and the share of weights below 1 %."""
    centres = np.sqrt(edges[:-1] * edges[1:])
    # bars on a log axis leave gaps, so the bins are drawn at log10(weight) with power-of-ten labels
    fig = go.Figure(go.Bar(x=np.log10(centres), y=counts, marker_color="#313191", width=6 / len(centres)))
    decades = list(range(-6, 1))
    fig.update_xaxes(title=t("le.f2_weight", lang), tickvals=decades, ticktext=[f"10<sup>{e}</sup>" for e in decades])
    fig.update_yaxes(title=t("le.f2_count", lang))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=20, b=10), bargap=0)
    below = float(counts[edges[1:] <= 0.01 * (1 + 1e-9)].sum())  # bins that end at or below 1 %
    return fig, {"tiny": below / max(1.0, float(counts.sum())), "weights": int(counts.sum())}


def topk_curve(share: np.ndarray, k: int, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 2, right: mean share of attention mass held by each query's top-k keys, for k = 1 … n."""
    ks = np.arange(1, len(share) + 1)
    fig = go.Figure(go.Scatter(x=ks, y=share, mode="lines", line=dict(color="#e4572e", width=3)))
    fig.update_xaxes(**LOG_AXIS, title="k")
    fig.update_yaxes(title=t("le.f2_share", lang), tickformat=".0%", range=[0, 1.02])
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=20, b=10))
    return fig, {"k": k, "share": float(share[k - 1]), "n": len(share)}


def thumbnail(mask: np.ndarray, pixels: int) -> tuple[np.ndarray, float]:
    """Steps 4 and 5: the mask as an RGB picture about `pixels` wide, upscaled without smoothing, and the
    share of its pixels in the kept colour (the mask's density: every cell is the same number of pixels)."""
    scale = max(1, pixels // mask.shape[0])
    big = np.kron(mask, np.ones((scale, scale), dtype=bool))
    rgb = np.where(big[..., None], np.array(KEPT_RGB, np.uint8), np.array(DROPPED_RGB, np.uint8))
    return rgb, float(big.mean())


def circle(n: int) -> np.ndarray:
    """(n, 2) points evenly spaced on the unit circle, node 0 on the right, counter-clockwise."""
    angle = 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def pattern_graph(mask: np.ndarray, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 3: the mask as a directed graph on a circle, one arrow per kept pair between two different tokens.

    A pair kept both ways is two arrows on one line, heads at both ends. The diagonal (a token
    attending itself) is a self-loop; it is drawn as a ring on the node and counted apart.
    """
    n = mask.shape[0]
    pos = circle(n)
    rows, cols = np.nonzero(mask)
    edge = rows != cols
    src, dst = rows[edge], cols[edge]
    loops = np.flatnonzero(np.diag(mask))
    # each arrow ends at the key node's rim, so its head is not hidden under the node
    start, end = pos[src], pos[dst]
    length = np.linalg.norm(end - start, axis=1, keepdims=True)
    tip = end - (end - start) / np.maximum(length, 1e-9) * NODE_RADIUS
    xs = np.full(3 * len(src), np.nan)
    ys = np.full(3 * len(src), np.nan)
    xs[0::3], xs[1::3] = start[:, 0], tip[:, 0]
    ys[0::3], ys[1::3] = start[:, 1], tip[:, 1]
    sizes = np.zeros(3 * len(src))
    sizes[1::3] = 9  # an arrow head at the key's end only
    query, key = t("fig.query", lang), t("fig.key", lang)
    out_degree = np.bincount(src, minlength=n)
    fig = go.Figure(
        [
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                line=dict(color="rgba(49,51,145,0.35)", width=1.5),
                marker=dict(symbol="arrow", angleref="previous", size=sizes, color="rgba(49,51,145,0.7)"),
                hoverinfo="skip",
                name="edges",
            ),
            go.Scatter(
                x=pos[:, 0],
                y=pos[:, 1],
                mode="markers+text",
                text=[str(i) for i in range(n)],
                marker=dict(
                    size=22,
                    color="#f2f3fa",
                    line=dict(color="#313191", width=np.where(np.diag(mask), 4, 1.5)),
                ),
                hovertext=[f"{query} {i} → {out_degree[i]} {key}" for i in range(n)],
                hoverinfo="text",
                name="tokens",
            ),
        ]
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    facts = {"edges": int(len(src)), "loops": int(len(loops)), "cells": int(mask.sum()), "n": n}
    fig.update_layout(title=t("le.f3_graph", lang, edges=facts["edges"]), showlegend=False, height=420, margin=MARGIN)
    return fig, facts


def receptive_field(first: np.ndarray, depth: int, query: int, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 6: per key, the first layer (1 … depth) at which it reaches `query`; NaN where it never does."""
    n = len(first)
    fig = go.Figure(
        go.Bar(
            x=np.arange(n),
            y=np.where(np.isnan(first), 0, depth + 1 - first),
            marker=dict(
                color=first,
                colorscale="Viridis_r",
                cmin=1,
                cmax=depth,
                colorbar=dict(title=t("le.f6_layers", lang)),
            ),
            customdata=first,
            hovertemplate=f"{t('fig.key', lang)} %{{x}}<br>{t('le.f6_reached', lang)} %{{customdata}}<extra></extra>",
        )
    )
    fig.add_vline(x=query, line_dash="dot")
    fig.update_yaxes(visible=False)
    fig.update_xaxes(title=t("fig.key", lang))
    fig.update_layout(title=t("le.f6_title", lang, q=query), height=320, margin=MARGIN)
    return fig, {"reached": int(np.isfinite(first).sum()), "n": n, "layers": depth, "q": query}


def gains_bars(labels: list[str], flops: list[float], lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 7: attention FLOPs per pattern on a log axis, dense first in `labels`, with the saving as text."""
    dense = flops[0]
    savings = [dense / f for f in flops]
    # dense on top of a horizontal bar chart: labels never overlap
    fig = go.Figure(
        go.Bar(
            y=labels[::-1],
            x=flops[::-1],
            orientation="h",
            marker_color=["#17bebb", "#e4572e", "#313191", "#888"][-len(labels) :],
            text=[f"{s:,.0f}×" for s in savings[::-1]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>%{x:.3s}FLOP<extra></extra>",
        )
    )
    fig.update_xaxes(**LOG_AXIS, title=t("le.f7_compute", lang))
    fig.update_yaxes(automargin=True)
    fig.update_layout(height=320, margin=dict(l=10, r=40, t=30, b=10))
    return fig, {"savings": dict(zip(labels, savings, strict=True))}


def price_bars(labels: list[str], mass, cosine, density, n: int, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 8: per pattern, density, attention mass kept and output cosine on `n` tokens of real text."""
    order = slice(None, None, -1)  # horizontal bars, first pattern on top: long names never overlap
    fig = go.Figure(
        [
            go.Bar(
                y=labels[order],
                x=list(density)[order],
                name=t("le.f8_density", lang),
                orientation="h",
                marker_color="#c9c9e8",
            ),
            go.Bar(
                y=labels[order],
                x=list(mass)[order],
                name=t("le.f8_mass", lang),
                orientation="h",
                marker_color="#313191",
            ),
            go.Scatter(
                y=labels[order],
                x=list(cosine)[order],
                name=t("le.f8_cos", lang),
                mode="markers",
                marker=dict(size=14, color="#e4572e", symbol="diamond"),
            ),
        ]
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_yaxes(automargin=True)
    fig.update_layout(
        title=t("le.f8_title", lang, n=n),
        barmode="group",
        height=520,
        legend=dict(orientation="h", y=-0.08, yanchor="top", x=0, xanchor="left"),
        margin=MARGIN,
    )
    best = int(np.argmax(mass))
    return fig, {"best": labels[best], "mass": float(mass[best]), "density": float(density[best]), "n": n}


def fluent_vs_memory(fluency: list[dict], memory: list[dict], titles, lang: str = "en") -> tuple[go.Figure, dict]:
    """Step 9: per arm (dense first), the perplexity change on a long text beside the share of passkeys recalled.

    `fluency` holds `lab.run_lab` rows (pattern, budget, ppl_change), `memory` `memory_eval.run_memory` rows;
    dense's perplexity change is 0 by definition. Facts: the most fluent pattern, its change and its keys."""
    from plotly.subplots import make_subplots

    dense = t("lab.dense", lang)
    arms = [r["pattern"] for r in fluency]
    labels = [dense] + [titles(a) for a in arms]
    ppl = [0.0] + [float(r["ppl_change"]) for r in fluency]
    kept = {}
    for arm in ["dense", *arms]:
        rows = [r for r in memory if r["pattern"] == arm]
        kept[arm] = (sum(int(r["correct"]) for r in rows), sum(int(r["trials"]) for r in rows))
    correct = [kept[a][0] for a in ["dense", *arms]]
    trials = [kept[a][1] for a in ["dense", *arms]]
    recall = [c / max(n, 1) for c, n in zip(correct, trials, strict=True)]
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.08,
        subplot_titles=[t("le.f9_ppl", lang), t("le.f9_recall", lang)],
    )  # fmt: skip
    order = slice(None, None, -1)  # horizontal bars, dense on top
    fig.add_trace(
        go.Bar(
            y=labels[order],
            x=ppl[order],
            orientation="h",
            marker_color="#17bebb",
            text=[f"{v:+.0%}" for v in ppl][order],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{text}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            y=labels[order],
            x=recall[order],
            orientation="h",
            marker_color="#313191",
            text=[f"{c}/{n}" for c, n in zip(correct, trials, strict=True)][order],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{text}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(tickformat=".0%", row=1, col=1, rangemode="tozero")
    fig.update_xaxes(tickformat=".0%", range=[0, 1.2], row=1, col=2)
    fig.update_yaxes(automargin=True)
    budget = float(fluency[0]["budget"]) if fluency else 0.0
    fig.update_layout(
        title=t("le.f9_title", lang, budget=f"{budget:.0%}"),
        showlegend=False,
        height=340,
        margin=dict(l=10, r=40, t=80, b=10),
    )
    best = min(range(1, len(labels)), key=lambda i: ppl[i]) if len(labels) > 1 else 0
    facts = {
        "fluent": labels[best],
        "ppl": f"{ppl[best]:+.0%}",
        "correct": correct[best],
        "trials": trials[best],
        "dense_correct": correct[0],
        "dense_trials": trials[0],
        "budget": f"{budget:.0%}",
    }
    return fig, facts
