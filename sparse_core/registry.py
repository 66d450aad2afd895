"""The pattern registry: one small typed definition per pattern.

Adding a pattern touches only this file: a PatternDef with its parameter spec and a `build`
that assembles primitives. UIs and the CLI render every pattern from these definitions.
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
SEED = P("seed", int, 0, 0, 2**31 - 1, "Random seed (same seed, same mask).", "随机种子（相同种子得到相同掩码）。")


@dataclass(frozen=True)
class PatternDef:
    name: str
    family: str  # local | global | block | random | hash | learned | composite
    title_en: str
    title_zh: str
    summary_en: str
    summary_zh: str
    complexity: str
    params: tuple[ParamSpec, ...]
    build: Callable[[dict[str, Any], bool], Expr]
    causal: str = "optional"  # optional | always
    reference: str = ""
    data_dependent: bool = False
    check: Callable[[dict[str, Any]], str | None] = field(default=lambda p: None)

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def summary(self, lang: str = "en") -> str:
        return self.summary_zh if lang == "zh" else self.summary_en

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
            raise PatternError(f"pattern '{self.name}' has no parameter '{sorted(unknown)[0]}'")
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
def _window(default=64, en="Keys on each side within this distance.", zh="每侧保留此距离内的键。"):
    return P("window", int, default, 0, MAX_N, en, zh, log_scale=True)


def _stride(default=128, en="Stride l; the paper uses l ≈ √n.", zh="步长 l；论文取 l ≈ √n。"):
    return P("stride", int, default, 1, MAX_N, en, zh, log_scale=True)


def _global(default=4):
    return P("global_tokens", int, default, 0, MAX_N, "First g tokens attend to and are attended by all.",
             "前 g 个词元与所有词元互相关注。", log_scale=True)


PATTERNS: dict[str, PatternDef] = {}


def register(d: PatternDef) -> PatternDef:
    PATTERNS[d.name] = d
    return d


def get(name: str) -> PatternDef:
    try:
        return PATTERNS[name]
    except KeyError:
        raise PatternError(f"unknown pattern '{name}'; choose one of: {', '.join(PATTERNS)}") from None


register(PatternDef(
    "window", "local", "Sliding window", "滑动窗口",
    "Each token attends to neighbours within w positions.", "每个词元关注前后 w 个位置内的邻居。",
    "O(n·w)", (_window(),),
    lambda p, c: S.Window(p["window"], causal=c),
    reference="Local attention (Image Transformer, Parmar et al. 2018; Longformer 2020)",
))
register(PatternDef(
    "dilated", "local", "Dilated window", "空洞窗口",
    "A window with gaps: every d-th key up to w·d away.", "带间隔的窗口：每隔 d 个取一个键，最远 w·d。",
    "O(n·w)",
    (_window(16, "Keys on each side (counted in dilated steps).", "每侧保留的键数（按空洞步长计）。"),
     P("dilation", int, 2, 1, 4096, "Gap d between kept keys.", "保留键之间的间隔 d。")),
    lambda p, c: S.Dilated(p["window"], p["dilation"], causal=c),
    reference="Dilated sliding window (Longformer, Beltagy et al. 2020)",
))
register(PatternDef(
    "global", "global", "Global tokens", "全局词元",
    "A few tokens see everything and are seen by everything.", "少数词元看见所有词元，也被所有词元看见。",
    "O(n·g)", (_global(),),
    lambda p, c: S.GlobalTokens(p["global_tokens"], causal=c),
    reference="Global attention (Longformer 2020; ETC 2020)",
))
register(PatternDef(
    "block", "block", "Block / banded", "分块 / 带状",
    "Tokens attend within their block and k neighbouring blocks.", "词元关注所在块及相邻的 k 个块。",
    "O(n·b)",
    (P("block", int, 64, 1, MAX_N, "Block size b.", "块大小 b。", log_scale=True),
     P("neighbors", int, 0, 0, 4096, "Neighbouring blocks on each side (0 = block-diagonal).",
       "每侧相邻块数（0 为块对角）。")),
    lambda p, c: S.Blocks(p["block"], p["neighbors"], causal=c),
    reference="Blockwise attention (Qiu et al. 2019)",
))
register(PatternDef(
    "random", "random", "Random keys", "随机键",
    "Each query attends r distinct keys chosen uniformly (seeded).", "每个查询均匀随机选取 r 个不同的键（可复现）。",
    "O(n·r)",
    (P("random_keys", int, 3, 1, 256, "Random keys r per query.", "每个查询的随机键数 r。"), SEED),
    lambda p, c: S.RandomKeys(p["random_keys"], p["seed"], causal=c),
    reference="Random attention (BigBird, Zaheer et al. 2020)",
))
register(PatternDef(
    "lsh", "hash", "LSH buckets", "LSH 哈希分桶",
    "Reformer: angular LSH of the token vectors; attend within a shared bucket.",
    "Reformer：对词元向量做角度 LSH，只关注同一桶内的词元。",
    "O(n log n)",
    (P("buckets", int, 8, 2, 1024, "Hash buckets (even).", "哈希桶数（偶数）。"),
     P("rounds", int, 1, 1, 8, "Hash rounds; a pair is kept if it shares a bucket in any round.",
       "哈希轮数；任一轮同桶即保留。"), SEED),
    lambda p, c: L.LSH(p["buckets"], p["rounds"], p["seed"], causal=c),
    reference="Reformer (Kitaev et al. 2020)", data_dependent=True,
    check=lambda p: "buckets must be even" if p["buckets"] % 2 else None,
))
register(PatternDef(
    "topk", "learned", "Top-k", "Top-k 选择",
    "Each query keeps its k highest-scoring keys.", "每个查询保留得分最高的 k 个键。",
    "O(n·k) kept, O(n²) to score",
    (P("k", int, 32, 1, 8192, "Keys kept per query.", "每个查询保留的键数。"),),
    lambda p, c: L.TopK(p["k"], causal=c),
    reference="Explicit sparse attention (Zhao et al. 2019)", data_dependent=True,
))
register(PatternDef(
    "routing", "learned", "Routing (k-means)", "路由（k-means 聚类）",
    "Routing Transformer: queries and keys clustered by k-means; attend within the cluster.",
    "Routing Transformer：用 k-means 聚类查询和键，只在同一簇内关注。",
    "O(n^1.5)",
    (P("clusters", int, 8, 1, 1024, "k-means clusters.", "k-means 簇数。"),
     P("iterations", int, 10, 1, 100, "k-means iterations.", "k-means 迭代次数。"), SEED),
    lambda p, c: L.Routing(p["clusters"], p["iterations"], p["seed"], causal=c),
    reference="Routing Transformer (Roy et al. 2021)", data_dependent=True,
))
register(PatternDef(
    "block_gating", "learned", "Block gating (MoBA)", "块门控（MoBA）",
    "Each query keeps its own block and the top-k key blocks scored by mean-pooled keys.",
    "每个查询保留自身所在块，以及按块均值键打分最高的 k 个块。",
    "O(n·k·b)",
    (P("block", int, 64, 1, 8192, "Key block size.", "键块大小。", log_scale=True),
     P("top_blocks", int, 3, 1, 1024, "Blocks kept per query (MoBA uses 3).", "每个查询保留的块数（MoBA 取 3）。")),
    lambda p, c: L.BlockGating(p["block"], p["top_blocks"], causal=c),
    reference="MoBA (Lu et al. 2025); NSA selection branch (Yuan et al. 2025)", data_dependent=True,
))
register(PatternDef(
    "vertical_slash", "learned", "Vertical-slash (MInference)", "竖线-斜线（MInference）",
    "Top key columns plus top diagonals, estimated from the last queries.",
    "由最后若干查询估计出的重要列（竖线）与重要对角线（斜线）。",
    "O(n·(v+s))",
    (P("vertical", int, 64, 1, 8192, "Key columns kept.", "保留的列数。"),
     P("slash", int, 64, 1, 8192, "Diagonals kept.", "保留的对角线数。"),
     P("last_q", int, 64, 1, 8192, "Queries used for the estimate.", "用于估计的末尾查询数。")),
    lambda p, c: L.VerticalSlash(p["vertical"], p["slash"], p["last_q"], causal=True),
    causal="always", reference="MInference 1.0 (Jiang et al. 2024)", data_dependent=True,
))

# -- published composites ----------------------------------------------------------------
register(PatternDef(
    "strided", "composite", "Sparse Transformer (strided)", "Sparse Transformer（步长式）",
    "The previous l tokens plus every l-th token before them.", "前 l 个词元，加上更早的每隔 l 个的词元。",
    "O(n·√n)", (_stride(),),
    lambda p, c: Union((S.Window(p["stride"], causal=c), S.StrideColumns(p["stride"], causal=c))),
    causal="always", reference="Sparse Transformer, strided (Child et al. 2019): l ≈ √n",
))
register(PatternDef(
    "fixed", "composite", "Sparse Transformer (fixed)", "Sparse Transformer（固定式）",
    "Attend within your l-block, plus the last c 'summary' tokens of every block.",
    "关注所在 l 块内的词元，以及每块最后 c 个“摘要”词元。",
    "O(n·√n)",
    (_stride(128, "Block length l.", "块长 l。"),
     P("summary", int, 8, 1, MAX_N, "Summary tokens c per block (paper: 8–32 for l = 128).",
       "每块摘要词元数 c（论文：l = 128 时取 8–32）。")),
    lambda p, c: Union((S.Blocks(p["stride"], 0, causal=c), S.SummaryColumns(p["stride"], p["summary"], causal=c))),
    causal="always", reference="Sparse Transformer, fixed (Child et al. 2019): l = 128, c ∈ {8, 16, 32}",
    check=lambda p: "summary must not exceed stride" if p["summary"] > p["stride"] else None,
))
register(PatternDef(
    "longformer", "composite", "Longformer", "Longformer",
    "Sliding window plus task-chosen global tokens.", "滑动窗口加上由任务指定的全局词元。",
    "O(n·(w+g))",
    (_window(256, "One-sided window (paper: 512 total, i.e. 256 per side).", "单侧窗口（论文总宽 512，即每侧 256）。"),
     _global(1)),
    lambda p, c: Union((S.Window(p["window"], causal=c), S.GlobalTokens(p["global_tokens"], causal=c))),
    reference="Longformer (Beltagy et al. 2020): window 512, global [CLS]",
))
register(PatternDef(
    "bigbird", "composite", "BigBird", "BigBird",
    "Block window + global blocks + random blocks.", "块状窗口 + 全局块 + 随机块。",
    "O(n)",
    (P("block", int, 64, 1, 8192, "Block size (paper: 64).", "块大小（论文：64）。", log_scale=True),
     P("window_blocks", int, 3, 1, 63, "Sliding blocks, odd (paper: 3).", "滑动块数，奇数（论文：3）。"),
     P("global_blocks", int, 2, 0, 64, "Global blocks at the start (paper: 2).", "开头的全局块数（论文：2）。"),
     P("random_blocks", int, 3, 0, 64, "Random blocks per query block (paper: 3).",
       "每个查询块的随机块数（论文：3）。"),
     SEED),
    lambda p, c: Union((
        S.Blocks(p["block"], p["window_blocks"] // 2, causal=c),
        S.GlobalTokens(p["global_blocks"] * p["block"], causal=c),
        S.RandomBlocks(p["block"], p["random_blocks"], p["seed"], causal=c),
    )),
    reference="BigBird ITC (Zaheer et al. 2020): block 64, 3 window, 2 global, 3 random blocks",
    check=lambda p: "window_blocks must be odd" if p["window_blocks"] % 2 == 0 else None,
))
register(PatternDef(
    "streaming", "composite", "StreamingLLM (sinks + window)", "StreamingLLM（注意力汇 + 窗口）",
    "The first s 'sink' tokens plus a causal recent window.", "开头 s 个“注意力汇”词元加上因果的近期窗口。",
    "O(n·(s+w))",
    (P("sinks", int, 4, 0, MAX_N, "Attention sinks (paper: 4).", "注意力汇词元数（论文：4）。"),
     _window(1020, "Recent tokens kept (paper: cache of 4 + 1020).", "保留的近期词元数（论文：缓存 4 + 1020）。")),
    lambda p, c: Union((S.Sinks(p["sinks"], causal=True), S.Window(p["window"], causal=True))),
    causal="always", reference="StreamingLLM (Xiao et al. 2024): 4 sinks, cache 1024",
))
register(PatternDef(
    "mistral", "composite", "Mistral sliding window", "Mistral 滑动窗口",
    "Causal window of W tokens including the token itself.", "包含自身在内、长度为 W 的因果窗口。",
    "O(n·W)",
    (P("window", int, 4096, 1, MAX_N, "Window W (Mistral 7B: 4096); keeps 0 ≤ i − j < W.",
       "窗口 W（Mistral 7B：4096）；保留 0 ≤ i − j < W。", log_scale=True),),
    lambda p, c: S.Window(p["window"] - 1, causal=True),
    causal="always", reference="Mistral 7B (Jiang et al. 2023): W = 4096",
))
register(PatternDef(
    "a_shape", "composite", "A-shape (MInference)", "A 形（MInference）",
    "Initial tokens plus a local window: the static head type in MInference.",
    "开头词元加局部窗口：MInference 中的静态头类型。",
    "O(n·(s+w))",
    (P("sinks", int, 64, 0, MAX_N, "Initial tokens kept (MInference: 64).", "保留的开头词元数（MInference：64）。"),
     _window(1024, "Local window (MInference: 1024).", "局部窗口（MInference：1024）。")),
    lambda p, c: Union((S.Sinks(p["sinks"], causal=True), S.Window(p["window"], causal=True))),
    causal="always", reference="MInference 1.0 (Jiang et al. 2024): A-shape, 64 initial + 1024 local",
))
register(PatternDef(
    "nsa", "composite", "NSA (selection + window)", "NSA（选择 + 窗口）",
    "Top-k selected blocks plus a sliding window; the compression branch attends block "
    "summaries, not tokens, so it adds no token pairs.",
    "选出的 top-k 块加滑动窗口；压缩分支关注的是块摘要而非词元，不增加词元对。",
    "O(n·(k·b+w))",
    (P("block", int, 64, 1, 8192, "Selection block size (paper: 64).", "选择块大小（论文：64）。", log_scale=True),
     P("top_blocks", int, 16, 1, 1024, "Selected blocks (paper: 16).", "选择块数（论文：16）。"),
     _window(512, "Sliding window (paper: 512).", "滑动窗口（论文：512）。")),
    lambda p, c: Union((L.BlockGating(p["block"], p["top_blocks"], causal=True),
                        S.Window(p["window"], causal=True))),
    causal="always", reference="Native Sparse Attention (Yuan et al. 2025): block 64, 16 selected, window 512",
    data_dependent=True,
))
