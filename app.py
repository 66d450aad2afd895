"""Sparse Attention Explorer: navigation, language, and the one-screen home page."""

import streamlit as st

from sparse_core import dense_mask, make
from ui import human, language_picker, mask_figure, tr

st.set_page_config(page_title="Sparse Attention Explorer", page_icon="🕸️", layout="wide")


def home() -> None:
    st.title(tr("app.title"))
    st.markdown(tr("home.lead"))
    st.subheader(tr("home.demo"))
    n = st.select_slider(tr("home.n"), options=[32, 64, 128, 256, 512], value=128, key="home_n")
    spec = make("longformer", window=max(2, n // 16), global_tokens=2)
    mask = dense_mask(spec.expr(), n)
    left, right = st.columns(2)
    left.plotly_chart(mask_figure(mask | True, tr("home.dense", pairs=f"{n * n:,}")), key="home_dense")
    share = f"{mask.sum() / n / n:.1%}"
    title = tr("home.sparse", pattern="Longformer", pairs=f"{int(mask.sum()):,}", share=share)
    right.plotly_chart(mask_figure(mask, title), key="home_sparse")
    st.caption(f"{human(n * n)} → {human(mask.sum())}")
    st.subheader(tr("home.pages"))
    for page, key in PAGE_LINKS:
        st.page_link(page, label=f"**{tr('nav.' + key)}** — {tr('home.' + key)}")


language_picker()
PAGES = {"home": st.Page(home, title=tr("nav.home"), icon="🏠", default=True)}
PAGE_LINKS: list = []
navigation = st.navigation(list(PAGES.values()))
navigation.run()
