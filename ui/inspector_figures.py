"""Plotly figures and small helpers for the Attention Inspector, free of Streamlit.

Payloads stay bounded at every length the inspector accepts (maps of at most 512 × 512, pooled past
512 tokens): token labels travel once per axis as categories (never as an n x n customdata), maps as
float32 arrays, and the token view draws only the strongest weights of one row.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import DROPPED_RGB, KEPT_RGB, MODEBAR_PX, title_below_mode_bar
from .i18n import t

SCALES = ("linear", "log", "row")
LOG_FLOOR = 1e-4  # weights below this share one colour on the log scale
MAX_TICKS = 32  # tick labels on the y axis; hover names every token
# x labels stand rotated side by side in a map half the results column wide (~330 px on a laptop):
# 32 of them at 10 px touched and overlapped on dense texts, 20 leave a gap between neighbours
MAX_X_TICKS = 20
TICK_CHARS = 8  # a tick label longer than this is clipped (hover has the whole token)
MASK_LEVELS = ("dropped", "kept", "outside", "empty")  # values 0..3 of sparse_core.inspection.mask_states
TEXT_HOVER_MAX = 128  # above this the mask hover names the pair, and the legend the state
MASK_COLORS = (f"rgb{DROPPED_RGB}", f"rgb{KEPT_RGB}", "rgb(205,205,205)", "rgb(230,120,20)")


# -- axes --------------------------------------------------------------------------------------
def _clip(label: str, limit: int = TICK_CHARS) -> str:
    if len(label) <= limit or "&" in label:  # never cut inside an HTML entity such as &lt;
        return label
    return label[: limit - 1] + "…"


def token_categories(labels: list[str], hover: list[str] | None = None) -> list[str]:
    """One unique category per token ("#12 the"); [UNK] tokens add the original text from `hover`."""
    out = []
    for i, label in enumerate(labels):
        name = f"#{i} {label}"
        if label == "[UNK]" and hover and i < len(hover):
            name += f" · {hover[i]}"
        out.append(name)
    return out


def _ticks(categories: list[str], labels: list[str], max_ticks: int = MAX_TICKS) -> dict:
    step = max(1, -(-len(labels) // max_ticks))
    idx = range(0, len(labels), step)
    return dict(
        type="category",
        tickmode="array",
        tickvals=[categories[i] for i in idx],
        ticktext=[_clip(labels[i]) for i in idx],
        tickfont=dict(size=10),
        automargin=True,
    )


# -- attention maps ----------------------------------------------------------------------------
def scaled(z: np.ndarray, scale: str) -> np.ndarray:
    """Attention weights on the chosen colour scale: linear, log10 (floored) or share of the row's maximum."""
    z = np.asarray(z, dtype=np.float32)
    if scale == "log":
        return np.log10(np.clip(z, LOG_FLOOR, None)).astype(np.float32)
    if scale == "row":
        top = z.max(axis=1, keepdims=True)
        return np.divide(z, top, out=np.zeros_like(z), where=top > 0)
    return z


def attention_map(
    z: np.ndarray,
    labels: list[str],
    title: str,
    *,
    hover: list[str] | None = None,
    scale: str = "linear",
    hide_first: bool = False,
    diff: bool = False,
    lang: str = "en",
    height: int = 600,
) -> go.Figure:
    """(T, T) attention weights (or a difference) with token text on both axes and in the hover."""
    cats = token_categories(labels, hover)
    labels = list(labels)
    z = np.asarray(z, dtype=np.float32)
    if hide_first and len(labels) > 1:
        z, cats, labels = z[1:, 1:], cats[1:], labels[1:]
    query, key = t("fig.query", lang), t("fig.key", lang)
    colorbar = dict(thickness=10, len=0.8)
    if diff:
        if scale == "row":
            top = np.abs(z).max(axis=1, keepdims=True)
            z = np.divide(z, top, out=np.zeros_like(z), where=top > 0)
        bound = float(np.abs(z).max()) or 1.0
        trace = dict(colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound)
        value = t("in.hover_diff_row" if scale == "row" else "in.hover_diff", lang)
    elif scale == "log":
        z = scaled(z, "log")
        exps = list(range(int(np.log10(LOG_FLOOR)), 1))
        colorbar.update(tickvals=exps, ticktext=[_power(e) for e in exps])
        trace = dict(colorscale="Blues", zmin=float(np.log10(LOG_FLOOR)), zmax=0.0)
        value = t("in.hover_log", lang)
    elif scale == "row":
        z = scaled(z, "row")
        trace = dict(colorscale="Blues", zmin=0.0, zmax=1.0)
        value = t("in.hover_row", lang)
    else:
        trace = dict(colorscale="Blues", zmin=0.0, zmax=float(z.max()) if z.size else 1.0)
        value = t("in.hover_weight", lang)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=cats,
            y=cats,
            colorbar=colorbar,
            hovertemplate=f"{query} %{{y}}<br>{key} %{{x}}<br>{value}<extra></extra>",
            **trace,
        )
    )
    _layout(fig, cats, labels, title, height)
    return fig


