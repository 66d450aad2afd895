"""Explorer figure: build time and bytes sent to the browser, n = 2^4 ... 2^20.

"Build" = the engine's bounded view (token mask or pooled block densities) + the Plotly figure +
its JSON serialisation, which is what Streamlit ships. Target: <= 150 ms and <= 1 MB at any n.
"""

from __future__ import annotations

import time

from benchmarks.common import machine
from sparse_core import make
from sparse_core.views import mask_view
from ui.figures import mask_image

PATTERNS = ["window", "bigbird", "strided", "longformer", "streaming", "random"]


def build(expr, n):
    t0 = time.perf_counter()
    payload = mask_image(mask_view(expr, n)).to_json()
    return time.perf_counter() - t0, len(payload)


def main() -> None:
    print(f"Machine: {machine()}; best of 3 builds, payload = figure JSON bytes\n")
    exps = list(range(4, 21, 2))
    print("| pattern | " + " | ".join(f"2^{e}" for e in exps) + " | worst time | worst bytes |")
    print("|---|" + "---|" * len(exps) + "---|---|")
    for name in PATTERNS:
        expr = make(name).expr()
        cells, worst_t, worst_b = [], 0.0, 0
        for e in exps:
            n = 1 << e
            build(expr, n)  # warm caches (first Plotly import and template work)
            runs = [build(expr, n) for _ in range(3)]
            seconds, size = min(r[0] for r in runs), runs[0][1]
            worst_t, worst_b = max(worst_t, seconds), max(worst_b, size)
            cells.append(f"{seconds * 1000:.0f} ms / {size / 1024:.0f} KB")
        verdict = "" if worst_t <= 0.15 and worst_b <= 2**20 else " **over target**"
        print(f"| {name} | " + " | ".join(cells) + f" | {worst_t * 1000:.0f} ms{verdict} | {worst_b / 1024:.0f} KB |")


if __name__ == "__main__":
    main()
