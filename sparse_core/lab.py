"""Pattern Lab: the grid of patterns × budgets on one model and text, built from named passes and metric functions.

`run_lab(model_key, text, patterns, budgets)` fits every pattern to every density budget
(`fit.fit`, exact counts), runs `lab_passes.dense_pass` once (it reduces each layer to the
dense attention mass kept inside every requested mask) and one `lab_passes.run_pass` per row, and
measures each row with the functions in `metrics`:
- for every model: attention mass kept inside the pattern (overall, per layer, per head) and the
  cosine of the final hidden states;
- for a causal LM: perplexity (dense and sparse), next-token agreement with dense, and the KL
  divergence KL(dense ‖ sparse) of the next-token distributions, over the positions that the pattern
  changes and over all positions.
Rows are cached (`lab_cache`); a request is priced before any pass (`price`, `lab_price`) and
refused over its CPU budget or the deployment's token cap; `continue_text` (greedy decoding,
`decode`) is re-exported here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from . import metrics, models
from .analysis import dense_mask, row_degree
from .decode import Continuation, continue_text, pattern_expr, tokens_for
from .fit import fit
from .lab_args import (
    DEFAULT_BUDGETS,
    DEFAULT_METHOD,
    DEFAULT_TOKENS,
    MAX_NEW_TOKENS,
    MAX_TOKENS,
    METHODS,
    lab_patterns,
    parse_budgets,
    parse_patterns,
)
from .lab_cache import cache_get, cache_key, cache_put, clear_cache, text_hash
from .lab_passes import (
    AUTO_BLOCKS_BELOW,
    BLOCK,
    DensePass,
    Job,
    LabPass,
    PeakRSS,
    dense_pass,
    ids_hash,
    kv_cache_bytes,
    plain_dense_cost,
    run_pass,
)
from .lab_price import DATA_DEPENDENT, TOKEN_LADDER, LabBudget, LabPrice, check_tokens, price_rows, refuse_over_budget
from .params import PatternError
from .registry import get

__all__ = [
    "AUTO_BLOCKS_BELOW", "BLOCK", "COLUMNS", "DEFAULT_BUDGETS", "DEFAULT_METHOD", "DEFAULT_TOKENS", "MAX_NEW_TOKENS",
    "MAX_TOKENS", "MEASURED_COLUMNS", "METHODS", "QUALITY_COLUMNS", "Continuation", "clear_cache", "continue_text",
    "lab_patterns", "layer_table", "parse_budgets", "parse_patterns", "run_lab", "text_hash", "to_json", "tokens_for",
    "price", "LabBudget", "LabPrice", "TOKEN_LADDER", "pending", "request_ids",
]  # fmt: skip

QUALITY_COLUMNS = ("ppl_change", "kl_changed", "agreement", "mass_kept", "cosine")
# measured on this machine in this run: two runs of the same request differ in these (and only these)
MEASURED_COLUMNS = ("seconds", "prefill_cpu_s", "dense_prefill_cpu_s", "prefill_peak_bytes", "dense_prefill_peak_bytes")

Progress = Callable[[int, int, str], None]
# (rows done, rows, the pass's label: "dense" or the row's, layers done in that pass, layers): a row is a
# sparse pass and, for a text's first, a plain dense one, over a minute each at 8,192 tokens
LayerProgress = Callable[[int, int, str, int, int], None]
Cancel = Callable[[], bool]


def _layer_hook(report: LayerProgress | None, done: int, total: int, label: str, layers: int):
    """A pass's after-every-layer hook (`LabPass.stop`) that reports the layers done and never stops it."""
    if report is None:
        return None
    count = [0]

    def tick() -> bool:
        count[0] += 1
        report(done, total, label, count[0], layers)
        return False

    return tick


def _model_id(lm: models.LoadedModel) -> str:
    return f"{lm.info.key}|{lm.info.source}|{lm.layers}x{lm.heads}"


