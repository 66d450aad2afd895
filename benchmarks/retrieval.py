"""Retrieval grid (issue 19): passkey, 1k/2k/4k tokens × depths 10–90 % × 2 trials, dense + 3 patterns at one budget.

Target: the default grid in ≤ 10 min of CPU on the 2-core machine, cold, and dense SmolLM2 recalling
≥ 90 % of the keys at 1k–4k tokens. The model is loaded before the clock starts; the load average
before and after is printed (the machine is shared). Torch runs with one thread by default
(`--threads`), as in benchmarks/lab.py. `--lengths`, `--depths`, `--trials`, `--patterns` and
`--budget` shrink the grid; the per-cell cost printed at the end lets one extrapolate.

Measured before issue 19's engine work (2 shared cores, load 4–10, one torch thread), CPU seconds per
trial: dense ~3.5–4.3 at 1,024, 12.7 at 2,048, ~57 at 4,096. Since then dense passes run fused SDPA,
sparse arms execute sparsely and data-dependent arms reuse the prefix too; `--prefill dense,streaming
--tokens 8192` times one long prefill per arm in its own process (CPU seconds, peak RSS). Numbers and
their load: docs/PERFORMANCE.md, "Retrieval grid and long prefills".
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks.common import machine

PATTERNS = ["streaming", "bigbird", "topk"]
BUDGET = 0.1


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def prefill_one(arm: str, tokens: int, budget: float) -> dict:
    """One prefill of a passkey prompt of `tokens` tokens in this process: dense (fused causal SDPA) or the
    pattern fitted to `budget`, executed sparsely (the decode-mode prefill of memory_eval); CPU seconds,
    peak RSS of the process and its RSS once the model was loaded."""
    import json  # noqa: F401 - the caller prints JSON
    import resource

    from sparse_core import models, retrieval
    from sparse_core.analysis import dense_mask
    from sparse_core.decode import greedy_ids, pattern_expr
    from sparse_core.fit import fit
    from sparse_core.lab_passes import LabPass

    lm = models.load("smollm2")
    ids = lm.tokenizer(retrieval.passkey(lm.tokenizer, tokens, 0.5, seed=0).text)["input_ids"]
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    density = 1.0
    if arm == "dense":
        run = LabPass("dense", jobs=[])
    else:
        fitted = fit(arm, len(ids), budget, True)
        density = fitted.achieved_density
        expr = pattern_expr(lm, arm, fitted.params)
        shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, len(ids) + 1))
        run = LabPass("decode", n_total=len(ids) + 1, expr=expr, shared=shared)
    cpu = time.process_time()
    greedy_ids(lm, ids, 1, run)  # the prefill and its one next token (logits of the last position only)
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"arm": arm, "tokens": len(ids), "density": density, "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(peak), "rss_after_load_mb": round(loaded)}  # fmt: skip


def prefill(arms: list[str], tokens: int, budget: float, threads: int) -> None:
    """Each arm's prefill in its own process (so each peak RSS is its own), side by side."""
    import json
    import subprocess
    import sys

    print(machine(), f"torch threads {threads}, load average before: {_load()}")
    results = []
    for arm in arms:
        cmd = [sys.executable, "-m", "benchmarks.retrieval", "--prefill-one", arm, "--tokens", str(tokens),
               "--budget", str(budget), "--threads", str(threads)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(out))
        print(out, flush=True)
    print(f"load average after: {_load()}")
    dense = next((r for r in results if r["arm"] == "dense"), None)
    for r in results:
        if dense is not None and r is not dense:
            ratio = r["cpu_s"] / dense["cpu_s"]
            print(f"{r['arm']} at {r['density']:.2%}: {ratio:.2f}x dense CPU, peak {r['peak_rss_mb']} MB")


