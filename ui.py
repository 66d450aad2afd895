"""The small Streamlit helper shared by app.py and pages/: language, errors, figures."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st

from sparse_core.i18n import LANGS, t

DOWNLOAD_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def lang() -> str:
    return st.session_state.get("lang", "en")


def tr(key: str, **fields) -> str:
    return t(key, lang(), **fields)


PAGES = [("app.py", "nav.home", "🏠"), ("pages/explorer.py", "nav.explorer", "🧩")]


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


def param_widgets(definition, prefix: str, columns: int = 2) -> dict:
    """Widgets generated from a pattern's parameter spec; values persist under their keys."""
    values = {}
    cols = st.columns(columns)
    for i, p in enumerate(definition.params):
        key = f"{prefix}_{definition.name}_{p.name}"
        if key not in st.session_state:
            st.session_state[key] = p.default
        values[p.name] = cols[i % columns].number_input(
            p.name.replace("_", " "), min_value=p.minimum, max_value=p.maximum, step=1 if p.kind is int else 0.1,
            help=p.help(lang()), key=key,
        )
    return values


def reset_params(definition, prefix: str) -> None:
    for p in definition.params:
        st.session_state[f"{prefix}_{definition.name}_{p.name}"] = p.default


def mask_image(view, title: str = "", height: int = 460):
    """Token or pooled view as a PNG-encoded image (payload stays small at any n)."""
    import plotly.graph_objects as go

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
