"""Does the pattern still remember? A retrieval grid (length × depth × trials) per (pattern, budget) on a causal LM.

For every arm (dense, or a pattern fitted to a density budget by `fit.fit` at the cell's length)
each trial's prompt is read under the pattern (the lab's sparse pass: the pattern inside every
layer) and a few answer tokens are decoded greedily, each new token reading only the KV positions
its pattern row keeps (the lab's decode step, as `decode.continue_text` does). The answer is scored
by exact match (`retrieval.score`), and each (arm, length, depth) gets its accuracy, trial count
and Wilson 95% interval.

Data-dependent patterns take part too. Their prefill chooses keys per head from that pass's own
q/k (as in the lab); at decode the new query scores every cached key (or key block) to choose
which to read, as Quest and MInference do, and the row says so in `decode_note`.

The prompts of one (arm, length) share every token before their needle (the filler does not depend
on the seed). Each prompt reuses the KV cache of the tokens it shares with the prompt before it, deepest needle
first, and prefills only the rest: at 5 depths × 2 trials that prefills ~59% of the tokens a fresh
start per prompt would. That holds for data-dependent patterns too: their causal rows choose from
their own query and the keys up to it (`lab_passes.rows_rule`), so a cached prefix is what the
longer prompt would compute. The prefill executes sparsely: a structured pattern gathers each query
block's kept key blocks (`lab_passes._gathered_layer`), a data-dependent one selects in query chunks.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import dispatch, models, retrieval
from .analysis import dense_mask
from .decode import pattern_expr
from .fit import fit
from .lab_args import MEMORY_MAX_LENGTH
from .lab_passes import MODEL_LOCK, LabPass, PassCancelledError, rows_rule
from .lab_price import LabBudget, LabPrice
from .lab_price import price_memory as _price_memory
from .memory_exec import GridPass
from .params import PatternError
from .patterns.base import Expr

DENSE = "dense"
# greedy answer tokens: a 5-digit passkey after "The pass key is" is a space, one token per digit and a
# period; a 7-digit multi-key value comes after ": " (":", " ", 7 digits), so it needs 9 at least
NEW_TOKENS = {"passkey": 7, "multikey": 11}
MAX_LENGTH = MEMORY_MAX_LENGTH  # SmolLM2's context; the structured mask is a dense (n, n) bool, 64 MiB here


def longest_prompt(max_tokens: int, task: str | None = None) -> int:
    """The longest prompt length a grid may ask of a model that reads `max_tokens` tokens.

    A prompt is within LENGTH_TOLERANCE / 2 tokens of its length and its answer tokens are read too:
    8,192 on SmolLM2 fails (8,181 at most for the passkey). `task=None`: the shortest over every task,
    the length a page can offer whatever task is picked."""
    answer = NEW_TOKENS[task] if task is not None else max(NEW_TOKENS.values())
    return max_tokens - retrieval.LENGTH_TOLERANCE // 2 - answer


def _refuse_long(model: str, max_tokens: int, lengths: Sequence[int], new_tokens: int) -> None:
    """Refuse a grid whose longest prompt and answer would not fit the model's context."""
    limit = max_tokens - retrieval.LENGTH_TOLERANCE // 2 - new_tokens
    if max(int(n) for n in lengths) > limit:
        raise PatternError(
            f"{model} reads at most {max_tokens:,} tokens: with {new_tokens} answer tokens a "
            f"retrieval prompt can be at most {limit:,} tokens long",
            "memory_too_long",
            model=model,
            max_tokens=f"{max_tokens:,}",
            new_tokens=new_tokens,
            limit=f"{limit:,}",
        )


DECODE_NOTES = {
    "structured": "reads only the cached positions its pattern row keeps",
    "dense": "reads every cached position",
    "topk": "scores every cached key with the new query, reads the k best per head (Quest-style selection)",
    "block_gating": "scores every cached key block's mean key with the new query, reads the own block and the "
    "top_blocks - 1 best earlier blocks per head (MoBA-style selection)",
}

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class Arm:
    """One column of the grid: dense, or a pattern at a budget (fitted) or with explicit parameters."""

    pattern: str
    budget: float | None = None
    params: dict | None = None  # explicit parameters (no fit); else fitted to the budget per length

    @property
    def label(self) -> str:
        """`pattern@budget`, `pattern{params}` or `dense`."""
        if self.pattern == DENSE:
            return DENSE
        if self.budget is not None:
            return f"{self.pattern}@{self.budget:g}"
        return f"{self.pattern}{json.dumps(self.params or {}, sort_keys=True)}"


