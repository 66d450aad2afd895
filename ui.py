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


def language_picker() -> None:
    """Sidebar switch; the choice survives page changes and lives in the URL (?lang=zh)."""
    if "lang" not in st.session_state:
        st.session_state.lang = st.query_params.get("lang", "en") if st.query_params.get("lang") in LANGS else "en"
    st.sidebar.radio(t("app.language", lang()), list(LANGS), format_func=LANGS.get, key="lang", horizontal=True)
    st.query_params["lang"] = st.session_state.lang


def show_error(message: str) -> None:
    st.error(tr("err.prefix", msg=message), icon="⚠️")


def mask_figure(mask: np.ndarray, title: str = "", offset: tuple[int, int] = (0, 0), height: int = 420):
    """A boolean mask as a compact PNG-encoded heatmap (kept = dark); axes are token indices."""
    r0, c0 = offset
    fig = px.imshow(
        ~mask, binary_string=True, x=np.arange(c0, c0 + mask.shape[1]), y=np.arange(r0, r0 + mask.shape[0]),
        labels={"x": tr("fig.key"), "y": tr("fig.query")}, title=title,
    )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def human(value: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (with unit: '1.23 MB'); exact value stays available on hover."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()
