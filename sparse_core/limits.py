"""Per-request budgets: what one request may cost, predicted before any work is done.

Every limit lives in `Budget`, with its default here and nowhere else. A deployment tightens (or
loosens) any of them with an environment variable `SPARSE_EXPLORER_BUDGET_<NAME>`, e.g.
`SPARSE_EXPLORER_BUDGET_SEGMENT_EVALS=50000000`.

`predict_cost` estimates the work of `stats`, `mask_view` and `dense_mask` from the expression
alone: it probes each primitive's segments on a few sample rows (how many segment slots a row
costs), counts the inclusion-exclusion subsets of the union's terms, and prices data-dependent
primitives from their parameters. `check_budget` turns an over-budget prediction into a
`PatternError` that says what to lower.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache, partial
from math import gcd
from typing import Any

import numpy as np

from . import segments as segments_mod
from .params import PatternError
from .patterns.expr import KV_UNPRICED

ENV_PREFIX = "SPARSE_EXPLORER_BUDGET_"

# Constants other modules read: keep them equal to the defaults below.
MAX_N = 1 << 20
DENSE_MAX_N = 8192
DATA_DEPENDENT_MAX_N = 4096


# k-means++ seeding picks one centroid at a time (a pass over all 2n points per pick): 0.19 ms a cluster at
# n = 4,096, about seven batched iterations' worth of one cluster (0.027 ms), priced at ten. An iteration
# also pays ~2.5 ms whatever the clusters (labels, the centroid loop): about 96 clusters' worth. Measured
# with one BLAS thread (as the app runs) at load 36, every iteration forced: 1.75 / 4.4 / 9.0 / 29.3 ms an
# iteration at 16 / 64 / 256 / 1,024 clusters, 0.03-0.05 ns a unit (tools /tmp/h/b2/km2.py)
KMEANS_SEEDING_WEIGHT = 10
KMEANS_ITERATION_FLOOR = 96


@dataclass(frozen=True)
class Budget:
    """Every per-request limit; override any field with SPARSE_EXPLORER_BUDGET_<FIELD>."""

    max_n: int = MAX_N  # sequence length
    dense_n: int = DENSE_MAX_N  # token-level (n, n) masks: views and downloads
    data_dependent_n: int = DATA_DEPENDENT_MAX_N  # patterns that score every pair
    # work units as segments.union_plan counts them (plus listing, random draws, refinement and the decode
    # cache). Calibrated on 296 requests of the budget search (seeds 50-51, each in a fresh process, two at
    # once, numpy without huge pages): with each method's unit scaled to the sweep's (METHOD_SHARE,
    # COLUMNS_SHARE, DRAW_WORK), the worst accepted request ran 17.6 ns a unit (22 with a data-dependent
    # part, whose scoring is priced apart), so 40 M units stay within ~0.7 s plus the ~0.15-0.25 s of
    # starting a process. 28 M before, when huge-page compaction gave 2-3x tails and units ran 5-30 ns
    segment_evals: int = 40_000_000
    dnf_terms: int = 12  # union terms counted by inclusion-exclusion (2^T - 1 subsets)
    # predicted peak above the process's own (~35 MB with numpy and the engine imported): 300 MB in all
    memory_bytes: int = 264 << 20
    scored_pairs: int = 1 << 26  # (query, key) scores of data-dependent patterns
    # 2n points x d x ((clusters + floor) x (iterations + 1) + clusters x seeding): at most ~0.05 ns a unit
    # here, so 7 G is ~0.35 s of k-means (forced never to converge, the worst within it: 96 clusters x 64
    # iterations, 0.36 s). Before (1.5 G, clusters x (iterations + 11)) it refused
    # routing(256, 1) at n = 4,096, which runs 0.26 s CPU in a fresh process, start included
    kmeans_work: int = 7_000_000_000
    lsh_work: int = 2_000_000_000  # n x rounds x (d x buckets/2 + n)
    block_cells: int = DENSE_MAX_N * DENSE_MAX_N  # a drawn or downloaded (n/B)^2 block layout
    dense_bytes: int = 64 << 20  # a downloaded dense mask (one byte per cell)
    csv_n: int = 2048  # a CSV of more cells than this squared is not useful
    # random keys drawn per request (a BigBird random-block pick counts RANDOM_BLOCK_WEIGHT keys). random(8) at
    # n = 2^20 (8.4 million), each run in a fresh process with its import (0.15 s, 33 MB) added, 52 runs at
    # load 0.2-13 over blocks 9 to 2^20 and causal both ways: median 0.37 s, worst 1.00 s (causal, block 128,
    # load 8.5), 291 MB at blocks <= 64, 186 MB at >= 1,024. It fits; random(9) would not (~317 MB: refused
    # here and by KEY_BYTES), and the segment price refuses random(8) at blocks <= SMALL_BLOCK
    random_draws: int = 8 << 20

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Budget:
        """Defaults, overridden by SPARSE_EXPLORER_BUDGET_<NAME> variables."""
        env = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or not raw.strip():
                continue
            try:
                value = int(float(raw.replace("_", "")))
            except (ValueError, OverflowError):
                raise PatternError(
                    f"{ENV_PREFIX}{f.name.upper()} must be a whole number, got {clip_text(raw)!r}",
                    "budget_env",
                    name=ENV_PREFIX + f.name.upper(),
                    value=clip_text(raw),
                ) from None
            changes[f.name] = max(1, value)
        return replace(cls(), **changes)


def current() -> Budget:
    """The budget in force now (environment read on every call, so tests and deployments can change it)."""
    return Budget.from_env()


def clip_text(text: Any, limit: int = 40) -> str:
    """User text shortened for an error message: at most `limit` characters, then '…'."""
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class Cost:
    """Predicted work of one request; `lower[metric]` names what to lower for that metric."""

    n: int
    block: int
    dnf_terms: int = 0
    ie_subsets: int = 0
    segment_evals: int = 0
    memory_bytes: int = 0
    scored_pairs: int = 0
    kmeans_work: int = 0
    lsh_work: int = 0
    block_cells: int = 0
    dense_bytes: int = 0
    random_draws: int = 0
    uncountable: str = ""  # "rows", "blocks" or "decode": no exact counting method fits this request at that level
    lower: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lower"}
        out["lower"] = {k: list(v) for k, v in self.lower}
        return out


# -- per-primitive probes ------------------------------------------------------------------
BYTES_PER_SLOT = 80  # per row segment slot of a row chunk: measured dilated(256, 256) at 2^20 1.4x of this
# per slot of a single term (its parts met piece by piece, intersect_all, then summed): 19-40 B measured with the
# rows' degrees, neighborhoodᶜ(954, 56) ∩ neighborhood(955, 3) at 25,734 (189 pieces a row) 88 MB, priced 372 MiB
TERM_BYTES_PER_SLOT = 40
BLOCK_BYTES_PER_SLOT = 24  # per block-row slot (starts, counts and one sort)
# the fold over block rows holds its pieces, their folded coordinates and a sort: longformer(2, 2^20) ∪
# dilatedᶜ(988,249, 4,037) at 786,432, block 64 held 282 MB above the process, priced 110 MiB at 24 bytes a slot.
# With a stride's or dilation's block slots priced as built (not a 1.5x bound), three dilations' union at 358,538,
# block 33 held 268 MB above the process at 64 bytes a slot (264 MiB priced): 80 keeps the process under 300 MB
BLOCK_FOLD_BYTES_PER_SLOT = 80
BLOCK_ROW_BYTES = 48  # per block row and structured part's block slot: 41 B measured at most (predict_cost)
# Counting rows one per constant run (BigBird, blocks): the row chunk is the runs, not ROW_CHUNK rows, and a causal
# expression then lists each run's own keys in per-token arrays (hit map, running cover, sums): bigbird(8,192, rb 61)
# at 2^20 held 9 MB for its 128 runs, priced 320 MiB as 65,536 rows (refused); bigbirdᶜ(8,192, rb 8) at 2^20 held
# 34 MB for the runs' listing, bigbirdᶜ(64, rb 2) 37 MB
CAUSAL_RUN_BYTES = 40
# every row's degree, its chunks' results and their concatenation: mistralᶜ ∩ fixed(4,100, 1) at 2^20 held 21 MB over
# the process for rows priced 5 MiB as one slot a row of a chunk
DEGREE_BYTES = 20
# a closed-form count per row (row_count), per row of a chunk: its starts, grid coordinates and clipped widths.
# neighborhood(1,024, 63) at 2^20 counted its rows in 16 ms holding 19 MB (priced 655 MiB as a segment table)
CLOSED_FORM_ROW_BYTES = 128
# fixed's summary columns, listed for their steps where they are few a row (segments.shape_of): mistralᶜ ∩ fixed(41, 39)
# at 2^20 held 55 MB for its rows (39 slots x 65,536 rows listed, 16 bytes each), priced 5 MiB; at 574,858 tokens,
# block 2^20, the one block's rows at once held 449 MB (a chunk at a time since)
COLUMN_LIST_BYTES = 24
# a run's row holds more a slot than a chunk of every row (block ∩ bigbird(64, rb 40) ∩ block at 300,000: 18,750 runs x
# 43 slots held 78 MB, 97 bytes a slot; bigbird(64, rb 64) at 2^20 92 MB for 16,384 x 67, 84 bytes)
RUN_BYTES_PER_SLOT = 100
# A random-blocks part builds its block rows' candidate blocks SPAN_CELLS at a time, each candidate in ~10 int64
# temporaries (picks, bounds, validity, the merge's sort), and keeps the merged slots of every block row until they
# are stacked: bigbird(64, rb 64) at 2^20 held 157 MB at block 32 and 121 MB at block 64, bigbird(8,192, rb 64) 124 MB
# at block 64, bigbird(16, rb 16) 109 MB at block 512; priced 73-98 MiB (49 and 25.5 for the last two) at 24 bytes a
# slot. Measured here, one process a request, tools /tmp/cal/phase_mem.py
RANDOM_BLOCK_CANDIDATE_BYTES = 100
RANDOM_BLOCK_KEPT_BYTES = 16
KEY_BYTES = 31  # per random key: its int32 table, the key blocks and their sort (random(8) at 2^20: 258 MB)
# nine or more keys a row at blocks up to 64 list more key blocks a block row: random(11) at 762,129, block 10 held
# 271 MB over the process (32 a key; 306 MB in all), random(12), (16), (32), (48) 300-305 MB at blocks 9-32 (a probe);
# random(8) at the same blocks held at most 291 MB. A price at the 264 MiB limit is ~312 MB with the process
# (a fourth probe: random(9) at 930,256, block 9 held 307 MB, random(10)-(16) at blocks 33-64 302-305 MB)
KEY_BYTES_MANY_SMALL = 34
KEY_MANY = 9
KEY_SMALL_BLOCK = 64


def _key_bytes(prims, block: int) -> int:
    """Bytes a random key holds (KEY_BYTES, more with nine or more keys a row at small blocks)."""
    most = max((int(getattr(p, "random_keys", 0)) for p in prims if type(p).__name__ == "RandomKeys"), default=0)
    return KEY_BYTES_MANY_SMALL if most >= KEY_MANY and block <= KEY_SMALL_BLOCK else KEY_BYTES


# A block row's random keys are listed together: at blocks past half the sequence one block row holds nearly every key.
# random(8) at 2^20 held 153 MB over the process at block 2^19, 191 MB at 700,000, 261-265 MB at 1,030,270-1,048,575
# (~27 bytes a key of the widest block row), and 293 MB intersected with block(48,689, 1), its degrees held beside
KEY_ROW_BYTES = 34

# The parameters that drive a primitive's cost, as the pattern forms call them.
COST_PARAMS = {
    "RandomKeys": ("random_keys",),
    "RandomBlocks": ("random_blocks",),
    "Dilated": ("window", "dilation"),
    "SummaryColumns": ("summary",),
    "StrideColumns": ("stride",),
    "Window": ("window",),
    "Blocks": ("neighbors",),
    "GlobalTokens": ("global_tokens",),
    "Sinks": ("sinks",),
    "TopK": ("k",),
    "LSH": ("buckets", "rounds"),
    "Routing": ("clusters", "iterations"),
    "BlockGating": ("top_blocks",),
    "VerticalSlash": ("vertical", "slash", "last_q"),
    "Neighborhood": ("radius",),  # side sets the grid's shape; the work per row grows with the radius
}


def _pattern_names(expr) -> dict[int, tuple[str, ...]]:
    """Primitives a composite pattern built from one of its own parameters, by id: the name to blame.

    strided's window is its stride, fixed's blocks its stride, BigBird's window its window_blocks; a
    refusal should name what the user can set, not the primitive's field.
    """
    out: dict[int, tuple[str, ...]] = {}
    nodes = [expr]
    while nodes:
        node = nodes.pop()
        parts = getattr(node, "parts", None)
        if parts is None:
            continue
        nodes.extend(parts)
        kinds = {type(q).__name__: q for q in parts}
        window, cols = kinds.get("Window"), kinds.get("StrideColumns")
        if len(parts) == 2 and window is not None and cols is not None and window.window == cols.stride:
            out[id(window)] = ("stride",)
        blocks, summary = kinds.get("Blocks"), kinds.get("SummaryColumns")
        if len(parts) == 2 and blocks is not None and summary is not None and blocks.block == summary.stride:
            out[id(blocks)] = ("stride",)
        if blocks is not None and "GlobalBlocks" in kinds and "RandomBlocks" in kinds:
            out[id(blocks)] = ("window_blocks",)
    return out


def _params_of(prim) -> tuple[str, ...]:
    name = type(prim).__name__
    if name in COST_PARAMS:
        return COST_PARAMS[name]
    own = [f.name for f in fields(prim) if f.name not in ("causal", "seed") and isinstance(getattr(prim, f.name), int)]
    return tuple(own[:1])


def _param(prim, name: str, default: int = 0) -> int:
    """A primitive's whole-number parameter, `default` where this primitive has none."""
    return int(getattr(prim, name, default))


