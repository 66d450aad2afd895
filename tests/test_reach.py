"""Receptive fields against a brute-force breadth-first search."""

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import analysis, make
from sparse_core.reach import layers_to_connect, reachability


def bfs_layers(mask: np.ndarray) -> np.ndarray:
    """dist[i, j] = fewest layers for information to flow from j to i (inf if never).

    Query i attends to key j along an edge i -> j; L layers follow at most L edges, and a token
    always has its own information (distance 1 to itself).
    """
    n = mask.shape[0]
    dist = np.full((n, n), np.inf)
    for i in range(n):
        edges = {i: 0}
        queue = deque([i])
        while queue:
            node = queue.popleft()
            for j in np.flatnonzero(mask[node]):
                if j not in edges:
                    edges[j] = edges[node] + 1
                    queue.append(j)
        for j, e in edges.items():
            dist[i, j] = max(e, 1)
    return dist


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 40), density=st.floats(0.0, 0.3), seed=st.integers(0, 1000), layers=st.integers(1, 6))
def test_reachability_matches_bfs_on_random_graphs(n, density, seed, layers):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n)) < density
    dist = bfs_layers(mask)
    for depth, reach in enumerate(reachability(mask, layers), start=1):
        assert np.array_equal(reach, dist <= depth)


def test_layers_to_connect_known_patterns():
    n = 64
    window = analysis.dense_mask(make("window", window=5).expr(), n)  # distance 4
    assert layers_to_connect(window) == int(np.ceil((n - 1) / 4))  # reach grows by w per layer
    longformer = analysis.dense_mask(make("longformer", window=5, global_tokens=1).expr(), n)
    assert layers_to_connect(longformer) == 2  # every token -> global token -> every token
    blocks = analysis.dense_mask(make("block", block=8).expr(), n)
    assert layers_to_connect(blocks) is None  # isolated blocks never connect
    causal = analysis.dense_mask(make("strided", stride=8).expr(), n)
    assert layers_to_connect(causal, causal=True) == 2  # Sparse Transformer: two hops reach everything
    dist = bfs_layers(causal)
    assert np.nanmax(np.where(np.tril(np.ones((n, n), bool)), dist, np.nan)) == 2