def _power(e: int) -> str:
    if e == 0:
        return "1"
    digits = str(abs(e)).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10⁻{digits}" if e < 0 else f"10{digits}"


def _layout(fig: go.Figure, cats: list[str], labels: list[str], title: str, height: int) -> None:
    fig.update_xaxes(
        **_ticks(cats, labels, MAX_X_TICKS), side="bottom", tickangle=-90
    )  # the top belongs to the mode bar
    fig.update_yaxes(**_ticks(cats, labels), autorange="reversed")
    fig.update_layout(
        title=title_below_mode_bar(title, font=dict(size=14)),
        height=height,
        margin=dict(l=10, r=10, t=MODEBAR_PX + 30, b=10),
        hoverlabel=dict(font=dict(size=12)),
    )


# -- the mask ----------------------------------------------------------------------------------
def mask_map(
    codes: np.ndarray,
    labels: list[str],
    title: str,
    *,
    hover: list[str] | None = None,
    hide_first: bool = False,
    lang: str = "en",
    height: int = 600,
) -> go.Figure:
    """The pattern as the model applied it, with a legend: kept, dropped, outside the model's mask, empty rows."""
    cats = token_categories(labels, hover)
    labels = list(labels)
    if hide_first and len(labels) > 1:
        codes, cats, labels = codes[1:, 1:], cats[1:], labels[1:]
    names = [t(f"in.mask_{level}", lang) for level in MASK_LEVELS]
    # a discrete scale pinned to 0..3, so a mask that keeps everything is drawn dark, never pale
    scale = []
    for i, colour in enumerate(MASK_COLORS):
        scale += [[i / 4, colour], [(i + 1) / 4, colour]]
    query, key = t("fig.query", lang), t("fig.key", lang)
    codes = np.asarray(codes, dtype=np.uint8)
    small = codes.shape[0] <= TEXT_HOVER_MAX  # per-cell state names only while they stay small
    fig = go.Figure(
        go.Heatmap(
            z=codes,
            x=cats,
            y=cats,
            zmin=-0.5,
            zmax=3.5,
            colorscale=scale,
            text=np.array(names, dtype=object)[codes] if small else None,
            showscale=False,
            hovertemplate=f"{query} %{{y}}<br>{key} %{{x}}" + ("<br>%{text}" if small else "") + "<extra></extra>",
        )
    )
    # the legend: one square per state, below the map (a colour bar's labels were cut on the right)
    present = set(np.unique(codes).tolist()) | {0, 1}  # kept and dropped always; the others where they occur
    for level, (name, colour) in enumerate(zip(names, MASK_COLORS, strict=True)):
        if level not in present:
            continue
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", name=name, marker=dict(symbol="square", size=11, color=colour)
            )
        )
    _layout(fig, cats, labels, title, height)
    fig.update_layout(
        showlegend=True,
        legend=dict(orientation="h", x=0, y=-0.16, yanchor="top", font=dict(size=11), itemclick=False),
        margin=dict(b=40),
    )
    return fig


# -- the token view ----------------------------------------------------------------------------
def top_keys(row: np.ndarray, top: int = 24, floor: float = 0.01) -> np.ndarray:
    """Indices of the row's largest weights: at most `top`, each at least `floor` (the largest always)."""
    row = np.asarray(row, dtype=np.float64)
    if row.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-row, kind="stable")[:top]
    keep = order[(row[order] >= floor) | (np.arange(order.size) == 0)]
    return np.sort(keep)


