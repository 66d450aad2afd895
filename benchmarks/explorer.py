"""Explorer: the page's one engine call and its figure, n = 2^4 ... 2^20, in CPU time.

"Engine" = `sparse_core.explore.explore` (budget check, exact stats, degree profile, bounded view),
the call the page makes. "Figure" = the Plotly mask figure built from its view + its JSON
serialisation, which is what Streamlit ships. Targets: figure <= 150 ms CPU and <= 1 MB at any n;
engine + figure <= 300 ms CPU (the per-interaction target). CPU time, not wall: the machine is shared.
"""

from __future__ import annotations

import time

from benchmarks.common import machine
from sparse_core import PatternError, make
from sparse_core.explore import explore
from sparse_core.export import Config
from ui.figures import mask_image

PATTERNS = ["window", "bigbird", "strided", "longformer", "streaming", "random"]


def build(name: str, n: int) -> tuple[float, float, int]:
    """CPU seconds of the engine call, CPU seconds of the figure, and the figure's JSON bytes."""
    t0 = time.process_time()
    result = explore(Config([make(name)], n))
    t1 = time.process_time()
    payload = mask_image(result.view, nnz=result.stats.nnz).to_json()
    return t1 - t0, time.process_time() - t1, len(payload)


def main() -> None:
    print(f"Machine: {machine()}; CPU ms: engine (cold, first call) + figure (best of 3) / figure KB\n")
    exps = list(range(4, 21, 4))
    print("| pattern | " + " | ".join(f"2^{e}" for e in exps) + " | worst engine+figure | worst bytes |")
    print("|---|" + "---|" * len(exps) + "---|---|")
    for name in PATTERNS:
        cells, worst_t, worst_b = [], 0.0, 0
        for e in exps:
            n = 1 << e
            try:
                # the first call is cold for the engine (a rerun repeats it from the engine's memos, so
                # only this one counts); the figure is timed best of 3
                runs = [build(name, n) for _ in range(3)]
            except PatternError as error:  # refused by the budget: say so, in the table
                cells.append(f"refused ({str(error)[:30]}…)")
                continue
            engine, figure = runs[0][0], min(r[1] for r in runs)
            worst_t, worst_b = max(worst_t, engine + figure), max(worst_b, runs[0][2])
            cells.append(f"{engine * 1000:.0f} + {figure * 1000:.0f} ms / {runs[0][2] / 1024:.0f} KB")
        verdict = "" if worst_t <= 0.3 and worst_b <= 2**20 else " **over target**"
        print(f"| {name} | " + " | ".join(cells) + f" | {worst_t * 1000:.0f} ms{verdict} | {worst_b / 1024:.0f} KB |")


if __name__ == "__main__":
    main()
