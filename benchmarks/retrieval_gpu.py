"""Retrieval grid on a GPU (issue 19's target: the default grid extended to 8k in ≤ 2 minutes on the lent GPU).

The SmolLM2 weights (~540 MB fp32) cannot travel to the GPU machine, and the grid's time depends only on shapes:
this builds SmolLM2-135M from its exact config (below, copied from the converted folder's config.json) with
RANDOM weights, and its real tokenizer (tokenizer.json and tokenizer_config.json, a few MB, from a folder
given with --tokenizer). Greedy decoding in the grid always runs its new tokens to the end (no stop on
end-of-text), so the work is the real grid's: same prompts, same prefix reuse, same fitted patterns, same
decode steps. Accuracy is meaningless with random weights and is not reported. "8k" is 8,180 tokens: the
prompt (within 4 tokens of its length) and its 7 answer tokens must fit SmolLM2's 8,192 positions.

    python -m benchmarks.retrieval_gpu --tokenizer DIR [--lengths 1024,2048,4096,8180] [--device cuda]

Prints one JSON line per grid (device, lengths, wall and CPU seconds, per-arm wall seconds); `--out FILE` writes
them to a file too. Without CUDA it runs on the CPU (a smoke test; `--lengths 256`).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# SmolLM2-135M-Instruct's config.json, as converted by sparse_core.models (fp32)
SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.02,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "pad_token_id": 2,
    "pretraining_tp": 1,
    "rms_norm_eps": 9.999999747378752e-06,
    "rope_theta": 100000.0,
    "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
    "tie_word_embeddings": True,
    "unk_token_id": 0,
    "use_cache": True,
    "vocab_size": 49152,
}


def random_smollm2(tokenizer_dir: str, device: str):
    """A LoadedModel with SmolLM2-135M's shapes, random weights (seeded) and its real tokenizer, on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from sparse_core import models

    torch.manual_seed(0)
    config = LlamaConfig(**{k: v for k, v in SMOLLM2_CONFIG.items() if k != "architectures"})
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", torch_dtype=torch.float32)
    model = model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    return models.LoadedModel(models.MODELS["smollm2"], model, tokenizer)


def topk_k(n: int, density: float) -> int:
    """The k whose causal top-k keeps `density` of the n(n+1)/2 pairs, by exact count (row r keeps min(k, r + 1)):
    `fit.fit` stops data-dependent patterns at 4,096 tokens (its CPU scoring), the GPU grid goes to 8k."""
    allowed = n * (n + 1) // 2

    def kept(k: int) -> int:
        return k * (k + 1) // 2 + (n - k) * k if k < n else allowed

    lo, hi = 1, n  # kept(k) grows with k: bisect, then the closer neighbour
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if kept(mid) <= density * allowed else (lo, mid)
    return min((lo, hi), key=lambda k: abs(kept(k) - density * allowed))


def run_grid(lm, lengths, depths, trials, patterns, budget, linear_dtype: str, sync) -> dict:
    """The grid through memory_eval.run_memory with `lm` in place of the bundled model; wall and CPU seconds.

    Lengths over 4,096 run as a second grid in which top-k has its k computed here (`topk_k`) instead of fitted."""
    from sparse_core import memory_eval

    real_load = memory_eval.models.load
    memory_eval.models.load = lambda key, progress=None: lm  # the random-weight model instead of the download
    arm_wall: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_row(row: dict) -> None:
        sync()
        now = time.perf_counter()
        label = row["pattern"]
        arm_wall[label] = arm_wall.get(label, 0.0) + now - last[0]
        last[0] = now

    small = [n for n in lengths if n <= 4096]
    big = [n for n in lengths if n > 4096]
    rows: list[dict] = []
    try:
        sync()
        wall, cpu = time.perf_counter(), time.process_time()
        last[0] = wall
        if small:
            result = memory_eval.run_memory(
                "smollm2",
                "passkey",
                small,
                depths,
                trials,
                patterns,
                [budget],
                on_row=on_row,
                linear_dtype=linear_dtype,
            )
            rows += result.rows
        for n in big:
            fitted = [p for p in patterns if p != "topk"]
            explicit = [("topk", {"k": topk_k(n, budget)})] if "topk" in patterns else []
            result = memory_eval.run_memory(
                "smollm2",
                "passkey",
                [n],
                depths,
                trials,
                fitted,
                [budget],
                explicit=explicit,
                on_row=on_row,
                linear_dtype=linear_dtype,
            )
            rows += result.rows
        sync()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        memory_eval.models.load = real_load
    return {
        "lengths": list(lengths),
        "arms": list(dict.fromkeys(r["label"] for r in rows)),
        "rows": len(rows),
        "trials": sum(r["trials"] for r in rows),
        "tokens_cached": sum(r["prefix_reused"] for r in rows),
        "linear_dtype": linear_dtype,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "arm_wall_s": {k: round(v, 2) for k, v in arm_wall.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True, help="folder with SmolLM2's tokenizer.json and tokenizer_config.json")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--lengths", default="1024,2048,4096,8180")
    ap.add_argument("--depths", default="0.1,0.3,0.5,0.7,0.9")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--patterns", default="streaming,bigbird,topk")
    ap.add_argument("--budget", type=float, default=0.1)
    ap.add_argument("--linear-dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--warmup", action="store_true", help="first a 256-token grid (CUDA context, kernels) untimed")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import transformers

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    head = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "weights": "random (seed 0), SmolLM2-135M config, fp32",
    }
    print(json.dumps(head), flush=True)
    start = time.perf_counter()
    lm = random_smollm2(args.tokenizer, args.device)
    print(json.dumps({"model_built_s": round(time.perf_counter() - start, 2)}), flush=True)
    lines = [head]
    patterns = [p for p in args.patterns.split(",") if p]
    depths = [float(d) for d in args.depths.split(",")]
    if args.warmup:
        out = run_grid(lm, [256], [0.5], 1, patterns, args.budget, args.linear_dtype, sync)
        out["warmup"] = True
        print(json.dumps(out), flush=True)
        lines.append(out)
    lengths = [int(n) for n in args.lengths.split(",")]
    out = run_grid(lm, lengths, depths, args.trials, patterns, args.budget, args.linear_dtype, sync)
    print(json.dumps(out), flush=True)
    lines.append(out)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
