"""Inspector: 256 tokens, all layers, dense + sparse, figures ready.

Targets (issue 14): MiniLM <= 1 s of server work, SmolLM2 <= 3 s wall, on an idle 2-core machine.
Measured after the model is loaded (loading is reported apart), best of `--repeat` runs, for
torch thread counts 1 and 2:
- cold: a new text (dense pass + masks + sparse pass);
- pattern change: the dense pass comes from the engine's cache, only the sparse pass runs;
- figures: the selected head's dense and sparse maps (recomputed from stored q/k), the mask,
  the layers x heads overview, serialised to JSON as Streamlit ships them.
`--old REV` also times the previous implementation (hooks + two eager passes with
output_attentions) from that git revision, on the same warm model.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from benchmarks.common import machine
from sparse_core import attention as A
from sparse_core import dispatch, make, models, passes
from ui.figures import attention_heatmap, head_overview

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "assets" / "examples" / "en_story.txt").read_text() * 3
PATTERNS = {"window": {}, "bigbird": {"block": 16}, "topk": {}}


def _old_attention(rev: str):
    """The attention module of an earlier revision, imported beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{rev}:sparse_core/attention.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    source = source.replace("from .", "from sparse_core.")
    path = Path(tempfile.mkdtemp()) / "old_attention.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_attention", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_attention"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and best CPU seconds (this process, all threads) over `repeat` runs, and the last result."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def _cold(lm, tokens, expr):
    passes._DENSE.clear()  # a new text: nothing cached
    return A.compare(lm, tokens, expr, (2, 0))


def _figures(result, tokens, layer: int = 2, head: int = 0) -> tuple[float, int]:
    start = time.perf_counter()
    dense = result.dense.attentions[layer, head]
    sparse = result.sparse.attentions[layer, head]
    figs = [
        attention_heatmap(dense, tokens.labels, "d"),
        attention_heatmap(result.keep.astype("uint8"), tokens.labels, "m"),
        attention_heatmap(sparse, tokens.labels, "s"),
        attention_heatmap(sparse - dense, tokens.labels, "x", "RdBu", 0),
        head_overview(A.thumbnails(result.dense.attentions), result.mass_kept),
    ]
    payload = sum(len(f.to_json()) for f in figs)
    return time.perf_counter() - start, payload


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--old", default="", help="git revision of the previous implementation to time beside")
    parser.add_argument("--models", default="minilm,smollm2")
    args = parser.parse_args()
    old = _old_attention(args.old) if args.old else None
    print(f"Machine: {machine()}; best of {args.repeat}\n")
    print("Times are wall / CPU seconds (CPU of all torch threads; with 1 thread it is what an idle core needs).\n")
    print(
        "| model | pattern | tokens | threads | load (s) | cold: dense + masks + sparse | pattern change "
        "| figures (s) | old: two eager passes | payload (KB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in args.models.split(","):
        t0 = time.perf_counter()
        lm = models.load(key)
        load_s = time.perf_counter() - t0
        tokens = A.tokenize(lm, TEXT, 256)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for name, params in PATTERNS.items():
                expr = make(name, lm.info.causal, **params).expr()

                cold_s, cold_cpu, result = _best(partial(_cold, lm, tokens, expr), args.repeat)
                warm_s, warm_cpu, result = _best(partial(A.compare, lm, tokens, expr, (2, 0)), args.repeat)
                fig_s, payload = _figures(result, tokens)
                old_s = "—"
                if old is not None:
                    lm.model.set_attn_implementation("eager")
                    try:
                        secs, cpu, _ = _best(partial(old.compare, lm, tokens, expr, (2, 0)), args.repeat)
                        old_s = f"{secs:.2f} / {cpu:.2f}"
                    finally:
                        dispatch.use(lm.model)
                print(
                    f"| {key} | {name} | {len(tokens.ids)} | {threads} | {load_s:.1f} | {cold_s:.2f} / {cold_cpu:.2f} "
                    f"| {warm_s:.2f} / {warm_cpu:.2f} | {fig_s:.2f} | {old_s} | {payload / 1024:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    sys.exit(main())