def _block_progression(prim, n: int, block: int) -> tuple[int, bool] | None:
    """(slots, every segment a single key) of a stride's or dilation's block row, where its block rows are
    progressions (its own block_progression says when, and of which m), else None.

    A row holds key blocks of i - m*d for m in [mlo, mhi]; with no more m than residues of m modulo B/gcd(d, B)
    every segment holds one key block (an interval for counting). The slots are the built ones
    (_progression_block_shape): a stride of 1,034,106 at 2^20 reaches m = 0..2, 5 slots (block 64).
    """
    own = getattr(prim, "block_progression", None)
    args = own(n, block) if own is not None else None
    if args is None:
        return None
    d, mlo, mhi = args
    reach = (n - 1) // d + 1
    m_count = min(mhi, reach) - max(mlo, -reach) + 1
    period = block // gcd(d, block)
    return _progression_block_shape(prim, n, block)[0], m_count <= period


@lru_cache(maxsize=256)
def _progression_block_shape(prim, n: int, block: int) -> tuple[int, int, int]:
    """(slots, step, widest step x count) of a stride's or dilation's block rows, exactly as progression_block_segments
    lays them out (every block row in the same slots), read from its residue tables without building a row (a row's
    build took ~23 us a slot: four dilations just above a coprime block, ~1,450 slots each, 110-194 ms to refuse).

    The bound 3 x min(B / gcd(d, B), m) + 1 ran ~1.5x the built slots, and inclusion-exclusion's price (a product of
    slots) twice that: two dilations' block plan was priced as bitmaps at 81 MiB where the engine took
    inclusion-exclusion and held 498 MB (dilatedᶜ(2,000, 1,000) ∪ dilated(10, 4,096) at 381,706, block 47: 142 slots
    priced, 94 built; a probe)."""
    from .patterns.block_helpers import progression_block_shape

    return progression_block_shape(n, block, *prim.block_progression(n, block))