@dataclass
class MemoryResult:
    """The grid's rows (one per arm, length, depth), whether it was cancelled, and its CPU and wall seconds."""

    rows: list[dict] = field(default_factory=list)
    cancelled: bool = False
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def frame(self):
        """The rows as a pandas DataFrame (pandas imported only here)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


ROW_KEYS = (
    "task", "lang", "model", "pattern", "budget", "label", "params", "density", "length", "tokens", "depth",
    "depth_measured", "accuracy", "correct", "trials", "ci_low", "ci_high", "answers", "expected", "decode_note",
    "prefix_reused", "seconds", "budget_met", "budget_note", "linear_dtype",
)  # fmt: skip


def _row_rule(prim, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(H, S) keys the data-dependent primitive keeps for one new query q (H, d) over cached keys k (H, S, d)."""
    return rows_rule(prim, q[:, None], k)[:, 0]


def _cache_kwarg(model) -> str:
    """The forward's name for the KV cache: `cache` in recent transformers 5 releases, `past_key_values` before
    (the GPU machine's transformers is not our pin)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _forward(lm, ids: list[int], cache, run: LabPass) -> int:
    """Feed ids through the model under `run`, extending `cache`; the greedy next token."""
    run.layer = 0
    device = next(lm.model.parameters()).device
    cached = {_cache_kwarg(lm.model): cache}
    inputs = torch.tensor([ids], device=device)
    logits = lm.model(input_ids=inputs, use_cache=True, logits_to_keep=1, **cached).logits
    return int(logits[0, -1].argmax())


LINEAR_DTYPES = ("float32", "bfloat16")


@contextmanager
def _linear_dtype(model: torch.nn.Module, dtype: str):
    """The decoder's linear layers computed in `dtype` for the duration (weights cast once, inputs per call,
    outputs back to float32); norms, rotary, attention, the selection of data-dependent patterns and the
    output head stay float32. Held under MODEL_LOCK: the Lab never sees the swap. Only the thread that asked
    for it computes in `dtype`: the Inspector's short passes share the model object without that lock (a
    server session inspecting while another runs a bfloat16 grid), and they keep computing in float32.

    bfloat16 runs the linear layers, ~61% of a float32 prefill, about 4.5x faster on a CPU with avx512_bf16
    (a 2,048 x 576 x 1,536 product: 36 ms float32, 8 ms bfloat16, one thread); rounding changes the logits
    slightly, so a grid run this way says so in every row (`linear_dtype`)."""
    if dtype == "float32":
        yield
        return
    target = getattr(torch, dtype)
    owner = threading.get_ident()
    swapped = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and not name.endswith("lm_head"):
            weight = mod.weight.detach().to(target)
            bias = None if mod.bias is None else mod.bias.detach().to(target)
            own = type(mod).forward.__get__(mod)  # the float32 forward, for other threads

            def forward(x, weight=weight, bias=bias, own=own):
                if threading.get_ident() != owner:  # another session's pass on the shared model: float32
                    return own(x)
                return torch.nn.functional.linear(x.to(weight.dtype), weight, bias).to(x.dtype)

            mod.forward = forward  # type: ignore[method-assign]  # an instance attribute, found before the class's
            swapped.append(mod)
    try:
        yield
    finally:
        for mod in swapped:
            del mod.forward


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != first[i] for s in seqs[1:]):
            return i
    return n


@torch.inference_mode()
def answer_trials(
    lm: models.LoadedModel,
    prompts: Sequence[list[int]],
    expr: Expr | None,
    new_tokens: int = 7,
    cancel: Cancel | None = None,
    stop: Cancel | None = None,
    answered: Callable[[int, list[int], int], None] | None = None,
    linear_dtype: str = "float32",
) -> tuple[list[list[int]], list[int]]:
    """Greedy answers of each prompt under the pattern (None: dense), in order, each reusing the KV cache of
    the tokens it shares with the prompt before it (dense and structured patterns).

    Returns the new token ids per prompt (fewer prompts when `cancel()` became true between two) and, per
    prompt, the number of its tokens that came from the cache instead of being prefilled.
    `answered(index, new ids, cached tokens)` is called as each prompt's answer is complete.
    `linear_dtype`: "bfloat16" computes the decoder's linear layers in bfloat16 (`_linear_dtype`)."""
    from transformers import DynamicCache

    data_dependent = expr is not None and expr.data_dependent
    total = max(len(p) for p in prompts) + new_tokens
    # GridPass: top-k from one score matrix, and every arm on a GPU (`memory_exec`); both assume the model's
    # own mask is causal (one unpadded prompt), which a sliding-window model's is not: the lab's pass then
    grid = getattr(lm.model.config, "sliding_window", None) is None
    if not grid and next(lm.model.parameters()).device.type != "cpu":
        raise PatternError("the retrieval grid runs a sliding-window model on the CPU only", "memory_device")
    make_pass = GridPass if grid else LabPass
    if expr is None:
        make_run: Callable[[], LabPass] = lambda: make_pass("dense", jobs=[])  # noqa: E731
    elif data_dependent:
        # each row's choice depends only on its query and the keys up to it (`lab_passes.rows_rule`), so
        # a cached prefix holds exactly what this prompt would compute: reused like the others
        make_run = lambda: make_pass("decode", n_total=total, expr=expr)  # noqa: E731
    else:
        # one (N, N) bool mask for every prompt: a structured row depends only on its position (and on N,
        # the same for all prompts here), so a cached prefix is exactly what this prompt would compute
        shared = torch.from_numpy(dense_mask(expr, total))
        make_run = lambda: make_pass("decode", n_total=total, expr=expr, shared=shared)  # noqa: E731
    outs: list[list[int]] = []
    reused: list[int] = []
    previous: list[int] = []  # the tokens whose keys and values the cache holds
    with MODEL_LOCK, _linear_dtype(lm.model, linear_dtype):
        dispatch.use(lm.model)
        cache = DynamicCache()
        for ids in prompts:
            if cancel is not None and cancel():
                break
            keep = min(_common_prefix([previous, ids]), len(ids) - 1)
            if keep == 0:
                cache = DynamicCache()
            elif keep < cache.get_seq_length():  # transformers 5 crops by the count of tokens removed
                cache.crop(keep - cache.get_seq_length())
            run = make_run()
            run.stop = stop  # checked after every layer: a long prompt stops within a layer, not a prompt
            try:
                with dispatch.running(run):
                    nxt = _forward(lm, ids[keep:], cache, run)
                    out = [nxt]
                    for _ in range(new_tokens - 1):
                        nxt = _forward(lm, [nxt], cache, run)
                        out.append(nxt)
            except PassCancelledError:
                break  # this prompt is left out, as a cancel between prompts leaves the next one out
            outs.append(out)
            reused.append(keep)
            if answered is not None:
                answered(len(outs) - 1, out, keep)
            previous = list(ids) + out[:-1]  # the last new token was never fed
    return outs, reused


