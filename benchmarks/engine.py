"""Time and peak memory of exact stats for every pattern, n = 2^10 ... 2^20.

Target: <= 1 s and <= 300 MB at n = 2^20 for every structured pattern. Data-dependent patterns
are dense by nature and measured up to their limit. Prints a markdown table.
"""

from __future__ import annotations

import argparse

from benchmarks.common import machine, measure
from sparse_core import PATTERNS, analysis, make, stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-exp", type=int, default=20)
    parser.add_argument("--block", type=int, default=128)
    args = parser.parse_args()
    exps = range(10, args.max_exp + 1, 2)
    print(f"Machine: {machine()}; block size {args.block}; best of 3; peak = traced NumPy/Python memory\n")
    print("| pattern | " + " | ".join(f"2^{e}" for e in exps) + " | target met at 2^20 |")
    print("|---|" + "---|" * len(exps) + "---|")
    for name, d in PATTERNS.items():
        expr = make(name).expr()
        cells, verdict = [], ""
        for e in exps:
            n = 1 << e
            if d.data_dependent and n > analysis.DATA_DEPENDENT_MAX_N:
                cells.append("—")
                continue
            seconds, peak = measure(lambda n=n, expr=expr: stats(expr, n, args.block), repeat=3 if e < 20 else 2)
            cells.append(f"{seconds * 1000:.0f} ms / {peak:.0f} MB")
            if e == 20:
                verdict = "yes" if seconds <= 1 and peak <= 300 else "**no**"
        print(f"| {name} | " + " | ".join(cells) + f" | {verdict or 'n/a (data-dependent)'} |")


if __name__ == "__main__":
    main()
