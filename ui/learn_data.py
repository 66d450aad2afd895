"""The Learn page's data, free of Streamlit: each step's engine results, computed once per process (`once`, a
functools-like cache with a compute lock per key), the tables built from them and the parameters of its links to
the Lab, so the page only reads widgets, calls one of these and draws.

The cached arrays are shared by every session, so they are handed out read-only: a caller that wrote into one
would change it for everybody (Streamlit's cache_data, used before, handed out copies).

Memory arithmetic comes from sparse_core.memory, the same numbers as the Cost & Speed page.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sparse_core import analysis, make, memory, models
from sparse_core import attention as A
from sparse_core.cost import MODEL_PRESETS
from sparse_core.reach import layers_to_connect, reachability
from sparse_core.scaling import curve

from .figures import human
from .i18n import STRINGS, t
from .learn_figures import thumbnail as _rgb_thumbnail

STORY = (Path(__file__).parents[1] / "assets" / "examples" / "en_story.txt").read_text(encoding="utf-8")
MODEL_7B = MODEL_PRESETS["Llama-2-7B"]
N1 = [1 << e for e in range(10, 21)]
GAIN_PATTERNS = ("mistral", "bigbird", "streaming")
THUMB_PX = 256  # thumbnails are upscaled to about this many pixels, nearest neighbour
TOP_K = 8  # step 2's summary: the share of mass in each query's top 8 keys
PRICE_PATTERNS = ("window", "longformer", "bigbird", "streaming", "random", "topk")
# step 8's link: the Lab on the same question with a real language model and its perplexity
LAB_QUERY = {
    "model": "smollm2",
    "text": "keeper_of_the_light",
    "tokens": "512",
    "patterns": "window,streaming,bigbird",
    "budgets": "0.05,0.1,0.25",
    "y": "ppl_change",
}


# -- engine results, cached per process -------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


def once(maxsize: int | None = None) -> Callable[[F], F]:
    """functools.lru_cache(maxsize) that computes each key once: a call finding the key being computed waits for
    that result instead of computing it again (st.cache_data, used before, had this lock; functools has none,
    so 30 students arriving together each ran the dense pass). A failed computation is not cached: the next
    waiter computes. `.cache_clear()` forgets everything."""

    def decorate(fn: F) -> F:
        results: OrderedDict = OrderedDict()
        computing: dict = {}  # key -> the lock its first caller holds while computing
        guard = threading.Lock()  # for the two dicts only, never held while computing

        def cached(key):
            if key in results:
                results.move_to_end(key)
                return True, results[key]
            return False, None

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            with guard:
                hit, value = cached(key)
                if hit:
                    return value
                lock = computing.setdefault(key, threading.Lock())
            with lock:
                with guard:
                    hit, value = cached(key)  # computed by the caller this one waited for
                if hit:
                    return value
                value = fn(*args, **kwargs)
                with guard:
                    results[key] = value
                    while maxsize is not None and len(results) > maxsize:
                        results.popitem(last=False)
                    computing.pop(key, None)
                return value

        def cache_clear() -> None:
            with guard:
                results.clear()

        wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@once()
def dense_run():
    """MiniLM on the story's first 256 tokens: (model, tokens, dense forward pass)."""
    lm = models.load("minilm")
    tokens = A.tokenize(lm, STORY, 256)
    return lm, tokens, A.forward(lm, tokens.ids)


@once(maxsize=8)
def weight_summary(layer: int):
    """Step 2's data for one layer: log-spaced bin edges, weight counts per bin, mean top-k share for every k."""
    _, _, dense = dense_run()
    weights = np.asarray(dense.attentions[layer], dtype=np.float32)  # (H, T, T)
    edges = np.logspace(-6, 0, 49)
    counts, _ = np.histogram(np.clip(weights.ravel(), 1e-6, 1), bins=edges)
    ranked = -np.sort(-weights, axis=-1)  # each row sorted high to low
    share = np.cumsum(ranked, axis=-1).mean(axis=(0, 1))  # (T,) mean share held by the top-k keys
    return _frozen(edges), _frozen(counts), _frozen(share)