def _arms(patterns: Sequence[str], budgets: Sequence[float], include_dense: bool, explicit) -> list[Arm]:
    arms = [Arm(DENSE)] if include_dense else []
    arms += [Arm(p, float(b)) for p in patterns for b in budgets]
    arms += [Arm(name, None, dict(params)) for name, params in (explicit or [])]
    return arms


def _decode_note(expr: Expr | None) -> str:
    if expr is None:
        return DECODE_NOTES["dense"]
    if not expr.data_dependent:
        return DECODE_NOTES["structured"]
    kinds = {type(p).__name__ for t in expr.terms() for p in t if p.data_dependent}
    names = {"TopK": "topk", "BlockGating": "block_gating"}
    notes = [DECODE_NOTES.get(names.get(k, ""), f"{k}: no decode rule") for k in sorted(kinds)]
    return "data-dependent: " + "; ".join(notes)


def price_memory(
    model_key: str,
    task: str,
    lengths: Sequence[int],
    depths: Sequence[float],
    trials: int,
    patterns: Sequence[str],
    budgets: Sequence[float],
    *,
    include_dense: bool = True,
    budget: LabBudget | None = None,
    linear_dtype: str = "float32",
) -> LabPrice:
    """The predicted CPU seconds of `run_memory(model_key, task, lengths, depths, trials, patterns, budgets)`.

    Nothing is loaded or computed: the price comes from the grid's shape (tokens prefilled with the
    prefix reuse, attention pairs, decode steps) and costs measured on this machine
    (`lab_price.MEMORY_COSTS`). Refuse with `lab_price.refuse_over_budget(price)`."""
    return _price_memory(
        model_key,
        task,
        lengths,
        depths,
        trials,
        patterns,
        budgets,
        include_dense=include_dense,
        budget=budget,
        linear_dtype=linear_dtype,
    )