def token_view(
    dense_row: np.ndarray,
    sparse_row: np.ndarray,
    labels: list[str],
    query: int,
    titles: tuple[str, str],
    *,
    kept: np.ndarray | None = None,
    top: int = 24,
    floor: float = 0.01,
    lang: str = "en",
) -> go.Figure:
    """BertViz-style lines from one query token to its strongest keys, dense and sparse side by side.

    Both panels list the same keys (the union of each side's strongest), in text order, so a line
    that vanishes on the sparse side is a key the pattern dropped.
    """
    dense_row = np.asarray(dense_row, dtype=np.float64)
    sparse_row = np.asarray(sparse_row, dtype=np.float64)
    keys = np.union1d(top_keys(dense_row, top, floor), top_keys(sparse_row, top, floor))
    m = len(keys)
    ys = np.arange(m)
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    qy = (m - 1) / 2
    weight_word = t("in.hover_weight_word", lang)
    dropped_word = t("in.mask_dropped", lang)
    shapes = []  # set once at the end: add_shape re-validates every shape so far, O(lines²)
    for col, row in ((1, dense_row), (2, sparse_row)):
        w = row[keys]
        top_w = float(w.max()) if m and w.max() > 0 else 1.0
        axis = "" if col == 1 else str(col)
        for y, weight in zip(ys, w, strict=True):
            if weight <= 0:
                continue
            share = weight / top_w
            shapes.append(
                dict(
                    type="line",
                    xref=f"x{axis}",
                    yref=f"y{axis}",
                    x0=0,
                    y0=qy,
                    x1=1,
                    y1=int(y),
                    line=dict(width=round(0.5 + 6 * share, 2), color=f"rgba(31,119,180,{0.15 + 0.85 * share:.3f})"),
                    layer="below",
                )
            )
        dropped = kept is not None and col == 2
        states = [dropped_word if dropped and not bool(kept[j]) else f"{weight_word} {row[j]:.3f}" for j in keys]
        fig.add_trace(
            go.Scatter(
                x=np.ones(m),
                y=ys,
                mode="markers+text",
                text=[f"#{j} {_clip(labels[j], 12)}" for j in keys],  # repeated tokens differ by position
                textposition="middle right",
                textfont=dict(size=11, color=["#999" if row[j] <= 0 else "#222" for j in keys]),
                marker=dict(size=7, color=[f"rgba(31,119,180,{min(1.0, 0.2 + row[j] / top_w):.3f})" for j in keys]),
                customdata=[[f"#{j} {labels[j]}", s] for j, s in zip(keys, states, strict=True)],
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[qy],
                mode="markers+text",
                text=[f"#{query} {_clip(labels[query], 12)}"],
                textposition="middle left",
                textfont=dict(size=12, color="#b00"),
                marker=dict(size=10, color="#b00"),
                hovertemplate=f"#{query} {labels[query]}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.layout.shapes = shapes
    fig.update_xaxes(range=[-0.9, 1.9], visible=False, fixedrange=True)
    fig.update_yaxes(range=[m - 0.5, -0.5], visible=False, fixedrange=True)
    fig.update_layout(
        height=max(260, 60 + 19 * m),
        margin=dict(l=5, r=5, t=40, b=5),
        dragmode=False,
        hoverlabel=dict(font=dict(size=12)),
    )
    return fig


def head_figures(view, tokens, titles: dict[str, str], scale: str, hide_first: bool, lang: str) -> dict[str, go.Figure]:
    """The four maps of one head (an `inspection.HeadView`): dense, mask, sparse and sparse − dense.

    A pooled view (`inspection_long.LongHeadView`, past 512 tokens) names its blocks ("#a–b") on
    the axes instead of tokens: at most 512 of them, so the payload stays bounded at any length."""
    kw = dict(hover=getattr(tokens, "hover", None) or None, hide_first=hide_first, lang=lang)
    labels = tokens.labels
    if hasattr(view, "axis_labels"):
        labels = view.axis_labels(tokens.labels)
        kw["hover"] = None if len(labels) < len(tokens.labels) else kw["hover"]
    return {
        "dense": attention_map(view.dense, labels, titles["dense"], scale=scale, **kw),
        "mask": mask_map(view.states, labels, titles["mask"], **kw),
        "sparse": attention_map(view.sparse, labels, titles["sparse"], scale=scale, **kw),
        "diff": attention_map(view.sparse - view.dense, labels, titles["diff"], scale=scale, diff=True, **kw),
    }
