"""Pattern definitions and the table they are registered in: the layer below every pattern file.

A pattern file imports `PatternDef`, `register` and `P` from here (never from `registry.py`, which
imports the pattern files), builds its definition and registers it when imported. `registry.py`
imports every module of `patterns/` and adds the lookup helpers (`make`, `combine`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .params import P, ParamSpec, PatternError

if TYPE_CHECKING:
    from .patterns.base import Expr

MAX_N = 1 << 20
SEED = P("seed", int, 0, 0, 2**31 - 1, "Random seed (same seed, same mask).", unit="seed")


@dataclass(frozen=True)
class PatternDef:
    """One registered pattern: parameters, how to build it, and its English text."""

    name: str
    family: str  # local | global | block | random | hash | learned | composite
    title: str
    summary: str
    complexity: str
    params: tuple[ParamSpec, ...]
    build: Callable[[dict[str, Any], bool], Expr]
    causal: str = "optional"  # optional | always
    reference: str = ""
    data_dependent: bool = False
    check: Callable[[dict[str, Any]], str | None] = field(default=lambda p: None)

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> ParamSpec:
        """The spec of one parameter."""
        for p in self.params:
            if p.name == name:
                return p
        raise PatternError(f"pattern '{self.name}' has no parameter '{name}'")

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value coerced and range-checked, cross-checks applied."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise PatternError(
                f"pattern '{self.name}' has no parameter '{sorted(unknown)[0]}'",
                "unknown_param",
                pattern=self.name,
                name=sorted(unknown)[0],
            )
        clean = {p.name: p.coerce(values.get(p.name, p.default)) for p in self.params}
        problem = self.check(clean)
        if problem:
            raise PatternError(problem)
        return clean


PATTERNS: dict[str, PatternDef] = {}
# The order pages list patterns in; patterns not named here follow in registration order.
ORDER = (
    "window dilated global block random logsparse lsh topk routing block_gating vertical_slash "
    "strided fixed longformer bigbird streaming mistral a_shape nsa"
).split()


def register(d: PatternDef) -> PatternDef:
    """Add a pattern to the registry (pattern modules call this when imported)."""
    PATTERNS[d.name] = d
    rank = {name: i for i, name in enumerate(ORDER)}
    ordered = sorted(PATTERNS.items(), key=lambda kv: rank.get(kv[0], len(ORDER)))
    PATTERNS.clear()
    PATTERNS.update(ordered)
    return d


def get(name: str) -> PatternDef:
    """The registered pattern of this name, or a PatternError listing the known ones."""
    try:
        return PATTERNS[name]
    except KeyError:
        raise PatternError(
            f"unknown pattern '{name}'; choose one of: {', '.join(PATTERNS)}",
            "unknown_pattern",
            name=name,
            known=", ".join(PATTERNS),
        ) from None


__all__ = ["MAX_N", "ORDER", "PATTERNS", "SEED", "P", "ParamSpec", "PatternDef", "PatternError", "get", "register"]
