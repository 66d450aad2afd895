"""Random keys: r distinct keys per query, a uniform r-subset, reproducible by seed (BigBird)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import SEED, P, PatternDef, register
from ..segments import singletons
from .base import Primitive, block_bounds, nblocks, random_subsets, stack_chunks

BITMAP_MAX = 1 << 22  # query blocks x key blocks below which random layouts use a bitmap
KEY_CELLS = 1 << 21  # random keys held at once while building a block layout


def table_predicate(table_of, q_idx, kv_idx, to_target=lambda k: k):
    """Membership read from a per-row table: table_of(rows) -> (R, r) of allowed targets."""
    q, k = np.broadcast_arrays(np.asarray(q_idx), np.asarray(kv_idx))
    rows, inv = np.unique(q, return_inverse=True)
    table = table_of(rows)
    return (table[inv.reshape(q.shape)] == to_target(k)[..., None]).any(-1)


@dataclass(frozen=True, eq=False)
class RandomKeys(Primitive):
    """r distinct keys per query drawn uniformly (causal: among keys 0..i); no closed formula."""

    kv_unbounded = True
    random_keys: int
    seed: int = 0

    def key_table(self, rows, n):
        """(R, r) keys per row, -1 where a row has fewer than r keys to choose from."""
        population = rows + 1 if self.causal else np.full(len(rows), n)
        return random_subsets(rows, population, self.random_keys, self.seed, salt=1)

    def predicate(self, q_idx, kv_idx, n):
        return table_predicate(lambda rows: self.key_table(rows, n), q_idx, kv_idx)

    def segments(self, rows, n):
        return singletons(self.key_table(rows, n))

    def row_count(self, rows, n):
        """Keys per row in closed form (no table needed)."""
        population = rows + 1 if self.causal else np.full(len(rows), n)
        return np.minimum(self.random_keys, population)

    def block_segments(self, brows, n, block):
        per_row = block * self.random_keys
        step = max(1, KEY_CELLS // per_row)
        return stack_chunks([self._block_chunk(brows[i : i + step], n, block) for i in range(0, len(brows), step)])

    def _block_chunk(self, brows, n, block):
        qlo, _ = block_bounds(brows, n, block)
        rows = (qlo[:, None] + np.arange(block)[None, :]).ravel()
        valid = rows < n
        keys = np.where(valid[:, None], self.key_table(np.minimum(rows, n - 1), n), -1)
        key_blocks = np.where(keys >= 0, keys // block, -1).reshape(len(brows), -1)
        nb = nblocks(n, block)
        if len(brows) * nb <= BITMAP_MAX:  # scatter into a bitmap: cheaper than sorting B*r keys a row
            hit = np.zeros((len(brows), nb + 1), dtype=bool)
            hit[np.arange(len(brows))[:, None], key_blocks] = True  # -1 lands in the spare last column
            key_blocks = np.where(hit[:, :nb], np.arange(nb), -1)
        return singletons(key_blocks)

    def segment_count(self, n):
        return self.random_keys

    def block_cost_estimate(self, n, block):
        """Work to draw every key (Floyd compares each draw with the earlier ones) and find its block."""
        return n * self.random_keys * (1 + self.random_keys // 8)


register(
    PatternDef(
        "random",
        "random",
        "Random keys",
        "Each query attends r distinct keys chosen uniformly (seeded).",
        "O(n·r)",
        (P("random_keys", int, 3, 1, 256, "Random keys r per query."), SEED),
        lambda p, c: RandomKeys(p["random_keys"], p["seed"], causal=c),
        reference="Random attention (BigBird, Zaheer et al. 2020)",
    )
)
