"""One validated reader for every page's query parameters (no Streamlit here; pages call
`ui.chrome.read_query(specs)`, which passes the URL and the language).

Each parameter has a spec: a kind, a default, and choices or a range. A bad value never raises:
the default is used and a translated, plain-text problem says what was wrong. Pattern values are
checked by the engine's own parser, `sparse_core.export.parse_layers`.

    SPECS = [QueryParam("n", "choice", 4096, choices=N_OPTIONS), QueryParam("causal", "bool", False)]
    values, problems = read_query(SPECS)          # from a page, via ui.chrome
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sparse_core import PatternError
from sparse_core.export import parse_layers

from .i18n import STRINGS, t
from .safe import clip

KINDS = ("int", "float", "bool", "choice", "text", "pattern")
# ASCII digits only: str.isdigit() accepts '²' and '①', which int() then refuses.
_INT = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
ECHO = 40  # characters of a rejected value repeated in its message


@dataclass(frozen=True)
class QueryParam:
    """One query parameter: name in the URL, kind (one of KINDS), default, and its allowed values."""

    name: str
    kind: str
    default: Any
    choices: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 1000
    causal_param: str | None = "causal"  # for kind "pattern": the bool parameter read before it, if any

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown query parameter kind {self.kind!r}")


class QueryValueError(ValueError):
    """A value that cannot be used; `key` and `fields` name its catalog message."""

    def __init__(self, key: str, **fields: Any):
        super().__init__(key)
        self.key = key
        self.fields = fields


def engine_message(error: Exception, lang: str = "en") -> str:
    """An engine error in `lang` when the engine gave it a code, else its English text."""
    if isinstance(error, PatternError) and error.code and f"err.{error.code}" in STRINGS:
        try:
            return t(f"err.{error.code}", lang, **error.fields)
        except (KeyError, IndexError, ValueError):
            pass
    return str(error)


def _last(raw: Any) -> str | None:
    # st.query_params gives the last value of a repeated key; AppTest and dict callers may give lists
    if isinstance(raw, list | tuple):
        raw = raw[-1] if raw else None
    return None if raw is None else str(raw)


def _number(spec: QueryParam, raw: str) -> int | float:
    text = raw.strip()
    if spec.kind == "int":
        if not _INT.fullmatch(text):
            raise QueryValueError("q.not_whole")
        value: int | float = int(text)
    else:
        if not _FLOAT.fullmatch(text):
            raise QueryValueError("q.not_number")
        value = float(text)
    low = -float("inf") if spec.minimum is None else spec.minimum
    high = float("inf") if spec.maximum is None else spec.maximum
    if not low <= value <= high:
        raise QueryValueError("q.out_of_range", low=f"{spec.minimum:,}", high=f"{spec.maximum:,}")
    return value


def parse_value(spec: QueryParam, raw: str, causal: bool = False) -> Any:
    """One raw URL value checked against its spec; raises QueryValueError or PatternError."""
    if len(raw) > spec.max_length:
        raise QueryValueError("q.too_long", limit=f"{spec.max_length:,}")
    if spec.kind in ("int", "float"):
        value = _number(spec, raw)
    elif spec.kind == "bool":
        if raw.strip().lower() not in _BOOLS:
            raise QueryValueError("q.not_bool")
        value = _BOOLS[raw.strip().lower()]
    elif spec.kind == "pattern":
        return parse_layers(raw, causal)
    else:
        value = raw
    if spec.choices is not None and spec.kind != "pattern":
        by_text = {str(c): c for c in spec.choices}
        key = str(value) if spec.kind != "choice" else raw.strip()
        if key not in by_text:
            shown = ", ".join(str(c) for c in spec.choices)
            raise QueryValueError("q.not_choice", choices=clip(shown, 160))
        value = by_text[key]
    return value


def _default(spec: QueryParam, causal: bool) -> Any:
    if spec.kind == "pattern" and isinstance(spec.default, str):
        return parse_layers(spec.default, causal)
    return spec.default


def read_query(
    specs: Sequence[QueryParam], params: Mapping[str, Any], lang: str = "en"
) -> tuple[dict[str, Any], list[str]]:
    """Values for every spec (the default where absent or bad) and one plain-text message per bad value.

    Messages are translated but not escaped: show them through ui.safe.plain (ui.chrome does).
    A pattern value is a list of PatternSpec, parsed with the causal flag read before it.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in specs:
        causal = bool(values.get(spec.causal_param, False)) if spec.causal_param else False
        raw = _last(params.get(spec.name)) if spec.name in params else None
        if raw is None:
            values[spec.name] = _default(spec, causal)
            continue
        try:
            values[spec.name] = parse_value(spec, raw, causal)
        except QueryValueError as e:
            reason = t(e.key, lang, **e.fields)
            problems.append(t("q.problem", lang, name=spec.name, value=clip(raw, ECHO), reason=reason))
            values[spec.name] = _default(spec, causal)
        except (ValueError, OverflowError, TypeError, RecursionError, MemoryError) as e:  # PatternError is a ValueError
            problems.append(t("q.problem_pattern", lang, name=spec.name, reason=clip(engine_message(e, lang))))
            values[spec.name] = _default(spec, causal)
    return values, problems