def _static_slots(prim, n: int, block: int) -> tuple[int, int, int]:
    """(slots per row, slots per block row, extra work per row) as the engine builds them, from parameters only."""
    name = type(prim).__name__
    g = partial(_param, prim)
    nb = -(-n // block)
    slots = max(1, int(prim.segment_count(n)))
    own = getattr(prim, "block_segment_count", None)
    if own is not None:
        tight = _block_progression(prim, n, block)
        bslots = max(1, int(own(n, block)))
        if name == "Dilated" and g("dilation", 1) % block == 0:
            # key blocks floor(i / B) - m x d / B exactly: a progression and the row's own block (2 slots at most
            # in 700 built configurations, d = B to 400 B, causal both ways; its own count says 4): dilated(31,
            # 526) at block 2 priced its block fold 25 M units, the engine's 6.3 M
            bslots = min(bslots, 2)
        return slots, bslots if tight is None else min(bslots, tight[0]), 0
    if name == "RandomKeys":
        r = g("random_keys", 1)
        return r, min(r * block, nb + 1), 2 * r  # the key table, built for rows and for block rows
    if name == "RandomBlocks":
        r, b = g("random_blocks", 1), max(1, g("block", 1))
        return slots, min((block // b + 2) * r, nb + 1), 0
    if name == "LogSparse":
        return slots, min(slots, nb), 0  # shifted ranges, merged
    return slots, slots, 0  # windows, blocks, global tokens and blocks, sinks: the same intervals per block row


def drawn_part(prim) -> bool:
    """A random part: its keys are drawn from tables (never while pricing), their work and memory priced per key."""
    return type(prim).__name__ in ("RandomKeys", "RandomBlocks")


def _own(prim, name: str):
    """The primitive's own `name` method, or None where only the generic base class defines it."""
    for cls in type(prim).__mro__:
        if name in vars(cls):
            return None if cls.__name__ in ("Primitive", "Expr", "DataDependent") else getattr(prim, name)
    return None


def _kind(prim) -> str:
    if hasattr(prim, "materialised_slots"):
        return "columns"
    return "interval" if getattr(prim, "interval_segments", True) else "progression"


def predict_slots(prim, n: int, block: int = 128) -> int:
    """Segment slots per query row of one primitive at n tokens (from its parameters; nothing is built)."""
    return _static_slots(prim, n, block)[0]


def _step_span(prim, n: int) -> tuple[int, int]:
    """(lcm of segment steps, widest segment extent in keys) of a primitive's row segments, from its
    parameters, never below what segments.shape_of finds in the built segments (the fold's price)."""
    name = type(prim).__name__
    g = partial(_param, prim)
    if name == "StrideColumns":
        # a row's column holds up to ceil(n / l) keys l apart: step x count reaches l x ceil(n / l), past n (priced as
        # n, a fold with one piece fewer a key was planned where the engine drew bitmaps: strided(2) ∪ dilated(2^20,
        # 2) ∪ dilated(20,000, 2) ∪ strided(8,191) at 32,763 ran 36 s accepted at 1.5 M units, a probe)
        stride = g("stride", 1)
        return stride, stride * -(-n // stride)
    sides = 1 if prim.causal else 2  # a causal row keeps one side of its window
    if name == "Dilated":
        w, d = g("window"), g("dilation", 1)
        return (d, min(n + d, d * (sides * w + 1))) if w > 0 else (1, 1)  # clipped to the sequence
    if name == "SummaryColumns":
        stride, summary = g("stride", 1), g("summary", 1)
        return (stride, stride * -(-n // stride)) if summary <= -(-n // stride) else (1, summary)
    if name == "Window":
        return 1, min(n, sides * g("window") + 1)
    if name == "Blocks":
        return 1, min(n, g("block", 1) * (sides * g("neighbors") + 1))
    if name in ("RandomKeys", "LogSparse"):
        return 1, 1
    if name == "RandomBlocks":
        return 1, min(n, g("block", 1))
    if name == "Sinks":
        return 1, min(n, max(1, g("sinks")))
    return (1, n) if getattr(prim, "interval_segments", True) else (0, 0)  # unknown progressions: no fold


def _block_rows_built(p, n: int, block: int, units_per_slot: int = 1) -> int:
    """Block-row slots a structured part builds: its slots a block row, or its own block build estimate where it builds
    more than it keeps (neighborhood: 2·(2r + 1) + 1 ranges a block row, merged into 2r + 1), at units_per_slot units
    of that estimate a slot."""
    own = _own(p, "block_cost_estimate")
    return max(-(-n // block) * _static_slots(p, n, block)[1], int(own(n, block)) // units_per_slot if own else 0)


def _single_in_a_chunk(p, n: int) -> bool:
    """Whether some chunk of rows may hold at most one key a row of this progression, so that count_union, which
    shapes each chunk from its own segments, sees intervals there: a dilation of at most one key a row, or a
    step no chunk of rows reaches past (causal stride columns keep one key on the rows below the stride)."""
    from . import analysis

    if type(p).__name__ == "Dilated" and _param(p, "window", 1) <= 0:  # (window 0 or 1 as asked for)
        return True
    return _step_span(p, n)[0] >= min(n, analysis.ROW_CHUNK)


def _shapes(prims, n: int, block: int | None) -> dict[int, segments_mod.PartShape]:
    """Each primitive's shape at element level (block None) or block level, as count_union will see it."""
    out = {}
    for p in prims:
        slots, bslots, _ = _static_slots(p, n, block or 128)
        kind = _kind(p)
        if block is None:
            if kind == "columns":
                slots = int(p.materialised_slots(n))
            step, span = _step_span(p, n)
            if kind == "progression" and step >= n:
                # a step past the sequence leaves one key a segment: count_union sees intervals and sweeps them
                # (strided(1,024,626) ∩ neighborhood(512, 56) at 41,000 was priced by inclusion-exclusion, 81 slots,
                # and the engine swept 162: 362 MB held, priced 254 MiB)
                kind, step = "interval", 1
            # random keys, one a segment (a random block is B keys), and a progression of one key a row
            singles = type(p).__name__ == "RandomKeys" or (kind == "interval" and _kind(p) == "progression")
            out[id(p)] = segments_mod.PartShape(id(p), slots, kind, step, span, singles)
        else:
            if kind == "columns" and hasattr(p, "materialised_slots"):
                # fixed's summary columns, where a block row's closed form cannot serve, are listed as a table
                # of one slot per key block (summary_columns.block_segments' explicit): fixed(1,013,943, 48) ∩
                # strided(240) at 312,495, block 16 listed 19,532 a block row, past 60 s (search seed 28)
                bslots = -(-n // block) + 1
            tight = _block_progression(p, n, block)
            # one slot is an interval only where it holds neighbouring key blocks: a stride (or dilation) that is a
            # multiple of the block, past it, keeps key blocks d/B apart, a progression to the engine's count
            # (strided(240) at block 16 was shaped an interval; its term with fixed's summary columns was listed)
            d = _param(p, "stride", 0) or _param(p, "dilation", 0)
            spread = kind == "progression" and tight is None and d > block
            # one key block a segment. A stride's or dilation's slots say nothing of it: one built slot may be a
            # progression of many key blocks (dilatedᶜ(974,955, 3,832) at block 1: one slot a block row, which as an
            # interval met fixed's columns in closed form, priced 44 MiB; the engine listed them, a 54.6 GiB table)
            single = tight[1] if tight is not None else bslots == 1 and not spread
            bkind = kind if kind != "progression" else ("interval" if single else "progression")
            # random keys' and blocks' key blocks are listed one a segment (packed, distinct), and a progression whose
            # every segment holds one key block: set key by key, not summed
            singles = drawn_part(p) or (tight is not None and tight[1])
            out[id(p)] = segments_mod.PartShape(id(p), bslots, bkind, *_block_step_span(p, n, block, bkind), singles)
    return out


BLOCK_PROBE_ROWS = 8  # block rows built to learn a part's block-level segment steps (as shape_of reads them)


def _block_step_span(prim, n: int, block: int, kind: str) -> tuple[int, int]:
    """(lcm of segment steps, widest segment extent in key blocks) of a part's block rows, for the fold's price:
    the engine's count_union sees these in the built block rows (segments.shape_of) and folds where that is
    cheapest, while the price, without them, took inclusion-exclusion: globalᶜ ∪ dilated(1,020,587, 4,063) ∪
    streamingᶜ at 2^20, block 16 priced 42 M units for a block count the engine folded in 0.16 s.

    The steps come from a few built block rows (a step is set by the parameters, the same in every row); a
    progression whose sample shows no step stays unknown (no fold). The extent is bounded from the element
    rows' (_step_span): a segment of one residue class spans at most span / block + step key blocks.
    Random and column parts: unknown (0, 0), as before."""
    if kind == "columns" or drawn_part(prim):
        return 0, 0
    estep, espan = _step_span(prim, n)
    if estep <= 0 or espan <= 0:
        return 0, 0
    nb = -(-n // block)
    if kind == "interval":
        return 1, min(nb, espan // block + 2)
    if _block_progression(prim, n, block) is not None:
        # a stride's or dilation's residue tables give its block rows' step and widest extent exactly. The bound
        # below (span / block + step + 2) was a step past it: four key blocks a segment priced as five, so the fold
        # planned one piece a slot where the engine split each into four keys (dilatedᶜ(999, 3,001) ∪ window ∪
        # dilated(1,500, 3,001) at 537,607, block 46: 379 MB accepted at 264 MiB, a probe)
        _, step, span = _progression_block_shape(prim, n, block)
        return (step, span) if step > 1 else (0, 0)  # one key block a segment: no step to fold by, as before
    sample = np.unique(np.linspace(0, nb - 1, num=min(nb, BLOCK_PROBE_ROWS)).astype(np.int64))
    segs = prim.block_segments(sample, n, block)
    if isinstance(segs, segments_mod.ColumnSet):
        return 0, 0
    step, span = segments_mod._steps_and_span(segs)
    if step <= 1:
        return 0, 0
    return step, max(span, espan // block + step + 2)


# A random-block pick is drawn once, then listed in the block layout and in the view (each a
# block row's span of picks): measured ~6 random keys' worth of work per pick at 2^20.
RANDOM_BLOCK_WEIGHT = 6


RANDOM_KEYS_EASY = 48
# merging sorted ranges per block row (logsparse at block 2, 2^20: 1.3 GB and 2 s for 2^19 x 22 ranges)
MERGE_WORK = 6
# 111 bytes a range measured at block 1 (logsparse at 131,072: 277 MB over the process, priced 261 MiB at 110, so 313
# MB in all with the process): a margin, as a price at the 264 MiB limit is ~312 MB with the process
MERGE_BYTES = 120
SMALL_BLOCK = 8  # at or below this block size a block layout is about as long as the rows
# work units per (weighted) random key, for every stage that reads it: random(8) at 2^20 ran 0.54-0.56 s (its
# process start excluded, two searches at once) for 26 M units at 2 a key, 21 ns a unit, where most shapes run
# 5-15: 3 a key brings it into that band
DRAW_WORK = 3
# the block layout's second listing of every random key at blocks <= SMALL_BLOCK (3 units a key, as when DRAW_WORK
# was 2: the listing did not get dearer when the draw's price was raised)
SMALL_BLOCK_DRAW_WORK = 3


def random_draws(prims, n: int, listed: bool = False) -> int:
    """Random keys drawn (and listed) for one request, random-block picks weighted by RANDOM_BLOCK_WEIGHT.
    listed: the keys as listed again, without the weight of drawing many distinct keys a row."""
    total = 0
    for p in prims:
        name = type(p).__name__
        if name == "RandomKeys":
            r = int(p.random_keys)
            # past ~48 keys a row, drawing distinct subsets sorts and redraws: measured 50 ns a key at r <= 33,
            # 120-240 ns at r = 128-256 here
            total += n * r * (1 if listed else max(1, r // RANDOM_KEYS_EASY))
        elif name == "RandomBlocks":
            total += RANDOM_BLOCK_WEIGHT * -(-n // max(1, int(p.block))) * int(p.random_blocks)
    return total


def _random_block_bytes(prims, nb: int, block: int) -> int:
    """Peak bytes of the random-blocks parts' block rows while built (RandomBlocks.block_segments): one chunk of
    candidates at a time, every block row's merged slots kept."""
    from .patterns.random_blocks import SPAN_CELLS

    most = 0
    for p in prims:
        if type(p).__name__ != "RandomBlocks":
            continue
        own = max(1, int(p.block))
        # query blocks of the part that one block row overlaps, each with its picks (listed as two key blocks when
        # a pick is narrower than a block)
        per_row = (block // own + 2) * max(1, int(p.random_blocks)) * (2 if own <= block else 1)
        candidates = nb * per_row
        held = RANDOM_BLOCK_CANDIDATE_BYTES * min(SPAN_CELLS, candidates) + RANDOM_BLOCK_KEPT_BYTES * candidates
        most = max(most, held)
    return most


def _data_dependent_work(prim, n: int, d: int = 64) -> dict[str, int]:
    name = type(prim).__name__
    g = partial(_param, prim, default=1)
    out = {"scored_pairs": n * n}
    if name == "Routing":
        c = min(g("clusters"), 2 * n)
        rounds = g("iterations") + 1  # the final labelling is one more pass
        out["kmeans_work"] = 2 * n * d * ((c + KMEANS_ITERATION_FLOOR) * rounds + c * KMEANS_SEEDING_WEIGHT)
    elif name == "LSH":
        out["lsh_work"] = n * g("rounds") * (d * max(1, g("buckets") // 2) + n)
    elif name == "BlockGating":
        out["scored_pairs"] = n * (-(-n // max(1, g("block")))) + n * n
    return out


# Bytes per (query, key) cell a data-dependent primitive holds while scoring: RSS above the import at
# n = 4,096 here (block gating 250 MB, top-k 72 MB, vertical-slash 53-70 MB, LSH 56 MB, routing 60 MB)
DENSE_CELL_BYTES = {"TopK": 4, "VerticalSlash": 3, "LSH": 3, "Routing": 3}
# vertical-slash estimates its columns and diagonals from its last last_q queries' scores against every key: alone
# at 4,096, block 4 it held 71 MB over the import at last_q 1,024 and 196 MB at 3,977 (priced 130 MiB either way),
# ~10.5 bytes a (query, key) score; two of them in a union with dilated and random parts held 306 MB, priced 258 MiB
VS_ESTIMATE_BYTES = 11
GATING_BYTES = 12  # block gating: per (query, key block) score, float32 and its float64 temporaries

DENSE_LAYOUT_BYTES = 64  # per kept block pair of a dense (data-dependent) layout: codes, table, segments
DENSE_LAYOUT_WORK = 4
# per run of kept key blocks in a dense layout (sorted, grouped by row and tabled: _layout_from_pairs). With
# the layout priced from keys per row, blocks 1-2 became reachable: topk(480) at 4,096, block 1 (1.97 M
# scattered pairs, each its own run) priced 8.9 M units and ran 0.43-1.05 s (median 0.79, 290 MB) in 5 fresh
# processes at load 1.9, topk(240) 0.35-0.48 s, topk(120) 0.33-0.43 s; at 20 units a scattered pair
# topk(328) was accepted and ran 0.40-0.93 s (median 0.55). 24 units a scattered pair refuses past ~1.1 M
DENSE_RUN_WORK = 20
DENSE_COUNT_BYTES = 2  # per block pair: its kept-pair count (uint8 at blocks < 16) and nonzero's bool scan


def _row_keys_bound(prim, n: int) -> int | None:
    """Keys one row of a data-dependent part can keep, at most, from its parameters (None: any number).

    top-k keeps exactly its k (ties are settled by argpartition), vertical-slash its columns plus its
    diagonals, block gating its top blocks of `block` keys; LSH buckets and routing clusters can hold
    every key."""
    name = type(prim).__name__
    if name == "TopK":
        return min(n, _param(prim, "k", n))
    if name == "VerticalSlash":
        return min(n, _param(prim, "vertical") + _param(prim, "slash"))
    if name == "BlockGating":
        return min(n, _param(prim, "top_blocks", n) * max(1, _param(prim, "block", 1)))
    if name == "RandomKeys":  # a structured part, but drawn: its r keys a row bound a term without drawing them
        return min(n, _param(prim, "random_keys", n))
    return None


_ROW_KEY_PARAMS = {"TopK": ("k",), "VerticalSlash": ("vertical", "slash")}  # what bounds their keys per row


def _is_causal(prim) -> bool:
    """Whether a part keeps no key after its query (vertical-slash always: both its estimates are causal)."""
    return bool(prim.causal) or type(prim).__name__ == "VerticalSlash"


def _bounded_block_pairs(prim, n: int, block: int) -> tuple[int, int] | None:
    """(block pairs, scattered block pairs) a data-dependent part with a per-row key bound k can keep: a block
    row of b rows keeps at most b x k key blocks, never more than nb, and a causal one (vertical-slash always
    is) none past its own. Scattered: block rows where b x k is below the row's candidates, so each kept
    block may be a run of its own (top-k's keys); a row that keeps every candidate is one run.
    vertical_slash(567, 2) at 4,096, block 1 was priced every pair (1.1 GiB) and ran 182 MB."""
    k = _row_keys_bound(prim, n)
    if k is None:
        return None
    nb = -(-n // block)
    brow = np.arange(nb, dtype=np.int64)
    rows = np.minimum(block, n - brow * block)
    cap = brow + 1 if _is_causal(prim) else np.full(nb, nb, dtype=np.int64)
    kept = np.minimum(cap, rows * k)
    scattered = int(kept[rows * k < cap].sum())
    if type(prim).__name__ == "VerticalSlash":
        # its vertical keys are columns every row shares, its slashes diagonals: laid out at about half a top-k
        # key's cost (53 ns a pair at 4,096, block 1, against top-k's 115; vertical_slash(567, 2) ran 0.21 s)
        scattered //= 2
    return int(kept.sum()), scattered


def _dense_layout_pairs(expr, n: int, block: int) -> int:
    """Block pairs a data-dependent expression's layout can keep, at most (see _dense_layout_bound)."""
    return _dense_layout_bound(expr, n, block)[0]


def _dense_layout_bound(expr, n: int, block: int) -> tuple[int, int]:
    """(block pairs, scattered block pairs) a data-dependent expression's layout can keep, at most: per term
    the fewest block pairs any of its parts keeps (the term's mask is the AND of its parts' masks, so it keeps
    no block pair a part drops): a structured part's block sets counted, a data-dependent part's bound from
    its keys per row (_bounded_block_pairs), every pair for a part that has none. Scattered: the pairs of
    terms whose bound is a data-dependent part's keys per row, where each pair may be a run of its own.
    n <= DATA_DEPENDENT_MAX_N here, so the parts' block sets (one row per block) cost milliseconds."""
    from .patterns.base import simple_terms

    nb = -(-n // block)
    if nb > DATA_DEPENDENT_MAX_N:  # a deployment raised the limit: do not build a million block rows to price
        return nb * nb, 0
    terms = simple_terms(expr)
    # parts bounded by their keys a row: data-dependent ones and random keys. (block_gatingᶜ ∪ globalᶜ) ∩ random(230)
    # at 4,096, block 2 was priced every block pair (364 MiB) and ran 138 MB
    keyed = [p for t in terms for p in t if p.data_dependent or type(p).__name__ == "RandomKeys"]
    bounds = {id(p): _bounded_block_pairs(p, n, block) for p in keyed}

    def dd_best(term) -> tuple[int, int]:
        found = [b for p in term if (b := bounds.get(id(p))) is not None]
        return min(found, default=(nb * nb, 0))

    if any(all(p.data_dependent for p in t) and dd_best(t)[0] >= nb * nb for t in terms):
        # a term of data-dependent parts alone with no bound keeps every pair, so the bound is every pair:
        # building the other terms' block sets first took a refusal to 52 ms (a_shape ∪ vertical_slashᶜ ∪
        # bigbirdᶜ with 60 random blocks at 4,096, block 1; search seed 27)
        return nb * nb, 0
    brows = np.arange(nb, dtype=np.int64)
    kept: dict[int, int] = {}
    total = scattered = 0
    for term in terms:
        best, spread = dd_best(term)
        for p in term:
            if p.data_dependent or drawn_part(p):
                continue  # random parts are not drawn to price (52 ms for BigBird's 60 random blocks at 4,096)
            if _block_rows_built(p, n, block, units_per_slot=2) > LAYOUT_PROBE_SLOTS:
                # too many block-row slots to build within a refusal's 50 ms: this part bounds nothing here
                # (neighborhood(33, 57) at 4,096, block 2: 2,048 block rows x 115 pieces, 40 ms of a refusal)
                continue
            if id(p) not in kept:
                segs = p.block_segments(brows, n, block)
                # a column set (fixed's summary columns) counted in closed form: listed, it was an (nb, nb) table, 16 M
                # entries and 1.1 s of sorting at 4,096 tokens, block 1, while pricing a refusal (search seed 63)
                kept[id(p)] = int(segments_mod.count_union([[segs]], nb, universe=nb, list_columns=False).sum())
            if kept[id(p)] < best:
                best, spread = kept[id(p)], 0  # a structured part's block set bounds it (priced as before)
        total += best
        scattered += spread
    # a part in every term bounds their union: the terms of (block_gatingᶜ ∪ logsparse) ∩ random(32) share their
    # random keys, priced twice as two terms
    for p in set.intersection(*({id(q) for q in t} for t in terms)) if len(terms) > 1 else ():
        if (own := bounds.get(p)) is not None:
            shared, spread = own[0], min(scattered, own[1])
        elif p in kept:  # a structured part's block set, priced without scattered runs as in a term
            shared, spread = kept[p], 0
        else:
            continue
        if shared < total:
            total, scattered = shared, spread
    return min(total, nb * nb), min(scattered, total, nb * nb)


# (n, n) cells per work unit of counting kept pairs per block byte by byte, where the eight-column sums cannot
# serve (n or the block not a multiple of 8): 0.15 s at 4,096, block 2, 0.10 s at block 1, 0.08 at 3, 0.06 at 4,
# against 0.005-0.015 s at blocks 8 and 16 (one process at load 2)
BYTE_COUNT_CELLS = 2
DENSE_PASS_CELLS = 32  # (n, n) bool cells ANDed or ORed per work unit (about 2 billion a CPU second here)

REFINE_FACTOR = 3  # re-counting a candidate block's rows with a key window: ~3x a plain row count


def dnf_size(expr, cap: int = 1 << 20) -> int:
    """Terms of the expression's union of intersections, counted without listing them (capped)."""
    parts = getattr(expr, "parts", None)
    if parts is None:
        return 1
    sizes = [dnf_size(p, cap) for p in parts]
    if type(expr).__name__ == "Union":
        return min(cap, sum(sizes))
    out = 1
    for k in sizes:
        out = min(cap, out * k)
    return out


# Terms listed to simplify and price a composition: past this the request is refused unlisted
TERMS_LISTED = 4096


COLUMN_TABLE_BYTES = 32  # per (block row, block) cell of a column set listed as a table, with its copies
NEAR_TIE = 1.25  # a counting method within this factor of the planned one's work may be the engine's choice


def _plan(terms, shapes, rows: int, universe: int | None, chunk: int) -> tuple[str, int, int]:
    """count_union's plan over `rows` rows counted `chunk` at a time: (method, work, peak slots per row)."""
    per = [[shapes[id(p)] for p in t] for t in terms]
    chunk = max(1, min(rows, chunk))
    method, work, peak = segments_mod.union_plan(per, chunk, universe)
    # every method's work is per row (union_plan prices rows x work a row), so a last, partial chunk costs its
    # own rows: longformer ∩ logsparse at 75,121 tokens was priced two full chunks of 65,536 rows (29.5 M units,
    # 75 % over) and refused, though it ran 0.38 s
    return method, -(-work * rows // chunk), peak


def count_work(expr, n: int, rows: int) -> int:
    """Planned work of counting `rows` rows of a structured expression exactly, with every method the
    planner knows (the fold needs the parts' steps, which only parameters give before anything is built)."""
    from . import analysis
    from .patterns.base import simple_terms

    structured = [p for p in expr.primitives() if not p.data_dependent]
    method, work, _ = _plan(simple_terms(expr), _shapes(structured, n, None), rows, n, analysis.ROW_CHUNK)
    return 1 << 62 if method == "refuse" else work


def _degree_rows(expr, prims, n: int) -> tuple[int, int]:
    """(rows counted, extra listing work) of row_degree, following its shortcuts (constant runs of rows)."""
    from . import analysis

    if len(prims) == 1 and hasattr(prims[0], "row_count"):
        return 0, n  # a closed form per row
    run = analysis.constant_rows(expr, n)
    if run <= 1:
        return n, 0
    runs = -(-n // run)
    if not prims[0].causal:
        return runs, 0
    return runs, 2 * n  # causal: each run lists its own rows once more


def predict_cost(
    expr, n: int, block: int = 128, *, what: str = "stats", budget: Budget | None = None, vectors_dim: int = 64
) -> Cost:
    """Work of one request, from the expression's parameters alone (nothing is drawn or listed).

    what: "stats" (row degrees + block layout + decode cache), "dense" (an (n, n) mask), "layout"
    (the block layout drawn or downloaded) or "view" (the explorer's mask view). The counting work
    comes from segments.union_plan, the same function the engine uses to choose its method, so a
    price is the work the engine will do.
    """
    from . import analysis

    n, asked = int(n), int(block)
    block = min(asked, n)  # the engine lays out a block wider than the sequence at block n (one block)
    nb = -(-n // block)
    prims = expr.primitives()
    budget = current() if budget is None else budget
    lower: dict[str, list[str]] = {}
    own_names = _pattern_names(expr)

    def params_of(p) -> tuple[str, ...]:
        return own_names.get(id(p)) or _params_of(p)

    def blame(metric: str, names) -> None:
        bucket = lower.setdefault(metric, [])
        for name in names:
            if name not in bucket:
                bucket.append(name)

    def done(**cost) -> Cost:
        cost["block"] = asked
        return Cost(**cost, lower=tuple((k, tuple(v)) for k, v in lower.items()))

    work = {"scored_pairs": 0, "kmeans_work": 0, "lsh_work": 0}
    structured = [p for p in prims if not p.data_dependent]
    for p in prims:
        if p.data_dependent:
            for metric, amount in _data_dependent_work(p, n, vectors_dim).items():
                work[metric] += amount
                blame(metric, params_of(p))
    n_terms = dnf_size(expr)
    cost: dict[str, Any] = dict(n=n, block=block, dnf_terms=0, ie_subsets=0, **work)
    if expr.data_dependent:
        # the engine scores data-dependent expressions densely: every primitive becomes an (n, n) mask, and
        # scoring holds float scores and their temporaries (measured peaks at n = 4,096 in DENSE_CELL_BYTES)
        # (+2 cells, one more than before: four layers with vertical-slash at 4,096 measured 304 MB, priced 4 % low)
        scoring = 0
        for p in prims:
            if type(p).__name__ == "BlockGating":
                # its mask, plus float scores and temporaries per (query, key block): 177 MB at block 1, 61 MB
                # at block 64 (n = 4,096, above the process); a flat 13 bytes a cell refused NSA's defaults
                scoring += n * n + GATING_BYTES * n * -(-n // max(1, int(p.block)))
            elif type(p).__name__ == "VerticalSlash":  # its estimating queries' scores, at least its cells' share
                estimate = VS_ESTIMATE_BYTES * min(n, _param(p, "last_q", n)) * n
                scoring += max(n * n * DENSE_CELL_BYTES["VerticalSlash"], estimate)
            elif p.data_dependent:
                scoring += n * n * DENSE_CELL_BYTES.get(type(p).__name__, 4)
        # its block layout lists every kept block pair (at block 1, every kept pair): measured 2.7 s, 1.1 GB at
        # n = 4,096 and block 1 for a union that keeps everything. A term keeps no pair its structured parts'
        # block sets drop: streamingᶜ ∩ strided(19) ∩ topk(31) at 4,096, block 2 priced 432 MiB for every pair
        # kept and ran 188 MB. The (nb, nb) counts and their nonzero scan stay per block pair.
        # runs: pairs bounded by a part's keys per row, each of which may be a run of its own (one Seg slot)
        pairs, runs = _dense_layout_bound(expr, n, block)
        cost["memory_bytes"] = (
            scoring + n * n * (len(prims) + 2) + DENSE_LAYOUT_BYTES * pairs + DENSE_COUNT_BYTES * nb * nb
        )
        cost["segment_evals"] = DENSE_LAYOUT_WORK * pairs + DENSE_RUN_WORK * runs + nb * nb // DENSE_PASS_CELLS
        if n % 8 or block % 8:  # block counts summed byte by byte (analysis._dense_block_counts, no eights)
            cost["segment_evals"] += n * n // BYTE_COUNT_CELLS
        blame("segment_evals", ["n"])
        blame("memory_bytes", ["n"])
        for p in prims:
            if _row_keys_bound(p, n) is not None:  # its keys per row bound the layout: lowering them helps
                names = ("top_blocks",) if type(p).__name__ == "BlockGating" else _ROW_KEY_PARAMS.get(type(p).__name__)
                blame("segment_evals", names or params_of(p))
                blame("memory_bytes", names or params_of(p))
        cost["dense_bytes"] = n * n
        if n_terms > TERMS_LISTED:
            cost["dnf_terms"] = n_terms
            blame("dnf_terms", ["layers"])
        else:
            # the dense build ANDs each term's masks and ORs the terms: one pass over n^2 bytes per part of a
            # term, priced per pass (a term count limit refused 4-layer compositions that fit)
            from .patterns.base import simple_terms

            passes = sum(len(t) for t in simple_terms(expr))
            cost["segment_evals"] += n * n * passes // DENSE_PASS_CELLS
            if n_terms > 1:
                blame("segment_evals", ["layers"])
    cost["random_draws"] = random_draws(structured, n)
    for p in structured:
        if drawn_part(p):
            blame("random_draws", params_of(p))
    if structured and not expr.data_dependent:
        if n_terms > TERMS_LISTED:
            cost["dnf_terms"] = n_terms
            blame("dnf_terms", ["layers"])
            return done(**cost)
        from .patterns.base import simple_terms

        terms = simple_terms(expr)
        shapes = _shapes(structured, n, None)
        bshapes = _shapes(structured, n, block)
        rows, listing = _degree_rows(expr, structured, n)
        method, evals, peak = _plan(terms, shapes, rows, n, analysis.ROW_CHUNK)
        bmethod, bevals, bpeak = _plan(terms, bshapes, nb, nb, nb)
        kinds = [bshapes[id(p)].kind for p in {id(p): p for t in terms for p in t}.values()]
        column_table = "columns" in kinds and ("progression" in kinds or kinds.count("columns") > 1)
        if (
            bmethod == "bitmap"
            and not column_table
            and not any(len(t) > 1 and any(bshapes[id(p)].kind == "columns" for p in t) for t in terms)
        ):
            # a column set alone in its terms is drawn from its closed form (ColumnSet.bitmap), never listed: its
            # nb + 1 slots a block row are no table here (streaming ∪ bigbirdᶜ ∪ fixedᶜ at 57,401, block 16 held
            # 58 MB, priced 302 MiB with them); met in a term or listed as a table, they stay priced (below)
            bpeak = max((bshapes[id(p)].slots for t in terms for p in t if bshapes[id(p)].kind != "columns"), default=1)
        bplan_bytes = _block_plan_bytes(bmethod, terms, bpeak) * nb * bpeak
        if column_table:
            # the engine sees a column set as its few listed slots, not nb + 1, and may count by inclusion-exclusion;
            # a subset meeting the column set with a progression lists it as a table of every block row against every
            # block (summary_columns' explicit, int64, its singletons and a copy): strided(640) ∪ fixed(30,000, 4) at
            # 53,693, block 16 held 326 MB, priced 264 MiB as bitmaps (a probe; 318-336 MB in 39 such requests); two
            # column sets meeting list both (fixed(30,000, 4) ∪ fixed(7,000, 2) there: 326 MB, a fifth probe)
            bplan_bytes = max(bplan_bytes, COLUMN_TABLE_BYTES * nb * (nb + 1))
        if bmethod == "bitmap":
            # (a column set's block slots stay priced: fixed's summary columns may be listed as a table of every block
            # row against every block, fixed(4,096, 1) ∪ strided(64) at 125,248, block 16 held 1.6 GB when they
            # were left out; 302 MiB priced for 58 MB held elsewhere is the false refusal this costs)
            # the engine plans on the block rows it built, whose slots may differ a little from these: where another
            # method is nearly as cheap it may take that one, and hold its slots (randomᶜ(2) ∩ a_shapeᶜ(0, 2^20) at
            # 700,000, block 128: bitmaps priced, 118 MiB; the engine swept 510 slots a block row, 241 MB)
            alt, alt_work, alt_peak = _plan(terms, bshapes, nb, None, nb)
            if alt not in ("refuse", "bitmap") and alt_work <= NEAR_TIE * bevals:
                bplan_bytes = max(bplan_bytes, _block_plan_bytes(alt, terms, alt_peak) * nb * alt_peak)
        # union_plan's units are calibrated on the sweep; the fold, inclusion-exclusion and bitmaps run cheaper a
        # unit than it does, most of all over block rows (few slots a row, whole-array passes). Measured per phase
        # over 365 requests of the budget searches (seeds 40-44, one process, tools /tmp/cal/comp*.py): rows
        # fold median 4.2 / worst 8.9 ns a unit, ie 4.2 / 11.3, sweep 5.2 / 14.9; block rows fold 2.4 / 9.2, ie
        # 2.8 / 10.7, bitmap 1.3 / 6.7, sweep 6.7 / 19.1. Scaled so that each method's worst is near the sweep's,
        # block rows only past SMALL_BLOCK (global ∪ mistralᶜ ∪ neighborhood at 98,588, block 1, ran 22 ns a unit
        # with its block plan halved), and not the fold over block rows: longformer(2, 2^20) ∪ dilatedᶜ(988,249,
        # 4,037) at 2^20, block 64 spent 0.69 s in it, 43 ns a unit at half the price (search seed 60)
        # Summary columns (fixed's) are the exception: counted per row in closed form against every interval, they
        # ran 21-24 ns a unit of the sweep's price (fixed(6,897, 27) ∪ streaming at 2^20, block 2: 0.67 s for the
        # rows, priced 25 M units by union_plan)
        columns = any(shape.kind == "columns" for shape in shapes.values())

        def row_share(how: str) -> float:
            if columns:
                return COLUMNS_SHARE
            if how == "fold" and any(drawn_part(p) for t in terms for p in t):
                return FOLD_DRAWN_SHARE
            return METHOD_SHARE.get(how, 1.0)

        evals = int(evals * row_share(method))
        # count_union shapes each chunk of rows from the segments it built: where a progression holds one key a row
        # in some chunk, that chunk is counted as intervals, by the sweep. strided(66,500) ∩ neighborhood(1,024, 25)
        # at 70,000 was priced by inclusion-exclusion, 43 slots a row; its first chunk was swept, 86 (372 MB held,
        # 257 MiB priced), and dilated(0, 4,096) ∪ neighborhood at 2^20 ran 0.93-1.13 s priced 39.2 M (probes)
        single = {
            id(p): replace(shapes[id(p)], kind="interval", step=1, singles=True)
            if shapes[id(p)].kind == "progression" and _single_in_a_chunk(p, n)
            else shapes[id(p)]
            for p in structured
        }
        if single != shapes:
            m2, e2, p2 = _plan(terms, single, rows, n, analysis.ROW_CHUNK)
            if m2 == "refuse" or int(e2 * row_share(m2)) > evals:
                method, evals = m2, int(e2 * row_share(m2))
            peak = max(peak, p2)
        if block > SMALL_BLOCK:  # at blocks <= 8 the block rows are about as many and as long as the rows
            bevals = int(bevals * BLOCK_METHOD_SHARE.get(bmethod, 1.0))
        loose_terms = [t for t in terms if len(t) > 1]
        if 0 < len(loose_terms) < len(terms):
            # block_layout counts its intersected terms' block rows once more, to learn whether refining them is
            # affordable (loose.kept_per_row): stridedᶜ(40,001) ∩ dilated at 555,478, block 64 drew its bitmaps twice,
            # 1.29 s of 1.41 (1.6-1.9 s in all, accepted at 39.9 M units with the bitmap at half: a probe)
            # Priced for bitmaps, whose cells cost the same however few the pairs: the other methods' block units run
            # cheaper than priced (random(1) ∩ streaming at 2^20, block 256 ran 0.42 s, 47 M units with them twice)
            # With no exact term beside them (all terms intersected) the loose count is the block plan itself, not
            # counted here: block_layout keeps it (unrefined._kept) or refines its candidates (priced below), so stats
            # counts it once. Priced twice, stridedᶜ(40,001) ∩ dilated at 555,478, block 64 was refused at 88.5 M
            # units and ran 0.38 s. Where the candidates are refined (loose.pairs) or a layout is drawn whole, they are
            # drawn once more, unpriced: that draw ran ~2.7 ns a unit of a bitmap priced at a whole one ((random(2) ∪
            # neighborhood(32, 60)) ∩ random(2) at 125,166, block 16: 0.09 s of its 0.60 s, accepted at 39.1 M; a
            # review), and pricing it on every request whose refinement is only bounded refused that one and two others
            # that run 0.4-0.6 s
            lmethod, lwork, _ = _plan(loose_terms, bshapes, nb, nb, nb)
            if lmethod == "bitmap":
                bevals += int(lwork * (BLOCK_METHOD_SHARE["bitmap"] if block > SMALL_BLOCK else 1.0))
            elif block <= SMALL_BLOCK and lmethod != "refuse":
                # at blocks near 1 the block rows are as many as the rows and every method's units cost what they do
                # over rows; with exact terms beside them the intersected ones are counted alone, then with the rest
                # (with none, block_layout keeps the one count: longformer ∩ fixedᶜ(300,000, 16) at 425,225, block
                # 1 counted it twice, 0.58 s of 1.06-1.47 s accepted at 40 M units, a probe)
                bevals += lwork
        if "refuse" in (method, bmethod):  # no exact method fits (strided terms past the fold's reach)
            cost["uncountable"] = "rows" if method == "refuse" else "blocks"
            cost["dnf_terms"] = len(terms)
            return done(**cost)
        cost["dnf_terms"] = len(terms) if "ie" in (method, bmethod) else 0
        build = DRAW_WORK * cost["random_draws"]  # random tables: drawn once, listed for rows and block rows
        if block <= SMALL_BLOCK:
            # block rows as many as the rows: the block layout lists every random key again (random(7) at 2^20:
            # stats 0.79 s at block 1 against 0.33 s at block 128, priced the same before)
            # random(5) at 2^20, block 1 measured 1.06 s at load 6-9 (0.55 s at load 1.4), random(4) 0.44 s at
            # load 1.4: 1.5x the draw price refuses random(5) and keeps random(4) at blocks <= 8
            build += SMALL_BLOCK_DRAW_WORK * random_draws(structured, n, listed=True)
        merged = 0
        # the parts the counted terms use: a union of two equal layers (logsparse ∪ logsparseᶜ, both causal) is one
        # term, listed once, and was priced twice (71 M units for 0.12 s)
        used = {id(p): p for t in terms for p in t}
        for p in structured:
            if drawn_part(p) or id(p) not in used:
                continue
            slots, bslots, extra = _static_slots(p, n, block)
            if type(p).__name__ == "LogSparse":  # its block rows merge one shifted range per power of two
                build += MERGE_WORK * nb * (bslots + 1)
                merged = max(merged, MERGE_BYTES * nb * (bslots + 1))
            own = _own(p, "block_cost_estimate")
            blocks = int(own(n, block)) if own else nb * bslots
            if _block_progression(p, n, block) is not None:  # its own estimate is the untightened bound
                blocks = min(blocks, nb * bslots)
            build += (rows + (n if extra else 0)) * slots + blocks + extra * n
        evals += build + listing
        refine = _refine_work(expr, terms, n, block, bevals)
        bevals += refine
        evals += bevals
        kv_bytes = 0
        if evals <= budget.segment_evals:
            # the decode cache's price samples its rows (up to ~35 ms with random parts); a request already over
            # needs none of it: strided ∩ dilated ∩ neighborhood ∩ bigbird at 2^20, priced 139 billion, took 43 ms
            kv_work, kv_bytes = expr.kv_price(n)
            evals += kv_work
            if kv_work >= KV_UNPRICED:  # said as such, not as ~4.6 x 10^18 row segments
                cost["uncountable"] = "decode"
        if what == "view" and n > 2048:
            evals += (1 << 20) * max(1, peak)
        cost["segment_evals"] = evals
        cost["ie_subsets"] = (1 << len(terms)) - 1 if "ie" in (method, bmethod) else 0
        chunk = min(n, analysis.ROW_CHUNK)
        # the bitmap count holds (rows, keys) cells a chunk of rows at a time, at most BITMAP_CELLS: a block plan
        # of 369 x 369 blocks was priced the full 2^24 cells (96 MiB) and refused neighborhoodᶜ ∪ dilatedᶜ at
        # 23,565 tokens (299 MiB priced, 120 MB measured)
        cells = 0
        if method == "bitmap":
            cells = min(segments_mod.BITMAP_CELLS, max(1, rows) * n)
        if bmethod == "bitmap":
            cells = max(cells, min(segments_mod.BITMAP_CELLS, nb * nb))
        bitmap = BITMAP_BYTES_PER_CELL * cells
        widest = max(_static_slots(p, n, block)[0] for p in structured)
        # rows counted a chunk at a time: one row per constant run where row_degree takes that shortcut (rows 0 is a
        # closed form per row, a chunk of rows at a time)
        per_slot = RUN_BYTES_PER_SLOT if 0 < rows < n else BYTES_PER_SLOT
        if method == "term":  # one term: its pieces' starts and counts, no sort or sweep over them
            per_slot = min(per_slot, TERM_BYTES_PER_SLOT)
        counted = min(chunk, rows or chunk)
        if refine:  # re-counting candidate blocks takes every row of each, a chunk of rows at a time
            counted = max(counted, min(chunk, refine // max(1, analysis.refine_work_per_row(expr, n))))
        # a column set of few segments a row is listed to learn its steps (segments.shape_of)
        column_slots = [int(p.materialised_slots(n)) for p in structured if hasattr(p, "materialised_slots")]
        listed = sum(slots for slots in column_slots if slots <= segments_mod.FOLD_COLUMN_SLOTS)
        row_bytes = per_slot * counted * max(peak, widest) + COLUMN_LIST_BYTES * counted * listed + DEGREE_BYTES * n
        if rows == 0:  # a closed form per row (row_count) builds no segment table, a few arrays a chunk of rows
            row_bytes = CLOSED_FORM_ROW_BYTES * chunk + DEGREE_BYTES * n
        if 0 < rows < n and structured[0].causal:  # a causal expression lists each run's own keys
            row_bytes += CAUSAL_RUN_BYTES * n
        keys = n * sum(int(getattr(p, "random_keys", 0)) for p in structured if type(p).__name__ == "RandomKeys")
        block_slots = sum(_static_slots(p, n, block)[1] for p in structured if not drawn_part(p))
        cost["memory_bytes"] = (
            max(
                row_bytes,
                bplan_bytes + _random_block_bytes(structured, nb, block),
                # every block row's own arrays while the layout is built, at blocks near 1 as many as the rows:
                # stridedᶜ ∩ blockᶜ(9, 18) at 2^20, block 1 held 163 MB priced 24 MB, window(5) 66 MB, strided 124 MB
                BLOCK_ROW_BYTES * nb * (1 + block_slots),
                _key_bytes(structured, block) * keys,
                # the widest block row's random keys, listed together (one block row holds them all at block >= n)
                (KEY_ROW_BYTES * keys // n * min(block, n) + DEGREE_BYTES * n) if keys and nb > 1 else 0,
                merged,
                kv_bytes,  # the decode cache's random candidates (tested after the layouts are let go)
            )
            + bitmap
        )
        worst = max(structured, key=lambda p: _static_slots(p, n, block)[0] * n + _static_slots(p, n, block)[1] * nb)
        for metric in ("segment_evals", "memory_bytes"):
            blame(metric, params_of(worst))
            # a composition counted by inclusion-exclusion or the fold costs per term: fewer layers help
            composed = method in ("ie", "fold") or peak > 8 * sum(_static_slots(p, n, block)[0] for p in structured)
            if len(terms) > 1 and composed:
                blame(metric, ["layers"])
    if what in ("dense", "view") and (what == "dense" or n <= 2048):
        cost["dense_bytes"] = n * n
        # the dense build keeps one (n, n) mask per primitive plus the result and a fill buffer
        cost["memory_bytes"] = max(cost.get("memory_bytes", 0), n * n * (len(prims) + 2))
    if what in ("layout", "view"):
        cost["block_cells"] = nb * nb
        blame("block_cells", ["n"])
    for metric in ("segment_evals", "memory_bytes", "scored_pairs", "kmeans_work", "lsh_work", "dense_bytes"):
        blame(metric, ["n"])
    if cost["random_draws"]:
        blame("random_draws", ["n"])
    return done(**cost)


# Work of a counting method a unit of union_plan, against the sweep's (see predict_cost)
# The fold at three quarters, not half: over a random-blocks part's rows it ran 11 ns a unit (bigbird(1,582, 16 random
# blocks) ∪ block(5, 3) at 2^20, 1.38-1.46 s priced 37.6 M units at half), over neighborhood(997, 7) ∪ longformer at
# 719,733 14-18 ns (0.79-0.86 s with its start at load 4-11, priced 31.9 M). 3 of 760 search requests more refused
METHOD_SHARE = {"fold": 0.75, "ie": 2 / 3}
# A fold over drawn parts (random blocks, random keys) at the sweep's price: 70 fresh-process row counts of the fold
# (seeds 80-200, one BLAS thread, load ~1.5) ran 11-13 ns a unit of union_plan without them, 13-22 with random blocks
# at scale (global(2^20) ∪ bigbird(45, 26 random blocks) at 320,869: 0.64 s for 28.9 M, 0.91-0.94 s in all, accepted)
FOLD_DRAWN_SHARE = 1.0
COLUMNS_SHARE = 1.6
# (bitmaps at the sweep's unit: their int32 running sums ran 1.75 ns a cell and part, 2.75 ns priced at a whole unit)
# The fold over block rows at 1.5: its rows hold hundreds of pieces (dilations just above a coprime block), sorted a
# row at a time; with their slots priced as built it ran 27 ns a unit (dilatedᶜ(200, 4,093) ∪ longformer ∪
# dilatedᶜ(300, 3,967) at 332,938, block 31: 0.79-0.98 s for 29.5 M units at load 0.9; an eighth probe's generator)
BLOCK_METHOD_SHARE = {"ie": 0.5, "bitmap": 1.0, "fold": 1.5}

BITMAP_BYTES_PER_CELL = 6  # bool hit map, int32 running cover and its comparison, per (row, key) cell


# A block plan's sweep over the pieces intersected terms leave (every pair of their parts' slots, each its own
# arrays, then sorted): (random(2) ∪ neighborhood(32, 60)) ∩ random(2) at 125,166, block 8 held 251 MB over the
# process for 15,646 block rows x 272 slots (59 bytes a slot), priced 97 MiB at 24
BLOCK_MEET_BYTES_PER_SLOT = 64
SORTED_SWEEP_BYTES_PER_SLOT = 64


def _block_plan_bytes(method: str, terms, peak: int = 1) -> int:
    """Bytes a block-row slot of the block plan holds while counted (peak: its slots a block row)."""
    if method == "fold":
        return BLOCK_FOLD_BYTES_PER_SLOT
    if method == "sweep" and peak > segments_mod.NETWORK_MAX_SEGS:
        # past the sorting network each block row is sorted whole, its copies held with the slots: 57 B a slot
        # measured for randomᶜ(2) ∩ a_shapeᶜ(0, 2^20) at 700,000, block 128 (510 slots, 158 MB)
        return SORTED_SWEEP_BYTES_PER_SLOT
    return BLOCK_MEET_BYTES_PER_SLOT if any(len(t) > 1 for t in terms) else BLOCK_BYTES_PER_SLOT


def _refine_work(expr, terms, n: int, block: int, block_work: int = 0) -> int:
    """Work of re-counting candidate blocks of intersections exactly, as the engine decides it.

    block_layout refines only when candidates x block x work per row is at most REFINE_MAX_WORK, and
    keeps the candidates unrefined past it. Bounded by every block pair a candidate; where that bound is
    over the cap and the block-level sets are cheap to build (no random table to draw, little block
    work), the candidates are counted here as the engine will count them: a 4-layer intersection at
    2^20 (block 256) priced 4.2 M units for a refinement the engine skipped (0.13 s in all at load 1).
    """
    from . import analysis

    if not any(len(t) > 1 for t in terms):
        return 0
    nb = -(-n // block)
    bound = analysis.refine_work(expr, n, block, nb * nb)
    if bound <= analysis.REFINE_MAX_WORK:
        return bound
    loose = [p for t in terms if len(t) > 1 for p in t]
    if any(drawn_part(p) or type(p).__name__ == "LogSparse" for p in loose):
        return analysis.REFINE_MAX_WORK  # drawing or merging block rows is real work: keep the bound
    if any(hasattr(p, "materialised_slots") for p in loose):
        # a column set (fixed's summary columns) may be listed as a (block rows, blocks) table to count the
        # candidates: fixed(1,013,943, 48) ∩ strided(240) at 312,495, block 16 ran past 60 s here (seed 28)
        return analysis.REFINE_MAX_WORK

    # (two neighborhoods' own build estimates: 23 ms to price at 25,734, block 16, where their kept slots were cheap)
    probe = sum(_block_rows_built(p, n, block) for p in dict.fromkeys(loose))
    # counting the candidates costs about what the block plan does (the intersected terms' block rows met): past a
    # refusal's share that alone took 90-101 ms (four neighborhood and stride parts at 32,016, block 8: a probe)
    if probe > REFINE_PROBE_WORK or block_work > REFINE_COUNT_WORK:
        return analysis.REFINE_MAX_WORK
    work = analysis.refine_work(expr, n, block, analysis.intersection_candidates(expr, n, block))
    return work if work <= analysis.REFINE_MAX_WORK else 0  # past the cap the engine skips refining


LAYOUT_PROBE_SLOTS = 1 << 17  # block-row slots a structured part may build to bound a data-dependent layout

# Block-row segment slots built to count intersection candidates while pricing: 6.3 ms for 98,304 (6 parts at
# 16,384 block rows) at load 27 here, 21 ms for 4x that
REFINE_PROBE_WORK = 1 << 17
REFINE_COUNT_WORK = 1 << 20  # block-plan units past which the candidates are not counted to price (~15 ms)


# -- messages ------------------------------------------------------------------------------
def human_count(x: float) -> str:
    """3.2 billion, 200 million, 4,096: counts people can read at a glance."""
    if x >= 1e15:
        return f"{x:.1e}".replace("e+", " × 10^")
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if x >= size:
            v = x / size
            return f"{v:,.1f} {word}".replace(".0 ", " ") if v < 100 else f"{v:,.0f} {word}"
    return f"{int(x):,}"


_WHAT = {
    "segment_evals": "evaluate ~{amount} row segments",
    "memory_bytes": "hold ~{amount} of segment tables",
    "scored_pairs": "score ~{amount} query-key pairs",
    "kmeans_work": "do ~{amount} k-means operations",
    "lsh_work": "do ~{amount} hashing operations",
    "block_cells": "draw ~{amount} block cells",
    "dense_bytes": "build a dense mask of ~{amount} cells",
}


def human_bytes(x: float) -> str:
    """Bytes in binary units: 512 MiB, 3.1 GiB."""
    for size, unit in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if x >= size:
            return f"{x / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{int(x)} B"


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def over_budget(cost: Cost, budget: Budget) -> PatternError | None:
    """The error for the metric furthest over its limit, or None if the request fits."""
    lower = dict(cost.lower)
    if cost.uncountable == "rows":
        return PatternError(
            f"this combination expands to {cost.dnf_terms} union terms with strided parts, which cannot be "
            f"counted exactly at n = {cost.n:,}: lower n or combine fewer layers",
            "budget_uncountable",
            terms=cost.dnf_terms,
            n=f"{cost.n:,}",
        )
    if cost.uncountable == "blocks":
        blocks = -(-cost.n // max(1, min(cost.block, cost.n)))
        return PatternError(
            f"the block layout of this combination ({cost.dnf_terms} union terms with strided parts) cannot be "
            f"counted exactly with {blocks:,} blocks: use larger blocks, lower n or combine fewer layers",
            "budget_uncountable_blocks",
            terms=cost.dnf_terms,
            blocks=f"{blocks:,}",
        )
    if cost.uncountable == "decode":
        return PatternError(
            f"the decode cache of this combination at n = {cost.n:,} cannot be counted within this budget (its random "
            "parts meet too many pieces of the others): lower n, the window or the random keys",
            "budget_uncountable_decode",
            n=f"{cost.n:,}",
        )
    if cost.dnf_terms > budget.dnf_terms:
        return PatternError(
            f"this combination expands to {cost.dnf_terms} union terms (limit {budget.dnf_terms}): "
            "combine fewer layers, or use union instead of intersection",
            "budget_terms",
            terms=cost.dnf_terms,
            limit=budget.dnf_terms,
        )
    worst, ratio = None, 1.0
    for metric in (*_WHAT, "random_draws"):
        limit = getattr(budget, metric)
        amount = getattr(cost, metric)
        if amount > limit and amount / limit > ratio:
            worst, ratio = metric, amount / limit
    if worst is None:
        return None
    if worst == "random_draws":
        return _random_draws_error(cost, budget, list(lower.get(worst, ("n",))))
    amount, limit = getattr(cost, worst), getattr(budget, worst)
    params = list(lower.get(worst, ("n",)))
    fmt = human_bytes if worst == "memory_bytes" else human_count
    what = _WHAT[worst].format(amount=fmt(amount))
    return PatternError(
        f"this request would {what} (limit {fmt(limit)}): lower {_or(params)}",
        "budget_" + worst,
        amount=f"{amount:,}",
        limit=f"{limit:,}",
        params=", ".join(params),
    )


def _random_draws_error(cost: Cost, budget: Budget, params: list[str]) -> PatternError:
    # BigBird's random blocks get their own code: its advice (larger blocks) has no place in random_keys'
    blocks = "random_blocks" in params
    advice = f"lower {_or(params)}" + (", or use larger blocks" if blocks else "")
    return PatternError(
        f"this request would draw ~{cost.random_draws:,} random keys "
        f"(limit {budget.random_draws:,} per request): {advice}",
        "budget_random_block_draws" if blocks else "budget_random_draws",
        amount=f"{cost.random_draws:,}",
        limit=f"{budget.random_draws:,}",
        params=_or(params),
    )


def check_budget(expr, n: int, block: int = 128, budget: Budget | None = None, *, what: str = "stats") -> Cost:
    """Refuse, with a PatternError that says what to lower, a request predicted to exceed the budget."""
    budget = current() if budget is None else budget
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise PatternError(f"n must be a positive whole number, got {clip_text(n)!r}")
    if not isinstance(block, (int, np.integer)) or isinstance(block, bool) or block < 1:
        raise PatternError(f"block size must be a positive whole number, got {clip_text(block)!r}")
    if n > budget.max_n:
        raise PatternError(
            f"n = {n:,} is above this server's limit of {budget.max_n:,}: lower n",
            "budget_n",
            n=f"{n:,}",
            limit=f"{budget.max_n:,}",
        )
    if expr.data_dependent and n > budget.data_dependent_n:
        raise PatternError(
            f"data-dependent patterns score every pair, so n is limited to {budget.data_dependent_n:,} "
            f"(got {n:,}): lower n",
            "data_dependent_n",
            limit=f"{budget.data_dependent_n:,}",
            n=f"{n:,}",
        )
    if what == "dense" and n > budget.dense_n:
        raise PatternError(
            f"a dense mask at n = {n:,} has {human_count(n * n)} cells; the limit is n = {budget.dense_n:,}: "
            "use the block layout instead",
            "budget_dense_n",
            n=f"{n:,}",
            limit=f"{budget.dense_n:,}",
        )
    draws = random_draws([p for p in expr.primitives() if not p.data_dependent], n)
    if draws > budget.random_draws:  # refused before any probe (probing a random pattern draws its table)
        names = [x for p in expr.primitives() if drawn_part(p) for x in _params_of(p)]
        raise _random_draws_error(Cost(n, block, random_draws=draws), budget, list(dict.fromkeys(names + ["n"])))
    cost = predict_cost(expr, n, block, what=what, budget=budget)
    problem = over_budget(cost, budget)
    if problem is not None:
        raise problem
    if what in ("stats", "view") and not expr.data_dependent:
        # the refusal row_degree itself would raise (its own coarse limit), so that an accepted request is not
        # refused by the engine after all: bigbirdᶜ(7,752, 63, 17, 30) at 2^20 passed the budget at 40 M units and
        # was refused by the engine's estimate of 208 M cells (search seed 55)
        from . import analysis

        analysis.check_degree_cost(expr, n)
    return cost
