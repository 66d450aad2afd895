"""Dense SDPA vs block-sparse FlexAttention (compiled, BlockMask from the engine's layout).

Prints time, speed-up, ideal (1/density) and block ideal (1/block density) per pattern and n.
Targets: >= 0.6 of the block ideal at n = 16,384 on CPU and at n = 65,536 on a GPU.
  CPU:  python -m benchmarks.speed
  GPU:  python -m benchmarks.speed --device cuda --dtype bf16 --heads 16 --d-head 128 --max-n 65536
Causal patterns are also compared with causal SDPA (is_causal=True), which is already 2x ideal.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import machine
from sparse_core import make
from sparse_core.export import parse_layers
from sparse_core.speed import DTYPES, best_time, measure

PATTERNS = {  # (parameters, CPU kernel block size): BigBird's own block is 64, twice as fast on CPU as 128
    "window": ({"window": 256}, 128),
    "bigbird": ({"block": 64}, 64),
    "streaming": ({"sinks": 4, "window": 1020}, 128),
    "strided": ({"stride": 128}, 128),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--min-n", type=int, default=1024)
    parser.add_argument("--max-n", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--autotune", action="store_true", help="let inductor search kernel tile sizes")
    parser.add_argument("--only-extra", action="store_true", help="measure only the --pattern ones")
    parser.add_argument(
        "--pattern",
        action="append",
        default=[],
        help='extra pattern as in the explorer URL, e.g. "window(window=1024)"; repeatable',
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else machine()
    print(
        f"Device: {device_name}; {args.dtype}, {args.heads} heads, d = {args.d_head}, "
        f"{'autotuned' if args.autotune else 'default'} kernels, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; best of {args.repeats}\n"
    )
    print(
        "| pattern | n | dense SDPA | causal SDPA | block-sparse | compile | speed-up | ideal | block ideal "
        "| share of block ideal | max error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    n = args.min_n
    while n <= args.max_n:
        q, k, v = (
            torch.randn(1, args.heads, n, args.d_head, device=args.device, dtype=DTYPES[args.dtype]) for _ in range(3)
        )
        sdpa = torch.nn.functional.scaled_dot_product_attention
        with torch.inference_mode():
            dense_s = best_time(lambda q=q, k=k, v=v: sdpa(q, k, v), args.repeats, args.device)  # noqa: B023
            causal_s = best_time(
                lambda q=q, k=k, v=v: sdpa(q, k, v, is_causal=True),  # noqa: B023
                args.repeats,
                args.device,
            )
        del q, k, v
        extra = {text: (dict(parse_layers(text)[0].params), 128) for text in args.pattern}
        for name, (params, block) in ({**PATTERNS, **extra} if not args.only_extra else extra).items():
            if args.device.startswith("cuda"):
                # the GPU kernel tiles 128 x 128 for d = 128 (64 is refused), so BigBird's own
                # blocks are aligned to it: misaligned random blocks would all need mask_mod
                block = 128
                params = {**params, "block": 128} if name == "bigbird" else params
            spec = parse_layers(name)[0] if name in extra else make(name, **params)
            r = measure(
                spec.expr(),
                n,
                args.heads,
                args.d_head,
                block,
                args.dtype,
                args.device,
                args.repeats,
                dense_s=dense_s,
                autotune=args.autotune,
            )
            causal = f"{causal_s * 1000:.1f} ms" if spec.causal else "—"
            print(
                f"| {name} | {n:,} | {r.dense_s * 1000:.1f} ms | {causal} | {r.sparse_s * 1000:.1f} ms | "
                f"{r.compile_s:.1f} s | {r.speedup:.1f}× | {r.ideal:.1f}× | {r.block_ideal:.1f}× | "
                f"{r.share_of_block_ideal:.2f} | {r.max_abs_error:.1e} |",
                flush=True,
            )
        n *= 2


if __name__ == "__main__":
    main()