@once()
def price(names: tuple[str, ...] = PRICE_PATTERNS):
    """Step 8: (tokens, {pattern: (mean mass kept, mean output cosine, density)}) on the story."""
    lm, tokens, _ = dense_run()
    out = {}
    for name in names:
        result = A.compare(lm, tokens, small(name, len(tokens.ids)).expr())
        out[name] = (float(result.mass_kept.mean()), float(result.cosine.mean()), float(result.keep.mean()))
    return len(tokens.ids), out


def small(name: str, n: int):
    """Each pattern scaled to a small n so that its structure is visible."""
    w = max(2, n // 16)
    params = {
        "window": {"window": w},
        "dilated": {"window": max(1, w // 2), "dilation": 2},
        "global": {"global_tokens": max(1, n // 32)},
        "block": {"block": max(2, n // 8)},
        "random": {"random_keys": max(1, n // 32)},
        "lsh": {"buckets": 4},
        "topk": {"k": max(1, n // 16)},
        "longformer": {"window": w, "global_tokens": max(1, n // 64)},
        "bigbird": {"block": max(2, n // 16), "random_blocks": 2, "global_blocks": 1},
        "strided": {"stride": max(2, int(np.sqrt(n)))},
        "fixed": {"stride": max(2, n // 8), "summary": max(1, n // 32)},
        "streaming": {"sinks": max(1, n // 64), "window": w},
    }[name]
    return make(name, **params)


@once(maxsize=64)
def small_mask(name: str, n: int) -> np.ndarray:
    """The small pattern's n × n boolean mask."""
    return _frozen(analysis.dense_mask(small(name, n).expr(), n))


@once(maxsize=64)
def thumbnail(name: str, n: int) -> tuple[np.ndarray, float]:
    """A mask as an RGB picture, upscaled without smoothing, and the share of its pixels that are kept."""
    rgb, density = _rgb_thumbnail(small_mask(name, n), THUMB_PX)
    return _frozen(rgb), density


def groups(mask: np.ndarray) -> int:
    """How many groups of tokens the pattern joins, ignoring direction: more than one means 'never connected'."""
    n = mask.shape[0]
    linked = mask | mask.T | np.eye(n, dtype=bool)
    reach = linked
    while True:  # boolean closure: at most log2(n) squarings
        nxt = (reach.astype(np.float32) @ reach.astype(np.float32)) > 0
        if np.array_equal(nxt, reach):
            return len({row.tobytes() for row in np.packbits(reach, axis=1)})
        reach = nxt


@once()
def layers_needed(names: tuple[str, ...], n: int) -> list[tuple[int | None, int]]:
    """Per pattern: layers to connect every pair (None: never) and the groups the pattern splits tokens into."""
    out = []
    for name in names:
        mask = small_mask(name, n)
        out.append((layers_to_connect(mask, causal=small(name, n).causal), groups(mask)))
    return out


def first_reach(name: str, n: int, query: int, depth: int) -> np.ndarray:
    """Step 6: per key, the first layer (1..depth) at which it reaches `query`; NaN where it never does."""
    reach = reachability(small_mask(name, n), depth)
    first = np.full(n, np.nan)
    for layer in range(depth, 0, -1):  # deepest first, so a shallower layer overwrites
        first[reach[layer - 1][query]] = layer
    return first


@once()
def gains(n: int) -> dict[str, tuple[float, float, float, int]]:
    """Step 7 at one n: (prefill FLOPs, one layer's score bytes, decode KV cache bytes, cache tokens) per pattern."""
    rows = {}
    for name in GAIN_PATTERNS:
        point = curve(make(name).expr(), MODEL_7B, [n])[0]
        m, s = point.model, point.stats
        if not rows:  # the dense baseline is the same whatever the pattern
            rows["dense"] = (
                m["prefill_flops_dense"],
                m["score_bytes_dense_per_layer"],
                m["kv_cache_bytes_dense"],
                s.kv_tokens_dense,
            )
        rows[name] = (
            m["prefill_flops_sparse"],
            m["score_bytes_sparse_per_layer"],
            m["kv_cache_bytes_sparse"],
            s.kv_tokens_sparse,
        )
    return rows


@once()
def longest(budget_bytes: int) -> dict[str, int]:
    """Step 7: the longest prompt whose one-pass prefill fits the budget; it does not depend on the slider's n."""
    out = {"dense": memory.largest_dense_n(MODEL_7B, budget_bytes)}
    for name in GAIN_PATTERNS:
        out[name] = memory.largest_n(make(name).expr(), MODEL_7B, budget_bytes, sparse=True)
    return out


# -- what the page writes ----------------------------------------------------------------------
def complexity(name: str, lang: str) -> str:
    """A pattern's complexity: the engine's formula, or the catalog's words where it has words."""
    return t(f"cx.{name}", lang) if f"cx.{name}" in STRINGS else make(name).definition.complexity


def at_least(n: int) -> str:
    """n with its digits grouped, marked "≥" where the search stopped at the engine's largest n."""
    return ("≥ " if n >= memory.MAX_N else "") + f"{n:,}"


def dense_memory(n: int) -> dict:
    """Step 1: dense prefill bytes and the KV cache over N1 and at n, its parts at n, and each GPU's longest n."""
    ns = np.array(N1, dtype=float)
    gpus = [(gpu.name, gpu.memory_bytes) for gpu in memory.GPUS]
    return {
        "ns": ns,
        "total": memory.dense_prefill_bytes(MODEL_7B, ns),
        "kv": memory.kv_cache_bytes(MODEL_7B, ns),
        "gpus": gpus,
        "now": int(memory.dense_prefill_bytes(MODEL_7B, n)),
        "scores": memory.score_bytes_per_layer(MODEL_7B, n),
        "cache": memory.kv_cache_bytes(MODEL_7B, n),
        "fits": [(name, budget, memory.largest_dense_n(MODEL_7B, budget)) for name, budget in gpus],
    }


def gains_table(rows: dict, reach: dict[str, int], budget: int, label: dict[str, str], lang: str) -> pd.DataFrame:
    """Step 7's table: one row per (labelled) arm, compute, score memory, decode cache and the longest prompt."""
    return pd.DataFrame(
        {
            label[name]: {
                t("le.f7_compute", lang): human(f, "FLOP"),
                t("le.f7_memory", lang): memory.format_bytes(m),
                t("le.f7_cache", lang): t(
                    "le.f7_cache_cell", lang, tokens=f"{tokens:,}", bytes=memory.format_bytes(kv)
                ),
                t("le.f7_context", lang, mem=memory.format_bytes(budget)): at_least(reach[name]),
            }
            for name, (f, m, kv, tokens) in rows.items()
        }
    ).T


def layers_table(names: list[str], needed: list[tuple[int | None, int]], title, lang: str) -> pd.DataFrame:
    """Step 6's table: per pattern (titled by `title`), the layers to connect every pair, or 'never' with its groups."""
    rows = [
        {
            t("le.f3_pattern", lang): title(other),
            t("le.f6_layers_col", lang): t("le.f6_never", lang, groups=groups) if k is None else str(k),
        }
        for other, (k, groups) in zip(names, needed, strict=True)
    ]
    return pd.DataFrame(rows)


def memory_link(about: dict) -> dict[str, str]:
    """Step 9's link: the Lab's Memory view on the grid the step shows, at its two shortest lengths."""
    return {
        "model": about["model"],
        "patterns": ",".join(about["patterns"]),
        "budgets": f"{about['budget']:g}",
        "view": "memory",
        "task": about["task"],
        "lengths": "256,512",
        "depths": ",".join(f"{d:g}" for d in about["depths"]),
        "trials": "1",
    }
