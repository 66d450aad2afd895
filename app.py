"""Sparse Attention Explorer: the entry point. Declares the pages, the language, and the sidebar."""

import os

# One torch thread per server process, set before torch is first imported: with several sessions
# (or any other load) on 2 cores, two OpenMP threads per op spin and ran 2.5-8x slower than one
# (measured; docs/PERFORMANCE.md). Sessions then share the cores instead of fighting over them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import streamlit as st  # noqa: E402

from ui import heap, preload  # noqa: E402
from ui.chrome import setup_app  # noqa: E402
from ui.pages import PAGES  # noqa: E402

tr = setup_app()
pages = [(st.Page(path, title=tr(key), icon=icon, default=default), path) for path, key, icon, default in PAGES]
navigation = st.navigation([page for page, _ in pages], position="sidebar")
# Before the page runs: what libraries peek at is complete, and this page's modules are imported once,
# never by two sessions at the same time (ui/preload.py: a half-built pandas broke Home under load).
preload.ensure(next((path for page, path in pages if page.url_path == navigation.url_path), None))
navigation.run()
heap.settle()  # after a first visit imported new modules: no full GC pass inside later reruns
