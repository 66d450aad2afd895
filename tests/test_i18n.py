"""One translation mechanism: every UI string in English and Chinese, and none hard-coded."""

import ast
import re
from pathlib import Path

import pytest

from sparse_core import PATTERNS
from tests.conftest import ROOT, app_test
from ui.i18n import LANGS, STRINGS, t

UI_FILES = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "app_pages").glob("*.py"))]
SAME_IN_BOTH = {"Longformer", "BigBird", "k"}  # names that are not translated
TEXT_CALLS = {
    "title",
    "header",
    "subheader",
    "markdown",
    "caption",
    "text",
    "write",
    "button",
    "metric",
    "selectbox",
    "radio",
    "multiselect",
    "slider",
    "select_slider",
    "number_input",
    "text_input",
    "text_area",
    "toggle",
    "checkbox",
    "info",
    "warning",
    "error",
    "success",
    "expander",
    "tabs",
    "download_button",
    "page_link",
    "progress",
    "spinner",
    "status",
}


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _has_words(node) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(v) for v in node.values if isinstance(v, ast.Constant))
    return False


def test_every_entry_has_english_and_chinese():
    assert set(LANGS) == {"en", "zh"}
    for key, entry in STRINGS.items():
        assert entry.get("en", "").strip() and entry.get("zh", "").strip(), key
        fields = lambda s: set(re.findall(r"{(\w+)", s))  # noqa: E731
        assert fields(entry["en"]) == fields(entry["zh"]), f"{key}: placeholders differ"
        if entry["en"] == entry["zh"] and len(entry["en"]) > 3:
            assert entry["en"] in SAME_IN_BOTH, f"{key} is not translated"


def test_every_pattern_and_parameter_is_in_the_catalog_with_the_engines_english():
    for d in PATTERNS.values():
        assert STRINGS[f"pattern.{d.name}"]["en"] == d.title
        assert STRINGS[f"pattern.{d.name}.summary"]["en"] == d.summary
        for p in d.params:
            assert f"param.{p.name}" in STRINGS, (d.name, p.name)
            assert STRINGS[f"help.{d.name}.{p.name}"]["en"] == p.help, (d.name, p.name)


def test_translated_engine_errors_say_what_the_engine_says():
    from sparse_core import PatternError, make

    for bad in ({"window": -1}, {"window": "x"}, {"window": 1.5}, {"nope": 1}):
        with pytest.raises(PatternError) as info:
            make("window", **bad)
        error = info.value
        assert error.code and t(f"err.{error.code}", "en", **error.fields) == str(error)
        assert t(f"err.{error.code}", "zh", **error.fields) != str(error)


def _used_keys(tree) -> tuple[set[str], list[str]]:
    exact, dynamic = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("tr", "t"):
            if not node.args:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                exact.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                dynamic.append("".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in arg.values))
    return exact, dynamic


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_every_key_the_ui_uses_exists(path):
    exact, dynamic = _used_keys(_tree(path))
    missing = sorted(k for k in exact if k not in STRINGS)
    assert not missing, missing
    for pattern in dynamic:
        assert any(re.fullmatch(pattern, k) for k in STRINGS), f"no key matches {pattern}"


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_no_user_visible_text_is_hard_coded(path):
    offenders = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TEXT_CALLS:
            labels = node.args[:1] + [kw.value for kw in node.keywords if kw.arg in ("label", "help", "text")]
            offenders += [f"line {node.lineno}: {ast.unparse(a)}" for a in labels if _has_words(a)]
    assert not offenders, offenders


ENGLISH = sorted(
    {e["en"] for e in STRINGS.values() if e["en"] != e["zh"] and len(e["en"]) >= 12 and "{" not in e["en"]}
)


def _visible_texts(at) -> list[str]:
    out = []
    for kind in ("title", "subheader", "header", "markdown", "caption", "info", "warning", "error"):
        out += [str(e.value) for e in at.get(kind)]
    for kind in (
        "button",
        "selectbox",
        "radio",
        "slider",
        "select_slider",
        "number_input",
        "toggle",
        "metric",
        "text_area",
        "text_input",
        "multiselect",
    ):
        out += [e.label for e in at.get(kind)]
    return out


@pytest.mark.model
@pytest.mark.parametrize(
    "page",
    [
        "app.py",
        "app_pages/explorer.py",
        "app_pages/inspector.py",
        "app_pages/lab.py",
        "app_pages/cost.py",
        "app_pages/learn.py",
    ],
)
def test_pages_in_chinese_show_no_english_ui_text(page):
    at = app_test(timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    if page != "app.py":
        at.switch_page(page).run()
    assert not at.exception
    shown = "\n".join(_visible_texts(at))
    leaked = [s for s in ENGLISH if s in shown]
    assert not leaked, leaked
    assert re.search(r"[\u4e00-\u9fff]", shown)
