"""Time and peak memory of exact stats for every pattern, n = 2^10 ... 2^20, and at every
parameter's extremes at n = 2^20.

CPU time of the process is reported (the machine is shared, so wall time varies with load).
Target: <= 1 s and <= 300 MB at n = 2^20 for every structured pattern and any accepted
parameters, or a PatternError with a message. Data-dependent patterns are dense by nature and
measured up to their limit. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from benchmarks.common import machine
from sparse_core import PATTERNS, PatternError, analysis, limits, make, registry, stats
from sparse_core.patterns.base import clear_dense_memo


def extremes():
    """(pattern, parameter values) for each parameter's minimum and maximum, others at default."""
    return registry.parameter_extremes()


def run_once(name, values, n, block):
    """(wall s, CPU s, peak MiB, outcome) of one request as the app and CLI make it: the budget check,
    then stats. Cold: a new pattern object and empty memos, so no table or mask from an earlier run is reused."""
    clear_dense_memo()
    expr = make(name, **values).expr()
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        limits.check_budget(expr, n, block)
        s = stats(expr, n, block)
        outcome = "exact" if s.block_available else "element exact, block refused"
    except PatternError as e:
        outcome = f"refused: {str(e)[:70]}…"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, cpu, peak, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-exp", type=int, default=20)
    parser.add_argument("--block", type=int, default=128)
    parser.add_argument("--skip-defaults", action="store_true", help="only the parameter extremes")
    args = parser.parse_args()
    exps = range(10, args.max_exp + 1, 2)
    print(f"Machine: {machine()}; block size {args.block}; peak = traced NumPy/Python memory\n")
    if not args.skip_defaults:
        print("Default parameters, best of 3 cold runs (2 at 2^20); CPU of this process, then peak memory:\n")
        print("| pattern | " + " | ".join(f"2^{e}" for e in exps) + " | target met at 2^20 |")
        print("|---|" + "---|" * len(exps) + "---|")
        for name, d in PATTERNS.items():
            cells, verdict = [], ""
            for e in exps:
                n = 1 << e
                if d.data_dependent and n > analysis.DATA_DEPENDENT_MAX_N:
                    cells.append("—")
                    continue
                runs = [run_once(name, {}, n, args.block) for _ in range(3 if e < 20 else 2)]
                cpu, peak = min(r[1] for r in runs), max(r[2] for r in runs)
                cells.append(f"{cpu * 1000:.0f} ms / {peak:.0f} MB")
                if e == 20:
                    verdict = "yes" if cpu <= 1 and peak <= 300 else "**no**"
            print(f"| {name} | " + " | ".join(cells) + f" | {verdict or 'n/a (data-dependent)'} |", flush=True)
    n = 1 << args.max_exp
    print(f"\nParameter extremes at n = {n:,} (one run each; wall and CPU seconds):\n")
    print("| pattern | parameters | wall | CPU | peak | outcome | target met |")
    print("|---|---|---|---|---|---|---|")
    for name, values in extremes():
        wall, cpu, peak, outcome = run_once(name, values, n, args.block)
        met = "yes" if (cpu <= 1 and peak <= 300) else "**no**"
        text = ", ".join(f"{k}={v}" for k, v in values.items())
        print(f"| {name} | {text} | {wall:.2f} s | {cpu:.2f} s | {peak:.0f} MB | {outcome} | {met} |", flush=True)


if __name__ == "__main__":
    main()
