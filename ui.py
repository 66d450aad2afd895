"""The small Streamlit helper shared by app.py and pages/: language, errors, figures."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sparse_core.i18n import LANGS, t

DOWNLOAD_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def lang() -> str:
    return st.session_state.get("lang", "en")


def tr(key: str, **fields) -> str:
    return t(key, lang(), **fields)


PAGES = [("app.py", "nav.home", "🏠"), ("pages/explorer.py", "nav.explorer", "🧩"),
         ("pages/inspector.py", "nav.inspector", "🔬"), ("pages/cost.py", "nav.cost", "📈"),
         ("pages/learn.py", "nav.learn", "🎓")]


def _keep_language() -> None:
    st.session_state.lang = st.session_state._lang_widget


def setup_page(title_key: str) -> None:
    """First call of every page: wide layout, translated sidebar navigation, language switch.

    The language lives in session state (and ?lang= in the URL), not in the widget, so it
    survives page changes.
    """
    if "lang" not in st.session_state:
        st.session_state.lang = st.query_params.get("lang") if st.query_params.get("lang") in LANGS else "en"
    st.set_page_config(page_title=f"{tr(title_key)} · {tr('app.title')}", page_icon="🕸️", layout="wide")
    with st.sidebar:
        st.markdown(f"### 🕸️ {tr('app.title')}")
        for path, key, icon in PAGES:
            st.page_link(path, label=tr(key), icon=icon)
        st.divider()
        st.session_state._lang_widget = st.session_state.lang
        st.radio(t("app.language", lang()), list(LANGS), format_func=LANGS.get, key="_lang_widget",
                 horizontal=True, on_change=_keep_language)
    st.query_params["lang"] = st.session_state.lang


def show_error(message: str) -> None:
    st.error(tr("err.prefix", msg=message), icon="⚠️")


def human(value: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (with unit: '1.23 MB'); exact value stays available on hover."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


N_OPTIONS = [16, 32, 64, 100, 128, 256, 500, 512, 1000, 1024, 2048, 4096, 8192, 10_000, 16_384, 32_768, 65_536,
             100_000, 131_072, 262_144, 524_288, 1_000_000, 1_048_576]
KEPT_RGB, DROPPED_RGB = (49, 51, 145), (242, 243, 250)


def short_n(n: int) -> str:
    for size, suffix in ((1 << 20, "Mi"), (1 << 10, "Ki")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


def pattern_title(name: str) -> str:
    from sparse_core import get

    return get(name).title(lang())


def pattern_titles():
    """format_func for pattern names, pinned to this run's language: Streamlit may call a
    format_func outside the script run (AppTest does), where session state is not readable."""
    from sparse_core import get

    current = lang()
    return lambda name: get(name).title(current)


def option_labels(key_of):
    """format_func translating each option through key_of(option), pinned to this run's language."""
    current = lang()
    return lambda value: t(key_of(value), current)


def param_widgets(definition, prefix: str, columns: int = 2) -> dict:
    """Widgets generated from a pattern's parameter spec; values persist under their keys."""
    values = {}
    cols = st.columns(columns)
    for i, p in enumerate(definition.params):
        key = f"{prefix}_{definition.name}_{p.name}"
        if key not in st.session_state:
            st.session_state[key] = p.default
        values[p.name] = cols[i % columns].number_input(
            tr(f"param.{p.name}"), min_value=p.minimum, max_value=p.maximum, step=1 if p.kind is int else 0.1,
            help=p.help(lang()), key=key,
        )
    return values


def reset_params(definition, prefix: str) -> None:
    for p in definition.params:
        st.session_state[f"{prefix}_{definition.name}_{p.name}"] = p.default


def mask_image(view, title: str = "", height: int = 460):
    """Token or pooled view as a PNG-encoded image (payload stays small at any n)."""
    img = view.image
    n, b = view.n, view.block
    coords = np.arange(img.shape[0]) * b
    if not view.pooled and n <= 128:
        # small masks: a real heatmap so hovering shows (query, key, kept)
        text = np.where(img, tr("fig.kept"), tr("fig.dropped"))
        fig = go.Figure(go.Heatmap(
            z=img.astype(int), x=coords, y=coords, text=text, showscale=False,
            colorscale=[[0, f"rgb{DROPPED_RGB}"], [1, f"rgb{KEPT_RGB}"]],
            xgap=0.5 if n <= 64 else 0, ygap=0.5 if n <= 64 else 0,
            hovertemplate=f"{tr('fig.query')} %{{y}}<br>{tr('fig.key')} %{{x}}<br>%{{text}}<extra></extra>",
        ))
        fig.update_yaxes(autorange="reversed")
    else:
        share = img.astype(float)[..., None]
        rgb = (np.array(DROPPED_RGB) * (1 - share) + np.array(KEPT_RGB) * share).astype(np.uint8)
        fig = px.imshow(rgb, binary_string=True, x=coords, y=coords)
        fig.update_traces(hovertemplate=f"{tr('fig.query')} %{{y}}<br>{tr('fig.key')} %{{x}}<extra></extra>")
    fig.update_xaxes(title=tr("fig.key"), side="top", constrain="domain")
    fig.update_yaxes(title=tr("fig.query"), scaleanchor="x", constrain="domain")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60 if title else 30, b=10),
                      title=dict(text=title, y=0.99) if title else None)
    return fig


