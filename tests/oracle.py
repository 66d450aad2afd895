"""Brute-force O(n^2) reference: the documented semantics, written as literally as possible.

Deliberately independent of the primitives' own formulas: one literal rule per primitive type. The rules of
the first primitives are below; a newer primitive's rule lives in its reference test, found by discovery:
the primitive in sparse_core/patterns/<module>.py has `oracle_keep(prim, i, j, n)` in tests/test_<module>.py.
"""

from __future__ import annotations

import importlib

import numpy as np

from sparse_core.patterns import structured as S
from sparse_core.patterns.base import Intersection, Union


def _row_keys(prim, i: int, n: int) -> set[int]:
    if isinstance(prim, S.RandomKeys):
        return set(prim.key_table(np.array([i]), n)[0].tolist())
    return set(prim.table(np.array([i // prim.block]), n)[0].tolist())  # RandomBlocks


def keep(prim, i: int, j: int, n: int, memo: dict | None = None) -> bool:
    if prim.causal and j > i:
        return False
    if isinstance(prim, S.Window):
        return abs(i - j) <= prim.window
    if isinstance(prim, S.Dilated):
        return abs(i - j) <= prim.window * prim.dilation and (i - j) % prim.dilation == 0
    if isinstance(prim, S.GlobalTokens):
        return i < prim.global_tokens or j < prim.global_tokens
    if isinstance(prim, S.Blocks):
        return abs(i // prim.block - j // prim.block) <= prim.neighbors
    if isinstance(prim, S.StrideColumns):
        return (i - j) % prim.stride == 0
    if isinstance(prim, S.SummaryColumns):
        return j % prim.stride >= prim.stride - prim.summary
    if isinstance(prim, S.Sinks):
        return j < prim.sinks
    if isinstance(prim, S.GlobalBlocks):
        nb = -(-n // prim.block)
        glob = set(range(prim.first)) | set(range(nb - prim.last, nb))
        return i // prim.block in glob or j // prim.block in glob
    if isinstance(prim, S.LogSparse):
        distance = abs(i - j)
        return distance == 0 or any(distance == 2**k for k in range(40))
    if isinstance(prim, (S.RandomKeys, S.RandomBlocks)):
        memo = {} if memo is None else memo
        if (id(prim), i) not in memo:
            memo[(id(prim), i)] = _row_keys(prim, i, n)
        target = j if isinstance(prim, S.RandomKeys) else j // prim.block
        return target in memo[(id(prim), i)]
    return discovered_rule(type(prim))(prim, i, j, n)


def discovered_rule(cls: type):
    """`oracle_keep` of the primitive's reference test, tests/test_<module>.py, or a TypeError saying what to add."""
    module = cls.__module__.rsplit(".", 1)[-1]
    where = f"tests/test_{module}.py"
    try:
        test = importlib.import_module(f"tests.test_{module}")
    except ModuleNotFoundError:
        raise TypeError(f"no oracle rule for {cls.__name__}: add {where} with oracle_keep(prim, i, j, n)") from None
    rule = getattr(test, "oracle_keep", None)
    if rule is None:
        raise TypeError(f"no oracle rule for {cls.__name__}: define oracle_keep(prim, i, j, n) in {where}")
    return rule


def oracle_mask(expr, n: int) -> np.ndarray:
    if isinstance(expr, Union):
        out = np.zeros((n, n), dtype=bool)
        for p in expr.parts:
            out |= oracle_mask(p, n)
        return out
    if isinstance(expr, Intersection):
        out = np.ones((n, n), dtype=bool)
        for p in expr.parts:
            out &= oracle_mask(p, n)
        return out
    memo: dict = {}
    return np.array([[keep(expr, i, j, n, memo) for j in range(n)] for i in range(n)], dtype=bool)


def oracle_blocks(mask: np.ndarray, block: int) -> np.ndarray:
    n = mask.shape[0]
    nb = -(-n // block)
    out = np.zeros((nb, nb), dtype=bool)
    for a in range(nb):
        for b in range(nb):
            out[a, b] = mask[a * block : (a + 1) * block, b * block : (b + 1) * block].any()
    return out