def run_cell(
    lm: models.LoadedModel,
    arm: Arm,
    n: int,
    *,
    task: str,
    lang: str,
    seed: int,
    depths: Sequence[float],
    trials: int,
    new_tokens: int,
    check: Callable[[int], bool] | None = None,
    stop: Cancel | None = None,
    on_row: Callable[[dict], None] | None = None,
    linear_dtype: str = "float32",
) -> tuple[list[dict], int]:
    """The rows of one grid cell (an arm at one length, every depth) and how many trials ran.

    The unit of work of `run_memory`, locally or as one Ray task: its prompts share their prefix, so
    a cell is never split. `check(trials done)` is called before each trial; true stops the cell.
    `on_row(row)` is called with each row as soon as it is final (the same dict the returned rows hold)."""
    tok = lm.tokenizer
    prompts = {float(d): [retrieval.make_task(tok, task, n, float(d), seed + t, lang) for t in range(trials)]
               for d in depths}  # fmt: skip
    params: dict | None = None
    density: float | None = 1.0
    met: bool | None = None
    note = ""
    if arm.pattern != DENSE:
        if arm.params is not None:
            params, density = arm.params, None
        else:
            assert arm.budget is not None  # an arm has parameters or a budget
            fitted = fit(arm.pattern, n, arm.budget, True)
            params, density = fitted.params, fitted.achieved_density
            met, note = fitted.met, fitted.note  # e.g. strided cannot go below 8.69% at 1,024
    expr = None if arm.pattern == DENSE else pattern_expr(lm, arm.pattern, params or {})
    # deepest needle first: each prompt then shares with the one before it everything up to its needle
    order = [(float(d), t) for d in sorted(depths, reverse=True) for t in range(trials)]
    ids = {key: tok(prompts[key[0]][key[1]].text)["input_ids"] for key in order}
    starts: list[float] = []
    done: dict[tuple[float, int], tuple[list[int], int, float]] = {}  # (depth, trial) -> (answer, cached, seconds)
    made: dict[float, dict] = {}

    def before_trial() -> bool:
        starts.append(time.perf_counter())
        return check is not None and check(len(starts) - 1)

    def make_row(d: float) -> dict | None:
        keys = [(d, t) for t in range(trials) if (d, t) in done]
        if not keys:
            return None
        tasks = [prompts[d][t] for _, t in keys]
        texts = [tok.decode(done[k][0]) for k in keys]
        acc = retrieval.accuracy([retrieval.score(t, x) for t, x in zip(tasks, texts, strict=True)])
        return {
            "task": task,
            "lang": lang,
            "model": lm.info.key,
            "pattern": arm.pattern,
            "budget": arm.budget,
            "label": arm.label,
            "params": json.dumps(params, sort_keys=True) if params is not None else None,
            "density": density,
            "length": int(n),
            "tokens": int(np.mean([len(ids[k]) for k in keys])),
            "depth": d,
            "depth_measured": float(np.mean([t.depth_measured for t in tasks])),
            "accuracy": acc.accuracy,
            "correct": acc.correct,
            "trials": acc.trials,
            "ci_low": acc.ci_low,
            "ci_high": acc.ci_high,
            "answers": texts,
            "expected": [t.answer for t in tasks],
            "decode_note": _decode_note(expr),
            "prefix_reused": int(sum(done[k][1] for k in keys)),  # tokens read from the cache
            "seconds": float(sum(done[k][2] for k in keys)),
            "budget_met": met,  # None: dense or explicit parameters (no budget)
            "budget_note": note,
            "linear_dtype": linear_dtype,  # bfloat16: the linear layers ran in bfloat16 (not the Lab's float32)
        }

    def finish(d: float) -> None:
        row = make_row(d)
        if row is not None and d not in made:
            made[d] = row
            if on_row is not None:
                on_row(row)

    def answered(i: int, out: list[int], keep: int) -> None:
        done[order[i]] = (out, keep, time.perf_counter() - starts[i])
        d = order[i][0]
        if all((d, t) in done for t in range(trials)):
            finish(d)  # a depth's row is final once its last trial is answered

    outs, _ = answer_trials(
        lm, [ids[key] for key in order], expr, new_tokens, before_trial, stop, answered, linear_dtype
    )
    for d in sorted({float(d) for d in depths}, reverse=True):
        finish(d)  # a cancel leaves a depth with fewer trials: its row is final now
    rows = [made[float(d)] for d in depths if float(d) in made]
    return rows, len(outs)


