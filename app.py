"""Sparse Attention Explorer: navigation, language, and the one-screen home page."""

import numpy as np
import streamlit as st

from sparse_core import dense_mask, make
from sparse_core.views import MaskView
from ui import PAGES, human, mask_image, setup_page, tr


def home() -> None:
    st.title(tr("app.title"))
    st.markdown(tr("home.lead"))
    st.subheader(tr("home.demo"))
    n = st.select_slider(tr("home.n"), options=[32, 64, 128, 256, 512], value=128, key="home_n")
    spec = make("longformer", window=max(2, n // 16), global_tokens=2)
    mask = dense_mask(spec.expr(), n)
    left, right = st.columns(2)
    full = MaskView(np.ones_like(mask), False, 1, n)
    left.plotly_chart(mask_image(full, tr("home.dense", pairs=f"{n * n:,}")), key="home_dense")
    share = f"{mask.sum() / n / n:.1%}"
    title = tr("home.sparse", pattern="Longformer", pairs=f"{int(mask.sum()):,}", share=share)
    right.plotly_chart(mask_image(MaskView(mask, False, 1, n), title), key="home_sparse")
    st.caption(f"{human(n * n)} → {human(mask.sum())}")
    st.subheader(tr("home.pages"))
    for path, key, icon in PAGES[1:]:
        st.page_link(path, label=f"**{tr(key)}** — {tr(key.replace('nav.', 'home.'))}", icon=icon)


setup_page("nav.home")
home()
