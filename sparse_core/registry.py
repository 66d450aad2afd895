"""The pattern registry: one small typed definition per pattern.

This module only collects: every module in `patterns/` registers its own patterns when imported
(primitives in their files, data-dependent ones in `learned.py`, published composites in
`composites.py`), using `spec.py`, which lies below them. UIs and the CLI render every pattern from
these definitions. Titles, summaries and help are English
data; the app translates them by key (`pattern.<name>`, `pattern.<name>.summary`,
`help.<name>.<param>`).

Window sizes follow one convention everywhere: a `window` of W counts tokens on one side, the
query itself included, so a key is kept when |i - j| < W (causal: 0 <= i - j < W) and a causal
window of W is a decode cache of W tokens (Mistral's W, StreamingLLM's recent tokens,
MInference's local window and NSA's window read literally). W = 0 keeps nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from . import patterns as _patterns
from .params import P, ParamSpec, PatternError
from .patterns.base import Expr, Intersection, Union
from .spec import MAX_N, ORDER, PATTERNS, SEED, PatternDef, get, register


@dataclass(frozen=True)
class PatternSpec:
    """A chosen pattern: definition + validated parameters + causal switch."""

    name: str
    params: dict[str, Any]
    causal: bool = False

    @property
    def definition(self) -> PatternDef:
        """The registered definition."""
        return get(self.name)

    def expr(self) -> Expr:
        """The mask expression these parameters build."""
        d = self.definition
        return d.build(self.params, self.causal or d.causal == "always")


def make(name: str, causal: bool = False, **values: Any) -> PatternSpec:
    """A validated pattern by name (defaults filled in)."""
    d = get(name)
    return PatternSpec(name, d.validate(values), bool(causal) or d.causal == "always")


def combine(specs: list[PatternSpec], op: str = "union") -> Expr:
    """Union or intersection of several patterns."""
    exprs = [s.expr() for s in specs]
    if len(exprs) == 1:
        return exprs[0]
    if op == "union":
        return Union(tuple(exprs))
    if op == "intersection":
        return Intersection(tuple(exprs))
    raise PatternError(f"unknown combination '{op}' (use union or intersection)")


# Importing a pattern module registers its patterns; nothing else in this module defines one.
for _module in pkgutil.iter_modules(_patterns.__path__):
    importlib.import_module(f"{_patterns.__name__}.{_module.name}")


def parameter_extremes(include_data_dependent: bool = False):
    """(pattern, values) for every parameter at its minimum and at its maximum, the others at default.

    Values that a pattern's cross-check would refuse move with it (fixed keeps summary <= stride,
    BigBird keeps an odd window), so every yielded request is one that validation accepts.
    """
    for name, d in PATTERNS.items():
        if d.data_dependent and not include_data_dependent:
            continue
        for p in d.params:
            for value in (p.minimum, p.maximum):
                values = {p.name: value}
                if name == "fixed":
                    values = (
                        {"stride": value, "summary": 1}
                        if p.name == "stride"
                        else {"stride": max(value, 128), "summary": value}
                    )
                if name == "bigbird" and p.name == "window_blocks" and value % 2 == 0:
                    values[p.name] = value - 1
                yield name, values


__all__ = [
    "MAX_N",
    "ORDER",
    "PATTERNS",
    "SEED",
    "P",
    "ParamSpec",
    "PatternDef",
    "PatternError",
    "PatternSpec",
    "combine",
    "get",
    "make",
    "parameter_extremes",
    "register",
]
