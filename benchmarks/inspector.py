"""Inspector: 256 tokens, all layers, dense + sparse, figures ready. Target <= 3 s on 2 CPU cores.

Measured after the model is loaded (loading is reported apart). "Figures" = the four heatmaps of
one head and the layers x heads overview, serialised to JSON as Streamlit ships them.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import machine
from sparse_core import attention as A
from sparse_core import make, models
from ui.figures import attention_heatmap, head_overview

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "assets" / "examples" / "en_story.txt").read_text() * 3


def main() -> None:
    print(f"Machine: {machine()}; torch threads = {__import__('torch').get_num_threads()}; best of 3\n")
    print(
        "| model | pattern | tokens | load (s) | dense + sparse forward (s) | figures (s) | total (s) | payload (KB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in ("minilm", "smollm2"):
        t0 = time.perf_counter()
        lm = models.load(key)
        load_s = time.perf_counter() - t0
        tokens = A.tokenize(lm, TEXT, 256)
        for name in ("window", "bigbird", "topk"):
            expr = make(name, lm.info.causal, **({"block": 16} if name == "bigbird" else {})).expr()
            best = None
            for _ in range(3):
                t1 = time.perf_counter()
                result = A.compare(lm, tokens, expr, (2, 0))
                thumbs = A.thumbnails(result.dense.attentions)
                t2 = time.perf_counter()
                dense = result.dense.attentions[2, 0].astype("float32")
                sparse = result.sparse.attentions[2, 0].astype("float32")
                figs = [
                    attention_heatmap(dense, tokens.labels, "d"),
                    attention_heatmap(result.keep.astype("uint8"), tokens.labels, "m"),
                    attention_heatmap(sparse, tokens.labels, "s"),
                    attention_heatmap(sparse - dense, tokens.labels, "x", "RdBu", 0),
                    head_overview(thumbs, result.mass_kept),
                ]
                payload = sum(len(f.to_json()) for f in figs)
                t3 = time.perf_counter()
                run = (t2 - t1, t3 - t2, t3 - t1, payload)
                best = run if best is None or run[2] < best[2] else best
            print(
                f"| {key} | {name} | {len(tokens.ids)} | {load_s:.1f} | {best[0]:.2f} | {best[1]:.2f} | "
                f"{best[2]:.2f} | {best[3] / 1024:.0f} |"
            )


if __name__ == "__main__":
    main()
