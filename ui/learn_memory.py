"""Learn's step "fluent is not the same as remembering": a small grid computed once by the engine, read from JSON.

The step must not make a reader wait minutes for SmolLM2, so its data is computed ahead by this
module's `build()` (the engine's own `memory_eval.run_memory` for recall and `lab.run_lab` for
perplexity, on SmolLM2, the same budget for every pattern) and stored in `DATA`. The page reads
only that file: every number it shows comes from it. Regenerate with

    HF_HUB_OFFLINE=1 nice .venv/bin/python -m ui.learn_memory

`tests/test_learn_memory.py` re-runs a slice of the grid through the engine and checks that it
gives the stored rows. No Streamlit here; the engine is imported only by `build()`.
"""

from __future__ import annotations

import json
import subprocess
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[1]
DATA = ROOT / "assets" / "learn" / "fluent_vs_memory.json"
# the grid: the finding (a causal window and StreamingLLM at the same budget: one fluent, neither
# remembering a key outside its window) at one length, small enough to compute in about 35 CPU seconds here
GRID = {
    "model": "smollm2",
    "task": "passkey",
    "lang": "en",
    "lengths": [512],
    "depths": [0.1, 0.5, 0.9],
    "trials": 1,
    "patterns": ["window", "streaming"],
    "budget": 0.25,
    "seed": 0,
    "text": "keeper_of_the_light",  # the Lab's long text: perplexity is measured on it
    "tokens": 512,
}


@cache
def load() -> dict:
    """The stored grid: {"about": GRID and provenance, "memory": run_memory rows, "fluency": run_lab rows}."""
    return json.loads(DATA.read_text(encoding="utf-8"))


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return ""


def build(grid: dict | None = None) -> dict:
    """Run the grid through the engine (minutes of CPU on SmolLM2) and return what `load()` reads."""
    from sparse_core import lab, memory_eval

    g = dict(GRID if grid is None else grid)
    cpu0 = time.process_time()
    result = memory_eval.run_memory(
        g["model"], g["task"], g["lengths"], g["depths"], g["trials"], g["patterns"], [g["budget"]],
        include_dense=True, lang=g["lang"], seed=g["seed"],
    )  # fmt: skip
    text = (ROOT / "assets" / "long" / f"{g['text']}.txt").read_text(encoding="utf-8")
    table = lab.run_lab(g["model"], text, g["patterns"], [g["budget"]], g["tokens"])
    keep = ["pattern", "budget", "params", "density", "tokens", "ppl_dense", "ppl_sparse", "ppl_change", "agreement"]
    fluency = json.loads(table[keep].to_json(orient="records"))
    about = g | {
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "commit": _commit(),
        "made": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m ui.learn_memory",
    }
    return {"about": about, "memory": result.rows, "fluency": fluency}


def main() -> None:
    """Build the grid and write DATA (one torch thread: CPU seconds comparable with the benchmarks')."""
    import torch

    torch.set_num_threads(1)
    data = build()
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DATA.relative_to(ROOT)}: {len(data['memory'])} memory rows, {data['about']['cpu_seconds']} CPU-s")


if __name__ == "__main__":
    main()
