"""The layers stay apart: the engine knows nothing of the app, figures know nothing of Streamlit."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN_IN_ENGINE = ("streamlit", "plotly", "ui")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.split(".")[0] for m in json.loads(out.stdout.strip().splitlines()[-1])}


def test_no_engine_module_imports_the_app_or_its_text():
    for path in sorted((ROOT / "sparse_core").rglob("*.py")):
        bad = _imports(path) & set(FORBIDDEN_IN_ENGINE)
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_importing_every_engine_module_loads_no_ui_library():
    code = (
        "import importlib, pkgutil, sparse_core\n"
        "for m in pkgutil.walk_packages(sparse_core.__path__, 'sparse_core.'):\n"
        "    if m.name != 'sparse_core.__main__': importlib.import_module(m.name)"
    )
    loaded = _loaded_after(code)
    assert not loaded & set(FORBIDDEN_IN_ENGINE), sorted(loaded & set(FORBIDDEN_IN_ENGINE))


def test_the_exact_engine_and_its_cli_need_no_torch():
    loaded = _loaded_after("import sparse_core, sparse_core.cli, sparse_core.export")
    assert "torch" not in loaded and "transformers" not in loaded


def test_figure_builders_load_without_streamlit():
    loaded = _loaded_after("import ui.figures")
    assert "plotly" in loaded and "streamlit" not in loaded


def test_streamlit_lives_only_in_the_app_files():
    # Every other ui module builds figures, tables and state without Streamlit (testable, reusable). These
    # draw or hook the running app: chrome (sidebar, page links), widgets, downloads (Streamlit's media
    # manager, so a file outlives other sessions' runs), runlog (the server-side run log hooks AppSession),
    # and the parts a page draws, split off so the page stays a short script: <page>_view.py (results,
    # a queued run), <page>_progress.py (progress of a long run) and inspector_state.py (the Inspector's
    # session state with its undo button).
    ui = ROOT / "ui"
    allowed = {ROOT / "app.py"} | {ui / f for f in ("chrome.py", "widgets.py", "downloads.py", "runlog.py")}
    allowed |= {ui / "inspector_state.py"} | set(ui.glob("*_view.py")) | set(ui.glob("*_progress.py"))
    allowed |= set((ROOT / "app_pages").glob("*.py"))
    for folder in ("sparse_core", "ui", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path not in allowed:
                assert not _streamlit_ui_imports(path), path.relative_to(ROOT)


def _streamlit_ui_imports(path: Path) -> set[str]:
    """Streamlit modules a file imports, except its wire protocol and its settings (the load test parses
    frames with the one and reads the server's session TTL from the other): neither draws anything."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [f"{node.module}.{a.name}" for a in node.names]
        found |= {m for m in modules if m.split(".")[0] == "streamlit"}
    return {m for m in found if not m.startswith(("streamlit.proto.", "streamlit.config"))}


def _relative_imports(path: Path) -> set[str]:
    """Modules a file imports relatively, resolved to dotted names under sparse_core."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def test_pattern_files_sit_below_the_registry_and_the_spec_below_them():
    """Issue 21: no cycle. Pattern files import the spec types from sparse_core.spec, never from the
    registry (which imports them); the spec imports no pattern module at run time."""
    for path in sorted((ROOT / "sparse_core" / "patterns").glob("*.py")):
        assert "sparse_core.registry" not in _relative_imports(path), path.name
    spec = ast.parse((ROOT / "sparse_core" / "spec.py").read_text(encoding="utf-8"))
    runtime = [n for n in spec.body if isinstance(n, ast.ImportFrom)]
    assert all(n.module in ("__future__", "collections.abc", "dataclasses", "typing", "params") for n in runtime)


def test_the_registry_only_collects():
    """Patterns are defined in patterns/ (each file registers its own); registry.py defines none."""
    tree = ast.parse((ROOT / "sparse_core" / "registry.py").read_text(encoding="utf-8"))
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & {"register", "PatternDef", "P"}, calls
