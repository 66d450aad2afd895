"""Every structured primitive, found by discovery: each lives in its own module of this package.

`PRIMITIVE_TYPES` maps a class name to the class for every Primitive subclass defined in a module of
`sparse_core.patterns` (data-dependent ones excluded), so `structured.Window` or `S.Neighborhood` work
without a hand-written list. Each class's docstring and `formula` state its semantics (query i, key j,
0-based; causal adds j <= i).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import block_bounds, merge_intervals, random_subsets
from .data_dependent import DataDependent
from .expr import Primitive


def _discover() -> dict[str, type[Primitive]]:
    package = __name__.rsplit(".", 1)[0]
    found: dict[str, type[Primitive]] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Primitive)
                and value.__module__ == module.__name__
                and value is not Primitive
                and not issubclass(value, DataDependent)
            ):
                found[value.__name__] = value
    return dict(sorted(found.items()))


PRIMITIVE_TYPES = _discover()
globals().update(PRIMITIVE_TYPES)


def __getattr__(name: str) -> Any:  # what type checkers see for the discovered names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [*PRIMITIVE_TYPES, "PRIMITIVE_TYPES", "block_bounds", "merge_intervals", "random_subsets"]