@torch.inference_mode()
def sparse_row(
    lm, ids: list[int], dense: DensePass, name: str, params: dict, mass: dict, method: str, hook=None
) -> dict:
    """One sparse pass of the pattern and every number of its row, from the metric functions.

    `hook(label)` gives a pass's after-every-layer hook (progress): "sparse" for the pattern's, "dense" for
    the plain dense prefill it is compared with (once per text)."""
    hook = hook or (lambda label: None)
    n = len(ids)
    expr = pattern_expr(lm, name, params)
    shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, n))  # (T, T)
    run = LabPass("sparse", expr=expr, shared=shared, method=method, stop=hook("sparse"))
    start = time.perf_counter()
    with PeakRSS() as cost:
        hidden = run_pass(lm, ids, run)
    seconds = time.perf_counter() - start
    dense_cpu, dense_peak = plain_dense_cost(lm, ids, stop=hook("dense"))
    # what a decoder keeps: the positions the next token's row reads (a cache may evict the rest; a
    # data-dependent pattern scores every cached key, so it keeps them all)
    if expr.data_dependent or not lm.info.causal:
        positions = n
    else:
        positions = int(row_degree(expr, n + 1)[n])  # counted, no (n + 1)² mask: that refused n = 8,192
    if run.changed is None:  # set by the registered attention function at every layer
        raise RuntimeError(f"the sparse pass of {name} reached no attention layer of {lm.info.key}")
    changed = run.changed.numpy()  # (T,)
    cos = metrics.cosine_rows(hidden.numpy(), dense.hidden.numpy())  # (T,)
    kept = np.stack(run.kept)  # (L, H)
    row = {
        "density_measured": float(kept.sum() / (run.allowed_pairs * kept.size)),
        "flops_share": float(np.stack(run.executed).sum() / (run.allowed_executed * kept.size)),
        "empty_rows": int(np.stack(run.empty).sum()),
        "changed_share": float(changed.mean()),
        "mass_kept": mass["all"],
        "mass_kept_changed": mass["changed"],
        "cosine": float(cos.mean()),
        "cosine_changed": metrics.finite(metrics.mean_over(cos, changed)),
        "mass_layers": mass["layers"],
        "mass_heads": mass["heads"],
        "seconds": seconds,
        # the cost on this model and machine, measured in this run (see lab_passes.PeakRSS): the sparse
        # pass as the lab runs it (its instrumentation included) against one plain dense prefill
        "prefill_cpu_s": cost.cpu_seconds,
        "dense_prefill_cpu_s": dense_cpu,
        "prefill_peak_bytes": cost.peak_bytes,
        "dense_prefill_peak_bytes": dense_peak,
        "kv_cache_bytes": kv_cache_bytes(lm, positions),
        "dense_kv_cache_bytes": kv_cache_bytes(lm, n),
    }
    if lm.info.causal:
        # a causal model's dense pass keeps its next-token statistics (lab_passes.dense_pass)
        assert dense.logp_next is not None and dense.argmax is not None
        logp, argmax, kl = metrics.next_token_stats(lm, hidden, ids, dense.hidden)
        # position t predicts token t + 1; the last position has no target, so perplexity uses T - 1
        row |= {
            "ppl_dense": metrics.perplexity_from_logp(dense.logp_next),
            "ppl_sparse": metrics.perplexity_from_logp(logp),
            "ppl_change": metrics.ppl_change(dense.logp_next, logp),
            "agreement": metrics.agreement(dense.argmax, argmax),
            "agreement_changed": metrics.agreement(dense.argmax, argmax, changed),
            "kl_changed": float(kl[changed].mean()) if changed.any() else 0.0,
            "kl_all": float(kl.mean()),
        }
    return row


def mass_summary(job: Job) -> dict:
    """A mask's dense mass kept: overall, over changed rows, per layer (L,) and per head (L, H)."""
    heads = np.stack(job.mass)  # (L, H)
    changed = np.stack(job.mass_changed)
    return {
        "all": float(heads.mean()),
        "changed": metrics.finite(np.nanmean(changed)) if np.isfinite(changed).any() else None,
        "layers": heads.mean(-1).round(6).tolist(),
        "heads": heads.round(6).tolist(),
    }


COLUMNS = [
    "model", "tokens", "pattern", "budget", "solved", "value", "params", "density", "budget_met", "budget_note",
    "density_measured",
    "flops_share", "prefill_cpu_s", "dense_prefill_cpu_s", "prefill_peak_bytes", "dense_prefill_peak_bytes",
    "kv_cache_bytes", "dense_kv_cache_bytes", "mass_kept", "mass_kept_changed", "cosine", "cosine_changed",
    "ppl_dense", "ppl_sparse",
    "ppl_change", "agreement", "agreement_changed", "kl_changed", "kl_all", "changed_share", "empty_rows",
    "seconds", "cached",
]  # fmt: skip


