"""Plotly figure builders for the app, free of Streamlit: usable from a notebook or a benchmark.

Every builder takes `lang` for its axis and hover labels and returns a plotly Figure.
"""

from __future__ import annotations

import re

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from sparse_core.memory import format_bytes
from sparse_core.scaling import fitted_slope

from .i18n import t

KEPT_RGB, DROPPED_RGB = (49, 51, 145), (242, 243, 250)


def human(value: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (with unit: '1.23 MB'); exact value stays available on hover."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def short_n(n: int) -> str:
    """1048576 -> '1Mi', 4096 -> '4Ki', 1000 -> '1,000'."""
    for size, suffix in ((1 << 20, "Mi"), (1 << 10, "Ki")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


# Pooled cells are shaded on a log scale of their exact share kept: a linear shade would draw a
# 0.04 %-dense pattern at 1M blank, a binary one would draw it a third full. The colour bar says so.
SHADE_DECADES = 4  # shares from 10^-4 to 1
MIN_SHADE = 0.12  # a cell that keeps any pair stays visible


def density_shade(share: np.ndarray) -> np.ndarray:
    """Share kept in [0, 1] -> shade in [0, 1]: 0 stays 0, 1 stays 1, log-spaced in between."""
    share = np.asarray(share, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.log10(np.where(share > 0, share, 1.0))
    shade = np.clip(1 + logs / SHADE_DECADES, 0, 1)
    return np.where(share > 0, MIN_SHADE + (1 - MIN_SHADE) * shade, 0.0)


def _rgb(shade: np.ndarray) -> np.ndarray:
    return (np.array(DROPPED_RGB) * (1 - shade[..., None]) + np.array(KEPT_RGB) * shade[..., None]).astype(np.uint8)


def mean_kept_share(view, nnz: int) -> float:
    """Exact share of pairs kept inside the pooled cells that keep any pair (edge cells clipped to n)."""
    rows, cols = np.nonzero(np.asarray(view.image) > 0)
    b, n = view.block, view.n
    area = (np.minimum((rows + 1) * b, n) - rows * b) * (np.minimum((cols + 1) * b, n) - cols * b)
    total = float(area.sum())
    return min(1.0, nnz / total) if total else 0.0


def _legend_trace(view, lang: str, share: float | None = None) -> go.Scatter:
    """An invisible marker whose colour bar (exact pooled shares) or legend (kept blocks) explains the shade."""
    scale = [[0, f"rgb{DROPPED_RGB}"], [1, f"rgb{KEPT_RGB}"]]
    if view.exact_density or share is not None:
        title = t("fig.share_kept", lang) if share is None else t("fig.mean_share", lang, share=f"{share:.2%}")
        ticks = [0.0] + [MIN_SHADE + (1 - MIN_SHADE) * (1 - k / SHADE_DECADES) for k in range(SHADE_DECADES, -1, -1)]
        labels = ["0"] + [f"{10.0**-k:.{max(0, k - 2)}%}" for k in range(SHADE_DECADES, -1, -1)]
        marker = dict(
            colorscale=scale,
            cmin=0,
            cmax=1,
            color=[0],
            showscale=True,
            colorbar=dict(
                title=dict(text=title, side="right"),
                tickvals=ticks,
                ticktext=labels,
                thickness=12,
                len=0.8,
            ),
        )
        return go.Scatter(x=[None], y=[None], mode="markers", marker=marker, showlegend=False, hoverinfo="skip")
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker=dict(symbol="square", size=12, color=f"rgb{KEPT_RGB}"),
        name=t("fig.kept_block", lang),
        showlegend=True,
        hoverinfo="skip",
    )


COMPACT_HEIGHT = 400  # below this a mask is a small multiple: no colour bar or legend of its own
TITLE_CHARS = 30  # a compact title's line, in narrow characters (a CJK character counts two)
TITLE_LINES = 2
MODEBAR_PX = 30  # Plotly's mode bar, top right: a phone shows it at all times, over anything in its band
TICK_ROOM = 30  # px above a compact plot for its top tick labels (size 10) and their gap, under the title
_WIDE = re.compile(r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]")
_CLOSING = "）」』】〉》，。、：；！？"  # never the first character of a line: it stays with the one before
# a short full-width bracketed group moves to the next line whole, e.g. "StreamingLLM<br>（注意力汇 + 窗口）"
_PIECES = re.compile(
    r"（[^（）]{1,12}）["
    + _CLOSING
    + r"]*|\s+|"
    + _WIDE.pattern
    + f"[{_CLOSING}]*"
    + r"|[^\s"
    + _WIDE.pattern[1:-1]
    + r"]+"
)


def text_width(text: str) -> int:
    """Display width in narrow characters: a CJK (wide) character takes two."""
    return len(text) + len(_WIDE.findall(text))


def title_below_mode_bar(text: str, **style) -> dict:
    """A figure title at the top left that starts under the mode bar's band (a phone shows the bar
    at all times, and a title in that band ran under it); automargin makes room above the plot."""
    return dict(
        text=text, x=0, xanchor="left", y=1, yref="container", yanchor="top", pad=dict(t=MODEBAR_PX), automargin=True,
        **style,
    )  # fmt: skip


def wrap_title(title: str, width: int = TITLE_CHARS, lines: int = TITLE_LINES) -> str:
    """`title` on at most `lines` lines of `width` (joined by <br>), broken at spaces or between CJK
    characters, the last line ending in '…' when the title is longer."""
    out, line = [], ""
    for piece in _PIECES.findall(title):
        if text_width(line + piece) <= width or not line.strip():
            line += piece
            continue
        out.append(line.rstrip())
        line = piece.lstrip()
    out.append(line.rstrip())
    cut = len(out) > lines
    out = out[:lines]
    while any(text_width(x) > width for x in out) or (cut and text_width(out[-1]) > width - 1):
        row = next(i for i, x in enumerate(out) if text_width(x) > width - (cut and i == len(out) - 1))
        out[row], cut = out[row][:-1].rstrip(), cut or row == len(out) - 1
    if cut:
        out[-1] += "…"
    return "<br>".join(out)


def mask_image(
    view,
    title: str = "",
    height: int = 460,
    lang: str = "en",
    nnz: int | None = None,
    compact: bool | None = None,
) -> go.Figure:
    """Token or pooled view as a PNG-encoded image (payload stays small at any n).

    Token views are kept/dropped in two colours pinned to 0 and 1, so a mask that keeps every pair
    is drawn in the kept colour. Pooled views are shaded by exact share with a colour bar. Where the
    engine could only say which blocks keep any pair, every kept block is shaded by the exact mean
    share over kept blocks when `nnz` (the exact kept-pair count) is given, else drawn with a legend.

    `compact` (default: a title and a height below COMPACT_HEIGHT) draws a small multiple for a grid
    of masks: no colour bar or legend of its own (the shade's meaning moves into the hover), a title
    wrapped to two short lines with the full title on hover, smaller ticks, and no axis titles.
    """
    # a titled figure under COMPACT_HEIGHT is one of several side by side; an untitled one (the
    # explorer's zoom) stands alone and keeps its axis titles
    compact = (bool(title) and height < COMPACT_HEIGHT) if compact is None else compact
    img = view.image
    n, b = view.n, view.block
    coords = np.arange(img.shape[0]) * b
    query, key = t("fig.query", lang), t("fig.key", lang)
    if not view.pooled and n <= 128:
        # small masks: a real heatmap so hovering shows (query, key, kept)
        text = np.where(img, t("fig.kept", lang), t("fig.dropped", lang))
        fig = go.Figure(
            go.Heatmap(
                z=img.astype(int),
                x=coords,
                y=coords,
                text=text,
                showscale=False,
                zmin=0,
                zmax=1,
                colorscale=[[0, f"rgb{DROPPED_RGB}"], [1, f"rgb{KEPT_RGB}"]],
                xgap=0.5 if n <= 64 else 0,
                ygap=0.5 if n <= 64 else 0,
                hovertemplate=f"{query} %{{y}}<br>{key} %{{x}}<br>%{{text}}<extra></extra>",
            )
        )
        fig.update_yaxes(autorange="reversed")
    else:
        exact = view.pooled and view.exact_density
        kept = np.asarray(img, dtype=float) > 0
        share = mean_kept_share(view, nnz) if view.pooled and not exact and nnz is not None else None
        if exact:
            shade = density_shade(img)
        elif share is not None:
            shade = np.where(kept, density_shade(np.array(share)), 0.0)
        else:
            shade = kept.astype(float)
        fig = px.imshow(_rgb(shade), binary_string=True, x=coords, y=coords)
        note = _shade_note(view, lang, share) if compact and view.pooled else ""
        fig.update_traces(hovertemplate=f"{query} %{{y}}<br>{key} %{{x}}{note}<extra></extra>")
        if view.pooled and not compact:
            fig.add_trace(_legend_trace(view, lang, share))
    # tick labels and axis titles push the margins (automargin), so they never overlap each other or
    # the figure's title; the title pushes them too (yref="container")
    fig.update_xaxes(title=None if compact else key, side="top", constrain="domain", automargin=True)
    fig.update_yaxes(title=None if compact else query, scaleanchor="x", constrain="domain", automargin=True)
    if compact:
        fig.update_xaxes(tickfont=dict(size=10), nticks=4)
        fig.update_yaxes(tickfont=dict(size=10), nticks=4)
    lines = wrap_title(title) if compact and title else ""
    fig.update_layout(
        height=height,
        # compact: room for the wrapped title above the top ticks (the title is an annotation there),
        # both under the mode bar's band
        margin=dict(l=10, r=10, t=(MODEBAR_PX + 18 * (lines.count("<br>") + 1) + TICK_ROOM) if lines else 10, b=10),
        title=title_below_mode_bar(title) if title and not compact else None,
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0),
        showlegend=not compact,
    )
    if lines:
        # a layout title cannot carry a hover text; an annotation can, so the full title shows on hover
        fig.add_annotation(
            text=lines,
            hovertext=title,
            xref="paper",
            yref="paper",
            x=0,
            y=1,
            xanchor="left",
            yanchor="bottom",
            yshift=TICK_ROOM,  # above the top tick labels
            showarrow=False,
            align="left",
            font=dict(size=13, weight="bold"),  # as a full-size figure's title reads
            name="title",
        )
    return fig


def _shade_note(view, lang: str, share: float | None) -> str:
    """What a compact pooled figure's shade means, for its hover (the colour bar it does not draw)."""
    if view.exact_density:
        return f"<br>{t('fig.shade_log', lang)}"
    if share is not None:
        return "<br>" + t("fig.mean_share", lang, share=f"{share:.2%}")
    return "<br>" + t("fig.kept_block", lang)


def _axis(labels: list[str]) -> dict:
    step = max(1, len(labels) // 40)  # readable ticks; hover always shows the exact token
    idx = list(range(0, len(labels), step))
    return dict(tickmode="array", tickvals=idx, ticktext=[labels[i] for i in idx], tickfont=dict(size=9))


def attention_heatmap(
    z: np.ndarray, labels: list[str], title: str, colorscale="Blues", zmid=None, lang: str = "en"
) -> go.Figure:
    """(T, T) attention weights (or a uint8 mask) with token labels on both axes."""
    n = len(labels)
    hover_labels = np.array(labels, dtype=object)
    query, key = t("fig.query", lang), t("fig.key", lang)
    fig = go.Figure(
        go.Heatmap(
            z=z if z.dtype == np.uint8 else z.astype(np.float32),
            colorscale=colorscale,
            zmid=zmid,
            customdata=np.stack(np.broadcast_arrays(hover_labels[:, None], hover_labels[None, :]), axis=-1),
            hovertemplate="%{customdata[0]} → %{customdata[1]}<br>%{z:.4f}<extra></extra>"
            if n <= 128
            else f"{query} %{{y}} → {key} %{{x}}<br>%{{z:.4f}}<extra></extra>",
            zmin=0 if z.dtype == np.uint8 else None,
            zmax=1 if z.dtype == np.uint8 else None,
            colorbar=dict(thickness=10),
        )
    )
    if n > 128:  # per-cell label pairs would outweigh the map itself
        fig.data[0].customdata = None
    fig.update_xaxes(**_axis(labels), side="top", tickangle=-90)
    fig.update_yaxes(**_axis(labels), autorange="reversed")
    fig.update_layout(title=dict(text=title, y=0.99), height=640, margin=dict(l=10, r=10, t=90, b=10))
    return fig


def head_overview(thumbs: np.ndarray, mass: np.ndarray, lang: str = "en") -> go.Figure:
    """Layers x heads grid of max-pooled attention thumbnails, one PNG; hover gives the mass kept."""
    layers, heads, s, _ = thumbs.shape
    gap = 2
    canvas = np.full((layers * (s + gap), heads * (s + gap)), np.nan, dtype=np.float32)
    for layer in range(layers):
        for head in range(heads):
            tile = thumbs[layer, head]
            r, c = layer * (s + gap), head * (s + gap)
            canvas[r : r + s, c : c + s] = tile / max(float(tile.max()), 1e-9)
    # one PNG for all tiles (tens of KB, where a float heatmap of the canvas is over a megabyte)
    shade = np.nan_to_num(canvas, nan=0.0)[..., None]
    rgb = (255 * (1 - shade) + np.array([8, 48, 107]) * shade).astype(np.uint8)
    rgb[np.isnan(canvas)] = 255
    fig = px.imshow(rgb, binary_string=True)
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    centers = np.array([(layer, head) for layer in range(layers) for head in range(heads)])
    layer_label, head_label = t("in.layer", lang), t("in.head", lang)
    fig.add_trace(
        go.Scatter(
            x=centers[:, 1] * (s + gap) + s / 2,
            y=centers[:, 0] * (s + gap) + s / 2,
            mode="markers",
            marker=dict(size=max(8, 360 // max(layers, heads)), color="rgba(0,0,0,0)"),
            customdata=centers,
            text=[f"{m:.1%}" for m in mass.ravel()],
            hovertemplate=f"{layer_label} %{{customdata[0]}}, {head_label} %{{customdata[1]}}<br>"
            f"{t('in.kept_col', lang)} %{{text}}<extra></extra>",
        )
    )
    fig.update_xaxes(
        tickvals=np.arange(heads) * (s + gap) + s / 2,
        ticktext=[str(h) for h in range(heads)],
        title=head_label,
        side="top",
    )
    fig.update_yaxes(
        tickvals=np.arange(layers) * (s + gap) + s / 2,
        ticktext=[str(i) for i in range(layers)],
        title=layer_label,
        autorange="reversed",
        scaleanchor="x",
    )
    fig.update_layout(
        height=min(1400, 90 + layers * 40),
        margin=dict(l=10, r=10, t=50, b=10),
        showlegend=False,
        dragmode=False,
        clickmode="event+select",
    )
    return fig


def degree_band(profile, lang: str = "en") -> go.Figure:
    """Min, mean and max keys per query over the sequence (an engine DegreeProfile), as a band and a line."""
    edge = dict(mode="lines", line=dict(width=0))
    fig = go.Figure(
        [
            go.Scatter(x=profile.start, y=profile.high, **edge, showlegend=False, hoverinfo="skip"),
            go.Scatter(
                x=profile.start,
                y=profile.low,
                **edge,
                fill="tonexty",
                name=t("ex.degree_range", lang),
                fillcolor=f"rgba{(*KEPT_RGB, 0.2)}",
            ),
            go.Scatter(
                x=profile.start,
                y=profile.mean,
                mode="lines",
                name=t("ex.degree_mean", lang),
                line=dict(color=f"rgb{KEPT_RGB}"),
            ),
        ]
    )
    fig.update_layout(
        height=280,
        margin=dict(l=10, r=10, t=MODEBAR_PX, b=10),  # the top band belongs to the chart's toolbar
        xaxis_title=t("fig.query", lang),
        yaxis_title=t("ex.degree_axis", lang),
        # below the axis title: above the plot it ran under the toolbar, which a phone shows at all times
        legend=dict(orientation="h", yanchor="top", y=-0.35, x=0),
    )
    fig.update_xaxes(exponentformat="SI")
    fig.update_yaxes(exponentformat="SI")
    return fig


def tile_image(tile, lang: str = "en", height: int = 380) -> go.Figure:
    """An exact zoom region (an engine Tile) with its ticks labelled by absolute query and key index."""
    fig = mask_image(tile.view, height=height, lang=lang)
    size = tile.view.n
    ticks = list(range(0, size, max(1, size // 8)))
    fig.update_xaxes(tickvals=ticks, ticktext=[str(tile.col0 + v) for v in ticks])
    fig.update_yaxes(tickvals=ticks, ticktext=[str(tile.row0 + v) for v in ticks])
    return fig


COST_COLORS = ["#313191", "#e4572e", "#17bebb", "#f0a202", "#76b041"]
DENSE_COLOR = "#888"


def _readable(value: float, unit: str) -> str:
    return format_bytes(value) if unit == "B" else human(value, unit)


def _cost_line(fig: go.Figure, ns, values, name: str, color: str, unit: str, lang: str, dash=None) -> None:
    slope = fitted_slope(ns, values)
    fig.add_trace(
        go.Scatter(
            x=ns,
            y=values,
            name=f"{name} ({t('co.slope', lang, s=slope)})",
            mode="lines+markers",
            line=dict(color=color, dash=dash),
            customdata=[_readable(v, unit) for v in values],
            hovertemplate="n = %{x:,}<br>%{customdata} (%{y:,.0f})<extra>" + name + "</extra>",
        )
    )


def growth_chart(growth, dense_key: str, sparse_key: str, unit: str, labels: dict, lang: str = "en") -> go.Figure:
    """A log-log chart of one whole-model cost against n (an engine Growth): dense dashed, one line per
    pattern labelled by `labels[name]`, each with its fitted slope."""
    fig = go.Figure()
    # four x ticks 16x apart fit a phone's width; the chart's title is written above it by the page
    # (Streamlit wraps text, Plotly cuts it on a phone)
    ticks = [p.n for p in growth.dense][::4]
    fig.update_xaxes(type="log", title="n", tickvals=ticks, tickformat=",d")
    fig.update_yaxes(type="log", title=unit, exponentformat="power", dtick=2)  # one notation on every log axis
    # the legend sits clear below the axis title "n" (the default horizontal legend overlaps it on a phone)
    fig.update_layout(
        height=460, margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", yanchor="top", y=-0.2)
    )
    dense = growth.dense
    _cost_line(
        fig,
        [p.n for p in dense],
        [p.model[dense_key] for p in dense],
        t("co.dense", lang),
        DENSE_COLOR,
        unit,
        lang,
        "dash",
    )
    for color, (name, points) in zip(COST_COLORS, growth.curves.items(), strict=False):
        _cost_line(fig, [p.n for p in points], [p.model[sparse_key] for p in points], labels[name], color, unit, lang)
    return fig


def speed_chart(done: dict, lang: str = "en") -> go.Figure:
    """Measured speed-up beside the ideal and the block-ideal one, per n (speed results by n)."""
    fig = go.Figure()
    xs = [f"{n:,}" for n in sorted(done)]
    for key, attr, color in (
        ("co.col_speedup", "speedup", COST_COLORS[0]),
        ("co.col_block_ideal", "block_ideal", COST_COLORS[2]),
        ("co.col_ideal", "ideal", COST_COLORS[1]),
    ):
        values = [getattr(done[n], attr) for n in sorted(done)]
        fig.add_trace(go.Bar(x=xs, y=values, name=t(key, lang), marker_color=color))
    fig.update_layout(
        title=title_below_mode_bar(t("co.speed_chart", lang)),
        barmode="group",
        height=380,
        yaxis=dict(type="log", exponentformat="power", dtick=1),
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title="n", type="category"),
        legend=dict(orientation="h"),
    )
    return fig


def speed_table(done: dict, lang: str = "en"):
    """The measured speed runs (speed results by n) as a table: times in ms, ratios as they are."""
    import pandas as pd  # only the speed tab needs it

    return pd.DataFrame(
        [
            {
                "n": f"{n:,}",
                t("co.d_head", lang): r.d_head,
                t("co.col_dense", lang): r.dense_s * 1000,
                t("co.col_masked", lang): None if r.masked_sdpa_s is None else r.masked_sdpa_s * 1000,
                t("co.col_sparse", lang): r.sparse_s * 1000,
                t("co.col_compile", lang): r.compile_s,
                t("co.col_speedup", lang): r.speedup,
                t("co.col_ideal", lang): r.ideal,
                t("co.col_block_ideal", lang): r.block_ideal,
                t("co.col_share", lang): r.share_of_block_ideal,
            }
            for n, r in sorted(done.items())
        ]
    )
