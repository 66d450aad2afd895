"""Data-dependent patterns: chosen from the tokens' own queries and keys.

They need vectors, so they are evaluated densely and n is bounded (see limits.DATA_DEPENDENT_MAX_N).
Without a model, `synthetic_qk` gives reproducible vectors with the structure real heads show:
a pull towards nearby positions, a few sink tokens, and topic clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import DataDependent


def synthetic_qk(n: int, d: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pos = np.arange(n)[:, None]
    freqs = 1.0 / (10_000 ** (np.arange(d // 4) / (d // 4)))
    angle = pos * freqs[None, :] * 8
    positional = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)  # (n, d/2)
    topics = rng.normal(size=(8, d - d // 2))
    topic_of = (np.arange(n) // max(1, n // 16) + rng.integers(0, 8, n)) % 8
    content = topics[topic_of] + 0.5 * rng.normal(size=(n, d - d // 2))
    q = np.concatenate([positional, content], axis=1)
    k = q + 0.1 * rng.normal(size=q.shape)
    k[: min(4, n), : d // 2] *= 4  # sinks: the first tokens draw attention from everywhere
    return q.astype(np.float32), k.astype(np.float32)


def _causal(mask: np.ndarray, causal: bool) -> np.ndarray:
    return np.tril(mask) if causal else mask


@dataclass(frozen=True, eq=False)
class TopK(DataDependent):
    k: int

    def dense(self, q, k):
        n = q.shape[0]
        kk = min(self.k, n)
        mask = np.zeros((n, n), dtype=bool)
        for lo in range(0, n, 512):  # row chunks keep the score buffer small
            rows = slice(lo, min(n, lo + 512))
            s = (q[rows] @ k.T) / np.sqrt(q.shape[1])  # (chunk, n)
            if self.causal:
                s[np.arange(n)[None, :] > np.arange(rows.start, rows.stop)[:, None]] = -np.inf
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            chunk = np.zeros(s.shape, dtype=bool)
            np.put_along_axis(chunk, top, True, axis=1)
            mask[rows] = chunk & np.isfinite(s)
        return mask


@dataclass(frozen=True, eq=False)
class LSH(DataDependent):
    """Reformer angular LSH: shared bucket of argmax([xR, -xR]) in any round; q and k tied."""

    buckets: int
    rounds: int = 1
    seed: int = 0

    def bucket_ids(self, x: np.ndarray) -> np.ndarray:  # (rounds, n)
        rng = np.random.default_rng(self.seed)
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        out = []
        for _ in range(self.rounds):
            proj = unit @ rng.normal(size=(x.shape[1], self.buckets // 2))
            out.append(np.argmax(np.concatenate([proj, -proj], axis=1), axis=1))
        return np.stack(out)

    def dense(self, q, k):
        ids = self.bucket_ids((q + k) / 2)
        mask = np.zeros((q.shape[0], q.shape[0]), dtype=bool)
        for r in ids:
            mask |= r[:, None] == r[None, :]
        return _causal(mask, self.causal)


@dataclass(frozen=True, eq=False)
class Routing(DataDependent):
    """Routing Transformer: k-means over queries and keys; attend within the shared cluster."""

    clusters: int
    iterations: int = 10
    seed: int = 0

    def assign(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([q, k])
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        rng = np.random.default_rng(self.seed)
        c = min(self.clusters, len(x))
        centroids = x[rng.choice(len(x), size=c, replace=False)]
        for _ in range(self.iterations):
            labels = np.argmax(x @ centroids.T, axis=1)
            for j in range(c):
                members = x[labels == j]
                if len(members):
                    v = members.mean(axis=0)
                    centroids[j] = v / max(np.linalg.norm(v), 1e-12)
        labels = np.argmax(x @ centroids.T, axis=1)
        return labels[: len(q)], labels[len(q) :]

    def dense(self, q, k):
        lq, lk = self.assign(q, k)
        return _causal(lq[:, None] == lk[None, :], self.causal)


@dataclass(frozen=True, eq=False)
class BlockGating(DataDependent):
    """MoBA / NSA selection: each query keeps the top-k key blocks scored by mean-pooled keys.

    The query's own block is always kept (MoBA); causal excludes future blocks and the
    future part of the own block.
    """

    block: int
    top_blocks: int

    def dense(self, q, k):
        n, b = q.shape[0], self.block
        nb = -(-n // b)
        pad = nb * b - n
        kp = np.concatenate([k, np.zeros((pad, k.shape[1]), k.dtype)]) if pad else k
        counts = np.full(nb, b, dtype=np.float32)
        counts[-1] = b - pad
        pooled = kp.reshape(nb, b, -1).sum(axis=1) / counts[:, None]  # (nb, d)
        gate = q @ pooled.T  # (n, nb)
        own = np.arange(n) // b
        if self.causal:
            gate = np.where(np.arange(nb)[None, :] > own[:, None], -np.inf, gate)
        gate[np.arange(n), own] = np.inf
        top = min(self.top_blocks, nb)
        chosen = np.argpartition(-gate, top - 1, axis=1)[:, :top]
        keep_block = np.zeros((n, nb), dtype=bool)
        np.put_along_axis(keep_block, chosen, True, axis=1)
        keep_block &= np.isfinite(gate)
        mask = np.repeat(keep_block, b, axis=1)[:, :n]
        return _causal(mask, self.causal)


@dataclass(frozen=True, eq=False)
class VerticalSlash(DataDependent):
    """MInference vertical-slash: top key columns and top diagonals, estimated from the last
    queries' attention, always causal."""

    vertical: int
    slash: int
    last_q: int = 64

    def dense(self, q, k):
        n = q.shape[0]
        tail = np.arange(max(0, n - self.last_q), n)
        s = (q[tail] @ k.T) / np.sqrt(q.shape[1])  # (t, n)
        s = np.where(np.arange(n)[None, :] <= tail[:, None], s, -np.inf)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        columns = np.argsort(-p.sum(axis=0), kind="stable")[: self.vertical]
        offsets = tail[:, None] - np.arange(n)[None, :]  # (t, n) diagonal index i - j
        diag_mass = np.bincount(offsets[offsets >= 0], weights=p[offsets >= 0], minlength=n)
        diagonals = np.argsort(-diag_mass, kind="stable")[: self.slash]
        i = np.arange(n)[:, None]
        j = np.arange(n)[None, :]
        mask = np.isin(j, columns) | np.isin(i - j, diagonals)
        return np.tril(mask)

