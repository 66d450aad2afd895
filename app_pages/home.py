"""Home: what sparse attention is, in one screen, with a live mask and links to every page."""

import numpy as np
import streamlit as st

from sparse_core import dense_mask, make
from sparse_core.views import MaskView
from ui.chrome import lang, tr
from ui.figures import human, mask_image

LINKS = [
    ("app_pages/explorer.py", "explorer", "🧩"),
    ("app_pages/inspector.py", "inspector", "🔬"),
    ("app_pages/cost.py", "cost", "📈"),
    ("app_pages/learn.py", "learn", "🎓"),
]

st.title(tr("app.title"))
st.markdown(tr("home.lead"))
st.subheader(tr("home.demo"))
n = st.select_slider(tr("home.n"), options=[32, 64, 128, 256, 512], value=128, key="home_n")
mask = dense_mask(make("longformer", window=max(2, n // 16), global_tokens=2).expr(), n)  # (n, n)
left, right = st.columns(2)
full = MaskView(np.ones_like(mask), False, 1, n)
left.plotly_chart(mask_image(full, tr("home.dense", pairs=f"{n * n:,}"), lang=lang()), key="home_dense")
title = tr(
    "home.sparse", pattern=tr("pattern.longformer"), pairs=f"{int(mask.sum()):,}", share=f"{mask.sum() / n / n:.1%}"
)
right.plotly_chart(mask_image(MaskView(mask, False, 1, n), title, lang=lang()), key="home_sparse")
st.caption(f"{human(n * n)} → {human(mask.sum())}")
st.subheader(tr("home.pages"))
for path, name, icon in LINKS:
    st.page_link(path, label=f"**{tr(f'nav.{name}')}** — {tr(f'home.{name}')}", icon=icon)
