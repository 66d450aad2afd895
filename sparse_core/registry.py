"""The pattern registry: one small typed definition per pattern.

Adding a pattern touches only this file (and, for a new primitive, one file in `patterns/`): a
PatternDef with its parameter spec and a `build` that assembles primitives. UIs and the CLI
render every pattern from these definitions. Titles, summaries and help are English data; the
app translates them by key (`pattern.<name>`, `pattern.<name>.summary`, `help.<name>.<param>`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .params import P, ParamSpec, PatternError
from .patterns import learned as L
from .patterns import structured as S
from .patterns.base import Expr, Intersection, Union

MAX_N = 1 << 20
SEED = P("seed", int, 0, 0, 2**31 - 1, "Random seed (same seed, same mask).")


@dataclass(frozen=True)
class PatternDef:
    name: str
    family: str  # local | global | block | random | hash | learned | composite
    title: str
    summary: str
    complexity: str
    params: tuple[ParamSpec, ...]
    build: Callable[[dict[str, Any], bool], Expr]
    causal: str = "optional"  # optional | always
    reference: str = ""
    data_dependent: bool = False
    check: Callable[[dict[str, Any]], str | None] = field(default=lambda p: None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise PatternError(f"pattern '{self.name}' has no parameter '{name}'")

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value coerced and range-checked, cross-checks applied."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise PatternError(
                f"pattern '{self.name}' has no parameter '{sorted(unknown)[0]}'",
                "unknown_param",
                pattern=self.name,
                name=sorted(unknown)[0],
            )
        clean = {p.name: p.coerce(values.get(p.name, p.default)) for p in self.params}
        problem = self.check(clean)
        if problem:
            raise PatternError(problem)
        return clean


@dataclass(frozen=True)
class PatternSpec:
    """A chosen pattern: definition + validated parameters + causal switch."""

    name: str
    params: dict[str, Any]
    causal: bool = False

    @property
    def definition(self) -> PatternDef:
        return get(self.name)

    def expr(self) -> Expr:
        d = self.definition
        return d.build(self.params, self.causal or d.causal == "always")


def make(name: str, causal: bool = False, **values: Any) -> PatternSpec:
    d = get(name)
    return PatternSpec(name, d.validate(values), bool(causal) or d.causal == "always")


def combine(specs: list[PatternSpec], op: str = "union") -> Expr:
    exprs = [s.expr() for s in specs]
    if len(exprs) == 1:
        return exprs[0]
    if op == "union":
        return Union(tuple(exprs))
    if op == "intersection":
        return Intersection(tuple(exprs))
    raise PatternError(f"unknown combination '{op}' (use union or intersection)")


# -- parameters shared by several patterns ------------------------------------------------
def _window(default=64, en="Keys on each side within this distance."):
    return P("window", int, default, 0, MAX_N, en, log_scale=True)


def _stride(default=128, en="Stride l; the paper uses l ≈ √n."):
    return P("stride", int, default, 1, MAX_N, en, log_scale=True)


def _global(default=4):
    return P(
        "global_tokens", int, default, 0, MAX_N, "First g tokens attend to and are attended by all.", log_scale=True
    )


PATTERNS: dict[str, PatternDef] = {}


def register(d: PatternDef) -> PatternDef:
    PATTERNS[d.name] = d
    return d


def get(name: str) -> PatternDef:
    try:
        return PATTERNS[name]
    except KeyError:
        raise PatternError(
            f"unknown pattern '{name}'; choose one of: {', '.join(PATTERNS)}",
            "unknown_pattern",
            name=name,
            known=", ".join(PATTERNS),
        ) from None


register(
    PatternDef(
        "window",
        "local",
        "Sliding window",
        "Each token attends to neighbours within w positions.",
        "O(n·w)",
        (_window(),),
        lambda p, c: S.Window(p["window"], causal=c),
        reference="Local attention (Image Transformer, Parmar et al. 2018; Longformer 2020)",
    )
)
register(
    PatternDef(
        "dilated",
        "local",
        "Dilated window",
        "A window with gaps: every d-th key up to w·d away.",
        "O(n·w)",
        (
            _window(16, "Keys on each side (counted in dilated steps)."),
            P("dilation", int, 2, 1, 4096, "Gap d between kept keys."),
        ),
        lambda p, c: S.Dilated(p["window"], p["dilation"], causal=c),
        reference="Dilated sliding window (Longformer, Beltagy et al. 2020)",
    )
)
register(
    PatternDef(
        "global",
        "global",
        "Global tokens",
        "A few tokens see everything and are seen by everything.",
        "O(n·g)",
        (_global(),),
        lambda p, c: S.GlobalTokens(p["global_tokens"], causal=c),
        reference="Global attention (Longformer 2020; ETC 2020)",
    )
)
register(
    PatternDef(
        "block",
        "block",
        "Block / banded",
        "Tokens attend within their block and k neighbouring blocks.",
        "O(n·b)",
        (
            P("block", int, 64, 1, MAX_N, "Block size b.", log_scale=True),
            P("neighbors", int, 0, 0, 4096, "Neighbouring blocks on each side (0 = block-diagonal)."),
        ),
        lambda p, c: S.Blocks(p["block"], p["neighbors"], causal=c),
        reference="Blockwise attention (Qiu et al. 2019)",
    )
)
register(
    PatternDef(
        "random",
        "random",
        "Random keys",
        "Each query attends r distinct keys chosen uniformly (seeded).",
        "O(n·r)",
        (P("random_keys", int, 3, 1, 256, "Random keys r per query."), SEED),
        lambda p, c: S.RandomKeys(p["random_keys"], p["seed"], causal=c),
        reference="Random attention (BigBird, Zaheer et al. 2020)",
    )
)
register(
    PatternDef(
        "lsh",
        "hash",
        "LSH buckets",
        "Reformer: angular LSH of the token vectors; attend within a shared bucket.",
        "O(n log n)",
        (
            P("buckets", int, 8, 2, 1024, "Hash buckets (even)."),
            P("rounds", int, 1, 1, 8, "Hash rounds; a pair is kept if it shares a bucket in any round."),
            SEED,
        ),
        lambda p, c: L.LSH(p["buckets"], p["rounds"], p["seed"], causal=c),
        reference="Reformer (Kitaev et al. 2020)",
        data_dependent=True,
        check=lambda p: "buckets must be even" if p["buckets"] % 2 else None,
    )
)
register(
    PatternDef(
        "topk",
        "learned",
        "Top-k",
        "Each query keeps its k highest-scoring keys.",
        "O(n·k) kept, O(n²) to score",
        (P("k", int, 32, 1, 8192, "Keys kept per query."),),
        lambda p, c: L.TopK(p["k"], causal=c),
        reference="Explicit sparse attention (Zhao et al. 2019)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "routing",
        "learned",
        "Routing (k-means)",
        "Routing Transformer: queries and keys clustered by k-means; attend within the cluster.",
        "O(n^1.5)",
        (
            P("clusters", int, 8, 1, 1024, "k-means clusters."),
            P("iterations", int, 10, 1, 100, "k-means iterations."),
            SEED,
        ),
        lambda p, c: L.Routing(p["clusters"], p["iterations"], p["seed"], causal=c),
        reference="Routing Transformer (Roy et al. 2021)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "block_gating",
        "learned",
        "Block gating (MoBA)",
        "Each query keeps its own block and the top-k key blocks scored by mean-pooled keys.",
        "O(n·k·b)",
        (
            P("block", int, 64, 1, 8192, "Key block size.", log_scale=True),
            P("top_blocks", int, 3, 1, 1024, "Blocks kept per query (MoBA uses 3)."),
        ),
        lambda p, c: L.BlockGating(p["block"], p["top_blocks"], causal=c),
        reference="MoBA (Lu et al. 2025); NSA selection branch (Yuan et al. 2025)",
        data_dependent=True,
    )
)
register(
    PatternDef(
        "vertical_slash",
        "learned",
        "Vertical-slash (MInference)",
        "Top key columns plus top diagonals, estimated from the last queries.",
        "O(n·(v+s))",
        (
            P("vertical", int, 64, 1, 8192, "Key columns kept."),
            P("slash", int, 64, 1, 8192, "Diagonals kept."),
            P("last_q", int, 64, 1, 8192, "Queries used for the estimate."),
        ),
        lambda p, c: L.VerticalSlash(p["vertical"], p["slash"], p["last_q"], causal=True),
        causal="always",
        reference="MInference 1.0 (Jiang et al. 2024)",
        data_dependent=True,
    )
)

# -- published composites ----------------------------------------------------------------
register(
    PatternDef(
        "strided",
        "composite",
        "Sparse Transformer (strided)",
        "The previous l tokens plus every l-th token before them.",
        "O(n·√n)",
        (_stride(),),
        lambda p, c: Union((S.Window(p["stride"], causal=c), S.StrideColumns(p["stride"], causal=c))),
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
            P("summary", int, 8, 1, MAX_N, "Summary tokens c per block (paper: 8–32 for l = 128)."),
        ),
        lambda p, c: Union((S.Blocks(p["stride"], 0, causal=c), S.SummaryColumns(p["stride"], p["summary"], causal=c))),
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
        (_window(256, "One-sided window (paper: 512 total, i.e. 256 per side)."), _global(1)),
        lambda p, c: Union((S.Window(p["window"], causal=c), S.GlobalTokens(p["global_tokens"], causal=c))),
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
            P("block", int, 64, 1, 8192, "Block size (paper: 64).", log_scale=True),
            P("window_blocks", int, 3, 1, 63, "Sliding blocks, odd (paper: 3)."),
            P("global_blocks", int, 2, 0, 64, "Global blocks at the start (paper: 2)."),
            P("random_blocks", int, 3, 0, 64, "Random blocks per query block (paper: 3)."),
            SEED,
        ),
        lambda p, c: Union(
            (
                S.Blocks(p["block"], p["window_blocks"] // 2, causal=c),
                S.GlobalTokens(p["global_blocks"] * p["block"], causal=c),
                S.RandomBlocks(p["block"], p["random_blocks"], p["seed"], causal=c),
            )
        ),
        reference="BigBird ITC (Zaheer et al. 2020): block 64, 3 window, 2 global, 3 random blocks",
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
            P("sinks", int, 4, 0, MAX_N, "Attention sinks (paper: 4)."),
            _window(1020, "Recent tokens kept (paper: cache of 4 + 1020)."),
        ),
        lambda p, c: Union((S.Sinks(p["sinks"], causal=True), S.Window(p["window"], causal=True))),
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
        (P("window", int, 4096, 1, MAX_N, "Window W (Mistral 7B: 4096); keeps 0 ≤ i − j < W.", log_scale=True),),
        lambda p, c: S.Window(p["window"] - 1, causal=True),
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
            P("sinks", int, 64, 0, MAX_N, "Initial tokens kept (MInference: 64)."),
            _window(1024, "Local window (MInference: 1024)."),
        ),
        lambda p, c: Union((S.Sinks(p["sinks"], causal=True), S.Window(p["window"], causal=True))),
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
            P("block", int, 64, 1, 8192, "Selection block size (paper: 64).", log_scale=True),
            P("top_blocks", int, 16, 1, 1024, "Selected blocks (paper: 16)."),
            _window(512, "Sliding window (paper: 512)."),
        ),
        lambda p, c: Union(
            (L.BlockGating(p["block"], p["top_blocks"], causal=True), S.Window(p["window"], causal=True))
        ),
        causal="always",
        reference="Native Sparse Attention (Yuan et al. 2025): block 64, 16 selected, window 512",
        data_dependent=True,
    )
)
