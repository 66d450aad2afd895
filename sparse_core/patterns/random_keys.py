"""Random keys: r distinct keys per query, a uniform r-subset, reproducible by seed (BigBird)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..segments import Seg, interval, singletons
from ..spec import SEED, P, PatternDef, register
from .base import FOREVER, Primitive, _stream_key, block_bounds, nblocks, random_subsets, stack_chunks
from .expr import DECODE_CELLS  # the decode cache's price counts its chunk of cells

KEY_CELLS = 1 << 21  # random keys held at once while building a block layout
GEN_CELLS = 1 << 16  # keys drawn at once: small temporaries stay in cache and skip fresh pages
TABLE_CACHE_CELLS = 1 << 23  # a whole-sequence key table up to this many keys (int32, 32 MiB) is kept once
# every kept whole-sequence table together (_TABLES): the budget's random_draws (8 << 20) keeps an accepted request's
# random parts within it, so they are never drawn twice, and a server holds no more than one table did before
KEPT_TABLE_CELLS = TABLE_CACHE_CELLS
FAST_DUP_SHARE = 1 / 16  # iid draws are tried first where a row repeats a key with at most this probability
_FAST_SALT = 3  # the iid attempt's own stream, independent of the fallback's (salt 1)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
# Whole-sequence key tables kept, oldest first: (primitive, n, table). Every random part of a request keeps its own:
# with one table kept at a time, random(8) ∪ random(1) at 877,141 tokens drew both whole tables again for every chunk
# of rows (1.39 s for the request, 0.39 s now). All of them together stay within KEPT_TABLE_CELLS (32 MiB of int32)
_TABLES: list[tuple] = []
_LOCK = threading.Lock()


def table_predicate(table_of, q_idx, kv_idx, to_target=lambda k: k):
    """Membership read from a per-row table: table_of(rows) -> (R, r) of allowed targets."""
    q, k = np.broadcast_arrays(np.asarray(q_idx), np.asarray(kv_idx))
    rows, inv = np.unique(q, return_inverse=True)
    table = table_of(rows)
    return (table[inv.reshape(q.shape)] == to_target(k)[..., None]).any(-1)


def pairs_in_chunks(test, i: np.ndarray, j: np.ndarray, width: int) -> np.ndarray:
    """test(i, j) -> (P,) bool over chunks of pairs, at most DECODE_CELLS (pair, drawn key) cells at a time.

    Chunks take the pairs in row order, so a test that draws each distinct row's table once (RandomKeys) still
    draws it about once in all: the decode-cache price counts tables drawn per distinct row."""
    step = max(1, DECODE_CELLS // max(1, int(width)))
    if len(i) <= step:
        return test(i, j)
    out = np.zeros(len(i), dtype=bool)
    order = np.argsort(i, kind="stable")
    for lo in range(0, len(i), step):
        sel = order[lo : lo + step]
        out[sel] = test(i[sel], j[sel])
    return out


def _iid_draws(key: np.uint64, ids: np.ndarray, r: int, bound: np.ndarray) -> np.ndarray:
    """(R, r) independent unbiased draws in [0, bound) from a counter hash; -1 where Lemire rejects.

    One splitmix64 output per (id, pair of draws) gives two 32-bit halves, each mapped onto
    [0, bound) by Lemire's multiply-shift with the biased zone rejected. In-place operations keep
    this about four times cheaper than base.uniform_draws at 2^20 rows.
    """
    h = (r + 1) // 2
    # laid out (draw, id) so that every operation runs along the long axis (an (R, 3) layout is 4x slower)
    with np.errstate(over="ignore"):
        z = np.arange(h, dtype=np.uint64)[:, None] + (ids.astype(np.uint64) << np.uint64(22))[None, :]
        z *= _GAMMA
        z ^= key
        z += _GAMMA  # splitmix64, in place
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        bits = np.empty((2 * h, len(ids)), dtype=np.uint64)
        np.right_shift(z, np.uint64(32), out=bits[:h])
        np.bitwise_and(z, np.uint64(0xFFFFFFFF), out=bits[h:])
        bits = bits[:r]
        s = np.maximum(bound, 1).astype(np.uint64)
        bits *= s
    value = (bits >> np.uint64(32)).astype(np.int64)
    bits &= np.uint64(0xFFFFFFFF)
    near = np.nonzero(bits < s)  # Lemire: only a low part below s can fall in the biased zone
    if len(near[0]):
        sn = s[near[1]]
        threshold = (np.uint64(1 << 32) - sn) % sn
        value[near] = np.where(bits[near] >= threshold, value[near], -1)
    return value.T


def _all_distinct(draws: np.ndarray) -> np.ndarray:
    """Rows whose values are all valid (>= 0) and pairwise distinct."""
    r = draws.shape[1]
    ok: np.ndarray = np.asarray((draws >= 0).all(axis=1))
    if r <= 6:  # a few column compares beat sorting every row
        for a in range(r):
            for b in range(a + 1, r):
                ok &= draws[:, a] != draws[:, b]
        return ok
    srt = np.sort(draws, axis=1)
    return ok & (srt[:, 1:] != srt[:, :-1]).all(axis=1)


def fast_subsets(ids: np.ndarray, population: np.ndarray, r: int, seed: int, salt: int, out=None) -> np.ndarray:
    """The same law as base.random_subsets (a uniform min(r, population)-subset per id), cheaper for r << population.

    Rows where r keys rarely collide first try r independent uniform draws from their own stream and
    keep them when all are valid and distinct: such a tuple is uniform over ordered r-subsets. Every
    other row (and every failed try) takes random_subsets' draw, which is independent of the try, so
    the mixture is uniform too. A row still depends only on (seed, salt, id).
    """
    ids = np.asarray(ids, dtype=np.int64)
    population = np.asarray(population, dtype=np.int64)
    if out is None:
        out = np.empty((len(ids), r), dtype=np.int64)
    if r == 0 or len(ids) == 0:
        return out
    key = _stream_key(seed, salt * 16 + _FAST_SALT)
    step = max(1, GEN_CELLS // r)
    for lo in range(0, len(ids), step):
        sl = slice(lo, lo + step)
        pid, pop = ids[sl], population[sl]
        tryable = r * (r - 1) <= 2 * FAST_DUP_SHARE * pop  # expected repeats in a row: r(r-1)/(2P)
        if tryable.all():
            draws = _iid_draws(key, pid, r, pop)
            ok = _all_distinct(draws)
            out[sl] = draws
            redo = np.flatnonzero(~ok)
        else:
            part = np.flatnonzero(tryable)
            draws = _iid_draws(key, pid[part], r, pop[part])
            ok = _all_distinct(draws)
            out[lo + part[ok]] = draws[ok]
            keep = np.zeros(len(pid), dtype=bool)
            keep[part[ok]] = True
            redo = np.flatnonzero(~keep)
        if len(redo):
            out[lo + redo] = random_subsets(pid[redo], pop[redo], r, seed, salt)
    return out


@dataclass(frozen=True, eq=False)
class RandomKeys(Primitive):
    """r distinct keys per query drawn uniformly (causal: among keys 0..i); no closed formula."""

    random_keys: int
    seed: int = 0

    def key_table(self, rows, n):
        """(R, r) keys per row, -1 where a row has fewer than r keys to choose from."""
        population = rows + 1 if self.causal else np.full(len(rows), n)
        return fast_subsets(rows, population, self.random_keys, self.seed, salt=1)

    def table_kept(self, n) -> bool:
        """Whether the whole-sequence key table at n is small enough to be drawn once and kept (whole_table)."""
        return n * self.random_keys <= TABLE_CACHE_CELLS

    def whole_table(self, n) -> np.ndarray:
        """(n, r) int32 keys of every row, drawn once per (primitive, n) where small enough, else drawn now."""
        if not self.table_kept(n):
            return self._draw_all(n)
        with _LOCK:
            for prim, length, table in _TABLES:
                if prim is self and length == n:
                    return table
        table = self._draw_all(n)
        with _LOCK:
            _TABLES.append((self, n, table))
            while sum(kept.size for _, _, kept in _TABLES) > KEPT_TABLE_CELLS:
                _TABLES.pop(0)
        return table

    def _draw_all(self, n):
        rows = np.arange(n, dtype=np.int64)
        population = rows + 1 if self.causal else np.full(n, n)
        out = np.empty((n, self.random_keys), dtype=np.int32)
        return fast_subsets(rows, population, self.random_keys, self.seed, 1, out=out)

    def predicate(self, q_idx, kv_idx, n):
        return table_predicate(lambda rows: self.key_table(rows, n), q_idx, kv_idx)

    def segments(self, rows, n):
        if self.table_kept(n):
            # the block layout reads the same whole table: drawn once for both (the price counts one draw; a
            # union with random(256) at 1,583 tokens drew it for the rows and again for the blocks, 0.41 s)
            return singletons(self.whole_table(n)[np.asarray(rows)].astype(np.int64))
        return singletons(self.key_table(rows, n))

    def row_count(self, rows, n):
        """Keys per row in closed form (no table needed)."""
        population = rows + 1 if self.causal else np.full(len(rows), n)
        return np.minimum(self.random_keys, population)

    def block_segments(self, brows, n, block):
        if len(brows) == nblocks(n, block) and self.table_kept(n):
            return distinct_blocks(self.whole_table(n), n, block)
        per_row = block * self.random_keys
        step = max(1, KEY_CELLS // per_row)
        return stack_chunks([self._block_chunk(brows[i : i + step], n, block) for i in range(0, len(brows), step)])

    def _block_chunk(self, brows, n, block):
        qlo, _ = block_bounds(brows, n, block)
        rows = (qlo[:, None] + np.arange(block)[None, :]).ravel()
        valid = rows < n
        keys = np.where(valid[:, None], self.key_table(np.minimum(rows, n - 1), n), -1)
        return packed_blocks(np.where(keys >= 0, keys // block, -1).reshape(len(brows), -1))

    def pooled_counts(self, n: int, block: int) -> np.ndarray:
        """(nb, nb) exact kept pairs per (query block, key block): a histogram of the key table."""
        nb = nblocks(n, block)
        r = self.random_keys
        whole = self.table_kept(n)
        table = self.whole_table(n) if whole else None
        counts = np.zeros(nb * nb + 1, dtype=np.int64)
        step = max(block, (KEY_CELLS // max(1, r)) // block * block)
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            keys = table[lo:hi] if table is not None else self.key_table(np.arange(lo, hi, dtype=np.int64), n)
            # flat operations only: broadcasting over a short last axis is several times slower
            code = (keys // block).ravel().astype(np.int64)
            code += np.repeat(np.arange(lo, hi, dtype=np.int64) // block * nb, r)
            missing = (keys < 0).ravel()
            if missing.any():
                code[missing] = nb * nb
            counts += np.bincount(code, minlength=nb * nb + 1)
        return counts[: nb * nb].reshape(nb, nb)

    def segment_count(self, n):
        return self.random_keys

    @property
    def kv_every_key(self) -> bool:  # type: ignore[override]
        return self.random_keys > 0  # a later row draws key j almost surely

    def kv_rows(self, cols):
        """Every later row may draw key j (none when no key is drawn)."""
        return [interval(cols, cols + (FOREVER if self.random_keys > 0 else 0), len(cols))]

    def decode_table(self, rows):
        """(R, r) keys of each row as the newest query of rows + 1 tokens (causal or not, the same draw)."""
        return fast_subsets(rows, rows + 1, self.random_keys, self.seed, salt=1)

    def decode_reads(self, i, j):
        """Whether row i, decoding (a sequence of i + 1 tokens), reads key j <= i; i, j: (P,)."""

        def test(i, j):
            rows, inv = np.unique(i, return_inverse=True)
            return (self.decode_table(rows)[inv] == j[:, None]).any(axis=1)

        return pairs_in_chunks(test, i, j, self.random_keys)

    def decode_pairs(self, lo, hi):
        """(row, key) of every key drawn by rows lo..hi decoding."""
        rows = np.arange(lo, hi + 1, dtype=np.int64)
        table = self.decode_table(rows)
        i = np.repeat(rows, table.shape[1])
        j = table.ravel()
        return i[j >= 0], j[j >= 0]

    def block_cost_estimate(self, n, block):
        """Work to draw every key and sort the key blocks of each query block."""
        return n * self.random_keys * 2


def packed_blocks(kb: np.ndarray) -> list[Seg]:
    """Distinct non-negative ids of each row of kb (R, m), packed left, as single-element segments."""
    if kb.shape[1] == 0:
        return singletons(kb)
    big = np.iinfo(kb.dtype).max
    srt = np.sort(np.where(kb >= 0, kb, big), axis=1)
    dup = np.zeros(srt.shape, dtype=bool)
    dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
    srt[dup] = big
    width = max(1, int((srt != big).sum(axis=1).max(initial=0)))
    srt = np.sort(srt, axis=1)[:, :width]  # a second sort packs each row's distinct ids to the left
    valid = srt != big
    # one slot per column; transposed once so each slot's arrays are contiguous rows
    srt[~valid] = 0
    starts = _transposed(srt, np.int64)
    counts = _transposed(valid, np.int64)
    return [Seg(starts[c], 1, counts[c]) for c in range(width)]


def _transposed(a: np.ndarray, dtype, rows: int = 128) -> np.ndarray:
    """a.T as a C-ordered array of dtype, copied in bands of rows that stay in cache (6x faster than a.T.astype)."""
    out = np.empty((a.shape[1], a.shape[0]), dtype=dtype)
    for lo in range(0, a.shape[0], rows):
        out[:, lo : lo + rows] = a[lo : lo + rows].T
    return out


def distinct_blocks(table: np.ndarray, n: int, block: int) -> list[Seg]:
    """Key blocks of every query block from a whole (n, r) key table."""
    nb = nblocks(n, block)
    r = table.shape[1]
    kb = np.where(table >= 0, table // block, -1)
    pad = nb * block - n
    if pad:
        kb = np.concatenate([kb, np.full((pad, r), -1, dtype=kb.dtype)])
    return packed_blocks(kb.reshape(nb, block * r))


register(
    PatternDef(
        "random",
        "random",
        "Random keys",
        "Each query attends r distinct keys chosen uniformly (seeded).",
        "O(n·r)",
        (P("random_keys", int, 3, 1, 256, "Random keys r per query.", unit="count"), SEED),
        lambda p, c: RandomKeys(p["random_keys"], p["seed"], causal=c),
        reference="Random attention (BigBird, Zaheer et al. 2020)",
    )
)
