"""Sparse Attention Explorer: the entry point. Declares the pages, the language, and the sidebar."""

import streamlit as st

from ui.chrome import setup_app

PAGES = [
    ("app_pages/home.py", "nav.home", "🏠", True),
    ("app_pages/explorer.py", "nav.explorer", "🧩", False),
    ("app_pages/inspector.py", "nav.inspector", "🔬", False),
    ("app_pages/cost.py", "nav.cost", "📈", False),
    ("app_pages/learn.py", "nav.learn", "🎓", False),
]

tr = setup_app()
navigation = st.navigation(
    [st.Page(path, title=tr(key), icon=icon, default=default) for path, key, icon, default in PAGES],
    position="sidebar",
)
navigation.run()
