"""Measured speed: dense SDPA against compiled FlexAttention built from the engine's block layout.

Compile time is reported apart from run time. Each new mask_mod or shape recompiles, so the
recompile limit is raised deliberately: past it torch silently falls back to an unfused path that
materialises all scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .analysis import DENSE_MAX_N, dense_mask, mask_tile, row_degree
from .flex import to_block_mask
from .params import PatternError
from .patterns.base import Expr

_COMPILED: dict[str, Callable] = {}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# A speed run from the app uses one CPU thread: on a shared 2-core server the other core stays free
# for everyone else's reruns, and one thread does not stall on a busy core as two OpenMP threads do.
APP_THREADS = 1
# Dense FLOPs (QK^T + AV) of one dense call that a run from the app may cost on CPU: about 7 s of one
# core here, and a run makes up to three such calls per length (more with the boolean-mask column).
APP_MAX_DENSE_FLOPS = 3 * 10**11


def dense_flops(n: int, heads: int, d_head: int) -> int:
    """FLOPs of one dense attention call: QK^T and AV, 2·d each per (query, key) pair and head."""
    return 4 * heads * d_head * n * n


def check_app_run(n: int, heads: int, d_head: int, device: str = "cpu") -> None:
    """Refuse, before any work, a CPU run from the app whose dense side exceeds APP_MAX_DENSE_FLOPS."""
    if device.startswith("cuda"):
        return
    flops = dense_flops(n, heads, d_head)
    if flops > APP_MAX_DENSE_FLOPS:
        raise PatternError(
            f"n = {n:,} with {heads} heads of d = {d_head} is {flops / 1e9:,.0f} GFLOP per dense call, over this "
            f"server's {APP_MAX_DENSE_FLOPS / 1e9:,.0f} GFLOP: choose fewer heads or a shorter n",
            "speed_budget",
            n=f"{n:,}",
            heads=heads,
            d=d_head,
            gflop=f"{flops / 1e9:,.0f}",
            limit=f"{APP_MAX_DENSE_FLOPS / 1e9:,.0f}",
        )


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with `threads` torch CPU threads (None: leave as is), then restore the old count.

    torch's thread count is process-wide, so other work in the process sees it meanwhile.
    """
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compiled_flex(device: str, autotune: bool = False) -> Callable:
    """One compiled flex_attention per (device, autotune); autotuning searches kernel tile sizes
    (worth it on a GPU: much longer compiles, faster kernels)."""
    key = f"{device}:{autotune}"
    if key not in _COMPILED:
        import torch._dynamo
        from torch.nn.attention.flex_attention import flex_attention

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
        torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 4096)
        mode = "max-autotune-no-cudagraphs" if autotune else None
        _COMPILED[key] = torch.compile(flex_attention, dynamic=False, mode=mode)
    return _COMPILED[key]


@dataclass
class Timing:
    """One measured comparison of dense SDPA and block-sparse FlexAttention."""

    n: int
    heads: int
    d_head: int
    block: int
    dtype: str
    device: str
    dense_s: float
    sparse_s: float
    compile_s: float
    block_mask_s: float
    density: float
    block_density: float
    max_abs_error: float
    masked_sdpa_s: float | None = None  # SDPA given the boolean mask: computes all n^2 scores anyway

    @property
    def speedup(self) -> float:
        return self.dense_s / self.sparse_s

    @property
    def ideal(self) -> float:
        return 1 / self.density

    @property
    def block_ideal(self) -> float:
        return 1 / self.block_density

    @property
    def share_of_block_ideal(self) -> float:
        return self.speedup / self.block_ideal


def best_time(fn, repeats: int, device: str) -> float:
    """Best wall time per call. On a GPU, calls run back to back between synchronisations
    (as training and serving do), so the host's dispatch overlaps the kernels it launches."""
    calls = 1
    if device.startswith("cuda"):
        fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        calls = max(1, min(100, int(0.05 / max(time.perf_counter() - t0, 1e-6))))  # ~50 ms per sample
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


@torch.inference_mode()
def measure(
    expr: Expr,
    n: int,
    heads: int = 4,
    d_head: int = 64,
    block: int = 128,
    dtype: str = "fp32",
    device: str = "cpu",
    repeats: int = 3,
    dense_s: float | None = None,
    autotune: bool = False,
    masked_sdpa: bool = False,
    threads: int | None = None,
) -> Timing:
    """Best-of-`repeats` wall time of dense SDPA and of block-sparse FlexAttention (same inputs).

    Pass `dense_s` to reuse a dense timing measured for the same (n, heads, d, dtype, device), and
    `threads` to time with that many torch CPU threads (restored afterwards).
    """
    with torch_threads(threads):
        return _measure(expr, n, heads, d_head, block, dtype, device, repeats, dense_s, autotune, masked_sdpa)


def _measure(expr, n, heads, d_head, block, dtype, device, repeats, dense_s, autotune, masked_sdpa) -> Timing:
    torch.manual_seed(0)
    dt = DTYPES[dtype]
    q, k, v = (torch.randn(1, heads, n, d_head, device=device, dtype=dt) for _ in range(3))
    t0 = time.perf_counter()
    block_mask = to_block_mask(expr, n, block, device)
    block_mask_s = time.perf_counter() - t0
    flex = compiled_flex(device, autotune)
    t0 = time.perf_counter()
    out = flex(q, k, v, block_mask=block_mask)  # first call compiles (or hits the cache)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    compile_s = time.perf_counter() - t0
    sparse_s = best_time(lambda: flex(q, k, v, block_mask=block_mask), repeats, device)
    if dense_s is None:
        dense_s = best_time(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), repeats, device)
    masked_s = None
    if masked_sdpa and n <= DENSE_MAX_N:
        keep = torch.as_tensor(dense_mask(expr, n), device=device)
        masked_s = best_time(
            lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep), repeats, device
        )
        del keep
    rows = torch.arange(min(n, 64), device=device) * (n // min(n, 64))  # spot-check against a masked reference
    error = _spot_check(expr, n, q, k, v, out, rows)
    kept = int(row_degree(expr, n).sum())
    nb = block_mask.kv_num_blocks.shape[-1]
    kept_blocks = int(block_mask.kv_num_blocks.sum()) + int(block_mask.full_kv_num_blocks.sum())
    return Timing(
        n,
        heads,
        d_head,
        block,
        dtype,
        device,
        dense_s,
        sparse_s,
        compile_s,
        block_mask_s,
        kept / n / n,
        kept_blocks / nb / nb,
        error,
        masked_s,
    )


def _spot_check(expr, n, q, k, v, out, rows) -> float:
    worst = 0.0
    for r in rows.tolist():
        keep = torch.as_tensor(mask_tile(expr, n, r, r + 1, 0, n)[0], device=q.device)
        scores = (q[0, :, r : r + 1].float() @ k[0].float().transpose(-1, -2)) / q.shape[-1] ** 0.5  # (H, 1, n)
        scores = scores.masked_fill(~keep, float("-inf"))
        ref = scores.softmax(-1) @ v[0].float()  # (H, 1, d)
        worst = max(worst, float((ref - out[0, :, r : r + 1].float()).abs().max()))
    return worst
