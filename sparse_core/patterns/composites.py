"""Published composites: patterns that combine several primitives, each with its paper's defaults.

Each is a `PatternDef` whose build returns a Union or Intersection of primitives; its `reference`
names the paper and settings and its `check` holds the cross-parameter rules.
"""

from __future__ import annotations

from ..spec import MAX_N, SEED, P, PatternDef, register
from .base import Union
from .blocks import Blocks
from .global_blocks import GlobalBlocks
from .global_tokens import GlobalTokens, global_param
from .learned import BlockGating
from .random_blocks import RandomBlocks
from .sinks import Sinks
from .stride_columns import StrideColumns
from .summary_columns import SummaryColumns
from .window import Window, from_tokens, tokens_param


def _stride(default=128, en="Stride l; the paper uses l ≈ √n."):
    return P("stride", int, default, 1, MAX_N, en, log_scale=True, unit="tokens")


register(
    PatternDef(
        "strided",
        "composite",
        "Sparse Transformer (strided)",
        "The previous l tokens plus every l-th token before them.",
        "O(n·√n)",
        (_stride(),),
        lambda p, c: Union((Window(p["stride"], causal=c), StrideColumns(p["stride"], causal=c))),
        causal="always",
        reference="Sparse Transformer, strided (Child et al. 2019): l ≈ √n",
    )
)
register(
    PatternDef(
        "fixed",
        "composite",
        "Sparse Transformer (fixed)",
        "Attend within your l-block, plus the last c 'summary' tokens of every block.",
        "O(n·√n)",
        (
            _stride(128, "Block length l."),
            P("summary", int, 8, 1, MAX_N, "Summary tokens c per block (paper: 8–32 for l = 128).", unit="tokens"),
        ),
        lambda p, c: Union((Blocks(p["stride"], 0, causal=c), SummaryColumns(p["stride"], p["summary"], causal=c))),
        causal="always",
        reference="Sparse Transformer, fixed (Child et al. 2019): l = 128, c ∈ {8, 16, 32}",
        check=lambda p: "summary must not exceed stride" if p["summary"] > p["stride"] else None,
    )
)
register(
    PatternDef(
        "longformer",
        "composite",
        "Longformer",
        "Sliding window plus task-chosen global tokens.",
        "O(n·(w+g))",
        (
            tokens_param(257, "Tokens on each side, the token included (paper: window 512 = 256 per side + itself)."),
            global_param(1),
        ),
        lambda p, c: Union((from_tokens(p["window"], c), GlobalTokens(p["global_tokens"], causal=c))),
        reference="Longformer (Beltagy et al. 2020): window 512, global [CLS]",
    )
)
register(
    PatternDef(
        "bigbird",
        "composite",
        "BigBird",
        "Block window + global blocks + random blocks.",
        "O(n)",
        (
            P("block", int, 64, 1, 8192, "Block size (paper: 64).", log_scale=True, unit="tokens"),
            P("window_blocks", int, 3, 1, 63, "Sliding blocks, odd (paper: 3).", unit="blocks"),
            P(
                "global_blocks",
                int,
                2,
                0,
                64,
                "Global blocks, half at the start and half at the end (reference: 2 = first and last).",
                unit="blocks",
            ),
            P("random_blocks", int, 3, 0, 64, "Random blocks per query block (paper: 3).", unit="blocks"),
            SEED,
        ),
        lambda p, c: Union(
            (
                Blocks(p["block"], p["window_blocks"] // 2, causal=c),
                GlobalBlocks(p["block"], -(-p["global_blocks"] // 2), p["global_blocks"] // 2, causal=c),
                RandomBlocks(
                    p["block"],
                    p["random_blocks"],
                    p["seed"],
                    window_half=p["window_blocks"] // 2,
                    global_first=-(-p["global_blocks"] // 2),
                    global_last=p["global_blocks"] // 2,
                    causal=c,
                ),
            )
        ),
        reference="BigBird ITC (Zaheer et al. 2020) as google-research/bigbird draws it: block 64, 3 window "
        "blocks, first and last block global, 3 random blocks outside window and global blocks",
        check=lambda p: "window_blocks must be odd" if p["window_blocks"] % 2 == 0 else None,
    )
)
register(
    PatternDef(
        "streaming",
        "composite",
        "StreamingLLM (sinks + window)",
        "The first s 'sink' tokens plus a causal recent window.",
        "O(n·(s+w))",
        (
            P("sinks", int, 4, 0, MAX_N, "Attention sinks (paper: 4).", unit="tokens"),
            tokens_param(1020, "Recent tokens, the current one included (paper: 4 sinks + 1,020 = cache of 1,024)."),
        ),
        lambda p, c: Union((Sinks(p["sinks"], causal=True), from_tokens(p["window"], True))),
        causal="always",
        reference="StreamingLLM (Xiao et al. 2024): 4 sinks, cache 1024",
    )
)
register(
    PatternDef(
        "mistral",
        "composite",
        "Mistral sliding window",
        "Causal window of W tokens including the token itself.",
        "O(n·W)",
        (
            P(
                "window",
                int,
                4096,
                1,
                MAX_N,
                "Window W (Mistral 7B: 4096); keeps 0 ≤ i − j < W.",
                log_scale=True,
                unit="tokens",
            ),
        ),
        lambda p, c: from_tokens(p["window"], True),
        causal="always",
        reference="Mistral 7B (Jiang et al. 2023): W = 4096",
    )
)
register(
    PatternDef(
        "a_shape",
        "composite",
        "A-shape (MInference)",
        "Initial tokens plus a local window: the static head type in MInference.",
        "O(n·(s+w))",
        (
            P("sinks", int, 64, 0, MAX_N, "Initial tokens kept (MInference: 64).", unit="tokens"),
            tokens_param(1024, "Local window in tokens, the current one included (MInference: 1024)."),
        ),
        lambda p, c: Union((Sinks(p["sinks"], causal=True), from_tokens(p["window"], True))),
        causal="always",
        reference="MInference 1.0 (Jiang et al. 2024): A-shape, 64 initial + 1024 local",
    )
)
register(
    PatternDef(
        "nsa",
        "composite",
        "NSA (selection + window)",
        "Top-k selected blocks plus a sliding window; the compression branch attends block "
        "summaries, not tokens, so it adds no token pairs.",
        "O(n·(k·b+w))",
        (
            P("block", int, 64, 1, 8192, "Selection block size (paper: 64).", log_scale=True, unit="tokens"),
            P(
                "top_blocks",
                int,
                16,
                1,
                1024,
                "Blocks kept per query, its own block included (paper: 16).",
                unit="blocks",
            ),
            tokens_param(512, "Sliding window in tokens, the current one included (paper: 512)."),
        ),
        lambda p, c: Union((BlockGating(p["block"], p["top_blocks"], causal=True), from_tokens(p["window"], True))),
        causal="always",
        reference="Native Sparse Attention (Yuan et al. 2025): block 64, 16 selected, window 512",
        data_dependent=True,
    )
)