def main() -> None:
    """Run the grid and print one row per (arm, length, depth), CPU time and per-trial cost."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefill", default=None, help="comma-separated arms (dense, patterns): one long prefill each")
    ap.add_argument("--prefill-one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tokens", type=int, default=8192, help="--prefill: prompt tokens")
    ap.add_argument("--task", default="passkey", choices=["passkey", "multikey"])
    ap.add_argument("--lengths", default="1024,2048,4096")
    ap.add_argument("--depths", default="0.1,0.3,0.5,0.7,0.9")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--patterns", default=",".join(PATTERNS), help="comma-separated; empty: dense only")
    ap.add_argument("--budget", type=float, default=BUDGET)
    ap.add_argument("--lang", default="en", choices=["en", "zh"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--linear-dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.prefill_one:
        import json

        print(json.dumps(prefill_one(args.prefill_one, args.tokens, args.budget)))
        return
    if args.prefill:
        prefill([a for a in args.prefill.split(",") if a], args.tokens, args.budget, args.threads)
        return

    from sparse_core import memory_eval, models

    print(machine(), f"torch threads {torch.get_num_threads()}")
    start = time.perf_counter()
    models.load("smollm2")
    print(f"model loaded in {time.perf_counter() - start:.1f} s (not counted)")
    lengths = [int(v) for v in _floats(args.lengths)]
    patterns = [p for p in args.patterns.split(",") if p.strip()]
    print(f"load average before: {_load()}")
    cpu_at: list[tuple[str, int, float]] = []  # (arm, length, CPU s when its row arrived): CPU per cell
    result = memory_eval.run_memory(
        "smollm2",
        args.task,
        lengths,
        _floats(args.depths),
        args.trials,
        patterns,
        [args.budget],
        lang=args.lang,
        progress=lambda done, total, label: print(f"  {done}/{total} {label}", flush=True),
        on_row=lambda row: cpu_at.append((row["label"], row["length"], time.process_time())),
        linear_dtype=args.linear_dtype,
    )
    print(f"load average after: {_load()}")
    print(f"{'arm':<18}{'length':>7}{'tokens':>7}{'depth':>6}{'density':>9}{'acc':>6}  {'95% CI':<13}{'s':>6}  answers")
    for r in result.rows:
        density = "" if r["density"] is None else f"{r['density']:.3f}"
        ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        print(
            f"{r['label']:<18}{r['length']:>7}{r['tokens']:>7}{r['depth']:>6.1f}{density:>9}"
            f"{r['correct']:>3}/{r['trials']:<2}  {ci:<13}{r['seconds']:>6.1f}  {r['answers']}"
        )
    trials = sum(r["trials"] for r in result.rows)
    print(
        f"CPU {result.cpu_seconds:.1f} s, wall {result.wall_seconds:.1f} s for {trials} trials "
        f"({result.cpu_seconds / max(trials, 1):.2f} CPU s per trial)"
    )
    print(f"linear layers in {args.linear_dtype}")
    cell_cpu: dict[tuple[str, int], float] = {}
    last = time.process_time() - result.cpu_seconds  # the grid's start (its CPU clock)
    for label, n, at in cpu_at:
        cell_cpu[label, n] = cell_cpu.get((label, n), 0.0) + at - last
        last = at
    for label in dict.fromkeys(r["label"] for r in result.rows):
        rows = [r for r in result.rows if r["label"] == label]
        cpu = sum(v for (lab, _), v in cell_cpu.items() if lab == label)
        print(f"{label}: recalled {sum(r['correct'] for r in rows)}/{sum(r['trials'] for r in rows)}, CPU {cpu:.1f} s")
        for n in lengths:
            if (label, n) in cell_cpu:
                print(f"  {label} at {n}: CPU {cell_cpu[label, n]:.1f} s")
        for n in lengths:
            cells = [r for r in result.rows if r["label"] == label and r["length"] == n]
            if cells:
                per = sum(r["seconds"] for r in cells) / sum(r["trials"] for r in cells)
                print(f"  {label} at {n}: {per:.2f} wall s per trial")


if __name__ == "__main__":
    main()