def _axis(labels: list[str]) -> dict:
    step = max(1, len(labels) // 40)  # readable ticks; hover always shows the exact token
    idx = list(range(0, len(labels), step))
    return dict(tickmode="array", tickvals=idx, ticktext=[labels[i] for i in idx], tickfont=dict(size=9))


def attention_heatmap(z: np.ndarray, labels: list[str], title: str, colorscale="Blues", zmid=None) -> go.Figure:
    n = len(labels)
    hover_labels = np.array(labels, dtype=object)
    fig = go.Figure(go.Heatmap(
        z=z if z.dtype == np.uint8 else z.astype(np.float32), colorscale=colorscale, zmid=zmid,
        customdata=np.stack(np.broadcast_arrays(hover_labels[:, None], hover_labels[None, :]), axis=-1),
        hovertemplate="%{customdata[0]} → %{customdata[1]}<br>%{z:.4f}<extra></extra>" if n <= 128 else
        f"{tr('fig.query')} %{{y}} → {tr('fig.key')} %{{x}}<br>%{{z:.4f}}<extra></extra>",
        zmin=0 if z.dtype == np.uint8 else None, zmax=1 if z.dtype == np.uint8 else None,
        colorbar=dict(thickness=10),
    ))
    if n > 128:  # per-cell label pairs would outweigh the map itself
        fig.data[0].customdata = None
    fig.update_xaxes(**_axis(labels), side="top", tickangle=-90)
    fig.update_yaxes(**_axis(labels), autorange="reversed")
    fig.update_layout(title=dict(text=title, y=0.99), height=640, margin=dict(l=10, r=10, t=90, b=10))
    return fig


def head_overview(thumbs: np.ndarray, mass: np.ndarray) -> go.Figure:
    layers, heads, s, _ = thumbs.shape
    gap = 2
    canvas = np.full((layers * (s + gap), heads * (s + gap)), np.nan, dtype=np.float32)
    for layer in range(layers):
        for head in range(heads):
            tile = thumbs[layer, head]
            r, c = layer * (s + gap), head * (s + gap)
            canvas[r:r + s, c:c + s] = tile / max(float(tile.max()), 1e-9)
    # one PNG for all tiles (tens of KB, where a float heatmap of the canvas is over a megabyte)
    shade = np.nan_to_num(canvas, nan=0.0)[..., None]
    rgb = (255 * (1 - shade) + np.array([8, 48, 107]) * shade).astype(np.uint8)
    rgb[np.isnan(canvas)] = 255
    fig = px.imshow(rgb, binary_string=True)
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    centers = np.array([(layer, head) for layer in range(layers) for head in range(heads)])
    fig.add_trace(go.Scatter(
        x=centers[:, 1] * (s + gap) + s / 2, y=centers[:, 0] * (s + gap) + s / 2, mode="markers",
        marker=dict(size=max(8, 360 // max(layers, heads)), color="rgba(0,0,0,0)"), customdata=centers,
        text=[f"{m:.1%}" for m in mass.ravel()],
        hovertemplate=f"{tr('in.layer')} %{{customdata[0]}}, {tr('in.head')} %{{customdata[1]}}<br>"
                      f"{tr('in.kept_col')} %{{text}}<extra></extra>",
    ))
    fig.update_xaxes(tickvals=np.arange(heads) * (s + gap) + s / 2, ticktext=[str(h) for h in range(heads)],
                     title=tr("in.head"), side="top")
    fig.update_yaxes(tickvals=np.arange(layers) * (s + gap) + s / 2, ticktext=[str(i) for i in range(layers)],
                     title=tr("in.layer"), autorange="reversed", scaleanchor="x")
    fig.update_layout(height=min(1400, 90 + layers * 40), margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
                      dragmode=False, clickmode="event+select")
    return fig