def ray_cell(model_key: str, arm: Arm, n: int, new_tokens: int, common: dict) -> list[dict]:
    """One cell in a Ray worker: the model is loaded once per worker process (models.load caches it)."""
    torch.set_num_threads(1)  # one CPU per task, as Ray schedules it
    lm = models.load(model_key)
    return run_cell(lm, arm, n, new_tokens=new_tokens, **common)[0]


def _run_on_ray(
    ray, model_key, cells, common, new_tokens, progress, cancel, total, on_row=None
) -> tuple[list[dict], bool]:
    """Each cell as one Ray task on the cluster `ray` is connected to; rows merged in the local order.

    Ray schedules and retries; nothing here queues or places work. Cancel stops waiting and cancels
    the tasks not yet finished (their rows are left out, as a local cancel leaves them)."""
    remote = ray.remote(num_cpus=1)(ray_cell)
    futures = [remote.remote(model_key, arm, n, new_tokens, common) for arm, n in cells]
    pending, finished = list(futures), {}
    per_cell = len(common["depths"]) * common["trials"]
    while pending:
        if cancel is not None and cancel():
            for f in pending:
                ray.cancel(f)
            break
        ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        for f in ready:
            finished[f] = ray.get(f)
            for row in finished[f] if on_row is not None else ():
                on_row(row)  # a cell's rows are final when its task returns
            if progress is not None:
                progress(len(finished) * per_cell, total, cells[futures.index(f)][0].label)
    rows = [row for f in futures if f in finished for row in finished[f]]
    return rows, len(finished) < len(futures)


def connect_ray(address: str | None):
    """The `ray` module connected to the cluster at `address` ("auto": the one this machine belongs to).

    Ray is an optional extra (`pip install -e .[cluster]`); without it this says how to get it."""
    try:
        import ray  # type: ignore[import-not-found, unused-ignore]  # the optional 'cluster' extra
    except ImportError:
        raise PatternError(
            "--ray needs the optional 'cluster' extra: pip install -e .[cluster] (it installs ray)", "no_ray"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address or "auto", ignore_reinit_error=True, log_to_driver=False)
    return ray


