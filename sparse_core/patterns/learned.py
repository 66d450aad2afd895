"""Data-dependent patterns: chosen from the tokens' own queries and keys.

They need vectors, so they are evaluated densely and n is bounded (see limits.DATA_DEPENDENT_MAX_N).
Without a model, `synthetic_qk` gives reproducible vectors with the structure real heads show:
a pull towards nearby positions, a few sink tokens, and topic clusters.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..spec import SEED, P, PatternDef, register
from .base import DataDependent


def synthetic_qk(n: int, d: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reproducible (q, k) vectors with the structure real heads show, for patterns without a model."""
    q, k = _synthetic_qk(int(n), int(d), int(seed))
    return q.copy(), k.copy()  # private copies: a caller may write to them


@lru_cache(maxsize=4)  # one explorer rerun asks three times; 2 MiB at n = 4096
def _synthetic_qk(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
    """np.tril(mask) in place (a fresh mask is ours to change): row slices beat tril's (n, n) temporaries."""
    if causal:
        for i in range(min(mask.shape[0], mask.shape[1] - 1)):
            mask[i, i + 1 :] = False
    return mask


def top_per_row(s: np.ndarray, kk: int, width: np.ndarray | None = None, drop_neg_inf: bool = False) -> np.ndarray:
    """The set `np.argpartition(-s, kk - 1, axis=1)[:, :kk]` marks, as a bool mask, without its index work:
    the one top-k rule of the engine, the lab's passes and the retrieval grid (5x faster than torch.topk here).

    The kk-th largest value of each row is found by selection on values alone; every entry at or
    above it is kept. Rows where ties at that value leave more than kk entries run argpartition
    itself, so the choice is the same in every case. width[r] (optional): entries of row r from
    column width[r] on are -inf, so selection can skip them (causal rows). drop_neg_inf: the
    caller drops -inf entries afterwards, so a row with fewer than kk finite values keeps them all
    without choosing among its -inf ones.
    """
    rows, n = s.shape
    keep = np.ones(s.shape, dtype=bool)
    if kk >= n or rows == 0:
        return keep
    thr = np.full(rows, -np.inf, dtype=s.dtype)
    w = np.full(rows, n) if width is None else np.minimum(width, n)
    for lo in range(0, rows, 512):  # row groups share the widest row's columns (the rest are -inf)
        cols = int(w[lo : lo + 512].max())
        if cols >= kk:
            thr[lo : lo + 512] = _kth_largest(s[lo : lo + 512, :cols], kk)
    np.greater_equal(s, thr[:, None], out=keep)
    count = keep.sum(axis=1)
    bad = count != kk
    if drop_neg_inf:
        bad &= thr != -np.inf
    bad = np.flatnonzero(bad)
    if len(bad):
        fix = np.zeros((len(bad), n), dtype=bool)
        np.put_along_axis(fix, np.argpartition(-s[bad], kk - 1, axis=1)[:, :kk], True, axis=1)
        keep[bad] = fix
    return keep


def _scores_finite(q: np.ndarray, k: np.ndarray) -> bool:
    """True when no q·k can overflow (|q·k| <= d·max|q|·max|k|), so every score is finite."""
    if q.size == 0 or k.size == 0:
        return True
    big = float(np.abs(q).max()) * float(np.abs(k).max()) * q.shape[1]
    return bool(np.isfinite(big) and big < float(np.finfo(np.result_type(q, k)).max) / 2)


def _kth_largest(s: np.ndarray, kk: int) -> np.ndarray:
    """The kk-th largest value of each row (1 <= kk <= row length)."""
    n = s.shape[1]
    if kk == 1:
        return s.max(axis=1)
    if kk == n:
        return s.min(axis=1)
    small = min(kk, n - kk + 1)
    # torch.topk is about twice as fast as a full partition for a few values, but importing torch costs
    # 2-3 s CPU in a fresh process (the CLI's `stats topk`): use it only where it is already loaded.
    # Both give the same kk-th largest value (a value, not an index, so ties cannot differ).
    if small <= 16 and "torch" in sys.modules:
        import torch

        # torch reads the strided row group in place (no copy of the causal rows' leading columns)
        values = torch.topk(torch.from_numpy(s), small, dim=1, largest=kk == small).values
        return (values.min(dim=1) if kk == small else values.max(dim=1)).values.numpy()
    return np.partition(s, n - kk, axis=1)[:, n - kk]


@dataclass(frozen=True, eq=False)
class TopK(DataDependent):
    """Each query keeps its k highest-scoring keys (explicit sparse attention, Zhao et al. 2019)."""

    k: int

    def dense(self, q, k):
        n = q.shape[0]
        kk = min(self.k, n)
        if kk >= n and _scores_finite(q, k):  # every key is among the top k: nothing to score
            return _causal(np.ones((n, n), dtype=bool), self.causal)
        mask = np.empty((n, n), dtype=bool)
        for lo in range(0, n, 512):  # row chunks keep the score buffer small
            hi = min(n, lo + 512)
            s = (q[lo:hi] @ k.T) / np.sqrt(q.shape[1])  # (chunk, n)
            width = None
            if self.causal:
                for i in range(lo, min(hi, n - 1)):
                    s[i - lo, i + 1 :] = -np.inf
                width = np.arange(lo + 1, hi + 1)
            chunk = top_per_row(s, kk, width, drop_neg_inf=True)
            np.logical_and(chunk, np.isfinite(s), out=mask[lo:hi])
        return mask

    def dense_heads(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(H, n, d) queries and keys -> (H, n, n): every head at once, the same choice as `dense`."""
        h, n = q.shape[0], q.shape[1]
        if n > 512:  # the batched score buffer would be large: one head at a time
            return np.stack([self.dense(q[i], k[i]) for i in range(h)])
        kk = min(self.k, n)
        s = (q @ k.transpose(0, 2, 1)) / np.sqrt(q.shape[2])  # (H, n, n)
        width = None
        if self.causal:
            s[:, np.arange(n)[None, :] > np.arange(n)[:, None]] = -np.inf
            width = np.tile(np.arange(1, n + 1), h)
        # `dense`'s own rule over all heads' rows at once (ties chosen alike)
        mask = top_per_row(s.reshape(h * n, n), kk, width, drop_neg_inf=True).reshape(h, n, n)
        return mask & np.isfinite(s)


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
        half = self.buckets // 2
        rows = np.arange(len(x))
        for _ in range(self.rounds):
            proj = unit @ rng.normal(size=(x.shape[1], half))
            # argmax of [proj, -proj] without building it: the first maximum is in the first half
            # unless -min(proj) is strictly larger
            hi, lo = np.argmax(proj, axis=1), np.argmin(proj, axis=1)
            out.append(np.where(proj[rows, hi] >= -proj[rows, lo], hi, lo + half))
        return np.stack(out) if out else np.zeros((0, len(x)), dtype=np.int64)

    def dense(self, q, k):
        ids = self.bucket_ids((q + k) / 2)
        n = q.shape[0]
        mask = np.zeros((n, n), dtype=bool)
        for r in ids:
            size = np.bincount(r)
            if int(size @ size) > n * n // 8:  # a few big buckets: comparing every pair is cheaper
                mask |= r[:, None] == r[None, :]
                continue
            # many small buckets: list each bucket's own pairs (same set as the full comparison)
            order = np.argsort(r, kind="stable")
            first = np.cumsum(size) - size  # where each bucket starts in `order`
            per = size[r[order]]  # bucket size of each sorted token
            rows = np.repeat(order, per)
            offset = np.arange(len(rows)) - np.repeat(np.cumsum(per) - per, per)
            mask[rows, order[np.repeat(first[r[order]], per) + offset]] = True
        return _causal(mask, self.causal)


@dataclass(frozen=True, eq=False)
class Routing(DataDependent):
    """Routing Transformer (Roy et al. 2021): one set of k-means centroids shared by queries and keys.

    As in the paper, queries and keys are normalised onto the unit sphere before clustering (the
    paper layer-normalises them), and each side is centred first: real heads put all queries and
    all keys in two opposite cones, and without centring k-means separates queries from keys
    instead of grouping query i with the keys it would attend to (most rows then end up empty).
    Query i attends key j iff both are nearest to the same centroid.

    estimate = "batch": centroids (and the centring means) are fitted on every token of the text.
    estimate = "online": for causal models. The paper learns its centroids during training, so at
    inference a row never depends on later tokens; fitting them on this text would. Here tokens
    arrive in order: key t then query t are centred by the running means, assigned to the nearest
    centroid and pull it towards them (MacQueen's online k-means, the paper's update without the
    decay). A key keeps the cluster it got on arrival, so row t depends on tokens ≤ t only.
    """

    clusters: int
    iterations: int = 10
    seed: int = 0
    estimate: str = field(default="batch", kw_only=True)

    def __post_init__(self):
        if self.estimate not in ("batch", "online"):
            raise ValueError(f"estimate must be 'batch' or 'online', got {self.estimate!r}")

    def assign_online(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clusters of queries and keys fitted in arrival order; entry t depends on tokens ≤ t only."""
        n = len(q)
        q = np.asarray(q, np.float64)
        k = np.asarray(k, np.float64)
        steps = np.arange(1, n + 1)[:, None]
        qc = q - np.cumsum(q, axis=0) / steps  # centred by the running mean of tokens ≤ t
        kc = k - np.cumsum(k, axis=0) / steps
        qc /= np.maximum(np.linalg.norm(qc, axis=1, keepdims=True), 1e-12)
        kc /= np.maximum(np.linalg.norm(kc, axis=1, keepdims=True), 1e-12)
        c = max(1, self.clusters)
        centroids = np.zeros((c, q.shape[1]))
        counts = np.zeros(c)
        lq = np.empty(n, dtype=np.int64)
        lk = np.empty(n, dtype=np.int64)
        used = 0
        for t in range(n):
            for x, out in ((kc[t], lk), (qc[t], lq)):
                if used < c and (used == 0 or np.max(centroids[:used] @ x) < 0.5):
                    j = used  # a new direction opens a fresh centroid while some are unused
                    used += 1
                else:
                    j = int(np.argmax(centroids[:used] @ x))
                counts[j] += 1
                v = centroids[j] + (x - centroids[j]) / counts[j]
                centroids[j] = v / max(np.linalg.norm(v), 1e-12)
                out[t] = j
        return lq, lk

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=0, keepdims=True)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def assign(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cluster index of every query and every key (shared centroids)."""
        x = np.concatenate([self._unit(np.asarray(q, np.float64)), self._unit(np.asarray(k, np.float64))])
        rng = np.random.default_rng(self.seed)
        c = min(self.clusters, len(x))
        # k-means++ seeding (spread-out starts): random starts often split one group and merge two
        centroids = np.empty((c, x.shape[1]))
        centroids[0] = x[rng.integers(len(x))]
        gap = 1 - x @ centroids[0]
        for j in range(1, c):
            weights = np.maximum(gap, 0) ** 2
            total = weights.sum()
            if total > 0:  # rng.choice(len(x), p=weights / total) without its checks of p: the same cdf and draw
                cdf = np.cumsum(weights / total)
                cdf /= cdf[-1]
                pick = int(cdf.searchsorted(rng.random(), side="right"))
            else:
                pick = int(rng.integers(len(x)))
            centroids[j] = x[pick]
            gap = np.minimum(gap, 1 - x @ centroids[j])
        previous = None
        for _ in range(self.iterations):
            labels = np.argmax(x @ centroids.T, axis=1)
            # the same labels give the same centroids again (bit for bit), so every later iteration
            # would repeat this one: stopping changes nothing but the time
            if previous is not None and np.array_equal(labels, previous):
                break
            previous = labels
            if c <= 96:  # few clusters: a boolean pick per cluster is cheaper than add.at
                for j in range(c):
                    members = x[labels == j]
                    if len(members):
                        v = members.mean(axis=0)
                        centroids[j] = v / max(np.linalg.norm(v), 1e-12)
                continue
            # many clusters: one pass over the points grouped by cluster (a stable sort keeps point order);
            # reduceat sums each group row by row in that order, as members.mean(axis=0) does, so the
            # centroids are the same to the last bit
            order = np.argsort(labels, kind="stable")
            count = np.bincount(labels, minlength=c)
            present = np.flatnonzero(count)
            starts = (np.cumsum(count) - count)[present]
            sums = np.add.reduceat(x[order], starts, axis=0)
            for s_j, j in zip(sums, present.tolist(), strict=True):
                v = s_j / count[j]
                centroids[j] = v / max(np.linalg.norm(v), 1e-12)
        labels = np.argmax(x @ centroids.T, axis=1)
        return labels[: len(q)], labels[len(q) :]

    def dense(self, q, k):
        lq, lk = self.assign_online(q, k) if self.estimate == "online" else self.assign(q, k)
        return _causal(lq[:, None] == lk[None, :], self.causal or self.estimate == "online")


@dataclass(frozen=True, eq=False)
class BlockGating(DataDependent):
    """MoBA / NSA selection: each query keeps its own key block plus the best-scoring other blocks.

    A block's score is q · mean(keys of the block). `top_blocks` counts the own block, as MoBA
    does (Lu et al. 2025: "the current block is always selected", and its top-k = 3 includes it);
    NSA's selection branch (Yuan et al. 2025) likewise spends part of its n = 16 selected blocks on
    forced ones. So top_blocks = 1 keeps only the own block, and the other top_blocks − 1 are the
    highest-scoring *other* blocks. Causal: only blocks entirely in the past are candidates, and
    the own block is cut at the query (j ≤ i), so a row always keeps at least itself.
    """

    block: int
    top_blocks: int

    def dense(self, q, k):
        n, b = q.shape[0], self.block
        nb = -(-n // b)
        pad = nb * b - n
        kp = np.concatenate([k, np.zeros((pad, k.shape[1]), k.dtype)]) if pad else k
        counts = np.full(nb, b, dtype=np.float64)
        counts[-1] = b - pad
        pooled = kp.reshape(nb, b, -1).sum(axis=1) / counts[:, None]  # (nb, d)
        gate = (q @ pooled.T).astype(np.float64, copy=False)  # (n, nb)
        own = np.arange(n) // b
        blocks = np.arange(nb)[None, :]
        eligible = (blocks < own[:, None]) if self.causal else (blocks != own[:, None])
        # then -inf marks exactly the blocks that are not candidates (the bound spares a scan of every score)
        finite = _scores_finite(q, pooled) or bool(np.isfinite(gate).all())
        if self.causal:  # the own block and every later one: row slices, no (n, nb) temporaries
            for i in range(n):
                gate[i, own[i] :] = -np.inf
        else:
            gate[np.arange(n), own] = -np.inf
        others = min(self.top_blocks - 1, nb - 1)
        if others > 0:
            width = own if self.causal else None  # causal candidates are the blocks before the own one
            keep_block = top_per_row(gate, others, width, drop_neg_inf=finite)
            keep_block &= eligible  # rows with fewer candidates than asked keep what exists
        else:
            keep_block = np.zeros((n, nb), dtype=bool)
        keep_block[np.arange(n), own] = True
        mask = keep_block if b == 1 else np.ascontiguousarray(np.repeat(keep_block, b, axis=1)[:, :n])
        return _causal(mask, self.causal)


@dataclass(frozen=True, eq=False)
class VerticalSlash(DataDependent):
    """MInference vertical-slash: top key columns and top diagonals of the estimated attention.

    estimate = "last" (MInference 1.0, Jiang et al. 2024): one estimate from the last `last_q`
    queries, applied to the whole prompt. Row t's mask then depends on tokens after t, which is
    fine for prefill but not for reading next-token logits.
    estimate = "causal": the same estimate slid along the sequence: row t's columns and diagonals
    come from queries max(0, t − last_q + 1) … t only, so row t never looks ahead.
    Both are intersected with j ≤ i.
    """

    vertical: int
    slash: int
    last_q: int = 64
    estimate: str = field(default="last", kw_only=True)

    def __post_init__(self):
        if self.estimate not in ("last", "causal"):
            raise ValueError(f"estimate must be 'last' or 'causal', got {self.estimate!r}")

    @staticmethod
    def _probs(q, k, rows):
        scores = q[rows] @ k.T  # (r, n)
        scale = np.sqrt(q.shape[1])
        s = np.zeros(scores.shape, dtype=np.result_type(scores, scale))
        # the same values as where(j <= t, scores / scale, -inf) / exp(s - max) / sum, in one (r, n) buffer:
        # each row is scaled, shifted and exponentiated over its own keys only, the keys after t stay at
        # exp(-inf) = 0, and the sum still runs over the whole row (the same rounding)
        for r, t in enumerate(rows):
            live = s[r, : t + 1]
            np.divide(scores[r, : t + 1], scale, out=live)
            live -= live.max()
            np.exp(live, out=live)
        s /= s.sum(axis=1, keepdims=True)
        return s

    def dense(self, q, k):
        n = q.shape[0]
        if self.estimate == "causal":
            return self._causal_dense(q, k)
        tail = np.arange(max(0, n - self.last_q), n)
        p = self._probs(q, k, tail)
        columns = np.argsort(-p.sum(axis=0), kind="stable")[: self.vertical]
        # diag_mass[o]: the tail's mass on diagonal i - j = o, summed in float64 query by query (the
        # order, and so the rounding, of the bincount over all (t, j <= t) it replaces)
        diag_mass = np.zeros(n)
        for r, t in enumerate(tail):
            diag_mass[: t + 1] += p[r, t::-1]
        diagonals = np.argsort(-diag_mass, kind="stable")[: self.slash]
        keep_col = np.zeros(n, dtype=bool)
        keep_col[columns] = True
        # mask[i, j] = keep_diag[i - j]: a Toeplitz matrix, read as reversed sliding windows
        line = np.zeros(2 * n - 1, dtype=bool)
        line[n - 1 + diagonals] = True
        toeplitz = np.lib.stride_tricks.sliding_window_view(line, n)[:, ::-1]
        return _causal(toeplitz | keep_col[None, :], True)

    def _causal_dense(self, q, k):
        n = q.shape[0]
        rows = np.arange(n)
        p = self._probs(np.asarray(q, np.float64), np.asarray(k, np.float64), rows)  # (n, n), 0 above the diagonal
        # diag[s, o] = p[s, s - o]: query s's mass on the diagonal at offset o
        offs = rows[:, None] - rows[None, :]
        diag = np.zeros((n, n))
        valid = offs >= 0
        diag[rows[:, None].repeat(n, 1)[valid], offs[valid]] = p[valid]
        # windowed sums over the queries (t - last_q, t]: a running sum minus the one last_q rows back
        col = np.cumsum(p, axis=0)
        dia = np.cumsum(diag, axis=0)
        if self.last_q < n:
            col[self.last_q :] -= col[: n - self.last_q].copy()
            dia[self.last_q :] -= dia[: n - self.last_q].copy()
        future = rows[None, :] > rows[:, None]  # keys after t (and offsets beyond t) are not candidates
        col = np.where(future, -np.inf, col)
        dia = np.where(future, -np.inf, dia)
        top_cols = np.argsort(-col, axis=1, kind="stable")[:, : self.vertical]
        top_diag = np.argsort(-dia, axis=1, kind="stable")[:, : self.slash]
        keep_col = np.zeros((n, n), dtype=bool)
        np.put_along_axis(keep_col, top_cols, True, axis=1)
        keep_diag = np.zeros((n, n), dtype=bool)  # keep_diag[t, o]: row t keeps offset o
        np.put_along_axis(keep_diag, top_diag, True, axis=1)
        mask = keep_col | np.take_along_axis(keep_diag, np.where(valid, offs, 0), axis=1)
        return mask & valid


# -- registered data-dependent patterns -----------------------------------------------------
register(
    PatternDef(
        "lsh",
        "hash",
        "LSH buckets",
        "Reformer: angular LSH of the token vectors; attend within a shared bucket.",
        "O(n log n)",
        (
            P("buckets", int, 8, 2, 1024, "Hash buckets (even).", unit="count"),
            P("rounds", int, 1, 1, 8, "Hash rounds; a pair is kept if it shares a bucket in any round.", unit="count"),
            SEED,
        ),
        lambda p, c: LSH(p["buckets"], p["rounds"], p["seed"], causal=c),
        reference="Reformer (Kitaev et al. 2020)",
        data_dependent=True,
        check=lambda p: "buckets must be even" if p["buckets"] % 2 else None,
    )
)
register(
    PatternDef(
        "topk",
        "learned",
        "Top-k",
        "Each query keeps its k highest-scoring keys.",
        "O(n·k) kept, O(n²) to score",
        (P("k", int, 32, 1, 8192, "Keys kept per query.", unit="tokens"),),
        lambda p, c: TopK(p["k"], causal=c),
        reference="Explicit sparse attention (Zhao et al. 2019)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "routing",
        "learned",
        "Routing (k-means)",
        "Routing Transformer: queries and keys clustered by k-means; attend within the cluster.",
        "O(n^1.5)",
        (
            P("clusters", int, 8, 1, 1024, "k-means clusters.", unit="count"),
            P("iterations", int, 10, 1, 100, "k-means iterations.", unit="count"),
            SEED,
        ),
        lambda p, c: Routing(p["clusters"], p["iterations"], p["seed"], causal=c),
        reference="Routing Transformer (Roy et al. 2021)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "block_gating",
        "learned",
        "Block gating (MoBA)",
        "Each query keeps its own block and the other key blocks that score highest on mean-pooled keys, "
        "blocks kept in all.",
        "O(n·k·b)",
        (
            P("block", int, 64, 1, 8192, "Key block size.", log_scale=True, unit="tokens"),
            P(
                "top_blocks",
                int,
                3,
                1,
                1024,
                "Blocks kept per query, its own block included (MoBA uses 3).",
                unit="blocks",
            ),
        ),
        lambda p, c: BlockGating(p["block"], p["top_blocks"], causal=c),
        reference="MoBA (Lu et al. 2025); NSA selection branch (Yuan et al. 2025)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "vertical_slash",
        "learned",
        "Vertical-slash (MInference)",
        "Top key columns plus top diagonals, estimated from the last queries.",
        "O(n·(v+s))",
        (
            P("vertical", int, 64, 1, 8192, "Key columns kept.", unit="tokens"),
            P("slash", int, 64, 1, 8192, "Diagonals kept.", unit="tokens"),
            P("last_q", int, 64, 1, 8192, "Queries used for the estimate.", unit="tokens"),
        ),
        lambda p, c: VerticalSlash(p["vertical"], p["slash"], p["last_q"], causal=True),
        causal="always",
        reference="MInference 1.0 (Jiang et al. 2024)",
        data_dependent=True,
    )
)
