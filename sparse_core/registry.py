"""The pattern registry: one small typed definition per pattern.

A primitive's own pattern is registered in its file in `patterns/` (this module imports every
module there); data-dependent patterns and published composites are registered below. UIs and
the CLI render every pattern from these definitions. Titles, summaries and help are English
data; the app translates them by key (`pattern.<name>`, `pattern.<name>.summary`,
`help.<name>.<param>`).

Window sizes follow one convention everywhere: a `window` of W counts tokens on one side, the
query itself included, so a key is kept when |i - j| < W (causal: 0 <= i - j < W) and a causal
window of W is a decode cache of W tokens (Mistral's W, StreamingLLM's recent tokens,
MInference's local window and NSA's window read literally). W = 0 keeps nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import patterns as _patterns
from .params import P, ParamSpec, PatternError
from .patterns.base import Expr, Intersection, Union

MAX_N = 1 << 20
SEED = P("seed", int, 0, 0, 2**31 - 1, "Random seed (same seed, same mask).", unit="seed")


@dataclass(frozen=True)
class PatternDef:
    """One registered pattern: parameters, how to build it, and its English text."""

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
        """Every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> ParamSpec:
        """The spec of one parameter."""
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
        """The registered definition."""
        return get(self.name)

    def expr(self) -> Expr:
        """The mask expression these parameters build."""
        d = self.definition
        return d.build(self.params, self.causal or d.causal == "always")


def make(name: str, causal: bool = False, **values: Any) -> PatternSpec:
    """A validated pattern by name (defaults filled in)."""
    d = get(name)
    return PatternSpec(name, d.validate(values), bool(causal) or d.causal == "always")


def combine(specs: list[PatternSpec], op: str = "union") -> Expr:
    """Union or intersection of several patterns."""
    exprs = [s.expr() for s in specs]
    if len(exprs) == 1:
        return exprs[0]
    if op == "union":
        return Union(tuple(exprs))
    if op == "intersection":
        return Intersection(tuple(exprs))
    raise PatternError(f"unknown combination '{op}' (use union or intersection)")


PATTERNS: dict[str, PatternDef] = {}
# The order pages list patterns in; patterns not named here follow in registration order.
ORDER = (
    "window dilated global block random logsparse lsh topk routing block_gating vertical_slash "
    "strided fixed longformer bigbird streaming mistral a_shape nsa"
).split()


def register(d: PatternDef) -> PatternDef:
    """Add a pattern to the registry (pattern modules call this when imported)."""
    PATTERNS[d.name] = d
    rank = {name: i for i, name in enumerate(ORDER)}
    ordered = sorted(PATTERNS.items(), key=lambda kv: rank.get(kv[0], len(ORDER)))
    PATTERNS.clear()
    PATTERNS.update(ordered)
    return d


def get(name: str) -> PatternDef:
    """The registered pattern of this name, or a PatternError listing the known ones."""
    try:
        return PATTERNS[name]
    except KeyError:
        raise PatternError(
            f"unknown pattern '{name}'; choose one of: {', '.join(PATTERNS)}",
            "unknown_pattern",
            name=name,
            known=", ".join(PATTERNS),
        ) from None


for _module in pkgutil.iter_modules(_patterns.__path__):
    importlib.import_module(f"{_patterns.__name__}.{_module.name}")

from .patterns import learned as L  # noqa: E402
from .patterns import structured as S  # noqa: E402
from .patterns.global_tokens import global_param  # noqa: E402
from .patterns.window import from_tokens, tokens_param  # noqa: E402


def _stride(default=128, en="Stride l; the paper uses l ≈ √n."):
    return P("stride", int, default, 1, MAX_N, en, log_scale=True, unit="tokens")


register(
    PatternDef(
        "lsh",
        "hash",
        "LSH buckets",
        "Reformer: angular LSH of the token vectors; attend within a shared bucket.",
        "O(n log n)",
        (
            P("buckets", int, 8, 2, 1024, "Hash buckets (even).", unit="count"),
            P("rounds", int, 1, 1, 8, "Hash rounds; a pair is kept if it shares a bucket in any round.", unit="count"),
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
        (P("k", int, 32, 1, 8192, "Keys kept per query.", unit="tokens"),),
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
            P("clusters", int, 8, 1, 1024, "k-means clusters.", unit="count"),
            P("iterations", int, 10, 1, 100, "k-means iterations.", unit="count"),
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
        "Each query keeps its own block and the other key blocks that score highest on mean-pooled keys, "
        "blocks kept in all.",
        "O(n·k·b)",
        (
            P("block", int, 64, 1, 8192, "Key block size.", log_scale=True, unit="tokens"),
            P(
                "top_blocks",
                int,
                3,
                1,
                1024,
                "Blocks kept per query, its own block included (MoBA uses 3).",
                unit="blocks",
            ),
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
            P("vertical", int, 64, 1, 8192, "Key columns kept.", unit="tokens"),
            P("slash", int, 64, 1, 8192, "Diagonals kept.", unit="tokens"),
            P("last_q", int, 64, 1, 8192, "Queries used for the estimate.", unit="tokens"),
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
            P("summary", int, 8, 1, MAX_N, "Summary tokens c per block (paper: 8–32 for l = 128).", unit="tokens"),
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
        (
            tokens_param(257, "Tokens on each side, the token included (paper: window 512 = 256 per side + itself)."),
            global_param(1),
        ),
        lambda p, c: Union((from_tokens(p["window"], c), S.GlobalTokens(p["global_tokens"], causal=c))),
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
                S.Blocks(p["block"], p["window_blocks"] // 2, causal=c),
                S.GlobalBlocks(p["block"], -(-p["global_blocks"] // 2), p["global_blocks"] // 2, causal=c),
                S.RandomBlocks(
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
        lambda p, c: Union((S.Sinks(p["sinks"], causal=True), from_tokens(p["window"], True))),
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
        lambda p, c: Union((S.Sinks(p["sinks"], causal=True), from_tokens(p["window"], True))),
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
        lambda p, c: Union((L.BlockGating(p["block"], p["top_blocks"], causal=True), from_tokens(p["window"], True))),
        causal="always",
        reference="Native Sparse Attention (Yuan et al. 2025): block 64, 16 selected, window 512",
        data_dependent=True,
    )
)


def parameter_extremes(include_data_dependent: bool = False):
    """(pattern, values) for every parameter at its minimum and at its maximum, the others at default.

    Values that a pattern's cross-check would refuse move with it (fixed keeps summary <= stride,
    BigBird keeps an odd window), so every yielded request is one that validation accepts.
    """
    for name, d in PATTERNS.items():
        if d.data_dependent and not include_data_dependent:
            continue
        for p in d.params:
            for value in (p.minimum, p.maximum):
                values = {p.name: value}
                if name == "fixed":
                    values = (
                        {"stride": value, "summary": 1}
                        if p.name == "stride"
                        else {"stride": max(value, 128), "summary": value}
                    )
                if name == "bigbird" and p.name == "window_blocks" and value % 2 == 0:
                    values[p.name] = value - 1
                yield name, values
