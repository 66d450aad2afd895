"""The Inspector's widget state: the URL <-> widgets, and the pattern parameters that follow the text.

Parameters the user has not touched follow the text (paper defaults scaled to its n), announced
below the widgets with an undo, never changed silently. A pasted text cannot travel in a URL: the
URL says `text=own` and the session keeps its own text.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import streamlit as st

from sparse_core import PATTERNS, PatternError, get, models
from sparse_core.export import parse_layers
from sparse_core.inspection_long import token_choices
from sparse_core.scale import scale_to_n

from . import deploy
from . import inspector_figures as F
from .chrome import end_page, read_query, tr, write_query
from .i18n import LANGS, STRINGS, t
from .query import QueryParam
from .widgets import param_key

EXAMPLES = {p.stem: p for p in sorted((Path(__file__).parents[1] / "assets" / "examples").glob("*.txt"))}
OWN = "own"  # the URL's name for a pasted text, which the URL itself cannot carry
DEFAULT_PATTERN = "window"
DEFAULT_TOKENS = 256
s = st.session_state


def limits(context: int | None = None) -> list[int]:
    """Token counts the page offers: from the model's context (every model's longest when None) and the cap."""
    if context is None:
        context = max(info.max_tokens for info in models.MODELS.values())
    return token_choices(context, deploy.current().max_inspector_tokens)


def query_spec() -> list[QueryParam]:
    """What the URL may say; token counts up to every model's context under this deployment's cap."""
    options = limits()
    return [
        QueryParam("model", "choice", next(iter(models.MODELS)), choices=list(models.MODELS)),
        QueryParam("text", "choice", "en_story", choices=[*EXAMPLES, OWN]),
        QueryParam("tokens", "choice", DEFAULT_TOKENS if DEFAULT_TOKENS in options else options[-1], choices=options),
        QueryParam("pattern", "text", DEFAULT_PATTERN, max_length=400),
        QueryParam("layer", "int", 2, minimum=0, maximum=255),
        QueryParam("head", "int", 0, minimum=0, maximum=255),
        QueryParam("token", "int", -1, minimum=-1, maximum=options[-1] - 1),
        QueryParam("scale", "choice", "linear", choices=F.SCALES),
        QueryParam("hide_first", "bool", False),
    ]


URL_NAMES = [q.name for q in query_spec()]


# -- choices whose labels change with the language ------------------------------------------------
def _label_keys() -> dict[str, tuple[list, object]]:
    """Each labelled choice widget: its options and the catalog key of an option's label."""

    def pattern_label(name):
        return f"pattern.{name}" if f"pattern.{name}" in STRINGS else None

    return {
        "in_model": (list(models.MODELS), lambda k: f"in.model_{k}"),
        "in_example": (["", *EXAMPLES], lambda k: f"in.ex_{k}" if k else "in.own"),
        "in_pattern": (list(PATTERNS), pattern_label),
        "in_scale": (list(F.SCALES), lambda k: f"in.scale_{k}"),
    }


def unlabel_choices() -> None:
    """A choice stored as its label (in either language) is put back to its option.

    After a language switch during a long text (English -> 中文 -> English), the model radio came back as
    its English label; keep_valid then reset it, and the model, text, tokens and parameters with it."""
    for key, (options, label_key) in _label_keys().items():
        value = s.get(key)
        if key not in s or value in options or not isinstance(value, str):
            continue
        for option in options:
            entry = label_key(option)
            if entry and entry in STRINGS and any(value == t(entry, code) for code in LANGS):
                s[key] = option
                break


# -- parameters that follow the text, announced ---------------------------------------------------
def stored_params(pattern: str) -> dict:
    """The parameter widgets' values of `pattern` as stored (paper defaults where none is yet)."""
    return {p.name: s.get(param_key("in", pattern, p.name), p.default) for p in get(pattern).params}


def _apply(pattern: str, params: dict) -> None:
    for name, value in params.items():
        s[param_key("in", pattern, name)] = value


def scale_to_text(pattern: str, n: int, causal: bool) -> None:
    """The button's callback: the pattern's current values scaled to the text's n."""
    _apply(pattern, scale_to_n(pattern, stored_params(pattern), n, causal).params)


def _undo_rescale(pattern: str) -> None:
    """Back to the values before the page fitted them; from now on they are the user's own."""
    note = s.pop("in_rescaled", None)
    if note and note["pattern"] == pattern:
        _apply(pattern, note["before"])
    s.setdefault("in_auto", {})[pattern] = {"params": None}


