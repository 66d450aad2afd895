"""Home: what sparse attention is, in one screen, with a live mask and links to every page."""

import numpy as np
import streamlit as st

from sparse_core.explore import demo_mask
from sparse_core.views import MaskView
from ui.chrome import PERSIST, lang, link_query, own_query, tr
from ui.figures import human, mask_image
from ui.pages import PAGES

own_query(())  # Home has no parameters of its own: what the page one left wrote is dropped
st.title(tr("app.title"))
st.markdown(tr("home.lead"))
st.subheader(tr("home.demo"))
n = st.select_slider(tr("home.n"), options=[32, 64, 128, 256, 512], value=128, key="home_n", persist_state=PERSIST)
mask, demo = demo_mask(n)
kept = demo.stats.nnz
left, right = st.columns(2)
full = MaskView(np.ones_like(mask), False, 1, n)
left.plotly_chart(mask_image(full, tr("home.dense", pairs=f"{n * n:,}"), lang=lang()), key="home_dense")
title = tr("home.sparse", pattern=tr("pattern.longformer"), pairs=f"{kept:,}", share=f"{demo.stats.density:.1%}")
right.plotly_chart(mask_image(demo.view, title, lang=lang()), key="home_sparse")
st.caption(tr("home.saving", dense=human(n * n), sparse=human(kept), times=f"{demo.stats.speedup_ideal:,.1f}"))
st.subheader(tr("home.pages"))
for page in PAGES:  # every page app.py navigates, so a new page is listed here without an edit
    if not page.default:
        # the link is the page's name and the description a caption under it: a link's label is one
        # line, cut at a phone's width
        # carrying the page's state, as the sidebar's links do: a bare link would show its defaults
        st.page_link(page.path, label=f"**{tr(page.title_key)}**", icon=page.icon, query_params=link_query(page))
        st.caption(tr(f"home.{page.name}"))