def _check_request(method: str, max_tokens, token_cap: int | None) -> None:
    if method not in METHODS:
        raise PatternError(f"method must be one of {', '.join(METHODS)}")
    if not isinstance(max_tokens, (int, np.integer)) or not 2 <= max_tokens <= MAX_TOKENS:
        raise PatternError(f"max_tokens must be a whole number between 2 and {MAX_TOKENS:,}, got {max_tokens!r}")
    check_tokens(int(max_tokens), token_cap)  # before the model loads: a refusal costs nothing


def _plan(lm: models.LoadedModel, ids: list[int], names: list[str], shares: list[float], model_key: str) -> list:
    """(pattern, budget, fitted parameters, row cache key) per row: the fit is exact and cheap, nothing runs."""
    n, causal, mid, tid = len(ids), lm.info.causal, _model_id(lm), ids_hash(ids)
    plan = []
    for name in names:
        if causal is False and get(name).causal == "always":
            raise PatternError(f"pattern '{name}' is causal by definition; {lm.info.name or model_key} is an encoder")
        for share in shares:
            fkey = cache_key("fit", mid, tid, name, share)
            fitted = cache_get(fkey)
            if fitted is None:
                result = fit(name, n, share, causal)
                fitted = {
                    "params": result.params,
                    "density": result.achieved_density,
                    "solved": result.solved,
                    "budget_met": result.met,
                    "budget_note": result.note,
                }
                cache_put(fkey, fitted)
            rkey = cache_key("row", mid, tid, name, sorted(fitted["params"].items()))
            plan.append((name, share, fitted, rkey))
    return plan


def _price(lm: models.LoadedModel, n: int, todo: list, budget: LabBudget | None) -> LabPrice:
    """The price of the rows still to compute (distinct fitted rows only: equal ones run once)."""
    unique = {rkey: name for name, _, _, rkey in todo}
    heads = None if lm.info.key in models.MODELS else lm.layers * lm.heads
    return price_rows(
        lm.info.key,
        n,
        structured=sum(name not in DATA_DEPENDENT for name in unique.values()),
        data_dependent=sum(name in DATA_DEPENDENT for name in unique.values()),
        heads=heads,
        budget=budget,
    )


def price(
    model_key: str,
    text: str,
    patterns: Sequence[str] | str,
    budgets: Sequence[float] | str = DEFAULT_BUDGETS,
    max_tokens: int = DEFAULT_TOKENS,
    *,
    token_cap: int | None = None,
    budget: LabBudget | None = None,
) -> LabPrice:
    """What `run_lab` with these arguments would cost, in CPU seconds, without running it.

    Loads the model (cached per process), tokenises and fits (milliseconds), skips cached rows.
    Raises PatternError only for bad arguments or a token count over `token_cap`; an over-budget
    request is answered (`.over_budget`), and refused by `run_lab`."""
    names, shares = parse_patterns(patterns), parse_budgets(budgets)
    _check_request(DEFAULT_METHOD, max_tokens, token_cap)
    lm = models.load(model_key)
    ids = tokens_for(lm, text, max_tokens)
    plan = _plan(lm, ids, names, shares, model_key)
    return _price(lm, len(ids), [p for p in plan if cache_get(p[3]) is None], budget)


def request_ids(
    model_key: str, text: str, max_tokens: int = DEFAULT_TOKENS, *, token_cap: int | None = None
) -> list[int]:
    """The token ids a request runs on (the model loaded once per process): for a caller that asks `pending`
    again and again (the page while it waits in the queue) without tokenising a long text each time."""
    _check_request(DEFAULT_METHOD, max_tokens, token_cap)
    return tokens_for(models.load(model_key), text, max_tokens)


def pending(model_key: str, ids: list[int], patterns: Sequence[str] | str, budgets: Sequence[float] | str) -> int:
    """Rows of a request on these token ids that are not cached (distinct fitted rows): 0, and a run computes
    nothing. No tokenising and no pass; the fits are cached."""
    lm = models.load(model_key)
    plan = _plan(lm, ids, parse_patterns(patterns), parse_budgets(budgets), model_key)
    return len({rkey for *_, rkey in plan if cache_get(rkey) is None})


