"""Counter-based random numbers: reproducible draws for any row in any chunking (random keys and blocks).

Every (seed, salt, id, draw) maps to its own splitmix64 output, so a row's random keys are the same
whether it is drawn alone, in a chunk or at another n.
"""

from __future__ import annotations

import numpy as np

MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Counter-based hash: reproducible random numbers for any counter, in any chunking."""
    with np.errstate(over="ignore"):
        z = np.asarray(x).astype(np.uint64) + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _stream_key(seed: int, salt: int) -> np.uint64:
    return np.uint64(splitmix64(np.asarray(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(salt)))[()])


def uniform_draws(key: np.uint64, ids: np.ndarray, first: int, count: int, bound: np.ndarray) -> np.ndarray:
    """Independent unbiased draws in [0, bound) per id, numbered first .. first+count-1; -1 if rejected.

    Each (seed, id, draw) gets its own splitmix64 output from one combined counter, and Lemire's
    multiply-shift maps its top 32 bits onto [0, bound) with the biased zone rejected.
    """
    draw = np.arange(first, first + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        counter = (ids.astype(np.uint64)[:, None] << np.uint64(22)) + draw[None, :]
        bits = splitmix64(counter * _GAMMA ^ key) >> np.uint64(32)
        s = np.maximum(bound, 1).astype(np.uint64)[:, None]
        m = bits * s
    low = m & np.uint64(0xFFFFFFFF)
    value = (m >> np.uint64(32)).astype(np.int64)
    value[bound <= 0] = -1
    # Lemire: only a low part below s can fall in the biased zone, so the modulo runs on few cells
    near = np.nonzero(low < s)
    if len(near[0]):
        sn = s[near[0], 0] if s.shape[1] == 1 else s[near]
        threshold = (np.uint64(1 << 32) - sn) % sn
        value[near] = np.where(low[near] >= threshold, value[near], -1)
    return value


def _first_distinct(draws: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First `want` distinct valid values of each row, in draw order; and how many were found."""
    order = np.argsort(draws, axis=1, kind="stable")
    srt = np.take_along_axis(draws, order, axis=1)
    first = np.ones_like(srt, dtype=bool)
    first[:, 1:] = srt[:, 1:] != srt[:, :-1]
    first &= srt >= 0
    is_first = np.zeros_like(first)
    np.put_along_axis(is_first, order, first, axis=1)
    rank = np.cumsum(is_first, axis=1)
    keep = is_first & (rank <= want[:, None])
    return np.where(keep, draws, -1), np.minimum(rank[:, -1], want)


_SUBSET_CELLS = 1 << 21  # draws held at once while sampling subsets
FLOYD_MAX_R = 32  # up to here Floyd's algorithm (r draws, r^2/2 compares) beats sorting


def random_subsets(ids: np.ndarray, population: np.ndarray, r: int, seed: int, salt: int) -> np.ndarray:
    """A uniform min(r, population)-subset of range(population[i]) per id, as an (R, r) table, -1 padded.

    Small r: Floyd's algorithm, one independent unbiased draw per (seed, id, step). Large r: the
    first distinct values of a sequence of independent uniform draws (a uniform subset too),
    choosing the keys to leave out where more than half the population is taken. Every row
    depends only on (seed, salt, id), so any chunking gives the same table.
    """
    ids = np.asarray(ids, dtype=np.int64)
    population = np.asarray(population, dtype=np.int64)
    out = np.full((len(ids), r), -1, dtype=np.int64)
    if r == 0 or len(ids) == 0:
        return out
    key = _stream_key(seed, salt)
    take = np.minimum(r, np.maximum(population, 0))
    if r <= FLOYD_MAX_R:
        step = max(1, _SUBSET_CELLS // r)
        for lo in range(0, len(ids), step):
            sl = slice(lo, lo + step)
            out[sl] = _floyd(key, ids[sl], population[sl], take[sl], r)
        return out
    dense = 2 * take > population  # cheaper to choose what to leave out
    step = max(1, _SUBSET_CELLS // (2 * r + 16))
    for lo in range(0, len(ids), step):
        sl = slice(lo, lo + step)
        pid, pop, want = ids[sl], population[sl], take[sl]
        sparse_rows = np.flatnonzero(~dense[sl])
        if len(sparse_rows):
            out[lo + sparse_rows] = _draw_subsets(key, pid[sparse_rows], pop[sparse_rows], want[sparse_rows], r)
        dense_rows = np.flatnonzero(dense[sl])
        if len(dense_rows):
            out[lo + dense_rows] = _complement_subsets(key, pid[dense_rows], pop[dense_rows], want[dense_rows], r)
    return out


def _floyd(key, ids, pop, take, r):
    """Floyd: for j = P-take .. P-1 draw u in [0, j]; keep u, or j when u is already kept."""
    out = np.full((len(ids), r), -1, dtype=np.int64)
    for k in range(r):
        j = pop - take + k
        active = k < take
        u = uniform_draws(key, ids, k, 1, np.where(active, j + 1, 0))[:, 0]
        attempt = 1
        while True:  # a rejected draw (probability < 2^-11) is redrawn from a fresh counter
            redo = np.flatnonzero(active & (u < 0))
            if len(redo) == 0:
                break
            u[redo] = uniform_draws(key, ids[redo], k + (attempt << 10), 1, j[redo] + 1)[:, 0]
            attempt += 1
        if k:
            repeat = (out[:, :k] == u[:, None]).any(axis=1)
            u = np.where(repeat, j, u)
        out[:, k] = np.where(active, u, -1)
    return out


def _draw_subsets(key, ids, pop, want, r):
    table = np.full((len(ids), r), -1, dtype=np.int64)
    todo = np.arange(len(ids))
    draws = np.zeros((len(ids), 0), dtype=np.int64)
    used = 0
    extra = r + 8
    while len(todo):
        fresh = uniform_draws(key, ids[todo], used, extra, pop[todo])
        draws = np.concatenate([draws[todo] if draws.shape[0] != len(todo) else draws, fresh], axis=1)
        picked, found = _first_distinct(draws, want[todo])
        done = found >= want[todo]
        rows = todo[done]
        vals = picked[done]
        vals = np.sort(np.where(vals >= 0, vals, np.iinfo(np.int64).max), axis=1)[:, :r]
        table[rows] = np.where(vals == np.iinfo(np.int64).max, -1, vals)
        used += extra
        todo, draws = todo[~done], draws[~done]
        extra *= 2
    return table


def _complement_subsets(key, ids, pop, want, r):
    width = int(pop.max())
    leave = pop - want
    gone = _draw_subsets(key, ids, pop, leave, max(1, int(leave.max(initial=0))))
    mask = np.arange(width)[None, :] < pop[:, None]
    rows = np.repeat(np.arange(len(ids)), gone.shape[1])
    cols = gone.ravel()
    ok = cols >= 0
    mask[rows[ok], cols[ok]] = False
    vals = np.where(mask, np.arange(width)[None, :], np.iinfo(np.int64).max)
    vals = np.sort(vals, axis=1)[:, :r]
    vals = np.where(vals == np.iinfo(np.int64).max, -1, vals)
    if vals.shape[1] < r:
        vals = np.pad(vals, ((0, 0), (0, r - vals.shape[1])), constant_values=-1)
    return vals
