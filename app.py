"""Sparse Attention Explorer: the entry point. Declares the pages, the language, and the sidebar."""

import os

# One torch thread per server process, set before torch is first imported: with several sessions
# (or any other load) on 2 cores, two OpenMP threads per op spin and ran 2.5-8x slower than one
# (measured; docs/PERFORMANCE.md). Sessions then share the cores instead of fighting over them.
# Under serve.py (make run) this comes too late, as its preload imports torch first: serve.py sets it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# No transparent huge pages for numpy's arrays (numpy reads this at import): the kernel's inline compaction for them
# gave requests of 150-290 MB 2-3x CPU tails here; the budget is measured without them (sparse_core/process.py)
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import streamlit as st  # noqa: E402

from ui import runlog  # noqa: E402

run = runlog.begin()  # None unless SPARSE_EXPLORER_RUN_LOG asks for the server-side log of script runs

from ui import heap, preload  # noqa: E402
from ui.chrome import PageEndedEarlyError, keep_language_in_url, page_links, setup_app  # noqa: E402
from ui.pages import PAGES  # noqa: E402

nav_slot = st.sidebar.container()  # the links sit above the language switch that setup_app draws
tr = setup_app()
pages = [(page, st.Page(page.path, title=tr(page.title_key), icon=page.icon, default=page.default)) for page in PAGES]
# Hidden: the sidebar's links are ours (ui.chrome.page_links), each carrying its page's state in its
# URL, so that a page change is one history entry and Back returns to the page before.
navigation = st.navigation([st_page for _, st_page in pages], position="hidden")
current = next((page.path for page, st_page in pages if st_page.url_path == navigation.url_path), None)
# Before the page runs: what libraries peek at is complete, and this page's modules are imported once,
# never by two sessions at the same time (ui/preload.py: a half-built pandas broke Home under load).
try:
    preload.ensure(current)
    try:
        navigation.run()
    except PageEndedEarlyError:  # the page ended early (ui.chrome.end_page): its links are still drawn below
        pass
    finally:  # also when the page stopped early: the links, and a Reload keeps the language
        keep_language_in_url()
        with nav_slot:
            page_links(pages)
    heap.settle()  # after a first visit imported new modules: no full GC pass inside later reruns
except BaseException as e:  # st.stop, st.rerun, a newer request: noted in the run log (when on), raised as before
    runlog.end(run, current, e)
    raise
else:
    runlog.end(run, current, None)
