"""Import what the pages import once per server process, one import at a time, before a page runs.

Pages import their libraries when they first run, each session in its own script thread. A module
enters `sys.modules` before its body has run, and some libraries peek there without importing:
Plotly's validators take `sys.modules["pandas"]` as it is. So while one session's first visit of
Cost or the Lab was still importing pandas, another session's Home run read a half-built pandas and
failed ("partially initialized module 'pandas'", 2 of 625 Home reruns under load). Two threads that
import the same modules can also meet in a cycle, where Python hands one of them a half-built module.

`ensure(page)` runs before a page: under one process-wide lock it imports the modules Plotly peeks
at (BASE), once, then every module that page imports (read from its source, top level and inside
functions, so a new import needs no list kept by hand), once per page. No page runs before BASE is
complete, and page imports never run in two threads at once. `start()` does the same for every page
in a background thread when the server starts (`serve.py`), so a visitor finds them loaded. No
Streamlit here.
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
import time
from pathlib import Path

from ui.pages import PAGES

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "app_pages"
# Modules that libraries read from sys.modules without importing them (Plotly: numpy, pandas,
# PIL.Image), with Plotly itself: complete before any page runs.
BASE = ("numpy", "pandas", "PIL.Image", "plotly.graph_objects")

_log = logging.getLogger(__name__)
_lock = threading.RLock()
_loaded: set[str] = set()  # "base" and the page files whose imports are done
_thread: threading.Thread | None = None
report: dict[str, dict] = {}  # what each ensure() step imported: wall and CPU seconds, failures


def page_imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) for every absolute import in a file, top level or inside a function: `import a.b`
    gives ("a.b", ()), `from a import b, c` gives ("a", ("b", "c")), b and c submodules or attributes."""
    found: dict[tuple[str, tuple[str, ...]], None] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update({(a.name, ()): None for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in (None, "__future__"):
            found[(node.module, tuple(a.name for a in node.names if a.name != "*"))] = None
    return [entry for entry in found if entry[0] != __name__]


def _import(key: str) -> None:
    """Import what `key` ("base" or a page file) needs, each module under the lock; then mark it loaded.

    The lock is taken per module, so a visitor's ensure() waits for one module of the background
    preload, not for a whole page's set."""
    t0, c0 = time.perf_counter(), time.process_time()
    failed: dict[str, str] = {}
    for name, names in [(m, ()) for m in BASE] if key == "base" else page_imports(ROOT / key):
        with _lock:
            try:
                module = importlib.import_module(name)
                for attr in names:  # `from package import submodule`: the submodule too
                    if not hasattr(module, attr):
                        importlib.import_module(f"{name}.{attr}")
            except Exception as e:  # the page shows its own error when it runs; the server must go on
                failed[name] = repr(e)
                _log.log(logging.WARNING, "preload: importing %s for %s failed: %r", name, key, e)
    with _lock:
        report[key] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "failed": failed}
        _loaded.add(key)


def ensure(page: str | Path | None = None) -> None:
    """BASE, then the imports of `page` (a page file), each imported once per process under the lock.

    Before a page runs (app.py): the caller holds the lock throughout, so no other thread imports
    while BASE and this page's modules are loaded."""
    keys = ["base"] if page is None else ["base", str(Path(page))]
    if all(k in _loaded for k in keys):  # every rerun after the first: no lock
        return
    with _lock:
        for key in keys:
            if key not in _loaded:
                _import(key)


def _ensure_all() -> None:
    """The background preload: every page, one module at a time, so visitors can go in between."""
    for page in all_pages():
        for key in ("base", page):
            if key not in _loaded:
                _import(key)


def all_pages() -> list[str]:
    """app.py, then its pages in the order of ui.pages.PAGES (the default page, Home, first: the page a
    visitor arriving during the preload waits for), then any other page file."""
    declared = [page.path for page in PAGES]
    others = [str(p.relative_to(ROOT)) for p in sorted(PAGES_DIR.glob("*.py"))]
    return list(dict.fromkeys(["app.py", *declared, *others]))


def start() -> threading.Thread:
    """Import every page's modules in a background thread (once per process); the thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_ensure_all, name="preload", daemon=True)
            _thread.start()
        return _thread