def follow_text(pattern: str, n: int, causal: bool) -> None:
    """Parameters the user has not touched follow the text (paper defaults scaled to n); a change is
    announced below the widgets with an undo, never made silently."""
    auto = s.setdefault("in_auto", {})
    fresh = all(param_key("in", pattern, p.name) not in s for p in get(pattern).params)
    current, last = stored_params(pattern), auto.get(pattern)
    untouched = fresh or (last is not None and current == last["params"])
    if not untouched or (last is not None and (last["n"], last["causal"]) == (n, causal)):
        return
    try:
        params = scale_to_n(pattern, get(pattern).defaults(), n, causal).params
    except PatternError:
        return
    _apply(pattern, params)
    auto[pattern] = {"params": dict(params), "n": n, "causal": causal}
    note = s.get("in_rescaled")
    before = note["before"] if note and note["pattern"] == pattern and not fresh else current
    s.in_rescaled = {"pattern": pattern, "before": before, "after": dict(params), "n": n} if params != before else None


def announce_rescale(pattern: str, values: dict) -> None:
    """The note (with an undo) saying which parameters followed the text, while they still do."""
    note = s.get("in_rescaled")
    if not note or note["pattern"] != pattern or values != note["after"]:
        return
    label = {k: tr(f"param.{k}") if f"param.{k}" in STRINGS else k for k in values}
    changes = ", ".join(
        f"{label[k]} {v} → {note['after'][k]}" for k, v in note["before"].items() if v != note["after"][k]
    )
    st.info(tr("in.rescaled", n=f"{note['n']:,}", changes=changes), icon="📏")
    st.button(tr("in.rescale_undo"), key="in_rescale_undo", on_click=_undo_rescale, args=(pattern,))


# -- state: URL <-> widgets --------------------------------------------------------------------
def load_from_url() -> list[str]:
    """Widgets start from the URL (first visit, Back, Forward, a link); returns plain-text problems.

    A pasted text is not in the URL: `text=own` keeps the session's own text, if it has one."""
    values, problems = read_query(query_spec())
    s.in_model, s.in_example = values["model"], "" if values["text"] == OWN else values["text"]
    s.in_limit, s.in_layer, s.in_head = values["tokens"], values["layer"], values["head"]
    s.in_scale, s.in_hide_first = values["scale"], values["hide_first"]
    s.in_token_at = values["token"] if values["token"] >= 0 else None
    try:
        layer = parse_layers(values["pattern"], models.MODELS[values["model"]].causal)[0]
    except (PatternError, IndexError) as e:
        problems.append(tr("q.problem_pattern", name="pattern", reason=str(e)))
        layer = None
    s.in_pattern = layer.name if layer else DEFAULT_PATTERN
    if layer and "(" in values["pattern"]:  # a bare name keeps the parameters that follow the text
        _apply(layer.name, layer.params)
        s.setdefault("in_auto", {})[layer.name] = {"params": None}  # the link's values are kept as given
    return problems


def url_values(model: str, limit: int, pattern: str, params: dict) -> dict[str, str]:
    """What the URL says for the widgets as they stand (one head's view included)."""
    return {
        "model": model,
        "text": s.get("in_example") or OWN,
        "tokens": str(limit),
        "pattern": f"{pattern}({','.join(f'{k}={v}' for k, v in params.items())})",
        **view_values(),
    }


def view_values() -> dict[str, str]:
    """The URL's part for one head's view, which the head_view fragment rewrites alone."""
    token = s.get("in_token_at")
    return {
        "layer": str(s.get("in_layer", 2)),
        "head": str(s.get("in_head", 0)),
        "token": str(-1 if token is None else token),
        "scale": s.get("in_scale") or "linear",
        "hide_first": "1" if s.get("in_hide_first") else "0",
    }


def stop_with_url(model: str, limit: int) -> NoReturn:
    """Stop before the results; the URL still says what the widgets say (head_view writes it otherwise).

    end_page, not st.stop(): after a stop request every later Streamlit call raises, so app.py's sidebar
    links (drawn after the page) were dropped whenever the Inspector waited for its button or a text."""
    pattern_now = s.get("in_pattern", DEFAULT_PATTERN)
    write_query("in", url_values(model, limit, pattern_now, stored_params(pattern_now)))
    end_page()


def text_edited() -> None:
    """The text box's callback: the picker now says "your own text"."""
    s.in_example = ""
    s.in_example_loaded = None
