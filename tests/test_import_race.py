"""No import race: every page opened at once on a fresh server, none sees a half-imported module.

Pages import their libraries on their first run, each session in its own thread; Plotly reads pandas
from sys.modules without importing it, so a Home run beside another session's first Cost or Lab visit
once failed with "partially initialized module 'pandas'" (issue 20). ui/preload.py imports, under one
lock, what libraries peek at before any page runs and each page's own imports once.
"""

from __future__ import annotations

import pytest

from ui import preload

PAGE_PATHS = ["", "explorer", "inspector", "lab", "cost", "learn"]
# Home (the page that failed) three times among the others' first visits
SESSIONS = ["cost", "", "lab", "inspector", "", "learn", "explorer", ""]


def _app_pages() -> list[str]:
    """The page files app.py navigates (ui.pages.PAGES)."""
    from ui.pages import PAGES

    return [page.path for page in PAGES]


def test_preload_covers_every_page_of_the_app_the_default_page_first():
    assert set(_app_pages()) <= set(preload.all_pages())
    assert len(_app_pages()) == len(PAGE_PATHS)
    assert preload.all_pages()[:2] == ["app.py", "app_pages/home.py"] == ["app.py", _app_pages()[0]]


def test_page_imports_are_read_from_the_source_top_level_and_inside_functions(tmp_path):
    page = tmp_path / "page.py"
    page.write_text(
        "from __future__ import annotations\nimport numpy as np\nfrom sparse_core import make, views\n"
        "def f():\n    from sparse_core.speed import measure\n    import json\n"
    )
    assert preload.page_imports(page) == [
        ("numpy", ()),
        ("sparse_core", ("make", "views")),
        ("sparse_core.speed", ("measure",)),
        ("json", ()),
    ]


def test_ensure_imports_what_libraries_peek_at_before_the_page_modules():
    preload.ensure("app_pages/home.py")
    assert {"base", "app_pages/home.py"} <= preload._loaded
    import sys

    assert all(name in sys.modules for name in preload.BASE)
    assert not preload.report["base"]["failed"] and not preload.report["app_pages/home.py"]["failed"]


@pytest.mark.browser
def test_every_page_opened_at_once_on_a_fresh_server(browser):
    from tests.browser import running_server, track_runs, wait_ready

    with running_server() as url:
        context = track_runs(browser.new_context())
        pages = []
        # every session asks for its first run before any of them has finished importing
        for i, path in enumerate(SESSIONS):
            page = context.new_page()
            page.set_default_timeout(180_000)
            page.goto(f"{url}/{path}" + ("?lang=zh" if i % 2 else ""), wait_until="commit")
            pages.append((path, page))
        failures = []
        for path, page in pages:
            wait_ready(page, timeout=180_000)
            errors = page.locator("[data-testid=stException]")
            if errors.count():
                failures.append((path or "home", errors.first.inner_text()[:300]))
        context.close()
    assert not failures, failures