def run_lab(
    model_key: str,
    text: str,
    patterns: Sequence[str] | str,
    budgets: Sequence[float] | str = DEFAULT_BUDGETS,
    max_tokens: int = DEFAULT_TOKENS,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    method: str = DEFAULT_METHOD,
    cached_only: bool = False,
    *,
    token_cap: int | None = None,
    budget: LabBudget | None = None,
    on_layer: LayerProgress | None = None,
) -> pd.DataFrame:
    """One row per (pattern, budget): fitted parameters, density, FLOPs share and every quality metric.

    `progress` is told after each row; `on_layer` after each layer of each pass (the dense pass, a row's
    sparse pass and plain dense prefill), so a page shows a long row moving.

    `cached_only=True` computes nothing: it returns the rows already cached (a page shows them at once).
    Priced before any pass runs: over `budget` (default `LabBudget.from_env()`) it raises PatternError
    `lab_over_budget`, and `max_tokens` over the deployment's `token_cap` raises `lab_token_cap`.

    `df.attrs["mass_layers"]` / `["mass_heads"]` hold per-layer (L,) and per-head (L, H) mass kept by row
    label "pattern@budget"; `df.attrs["cancelled"]` says whether `cancel()` stopped the run early;
    `df.attrs["price"]` is the prediction the run was admitted with (None for cached_only).
    """
    names = parse_patterns(patterns)
    shares = parse_budgets(budgets)
    _check_request(method, max_tokens, token_cap)
    lm = models.load(model_key)
    ids = tokens_for(lm, text, max_tokens)
    n = len(ids)
    plan = _plan(lm, ids, names, shares, model_key)
    # the cache is read once: a row evicted between planning and serving is served from this snapshot, so
    # every row not in it is in `todo`, whose dense pass has run
    cached = {rkey: cache_get(rkey) for _, _, _, rkey in plan}
    todo = [(name, share, fitted, rkey) for name, share, fitted, rkey in plan if cached[rkey] is None]
    quote = None
    if cached_only:
        plan = [p for p in plan if p not in todo]
        todo = []
    else:
        quote = _price(lm, n, todo, budget)
        refuse_over_budget(quote, budget)
    rows, cancelled, total = {}, False, len(plan)
    dense = None
    if todo:
        jobs, seen = [], set()
        for name, _, fitted, rkey in todo:
            if rkey in seen:
                continue
            seen.add(rkey)
            expr = pattern_expr(lm, name, fitted["params"])
            shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, n))
            jobs.append(Job(rkey, expr, shared))
        if progress:
            progress(0, total, "dense")
        dense = dense_pass(lm, ids, jobs, stop=_layer_hook(on_layer, 0, total, "dense", lm.layers))
        masses = {j.key: mass_summary(j) for j in jobs}
    done = 0
    for name, share, fitted, rkey in plan:
        label = f"{name}@{share:g}"
        if cancel is not None and cancel():
            cancelled = True
            break
        row = cached[rkey]
        hit = row is not None
        if row is None:
            assert dense is not None  # rkey is in todo (see `cached`)
            hook = lambda kind, d=done, lab=label: _layer_hook(  # noqa: E731
                on_layer, d, total, "dense" if kind == "dense" else lab, lm.layers
            )
            row = sparse_row(lm, ids, dense, name, fitted["params"], masses[rkey], method, hook)
            cache_put(rkey, row)
            cached[rkey] = row
        solved = fitted["solved"]
        rows[label] = {
            "model": lm.info.key,
            "tokens": n,
            "pattern": name,
            "budget": share,
            "solved": solved,
            "value": fitted["params"][solved],
            "params": json.dumps(fitted["params"], sort_keys=True),
            "density": fitted["density"],
            "budget_met": fitted.get("budget_met"),
            "budget_note": fitted.get("budget_note"),
            **row,
            "cached": hit,
        }
        done += 1
        if progress:
            progress(done, total, label)
    table = _frame(rows, cancelled)
    table.attrs["price"] = quote
    return table


def _frame(rows: dict, cancelled: bool) -> pd.DataFrame:
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows.values()], columns=COLUMNS)
    table = table.dropna(axis=1, how="all")
    table.attrs["mass_layers"] = {label: r["mass_layers"] for label, r in rows.items()}
    table.attrs["mass_heads"] = {label: r["mass_heads"] for label, r in rows.items()}
    table.attrs["cancelled"] = cancelled
    return table


def layer_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mass kept per layer: one row per (pattern, budget), one column per layer."""
    layers = table.attrs.get("mass_layers", {})
    return pd.DataFrame.from_dict(layers, orient="index").rename(columns=lambda c: f"L{c}")


def to_json(table: pd.DataFrame) -> str:
    """The table and its per-layer and per-head arrays as one JSON document."""
    return json.dumps(
        {
            "rows": json.loads(table.to_json(orient="records")),
            "mass_layers": table.attrs.get("mass_layers", {}),
            "mass_heads": table.attrs.get("mass_heads", {}),
        },
        ensure_ascii=False,
        indent=1,
    )
