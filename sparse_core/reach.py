"""Receptive fields: which keys can a query have heard from after L stacked attention layers?

With residual connections a token always keeps its own information, so one layer maps the set of
reachable tokens R to R | M·R. Layer by layer: R_1 = M | I, R_{L+1} = R_L · R_1 (boolean product).
"""

from __future__ import annotations

import numpy as np

REACH_MAX_N = 1024


def _boolean_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.float32) @ b.astype(np.float32)) > 0  # counts stay exact in float32 for n <= 2^24


def reachability(mask: np.ndarray, layers: int) -> list[np.ndarray]:
    """[R_1, ..., R_layers]: R_L[i, j] is True when information from j can reach i in L layers."""
    n = mask.shape[0]
    if n > REACH_MAX_N:
        raise ValueError(f"reachability is drawn for n <= {REACH_MAX_N}")
    step = mask | np.eye(n, dtype=bool)
    out = [step]
    for _ in range(layers - 1):
        out.append(_boolean_product(out[-1], step))
    return out


def layers_to_connect(mask: np.ndarray, causal: bool = False, max_layers: int | None = None) -> int | None:
    """Fewest layers after which every allowed pair is connected (j <= i when causal); None if never."""
    n = mask.shape[0]
    target = np.tril(np.ones((n, n), dtype=bool)) if causal else np.ones((n, n), dtype=bool)
    step = mask | np.eye(n, dtype=bool)
    reach, limit = step, max_layers or n
    for layer in range(1, limit + 1):
        if (reach | ~target).all():
            return layer
        nxt = _boolean_product(reach, step)
        if np.array_equal(nxt, reach):
            return None  # a fixed point short of full coverage: some pairs never connect
        reach = nxt
    return None