def run_memory(
    model_key: str = "smollm2",
    task: str = "passkey",
    lengths: Sequence[int] = (1024,),
    depths: Sequence[float] = (0.1, 0.5, 0.9),
    trials: int = 2,
    patterns: Sequence[str] = (),
    budgets: Sequence[float] = (0.1,),
    *,
    include_dense: bool = True,
    explicit: Sequence[tuple[str, dict]] | None = None,
    lang: str = "en",
    seed: int = 0,
    new_tokens: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    ray=None,
    on_row: Callable[[dict], None] | None = None,
    linear_dtype: str = "float32",
) -> MemoryResult:
    """One row per (arm, length, depth): retrieval accuracy over `trials` seeded prompts, with its 95% interval.

    Arms: dense (unless `include_dense=False`), every pattern × budget (fitted at each length), and
    `explicit` (name, params) pairs. `progress(done, total, label)` is called after every trial;
    `cancel()` is checked between trials and after every layer of a prompt, and stops the grid (the
    finished rows are kept; a prompt cut short is left out).
    `ray`: a connected ray module (`connect_ray`): each (arm, length) cell runs as one Ray task and
    the rows come back in the order a local run gives them (identical rows; seconds aside).
    `on_row(row)`: called with each row as soon as it is final (locally: when a depth's last trial is
    answered, or when a cancel stops its cell; on Ray: when its cell's task returns), the same dict the
    result's rows hold, so a caller that is cancelled keeps the partial grid.
    `linear_dtype="bfloat16"`: the decoder's linear layers run in bfloat16 (~4.5x faster on a CPU with
    avx512_bf16; float32 default, the Lab's numbers); every row says which (`linear_dtype`)."""
    if task not in retrieval.TASKS or lang not in retrieval.LANGS:  # before the model loads: a refusal costs nothing
        raise PatternError(f"task must be one of {retrieval.TASKS} and lang one of {retrieval.LANGS}", "bad_task")
    if new_tokens is None:
        new_tokens = NEW_TOKENS[task]
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise PatternError(f"trials must be a whole number ≥ 1, got {trials!r}")
    if linear_dtype not in LINEAR_DTYPES:
        raise PatternError(f"linear_dtype must be one of {LINEAR_DTYPES}, got {linear_dtype!r}")
    if not 1 <= new_tokens <= 48:
        raise PatternError(f"new_tokens must be between 1 and 48, got {new_tokens!r}")
    for length in lengths:
        if not 64 <= int(length) <= MAX_LENGTH:
            raise PatternError(f"lengths must be between 64 and {MAX_LENGTH:,} tokens, got {length!r}")
    arms = _arms(patterns, budgets, include_dense, explicit)
    if not arms:
        raise PatternError("choose at least one pattern or keep dense")
    # a prompt is within LENGTH_TOLERANCE / 2 tokens of its length: 8,185 passed here and then failed deep
    # inside (the structured mask of 8,193 positions); the answer tokens need room too. A listed model's
    # context is known without loading it: refused before the load, which costs seconds
    if model_key in models.MODELS:
        info = models.MODELS[model_key]
        if info.causal:
            _refuse_long(info.key, info.max_tokens, lengths, new_tokens)
    lm = models.load(model_key)
    if not lm.info.causal:
        raise PatternError("retrieval needs a causal language model (e.g. smollm2)", "lab_not_causal")
    _refuse_long(lm.info.key, lm.info.max_tokens, lengths, new_tokens)  # a local folder's own context
    result = MemoryResult()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    total, done = len(arms) * len(lengths) * len(depths) * trials, 0
    cells = [(arm, int(n)) for arm in arms for n in lengths]
    common: dict[str, Any] = dict(
        task=task,
        lang=lang,
        seed=seed,
        depths=[float(d) for d in depths],
        trials=int(trials),
        linear_dtype=linear_dtype,
    )
    if ray is not None:
        result.rows, result.cancelled = _run_on_ray(
            ray, model_key, cells, common, new_tokens, progress, cancel, total, on_row
        )
        cells = []
    for arm, n in cells:
        if cancel is not None and cancel():
            result.cancelled = True
            break

        def check(done_here: int, label=arm.label, base=done) -> bool:
            if done_here and progress is not None:
                progress(base + done_here, total, label)
            return cancel is not None and cancel()

        rows, finished = run_cell(lm, arm, n, new_tokens=new_tokens, check=check, stop=cancel, on_row=on_row, **common)
        result.rows += rows
        done += finished
        if progress is not None:
            progress(done, total, arm.label)
        if finished < len(depths) * trials:
            result.cancelled = True
            break
    result.cpu_seconds = time.process_time() - cpu0
    result.wall_seconds = time.perf_counter() - wall0
    return result
