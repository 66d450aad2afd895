"""The budget keeps its promise on the cases issue 18 measured, and counting agrees whichever method the
union planner picks.

Time assertions use this process's CPU time with wide margins (2 shared cores, often loaded); the real
measurement, each request in a fresh process, is `python -m benchmarks.budget_search`.
"""

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparse_core import analysis, combine, limits, make, segments, stats
from sparse_core.limits import check_budget, predict_cost
from sparse_core.params import PatternError
from sparse_core.patterns import structured as S
from sparse_core.patterns.base import Intersection, Union, simple_terms
from sparse_core.patterns.random_blocks import RandomBlocks
from sparse_core.process import SERVER_ENV
from tests.oracle import oracle_mask

BIG = 1 << 20


def cpu(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


FOUR_LAYERS = Intersection(
    (
        make("random", True, random_keys=2).expr(),
        make("fixed", True, stride=3, summary=1).expr(),
        make("bigbird", True, block=1, window_blocks=3, global_blocks=0, random_blocks=1).expr(),
        make("fixed", True, stride=3, summary=2).expr(),
    )
)


# limit_s is the promise (1 s CPU); each case's fresh-process figure, process start included, is the budget
# search's (python -m benchmarks.budget_search --seed 23 at 857f033, load 24-28): fixed ∩ fixed 0.18 / 0.45 s
# at 8,192 / 2^20, the 4-layer intersection at 337 0.19 s, logsparse ∩ dilated 0.34 s, four BigBirds 0.22 s.
# Here they run in this process, after other tests, with a 4x margin for the shared machine's load.
@pytest.mark.parametrize(
    "label, expr, n, block, limit_s",
    [
        # measured before: check 1 s + stats 2.5 s at 8,192; the check alone 25-100 s at 65,536 and 2^20
        ("fixed ∩ fixed", combine([make("fixed"), make("fixed")], "intersection"), 8192, 128, 1.0),
        ("fixed ∩ fixed", combine([make("fixed"), make("fixed")], "intersection"), BIG, 128, 1.0),
        # check 5.7 s, stats 11.8 s and 1.19 GB
        ("4-layer causal ∩ at 337, block 1", FOUR_LAYERS, 337, 1, 1.0),
        # 2.1-2.5 s and 725 MB: the layout padded one block to 2^20 rows
        (
            "logsparse ∩ dilated, block 2^20",
            make("logsparse").expr() & make("dilated", window=16).expr(),
            65536,
            BIG,
            1.0,
        ),
        # refused before, computes in 0.1 s
        ("4 BigBirds ∪", combine([make("bigbird", seed=s) for s in range(4)]), BIG, 128, 1.0),
        # the search's timeouts: refined block pairs were tabled (rows, widest row), 2 GiB for a global row;
        # runs of consecutive blocks take 0.3 s
        (
            "global(1,023,850) ∩ global(19), block 64",
            combine([make("global", global_tokens=1023850), make("global", global_tokens=19)], "intersection"),
            BIG,
            64,
            1.0,
        ),
        # the price chose the fold, the engine per-part bitmaps (a dilation of 3,983 holds 3 keys a row at
        # 9,243, so no term had a long progression and the fold declined): 2.9 s and 470 MB, now ~0.1 s
        (
            "fixed(1,048,513, 12) ∪ blockᶜ(4,150, 4,096) ∪ dilated(233, 3,983) ∪ streamingᶜ at 9,243",
            Union(
                (
                    make("fixed", stride=1048513, summary=12).expr() | make("block", True, block=4150).expr(),
                    make("dilated", window=233, dilation=3983).expr(),
                    make("streaming", True, sinks=939912, window=52).expr(),
                )
            ),
            9243,
            64,
            1.0,
        ),
        # a block-level column set was listed to price the fold: (blocks, blocks) table, 1.3 s and 479 MB
        ("fixed(2^20, 1,328), block 256", make("fixed", True, stride=BIG, summary=1328).expr(), BIG, 256, 1.0),
        # priced the bitmap count's full 2^24 cells for a 369 x 369 block plan (299 MiB, limit 264), refused;
        # 0.35-0.37 s, 118 MB in fresh processes (load 28-32)
        (
            "neighborhoodᶜ(8, 56) ∪ dilatedᶜ(51, 34) at 23,565, block 64",
            make("neighborhood", True, side=8, radius=56).expr() | make("dilated", True, window=51, dilation=34).expr(),
            23565,
            64,
            1.0,
        ),
        # priced two full chunks of 65,536 rows for 75,121 (37.9 M units), refused; 0.39 s, 221 MB in fresh
        # processes (load 28), as at 84,717 tokens, the longest now accepted (28.0 M)
        (
            "longformer(1,057, 12) ∩ logsparse at 84,717, block 2^20",
            make("longformer", window=1057, global_tokens=12).expr() & make("logsparse").expr(),
            84717,
            BIG,
            1.0,
        ),
        # seed 58: the decode cache listed its random part's ~1 M rows once per chunk of keys, 15 times (1.02 s); listed
        # once: 0.08 s, whole stats 0.22-0.25 s. Its random keys' block bitmap is set key by key, without a running sum
        # (priced so: 39.0 M units, 40.6 M when priced as intervals' bitmaps)
        (
            "randomᶜ(1) ∩ longformer(1,028,978, 2^20) at 929,573, block 256",
            make("random", True, random_keys=1, seed=671).expr()
            & make("longformer", window=1028978, global_tokens=1048576).expr(),
            929573,
            256,
            0.5,
        ),
        # seed 68: pricing counted the intersection's block candidates, building each neighborhood's 227 ranges a block
        # row (36 ms to refuse), and priced its 189 pieces a row at a sweep's 80 B a slot (372 MiB): 0.38 s, 127 MB
        (
            "neighborhoodᶜ(954, 56) ∩ neighborhood(955, 3) at 25,734, block 16",
            make("neighborhood", True, side=954, radius=56).expr() & make("neighborhood", side=955, radius=3).expr(),
            25734,
            16,
            0.5,
        ),
    ],
)
@pytest.mark.timing
def test_the_issues_expensive_requests_are_accepted_and_cheap(label, expr, n, block, limit_s):
    _, check_s = cpu(lambda: check_budget(expr, n, block))
    assert check_s < 0.05 * 4, label  # priced from parameters: nothing is drawn or listed
    _, run_s = cpu(lambda: stats(expr, n, block))
    assert run_s < limit_s * 4, (label, run_s)  # generous: 2 shared cores, often loaded


def test_false_refusals_of_the_issue_are_accepted():
    for r in (4, 7):  # measured 0.42-0.71 s and 175-273 MB
        check_budget(make("random", random_keys=r).expr(), BIG, 128)
    # random(8) at 2^20, 52 fresh processes at load 0.2-13, blocks 9 to 2^20, causal both ways: median 0.37 s,
    # worst 1.00 s, 291 MB (limits.Budget.random_draws); random(9) would hold ~317 MB
    for causal in (False, True):
        check_budget(make("random", causal, random_keys=8).expr(), BIG, 128)
    check_budget(make("random", random_keys=8).expr(), BIG, 9)
    with pytest.raises(PatternError, match="lower random_keys"):
        check_budget(make("random", random_keys=9).expr(), BIG, 128)
    with pytest.raises(PatternError, match="lower random_keys"):  # its block layout lists every key again
        check_budget(make("random", random_keys=8).expr(), BIG, 8)
    check_budget(combine([make("bigbird", seed=s) for s in range(4)]), BIG, 128)


def test_a_column_set_alone_in_its_terms_is_no_table_in_a_block_bitmap():
    # drawn from its closed form: 58 MB held in a fresh process, priced 302 MiB (refused) with its nb + 1 slots
    lone = combine(
        [
            make("streaming", sinks=850817, window=508913),
            make("bigbird", True, block=8192, window_blocks=21, global_blocks=41, random_blocks=2, seed=3),
            make("fixed", True, stride=1028215, summary=1004149),
        ]
    )
    assert check_budget(lone, 57401, 16).memory_bytes < 100 * 2**20
    # met by a progression it is listed as a (block rows, blocks) table: 1.6 GB held when priced without it
    with pytest.raises(PatternError, match="lower"):
        check_budget(combine([make("fixed", True, stride=4096, summary=1), make("strided", stride=64)]), 125248, 16)


@pytest.mark.timing
@pytest.mark.parametrize(
    "expr, n, block, names",
    [
        (make("random", random_keys=9).expr(), BIG, 128, {"random_keys"}),
        (make("bigbird", block=1, random_blocks=64).expr(), BIG, 128, {"random_blocks"}),
        (combine([make("strided", stride=s) for s in (128, 64, 32, 16, 8)], "intersection"), BIG, 128, {"layers"}),
        (make("random", random_keys=256).expr() | make("window", window=BIG).expr(), BIG, 1, {"random_keys"}),
        (make("routing", clusters=1024, iterations=100).expr(), 4096, 128, {"clusters", "iterations"}),
        # seed 50: pricing its decode cache met 11 k pieces (0.19 s); such a term is now priced as refused at once.
        # The search drew neighborhood(2, 63), whose window now spans its grid's two columns in one piece (accepted,
        # 0.06 s): 128 columns keep its 127 pieces a key
        (
            make("random", True, random_keys=2, seed=835).expr()
            & make("neighborhood", side=128, radius=63).expr()
            & make("logsparse").expr()
            & make("longformer", True, window=978444, global_tokens=1042362).expr(),
            9010,
            64,
            {"radius"},
        ),
        # seed 63: pricing the data-dependent layout listed fixed's block-level summary columns as a 4,096 x 4,096
        # table (0.36 s and 468 MB to refuse); counted in closed form now
        (
            Intersection(
                (
                    make("fixed", True, stride=1048576, summary=1005576).expr()
                    | make("bigbird", True, block=6, window_blocks=19, global_blocks=64, random_blocks=64).expr(),
                    make("routing", clusters=15, iterations=100).expr(),
                )
            ),
            4096,
            1,
            {"n"},
        ),
        # review: each key on its own residue of an lcm step; the sampled head's residues were not scaled, so 4.1 M
        # rows drawn were priced as 252 k (accepted at 39.5 M units, ran 1.8 s)
        (
            Intersection(
                (
                    make("dilated", True, window=168000, dilation=4096).expr(),
                    make("dilated", True, window=168000, dilation=4095).expr(),
                    make("random", True, random_keys=10).expr(),
                )
            ),
            100000,
            128,
            {"random_keys", "n"},
        ),
        # a probe of the budget: fixed's summary keys on a band the even sample of keys missed (priced 0 candidates,
        # 4.0 M tested), each row's table on the slow, repeating draw: 21 s accepted at 31.6 M units
        (
            make("fixed", True, stride=8192, summary=5).expr()
            & make("dilated", True, window=800000, dilation=4096).expr()
            & make("random", True, random_keys=40).expr(),
            16374,
            128,
            {"random_keys"},
        ),
        # the same probe: 33.5 M candidates over the sequence priced as one listing, though each chunk of 65,536 keys
        # held 4.19 M and tested them (3.5 s, 394 MB accepted at 28.3 M units)
        (
            make("block", True, block=524288, neighbors=0).expr() & make("random", True, random_keys=1).expr(),
            1048513,
            128,
            {"random_keys", "n"},
        ),
        # seed 50: fixed's summary columns ran 21-24 ns a unit of the sweep's price; 0.98 s when priced 35 M units
        (
            make("fixed", stride=6897, summary=27).expr() | make("streaming", sinks=42, window=52).expr(),
            BIG,
            2,
            {"summary", "stride"},
        ),
        # a probe: a stride past the sequence leaves one key a segment, so the engine sweeps what was priced by
        # inclusion-exclusion (81 slots a row priced, 162 swept): 0.67 s and 370 MB accepted at 254 MiB
        (
            make("strided", stride=1024626).expr() & make("neighborhood", side=512, radius=56).expr(),
            41000,
            BIG,
            {"radius", "n"},
        ),
        # the same probe: the decode cache's candidates met 127 pieces three times while pricing (52-65 ms to refuse)
        (
            Intersection(
                (
                    make("random", random_keys=1, seed=8).expr(),
                    make("neighborhood", True, side=1024, radius=63).expr(),
                    make("longformer", True, window=497512, global_tokens=65232).expr(),
                    make("dilated", True, window=739847, dilation=101).expr(),
                )
            ),
            20034,
            16,
            {"n"},
        ),
        # a second probe: fixed's summary columns left out of a block bitmap's price (b805536), listed as a table of
        # every block row against every block: 1.6 GB accepted at 14.9 MiB
        (
            make("fixed", True, stride=4096, summary=1).expr() | make("strided", True, stride=64).expr(),
            125248,
            16,
            {"n"},
        ),
        # the same probe: count_union shapes each chunk of rows from its segments; a causal stride past the first chunk
        # holds one key a row there, swept as intervals (86 slots) where inclusion-exclusion was priced (43): 372 MB
        (
            make("strided", stride=66500).expr() & make("neighborhood", side=1024, radius=25).expr(),
            70000,
            256,
            {"n"},
        ),
        # and a dilation of window 0 (one key a row) priced as a progression: 0.93-1.13 s accepted at 39.2 M units
        (
            make("dilated", window=0, dilation=4096).expr() | make("neighborhood", side=1024, radius=7).expr(),
            BIG,
            128,
            {"n"},
        ),
        # and logsparse's block rows merged at block 1: 111 bytes a range, priced 110 (313 MB with the process)
        (make("logsparse").expr(), 131072, 1, {"n"}),
        # a third probe: block bitmaps priced at half a unit and counted once, where block_layout counts an
        # intersection's candidates' bitmaps twice: 1.6-1.9 s accepted at 39.9 M units
        (
            make("strided", stride=40001).expr() & make("dilated", True, window=20, dilation=4095).expr(),
            555478,
            64,
            {"n"},
        ),
        # the same probe: random(11) at block 10 held 306 MB (32 bytes a key, priced 31)
        (make("random", random_keys=11).expr(), 762129, 10, {"random_keys", "n"}),
        # and a data-dependent layout bounded by building a neighborhood's 255 ranges a block row: 79 ms to refuse
        (
            Intersection(
                (
                    make("topk", True, k=298).expr(),
                    make("strided", stride=28).expr() | make("window", True, window=106151).expr(),
                    make("neighborhood", side=1024, radius=63).expr(),
                )
            ),
            4096,
            1,
            {"n"},
        ),
        # a fourth probe: the engine sees fixed's column set as its few listed slots and counts by inclusion-exclusion,
        # listing it as a (block rows, blocks) table where it meets a progression: 326 MB accepted at 264 MiB
        (
            make("strided", stride=640).expr() | make("fixed", stride=30000, summary=4).expr(),
            53693,
            16,
            {"n"},
        ),
        # a fifth probe: two column sets meeting, listed as tables likewise (326 MB accepted at 264 MiB)
        (
            make("fixed", stride=30000, summary=4).expr() | make("fixed", stride=7000, summary=2).expr(),
            53693,
            16,
            {"n"},
        ),
        # the fourth probe: random(9) at block 9, 307 MB priced at 31 bytes a key
        (make("random", True, random_keys=9, seed=573).expr(), 930256, 9, {"random_keys", "n"}),
        # and the decode cache's price of 32 terms, each building and meeting 121 pieces at 130 tokens: 62-124 ms
        (
            Intersection(
                (
                    make("bigbird", True, block=1369, window_blocks=47, global_blocks=7, random_blocks=28).expr(),
                    make("fixed", True, stride=1048576, summary=11).expr(),
                    make("bigbird", True, block=29, window_blocks=11, global_blocks=56, random_blocks=47).expr(),
                    make("bigbird", True, block=4, window_blocks=57, global_blocks=2, random_blocks=24, seed=7).expr(),
                    make("neighborhood", True, side=1024, radius=60).expr(),
                )
            ),
            130,
            1,
            {"n"},
        ),
        # a search request (seeds 64-75): a fold over random blocks ran 22 ns a unit, priced at ¾ (0.91-0.94 s accepted)
        (
            make("global", global_tokens=1048576).expr()
            | make("bigbird", block=45, window_blocks=1, global_blocks=10, random_blocks=26, seed=50).expr(),
            320869,
            16,
            {"random_blocks", "n"},
        ),
        # a seventh probe: two dilations' block plan priced as bitmaps on bounded slots, counted by inclusion-exclusion
        # (498 MB accepted at 81 MiB); random-block picks from 55 blocks drawn the slow way (1.6-2.3 s at 39.8 M)
        (
            make("dilated", True, window=2000, dilation=1000).expr() | make("dilated", window=10, dilation=4096).expr(),
            381706,
            47,
            {"window", "dilation"},
        ),
        (
            make("longformer", True, window=1000, global_tokens=1).expr()
            & make("bigbird", True, block=6, window_blocks=3, global_blocks=0, random_blocks=64, seed=229).expr(),
            331,
            128,
            {"random_blocks"},
        ),
        # an eighth probe: a dilation's block extent bounded a step past the built one, so its four key blocks a segment
        # were priced as five: the fold planned one piece a slot where the engine split each into four keys (379 MB
        # accepted at 264 MiB); the extent comes from its residue tables now
        (
            make("dilated", True, window=999, dilation=3001).expr()
            | make("window", True, window=16).expr()
            | make("dilated", window=1500, dilation=3001).expr(),
            537607,
            46,
            {"window", "dilation"},
        ),
        # the first edge search (seed 71): a data-dependent pattern's n limit was said without what to lower
        (make("topk", k=64).expr() | make("window", window=8).expr(), 4111, 64, {"n"}),
        (make("window").expr(), (1 << 20) + 1, 128, {"n"}),
    ],
)
def test_refusals_are_cheap_and_say_what_to_lower(expr, n, block, names):
    # the first call is timed too: what a refusal allocates is fresh memory only the first time (seed 63's
    # refusal took 3.1 s the first time in this process and 0.1 s after)
    for _ in range(2):
        start = time.process_time()
        with pytest.raises(PatternError) as info:
            check_budget(expr, n, block)
        assert time.process_time() - start < 0.05 * 4  # 50 ms promised; a loaded machine gets a margin
    message = str(info.value)
    assert "lower" in message or "combine fewer layers" in message, message
    assert any(name in message for name in names), message


def test_the_price_grows_with_the_work_and_refusal_follows_the_limit(monkeypatch):
    expr = combine([make("fixed"), make("strided", stride=100)], "intersection")
    # a fixed part (refining intersection blocks, bounded by REFINE_MAX_WORK) dominates below ~2^14
    small = check_budget(expr, 1 << 13, 128).segment_evals
    large = predict_cost(expr, 1 << 18, 128).segment_evals
    assert large > 4 * small
    monkeypatch.setenv("SPARSE_EXPLORER_BUDGET_SEGMENT_EVALS", str(small))
    with pytest.raises(PatternError, match="lower"):
        check_budget(expr, 1 << 17, 128)


# -- every counting method gives the oracle's answer -----------------------------------------
LEAVES = [
    lambda c: S.Window(3, causal=c),
    lambda c: S.Dilated(2, 3, causal=c),
    lambda c: S.StrideColumns(5, causal=c),
    lambda c: S.SummaryColumns(6, 2, causal=c),
    lambda c: S.GlobalTokens(2, causal=c),
    lambda c: S.RandomKeys(3, 1, causal=c),
    lambda c: S.LogSparse(causal=c),
    lambda c: S.Blocks(4, 1, causal=c),
]


@st.composite
def trees(draw, depth=2):
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(LEAVES))(draw(st.booleans()))
    parts = tuple(draw(trees(depth=depth - 1)) for _ in range(draw(st.integers(2, 3))))
    return Union(parts) if draw(st.booleans()) else Intersection(parts)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=trees(), n=st.integers(1, 40), method=st.sampled_from(["term", "sweep", "ie", "bitmap", "fold"]))
def test_every_union_method_counts_like_the_oracle(expr, n, method):
    truth = oracle_mask(expr, n).sum(axis=1)
    terms = simple_terms(expr)
    rows = np.arange(n, dtype=np.int64)
    segs = analysis._term_segments(expr, lambda p: p.segments(rows, n))
    shapes = [[segments.shape_of(id(p), p, n) for p in t] for t in segs]
    allowed = {"term": len(terms) == 1, "ie": len(terms) <= segments.IE_MAX_TERMS, "bitmap": True}
    allowed["fold"] = len(terms) > 1
    allowed["sweep"] = all(segments._term_cost(s)[1] for s in shapes) and len(terms) > 1
    if not allowed[method]:
        return
    original = segments.union_plan
    try:
        segments.union_plan = lambda *a, **k: (method, 0, 0)
        got = segments.count_union(segs, n, universe=n)
    finally:
        segments.union_plan = original
    assert np.array_equal(got, truth), (method, expr)
    assert np.array_equal(analysis.row_degree(expr, n), truth)


FOLD_LEAVES = [
    *LEAVES,
    lambda c: S.StrideColumns(7, causal=c),
    lambda c: S.Dilated(4, 5, causal=c),
    lambda c: S.SummaryColumns(9, 4, causal=c),
    lambda c: S.StrideColumns(37, causal=c),  # at most 3 keys a row: folded key by key
]


@st.composite
def fold_trees(draw, depth=2):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(FOLD_LEAVES))(draw(st.booleans()))
    parts = tuple(draw(fold_trees(depth=depth - 1)) for _ in range(draw(st.integers(2, 3))))
    return Union(parts) if draw(st.booleans()) else Intersection(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=fold_trees(), n=st.integers(1, 90))
def test_the_fold_count_agrees_with_the_oracle_on_every_composition(expr, n):
    """The fold (progressions split by residue modulo the lcm of their steps, merged by a sweep, less their
    overlap with the merged intervals) is the method for strided unions at large n; here it counts small n
    against the oracle's dense mask, every composition of intervals, progressions and column sets."""
    truth = oracle_mask(expr, n).sum(axis=1)
    rows = np.arange(n, dtype=np.int64)
    segs = analysis._term_segments(expr, lambda p: p.segments(rows, n))
    flat = [segments.intersect_all([list(p) for p in t]) for t in segs]
    assert np.array_equal(segments._union_by_fold(flat, n), truth), expr


@pytest.mark.parametrize(
    "layers, n",
    [
        # 25 intervals a row (logsparse's merged ranges beside three windows): sorted per row by the engine; priced
        # at the fold's sorting-network switch (32) it ran 0.79-1.00 s accepted at 40 M units (edge search, seed 71)
        (
            [
                make("a_shape", sinks=998259, window=49),
                make("window", True, window=1874),
                make("logsparse", True),
                make("a_shape", sinks=17510, window=960692),
            ],
            512,
        ),
        # a few intervals and a stride's one key a row: the sorting network
        ([make("streaming", True, sinks=39, window=305), make("strided", stride=229993)], 512),
    ],
)
def test_a_fold_without_progressions_is_priced_by_the_sweep_the_engine_runs(monkeypatch, layers, n):
    expr = combine(layers)
    prims = expr.primitives()
    shapes = limits._shapes(prims, n, None)
    per = [[shapes[id(p)] for p in t] for t in simple_terms(expr)]
    assert not segments._fold_split(per)[4]  # no progression kept: _union_by_fold hands everything to the sweep
    work, held = segments._fold_cost(per)
    networks = []
    original = segments._union_by_network
    monkeypatch.setattr(segments, "_union_by_network", lambda *a: networks.append(1) or original(*a))
    rows = np.arange(n, dtype=np.int64)
    flat = [
        segments.intersect_all([list(p) for p in t])
        for t in analysis._term_segments(expr, lambda p: p.segments(rows, n))
    ]
    assert np.array_equal(segments._union_by_fold(flat, n), oracle_mask(expr, n).sum(axis=1))
    # the price's sweep term is the one of the path the engine took: a network's 2 passes, or a sort per row
    factor = segments.SWEEP_FACTOR - 1 if networks else segments.SWEEP_FACTOR + held.bit_length() // 2
    assert work == segments._fold_split(per)[1] + factor * held, (held, bool(networks))


def literal_row(expr, i: int, n: int) -> np.ndarray:
    """Row i of the mask by each primitive's literal rule, vectorised over the keys (no engine code)."""
    if isinstance(expr, (Union, Intersection)):
        rows = [literal_row(p, i, n) for p in expr.parts]
        return np.logical_or.reduce(rows) if isinstance(expr, Union) else np.logical_and.reduce(rows)
    j = np.arange(n, dtype=np.int64)
    rule = {
        S.Window: lambda p: abs(i - j) <= p.window,
        S.Dilated: lambda p: (abs(i - j) <= p.window * p.dilation) & ((i - j) % p.dilation == 0),
        S.Blocks: lambda p: abs(i // p.block - j // p.block) <= p.neighbors,
        S.StrideColumns: lambda p: (i - j) % p.stride == 0,
        S.SummaryColumns: lambda p: j % p.stride >= p.stride - p.summary,
        S.GlobalTokens: lambda p: (i < p.global_tokens) | (j < p.global_tokens),
    }[type(expr)](expr)
    return rule & (j <= i) if expr.causal else rule


@pytest.mark.parametrize(
    "label, expr, n",
    [
        # 4 terms with progressions at 2^18: inclusion-exclusion took 1.6 s, refused by the budget before
        ("fixed ∩ strided(100)", combine([make("fixed"), make("strided", stride=100)], "intersection"), 1 << 18),
        # 7 terms with progressions: past inclusion-exclusion's 5, too long for bitmaps; refused before the fold
        (
            "strided(100) ∪ strided(64) ∪ strided(7) ∪ dilated(9, 7)",
            combine(
                [make("strided", stride=s) for s in (100, 64, 7)] + [make("dilated", window=9, dilation=7)],
            ),
            1 << 17,
        ),
        # a stride of 1,041,253 keeps 2 keys a row: folded key by key, not into lcm(28, 1,041,253) residues
        (
            "strided(28) ∪ strided(1,041,253) ∪ global(25)",
            combine([make("strided", stride=28), make("strided", stride=1041253), make("global", global_tokens=25)]),
            1 << 20,
        ),
        (
            "(fixed(96, 5) ∪ dilated(33, 3)) ∩ strided(40) ∩ global(3)",
            Intersection(
                (
                    make("fixed", stride=96, summary=5).expr() | make("dilated", True, window=33, dilation=3).expr(),
                    make("strided", stride=40).expr(),
                    make("global", global_tokens=3).expr() | make("window", window=700).expr(),
                )
            ),
            1 << 17,
        ),
    ],
)
def test_strided_compositions_at_large_n_are_counted_exactly_by_the_fold(label, expr, n):
    rows = np.unique(np.r_[0, 1, 99, 100, 127, 128, 4095, n // 2 + 17, n - 2, n - 1, np.arange(n - 3000, n, 97)])
    segs = analysis._term_segments(expr, lambda p: p.segments(rows, n))
    shapes = [[segments.shape_of(id(p), p, n) for p in t] for t in segs]
    assert segments.union_plan(shapes, analysis.ROW_CHUNK, n)[0] == "fold", label
    got = analysis._count_rows(expr, n, rows)
    want = [int(literal_row(expr, int(i), n).sum()) for i in rows]
    assert got.tolist() == want, label


def test_random_keys_at_tiny_blocks_are_priced_for_their_block_layout():
    # random(7) at 2^20: stats 0.79 s at block 1 against 0.33 s at block 128 (the search found 1.24 s accepted)
    tiny = predict_cost(make("random", True, random_keys=7).expr(), BIG, 1).segment_evals
    wide = predict_cost(make("random", True, random_keys=7).expr(), BIG, 128).segment_evals
    assert tiny > 1.4 * wide
    with pytest.raises(PatternError, match="lower"):
        check_budget(make("random", True, random_keys=7).expr(), BIG, 1)


@pytest.mark.timing
@pytest.mark.timing
def test_random_pair_tests_are_priced_per_drawn_row():
    # The decode cache tests (row, key) candidates against the random part's table of each row, taking the pairs
    # in row order, so a table is drawn once per distinct row. (dilatedᶜ(14,254, 3,623) ∪ windowᶜ) ∩ randomᶜ(64)
    # at 42 tokens puts its 0.6 M candidates on as many rows (each key on its own residue): 1.33 s. Priced by
    # one unit a pair it was refused only by 4 %; by the rows' hull on one residue it was priced 6 M and accepted
    spread = (
        make("dilated", True, window=14254, dilation=3623).expr() | make("window", True, window=21).expr()
    ) & make("random", True, random_keys=64, seed=869).expr()
    _, spent = cpu(lambda: pytest.raises(PatternError, check_budget, spread, 42, 1))
    assert spent < 0.05
    assert spread.kv_cost(42) > 1.5 * limits.current().segment_evals

    # bigbirdᶜ(block 1,431) ∩ random(r) at 130: ~355 k candidates on ~1,400 rows. Drawn per pair it took 0.48 s at
    # r = 80 and 2.0 s at r = 236; drawn per row 0.05 and 0.17 s, and the price follows r
    def bigbird_random(r):
        return make("bigbird", True, block=1431).expr() & make("random", True, random_keys=r).expr()

    assert bigbird_random(236).kv_cost(130) > 2 * bigbird_random(80).kv_cost(130) > 0
    check_budget(bigbird_random(236), 130, 128)
    _, spent = cpu(lambda: bigbird_random(236).kv_retained(130))
    assert spent < 1.0


@pytest.mark.timing
def test_the_decode_cache_price_agrees_with_the_count():
    # random(83) ∩ fixedᶜ(2^20, 790,181) at 222 was accepted, then stats refused in kv_retained: the rows
    # reading a key run to its 2^20-token block's end, past the pair limit; now the check refuses first
    hard = make("random", True, random_keys=83).expr() & make("fixed", True, stride=BIG, summary=790181).expr()
    with pytest.raises(PatternError, match="lower"):
        hard.kv_retained(222)
    with pytest.raises(PatternError, match="lower"):
        check_budget(hard, 222, 128)
    # bigbirdᶜ(block 8,192) ∩ windowᶜ ∩ dilatedᶜ ∩ mistralᶜ was priced "refuse" (a long reach times r)
    # although kv_retained served it in 0.42 s: the candidates are counted, not bounded by reach²
    four = (
        make("bigbird", True, block=8192).expr()
        & make("window", True).expr()
        & make("dilated", True).expr()
        & make("mistral", True).expr()
    )
    assert four.kv_cost(65536) < 1 << 40
    check_budget(four, 65536, 128)
    _, spent = cpu(lambda: stats(four, 65536, block=128))
    assert spent < 1.0


def test_topk_threshold_uses_numpy_without_torch_and_matches_the_sort():
    import subprocess
    import sys

    code = (
        "import sys; from sparse_core import make, stats; stats(make('topk', k=5).expr(), 300); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # 2-3 s CPU of torch import saved in a fresh process
    from sparse_core.patterns.learned import _kth_largest

    rng = np.random.default_rng(3)
    s = rng.integers(-3, 4, size=(40, 57)).astype(np.float32)  # many ties
    s[::7, ::5] = -np.inf
    for kk in (1, 2, 5, 16, 17, 30, 56, 57):
        want = -np.sort(-s, axis=1)[:, kk - 1]
        np.testing.assert_array_equal(_kth_largest(s, kk), want)


@pytest.mark.timing
def test_neighborhood_block_layout_is_priced_per_candidate_range():
    # side 1,012, radius 2 at 2^20, block 1: accepted, 1.3-1.6 s CPU (the layout builds 11 ranges a block row);
    # radius 1 (7 ranges) ran 0.77-0.82 s and stays accepted
    def nbh(side, radius):
        return make("neighborhood", True, side=side, radius=radius).expr()

    with pytest.raises(PatternError, match="lower"):
        check_budget(nbh(1012, 2), BIG, 1)
    check_budget(nbh(1012, 2), BIG, 8)
    check_budget(nbh(1024, 1), BIG, 1)
    _, spent = cpu(lambda: stats(nbh(1024, 1), BIG, block=1))
    assert spent < 2.0


def test_random_keys_near_the_draw_limit_keep_a_margin_at_tiny_blocks():
    # random(5) at 2^20, block 1 measured 1.06 s at load 6-9 while numpy's huge pages gave 2-3x tails, and was
    # refused; without them it runs 0.25-0.30 s in a fresh process (0.5 s with the start, under a second search)
    # and is accepted. random(6) (0.31 s, 45 M units) stays past the limit: the margin at tiny blocks
    check_budget(make("random", True, random_keys=5).expr(), BIG, 1)
    with pytest.raises(PatternError, match="random_keys"):
        check_budget(make("random", True, random_keys=6).expr(), BIG, 1)
    check_budget(make("random", True, random_keys=6).expr(), BIG, 16)  # 0.2 s: large blocks keep their price


@pytest.mark.parametrize(
    "name, params, wrong",
    [
        ("strided", dict(stride=1000), "window"),  # strided's Window primitive is built from its stride
        ("fixed", dict(stride=4096, summary=100), "neighbors"),  # fixed's Blocks too
        ("neighborhood", dict(side=1012, radius=2), "side"),  # the work grows with the radius, not the side
    ],
)
def test_refusals_name_the_patterns_own_parameters(name, params, wrong):
    cost = predict_cost(make(name, True, **params).expr(), BIG, 1)
    blamed = {x for names in dict(cost.lower).values() for x in names}
    assert wrong not in blamed
    assert blamed & set(params)


def _four_layer_intersection():
    # found by the budget search (seed 22) at 2^20, block 256: priced 28.4 M units and refused, ran 0.13 s
    # CPU in a fresh process at load 1 (0.14 s with the process's import)
    return combine(
        [
            make("block", block=BIG, neighbors=3773),
            make("global", True, global_tokens=BIG),
            make("block", True, block=354843, neighbors=47),
            make("longformer", True, window=BIG, global_tokens=1012208),
        ],
        "intersection",
    )


@pytest.mark.timing
def test_a_four_layer_intersection_that_fits_is_accepted():
    # its candidate blocks are too many to refine (block_layout keeps them unrefined: no refinement work),
    # and the sweep reads two result intervals a row, not four parts' passes at the sweep's factor
    cost, spent = cpu(lambda: check_budget(_four_layer_intersection(), BIG, 256))
    assert spent < 0.05 * 4
    assert cost.segment_evals < 0.75 * limits.Budget().segment_evals


@pytest.mark.parametrize(
    "expr, n, block",
    [
        (_four_layer_intersection(), 1 << 14, 16),  # too many candidates: the engine skips refining
        (combine([make("window", window=40), make("block", block=64, neighbors=1)], "intersection"), 1 << 14, 8),
        (combine([make("fixed", stride=64), make("window", True, window=300)], "intersection"), 1 << 12, 8),
    ],
)
def test_the_refinement_price_takes_the_engines_branch(expr, n, block):
    """The price counts intersection candidates as block_layout will, so it refines exactly when the engine does."""
    terms = simple_terms(expr)
    priced = limits._refine_work(expr, terms, n, block)
    layout = analysis.block_layout(expr, n, block)
    candidates = analysis.intersection_candidates(expr, n, block)
    engine = analysis.refine_work(expr, n, block, candidates)
    if layout.exact:
        assert engine <= analysis.REFINE_MAX_WORK and priced >= engine
    else:
        assert engine > analysis.REFINE_MAX_WORK and priced == 0


def test_the_decode_cache_price_covers_the_passes_kv_retained_makes(monkeypatch):
    # kv_cost priced every term at keys x (product of pieces) x parts: block ∩ logsparseᶜ at 2^20 (1 + 42
    # intersect passes a key) 88 M units for 0.41 s CPU, where three interval parts x 6 terms (18 passes a
    # key) cost 0.39 s for 18.9 M. Now a further piece is 2/5 of a unit: the price follows the passes the
    # count really makes (counted here by wrapping its intersect), within the measured per-pass ratio.
    from sparse_core.patterns import expr as expr_mod

    passes = 0
    real = expr_mod.intersect

    def counting(a, b):
        nonlocal passes
        passes += len(a.start)
        return real(a, b)

    monkeypatch.setattr(expr_mod, "intersect", counting)
    n = 1 << 16
    cases = [
        make("block", block=n - 7, neighbors=4096).expr() & make("logsparse", True).expr(),
        Union(
            tuple(
                make(a, True, **pa).expr() & make("block", True, block=12, neighbors=53).expr() & make(b, True).expr()
                for (a, pa) in (("global", {"global_tokens": 9}), ("streaming", {"sinks": 28, "window": n - 9}))
                for b in ("window", "streaming")
            )
        ),
    ]
    for e in cases:
        passes = 0
        e.kv_retained(n)
        parts = sum(len(t) for t in simple_terms(e)) * n
        # every piece a part's kv_rows builds is a unit a key (logsparse builds 42 a key at 2^20: block ∩ logsparseᶜ
        # ran 0.54 s for its decode cache alone, priced 19 M units, 28 ns a unit, when a part was one unit)
        pieces = sum(max(1, p.kv_segment_count()) for t in simple_terms(e) for p in t) * n
        price = e.kv_cost(n)
        # a unit per piece and key, 2/5 per further pass: never below that
        assert price >= pieces + 2 * (passes - parts) // 5 - n, (price, passes, parts, pieces)
        # and at most half a unit a further pass (the old price, keys x pieces x parts, was 4.7x this one)
        assert price <= pieces + (passes - parts) // 2 + n, (price, passes, parts, pieces)


def test_kmeans_price_accepts_what_runs_and_refuses_what_does_not():
    # with one BLAS thread (as the app runs), n = 4,096 (fresh processes, load 30-37, start included):
    # routing(256, 1) 0.26 s, (256, 5) 0.31 s, (256, 20) 0.54 s, (1,024, 1) 0.44 s, neighborhoodᶜ ∩
    # routingᶜ(1,000, 2) at 3,345 0.42 s: all refused by the old price (1.5 G; 1.6-6.4 G priced)
    for clusters, iterations in ((256, 1), (256, 5), (256, 20), (1024, 1)):
        check_budget(make("routing", clusters=clusters, iterations=iterations).expr(), 4096, 128)
    pair = (
        make("neighborhood", True, side=28, radius=39).expr()
        & make("routing", True, clusters=1000, iterations=2, seed=703).expr()
    )
    check_budget(pair, 3345, 16)
    # forced never to converge, an iteration costs ~2.5 ms plus 0.027 ms a cluster: 96 clusters x 100
    # iterations would be ~0.55 s of k-means alone, 1,024 x 20 ~0.8 s; both refused, naming what to lower
    for clusters, iterations in ((96, 100), (1024, 20), (256, 100)):
        with pytest.raises(PatternError, match="lower") as info:
            check_budget(make("routing", clusters=clusters, iterations=iterations).expr(), 4096, 128)
        assert "clusters" in str(info.value) and "iterations" in str(info.value)
    # the price's shape: an iteration at few clusters is not free (the floor), seeding is per cluster
    price = [
        predict_cost(make("routing", clusters=c, iterations=i).expr(), 4096, 128).kmeans_work
        for c, i in ((16, 1), (16, 2), (1024, 1), (1024, 2))
    ]
    assert price[1] - price[0] > 5 * 2 * 4096 * 64 * 16  # the floor: ~6x a 16-cluster iteration's products
    assert price[2] > 10 * (price[3] - price[2])  # seeding 1,024 clusters outweighs an iteration


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
def test_routing_at_its_accepted_edge_keeps_the_promise_in_a_fresh_process():
    # the promise is per request in a fresh process with one BLAS thread, as app.py and serve.py set it
    import os
    import subprocess
    import sys

    # peak RSS from VmHWM: ru_maxrss survives exec, so a child of a large pytest process reports the parent's
    code = (
        "import time; from sparse_core import make, stats; "
        "e = make('routing', clusters=1024, iterations=1).expr(); stats(e, 4096); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(time.process_time(), int(hwm) / 1024)"
    )
    env = {**os.environ, **SERVER_ENV}  # one BLAS thread, no huge pages: as the server runs requests
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    cpu_s, rss_mb = (float(x) for x in out.split())
    assert cpu_s < 1.0 * 2, cpu_s  # 0.44 s measured at load 35; a margin for a heavier load
    assert rss_mb < 300, rss_mb


@pytest.mark.timing
def test_a_data_dependent_term_alone_prices_every_block_pair_without_building_the_others(monkeypatch):
    # a_shape ∪ vertical_slashᶜ ∪ bigbirdᶜ(60 random blocks) at 4,096, block 1: pricing built bigbird's block
    # sets first: 52 ms to refuse. BigBird's random term bounds nothing unless drawn, and random parts are never
    # drawn to price a layout, so its term is every pair
    expr = combine(
        [
            make("a_shape", sinks=BIG, window=39),
            make("vertical_slash", True, vertical=49, slash=9, last_q=33),
            make("bigbird", True, block=29, window_blocks=47, global_blocks=64, random_blocks=60, seed=708),
        ]
    )
    predict_cost(expr, 4096, 1)  # warm: imports, registries

    def drawn(*_):
        raise AssertionError("random blocks drawn to price a bound that is every pair anyway")

    monkeypatch.setattr(RandomBlocks, "block_segments", drawn)
    with pytest.raises(PatternError, match="lower n"):
        _, spent = cpu(lambda: check_budget(expr, 4096, 1))
    start = time.process_time()
    with pytest.raises(PatternError):
        check_budget(expr, 4096, 1)
    assert time.process_time() - start < 0.05  # measured 0.1-0.3 ms now


@pytest.mark.timing
def test_a_stride_that_is_a_multiple_of_the_block_is_a_progression_of_key_blocks():
    # fixed(1,013,943, 48) ∩ strided(240) at 312,495, block 16: strided's block rows (key blocks 15 apart) were
    # shaped one interval, so the price took the summary columns' closed form, while the engine listed them
    # as a (block rows, blocks) table against the progression: the check, then stats, ran past 60 s
    expr = make("fixed", stride=1013943, summary=48).expr() & make("strided", stride=240).expr()
    predict_cost(expr, 312495, 16)
    start = time.process_time()
    with pytest.raises(PatternError, match="lower"):
        check_budget(expr, 312495, 16)
    assert time.process_time() - start < 0.05 * 4
    shapes = limits._shapes(expr.primitives(), 312495, 16)
    kinds = {type(p).__name__: shapes[id(p)].kind for p in expr.primitives()}
    assert kinds["StrideColumns"] == "progression" and kinds["SummaryColumns"] == "columns"
    # the engine agrees: its block rows hold key blocks 15 apart, several a row
    rows = np.arange(19531, dtype=np.int64)
    segs = S.StrideColumns(240).block_segments(rows, 312495, 16)
    assert not segments._is_intervals(segs)


def _fresh_process_stats(layers, tree, n: int, block: int) -> tuple[float, float]:
    """(CPU s with the process start, peak RSS MB) of check_budget + stats in a fresh process, one BLAS thread,
    as the search's worker measures a request (torch imported first for data-dependent layers, as the app has it)."""
    import json
    import os
    import subprocess
    import sys

    spec = json.dumps({"layers": layers, "tree": tree, "n": n, "block": block})
    code = (
        "import json, time, sys; from benchmarks.budget_search import build; from sparse_core import PATTERNS, stats, "
        f"limits; s = json.loads({spec!r}); "
        "dd = any(PATTERNS[x[0]].data_dependent for x in s['layers']); "
        "t0 = time.process_time(); __import__('torch') if dd else None; t1 = time.process_time(); "
        "e = build(s['layers'], s['tree']); limits.check_budget(e, s['n'], s['block']); stats(e, s['n'], s['block']); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(time.process_time() - (t1 - t0), int(hwm) / 1024)"
    )
    env = {**os.environ, **SERVER_ENV}  # one BLAS thread, no huge pages: as the server runs requests
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    cpu_s, rss_mb = (float(x) for x in out.split())
    return cpu_s, rss_mb


def test_a_data_dependent_layout_is_bounded_by_its_keys_per_row():
    # vertical_slash(567, 2) at 4,096, block 1 was priced every block pair (1.1 GiB of layout) and ran 182 MB:
    # a row keeps at most vertical + slash keys (top-k its k, block gating its top blocks), and no key after it
    vs = make("vertical_slash", vertical=150, slash=2, last_q=4).expr()
    n = 4096
    bound = limits._dense_layout_pairs(vs, n, 1)
    assert bound <= n * (150 + 2) < n * n // 16
    assert bound >= int(stats(vs, n, 1).kept_blocks)  # a bound: the engine's layout keeps no more
    cost = check_budget(vs, n, 1)
    assert cost.memory_bytes < 200 << 20
    # top-k's keys are scattered: each kept block may be a run of its own, priced per run. topk(480) at block 1
    # (1.97 M scattered pairs, 290 MB) ran 0.43-1.05 s in fresh processes: refused, naming k
    with pytest.raises(PatternError, match="lower .*k"):
        check_budget(make("topk", k=480).expr(), n, 1)
    check_budget(make("topk", k=120).expr(), n, 1)  # 0.30-0.43 s measured
    # a row that keeps every candidate is one run: every causal pair at block 2 is not priced as scattered
    full = make("vertical_slash", True, vertical=7235, slash=7417, last_q=43).expr()
    assert limits._dense_layout_bound(full, n, 2)[1] == 0


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
def test_a_bounded_data_dependent_layout_keeps_the_promise_in_a_fresh_process():
    # vertical_slash(150, 2) at 4,096, block 1: 0.22-0.48 s (median 0.23), 125 MB in 5 fresh processes at load 4.3
    cpu_s, rss_mb = _fresh_process_stats(
        [["vertical_slash", False, {"vertical": 150, "slash": 2, "last_q": 4}]], 0, 4096, 1
    )
    assert cpu_s < 1.0 * 2, cpu_s
    assert rss_mb < 300 + 250, rss_mb  # torch's own ~250 MB is no part of the request (the app has it loaded)


FOLDED_BLOCKS = (
    [
        ["longformer", True, {"window": 53, "global_tokens": 33}],
        ["strided", True, {"stride": 34}],
        ["global", True, {"global_tokens": 3}],
    ],
    ["union", [0, 1, 2]],
    362665,
    16,
)


def test_the_block_plan_is_priced_by_the_fold_the_engine_uses():
    # globalᶜ ∪ dilated(1,020,587, 4,063) ∪ streamingᶜ at 2^20, block 16: the engine folds its block rows (it
    # sees the steps in the built rows); the price, without steps, took inclusion-exclusion (42 M units for 0.16 s)
    from benchmarks.budget_search import build

    for layers, tree, n, block in (
        (
            [
                ["global", True, {"global_tokens": 30572}],
                ["dilated", False, {"window": 1020587, "dilation": 4063}],
                ["streaming", True, {"sinks": 1029182, "window": 25}],
            ],
            ["union", [["union", [1, 0]], 2]],
            BIG,
            16,
        ),
        FOLDED_BLOCKS,
    ):
        expr = build(layers, tree)
        nb = -(-n // block)
        terms = simple_terms(expr)
        method, price, _ = limits._plan(terms, limits._shapes(expr.primitives(), n, block), nb, nb, nb)
        brows = np.arange(nb, dtype=np.int64)
        built = [[segments.shape_of(id(p), p.block_segments(brows, n, block), nb) for p in t] for t in terms]
        engine, work, _ = segments.union_plan(built, nb, nb)
        assert method == "fold" and engine == "fold"
        assert price >= work  # the price's steps are the engine's, its slots and extents bounds of them
    layers, tree, n, block = FOLDED_BLOCKS
    check_budget(build(layers, tree), n, block)  # 18.4 M units; was 46.9 M and refused (ran 0.30-0.34 s)


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
def test_a_folded_block_plan_keeps_the_promise_in_a_fresh_process():
    cpu_s, rss_mb = _fresh_process_stats(*FOLDED_BLOCKS)
    assert cpu_s < 1.0 * 2, cpu_s  # 0.28-0.34 s in 5 fresh processes at load 4.3
    assert rss_mb < 300, rss_mb


def test_seed_29s_vertical_slash_is_accepted_at_half_a_top_k_pairs_price():
    # vertical_slash(567, 2) at 4,096, block 1 (search seed 29): priced 1.1 GiB of layout (every pair), ran 182
    # MB. Its keys per row bound it to ~2.2 M pairs; priced like top-k's scattered keys (topk(480), the same
    # bound, 0.41 s) it was refused, though it ran 0.21 s: its vertical keys are columns every row shares, laid
    # out at 53 ns a pair against top-k's 115. topk(1000) at block 1 (0.65 s, 418 MB) stays refused
    vs = make("vertical_slash", vertical=567, slash=2, last_q=4).expr()
    cost = check_budget(vs, 4096, 1)
    topk = predict_cost(make("topk", k=567).expr(), 4096, 1)
    assert cost.segment_evals < topk.segment_evals
    with pytest.raises(PatternError, match="lower"):
        check_budget(make("topk", k=1000).expr(), 4096, 1)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "window, dilation, block, n",
    [(31, 526, 2, 23875), (5, 22400, 128, 157585), (1, 96, 8, 86465), (1000000, 4592, 16, 94753), (2, 2704, 8, 6325)],
)
def test_a_dilation_that_is_a_multiple_of_the_block_holds_two_block_row_slots(window, dilation, block, n, causal):
    p = S.Dilated(window, dilation, causal=causal)
    rows = np.arange(-(-n // block), dtype=np.int64)
    per_row = np.zeros(len(rows), dtype=np.int64)
    for seg in p.block_segments(rows, n, block):
        per_row += seg.count > 0
    assert per_row.max() <= limits._static_slots(p, n, block)[1] == 2


KV_COVERED = (
    [
        ["bigbird", True, {"block": 8, "window_blocks": 21, "global_blocks": 3, "random_blocks": 8, "seed": 744}],
        ["dilated", True, {"window": 1015328, "dilation": 3970}],
    ],
    ["intersection", [0, 1]],
    5913,
    256,
)


def test_a_decode_cache_term_after_terms_that_keep_every_key_is_not_priced_as_refused():
    # dilatedᶜ(2^20, 35) ∪ logsparseᶜ, ∩ random(256) at 1,893 (search seed 30): the dilated term's random
    # candidates are past what kv_retained tests, so kv_cost said "refuse" (4.6 x 10^18 units), but the
    # logsparse term before it keeps every key and kv_retained reads none of its rows (2 ms)
    from benchmarks.budget_search import build

    expr = build(
        [
            ["dilated", True, {"window": 1048576, "dilation": 35}],
            ["logsparse", True, {}],
            ["random", False, {"random_keys": 256, "seed": 109}],
        ],
        ["intersection", [["union", [1, 0]], 2]],
    )
    assert expr.kv_cost(1893) < 1 << 20
    assert expr.kv_retained(1893) == 1893
    check_budget(expr, 1893, 86)  # ran 0.48-0.54 s in 5 of 6 fresh processes (1.18 s once), load 2.8
    layers, tree, n, block = KV_COVERED
    check_budget(build(layers, tree), n, block)
    # where the terms before do not keep every key, the price still refuses as kv_retained does
    alone = build(
        [["dilated", True, {"window": 1048576, "dilation": 35}], ["random", False, {"random_keys": 256}]],
        ["intersection", [0, 1]],
    )
    assert alone.kv_cost(1893) >= 1 << 62
    with pytest.raises(PatternError):
        alone.kv_retained(1893)


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
def test_a_covered_decode_cache_term_keeps_the_promise_in_a_fresh_process():
    cpu_s, rss_mb = _fresh_process_stats(*KV_COVERED)
    assert cpu_s < 1.0 * 2, cpu_s  # 0.16-0.20 s in 2 fresh processes at load 3.4
    assert rss_mb < 300, rss_mb


# block size 1 at 2^20: as many block rows as rows, each with arrays of its own while the layout is built
BLOCK_ONE = [
    ([["window", False, {"window": 5}]], 0),
    ([["strided", True, {"stride": 21248}]], 0),
    ([["strided", True, {"stride": 958444}], ["block", True, {"block": 9, "neighbors": 18}]], ["intersection", [0, 1]]),
]


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
@pytest.mark.parametrize("layers, tree", BLOCK_ONE)
def test_block_layouts_at_block_one_are_priced_for_their_rows_memory(layers, tree):
    # priced 24 MB (a block-row slot's 24 bytes) and held 66 / 124 / 163 MB above the process: the memory price
    # would not have stopped a composition of a few more parts from passing 300 MB
    from benchmarks.budget_search import build

    predicted = predict_cost(build(layers, tree), BIG, 1).memory_bytes / 2**20
    _, rss_mb = _fresh_process_stats(layers, tree, BIG, 1)
    assert rss_mb - 40 < predicted < 3 * (rss_mb - 25), (predicted, rss_mb)  # above the process's own ~33 MB


def test_equal_layers_counted_as_one_term_are_priced_once():
    # logsparse ∪ logsparseᶜ (logsparse is causal either way) is one term after deduplication and is listed once
    # (0.12 s at 2^20); the price listed each layer: 71 M units, refused
    two = make("logsparse").expr() | make("logsparse", True).expr()
    three = Union((make("logsparse").expr(), make("logsparse", True).expr(), make("logsparse").expr()))
    assert predict_cost(two, BIG, 64).segment_evals == predict_cost(three, BIG, 64).segment_evals
    assert len(simple_terms(three)) == 1


@pytest.mark.timing
@pytest.mark.slow  # a fresh process: a measurement, not the quick loop
def test_the_decode_caches_random_candidates_are_priced_for_their_memory():
    # the candidate (row, key) pairs are held while tested: 159 MB for 4.1 M pairs, priced 8 MB before
    layers = [
        ["dilated", True, {"window": 168000, "dilation": 4096}],
        ["dilated", True, {"window": 168000, "dilation": 4095}],
        ["random", True, {"random_keys": 1}],
    ]
    tree = ["intersection", [0, 1, 2]]
    from benchmarks.budget_search import build

    cost = check_budget(build(layers, tree), 100000, 128)
    cpu_s, rss_mb = _fresh_process_stats(layers, tree, 100000, 128)
    assert rss_mb - 40 < cost.memory_bytes / 2**20, (cost.memory_bytes >> 20, rss_mb)
    assert cpu_s < 1.0 * 2, cpu_s  # 0.44 s measured (0.53 with the process start)


BIGBIRD_MANY_RANDOM = [["bigbird", False, {"block": 64, "window_blocks": 3, "global_blocks": 2, "random_blocks": 64}]]


def test_bigbird_with_many_random_blocks_is_priced_for_its_runs_and_its_random_block_rows():
    # Non-causal BigBird's rows are counted one per query block (constant runs): 16,384 rows at 2^20 for block 64,
    # 128 for block 8,192. The price held a full chunk of 65,536 rows (335 MiB for 64 random blocks, refused),
    # while the rows held 92 MB and 9 MB
    from benchmarks.budget_search import build

    expr = build(BIGBIRD_MANY_RANDOM, 0)
    rows, _ = limits._degree_rows(expr, expr.primitives(), BIG)
    assert rows == BIG // 64 == -(-BIG // analysis.constant_rows(expr, BIG))
    check_budget(expr, BIG, 256)  # 0.31 s, 151 MB in a fresh process
    wide = make("bigbird", block=8192, window_blocks=63, global_blocks=2, random_blocks=61).expr()
    assert check_budget(wide, BIG, 256).memory_bytes < 100 << 20  # 103 MB measured in all, was priced 320 MiB
    # ...but its block rows' random candidates are built a chunk at a time in ~10 temporaries each: at block 32 they
    # held 157 MB over the process, which 24 bytes a slot priced at 98 MiB. The price holds a chunk of them now
    assert predict_cost(expr, BIG, 32).memory_bytes >= 122 << 20  # the 157 MB measured, less the process's 35


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
@pytest.mark.parametrize(
    "layers, block",
    [
        (BIGBIRD_MANY_RANDOM, 256),  # its rows: 92 MB over the process measured, 116 MB for the whole request
        # its block rows' random candidates: 124 MB, priced 49 MiB at 24 bytes a slot
        ([["bigbird", False, {"block": 8192, "window_blocks": 63, "global_blocks": 2, "random_blocks": 64}]], 64),
    ],
)
def test_bigbird_with_many_random_blocks_holds_no_more_than_its_price_in_a_fresh_process(layers, block):
    from benchmarks.budget_search import build

    price_mb = predict_cost(build(layers, 0), BIG, block).memory_bytes / 2**20
    _, base_mb = _fresh_process_stats([["window", False, {"window": 4}]], 0, 16, 16)  # python, numpy, the engine
    cpu_s, rss_mb = _fresh_process_stats(layers, 0, BIG, block)
    assert rss_mb - base_mb <= price_mb, (rss_mb, base_mb, price_mb)
    assert cpu_s < 1.0 * 2 and rss_mb < 300, (cpu_s, rss_mb)


GATED_RANDOM = (
    [
        ["block_gating", True, {"block": 46, "top_blocks": 1024}],
        ["global", True, {"global_tokens": 146449}],
        ["random", False, {"random_keys": 230, "seed": 101}],
    ],
    ["intersection", [["union", [0, 1]], 2]],
    4096,
    2,
)


def test_random_keys_bound_a_data_dependent_layout_like_top_k():
    # (block_gatingᶜ ∪ globalᶜ) ∩ random(230) at 4,096, block 2 (search seed 64): random parts were skipped when
    # bounding the layout (they are not drawn to price), so it was priced every block pair, 364 MiB, and refused;
    # it ran 0.47 s, 138 MB. A row keeps r random keys, a bound known without drawing them, shared by both terms
    from benchmarks.budget_search import build

    layers, tree, n, block = GATED_RANDOM
    expr = build(layers, tree)
    pairs, scattered = limits._dense_layout_bound(expr, n, block)
    nb = n // block
    assert pairs == scattered == nb * min(nb, 2 * 230)  # one term's bound, not two: the random part is in both
    assert pairs >= int(stats(expr, n, block).kept_blocks)  # a bound: the engine's layout keeps no more
    check_budget(expr, n, block)
    # the bound is random keys' own, causal ones none past the diagonal
    causal = make("topk", True, k=8).expr() & make("random", True, random_keys=8).expr()
    assert limits._dense_layout_bound(causal, 64, 1)[0] == sum(min(i + 1, 8) for i in range(64))


@pytest.mark.timing
@pytest.mark.slow  # a fresh process each: measurements, not the quick loop
def test_a_layout_bounded_by_random_keys_keeps_the_promise_in_a_fresh_process():
    cpu_s, rss_mb = _fresh_process_stats(*GATED_RANDOM)
    assert cpu_s < 1.0 * 2, cpu_s  # 0.47 s with its start, 138 MB (search seed 64, load ~2)
    assert rss_mb < 300 + 250, rss_mb  # torch's own ~250 MB is no part of the request (the app has it loaded)


def test_a_fold_over_random_blocks_and_a_block_plan_of_met_terms_are_priced_as_measured():
    # a probe: bigbird(1,582, 16 random blocks) ∪ block(5, 3) at 2^20 was accepted at 37.6 M units and ran 1.38-1.46 s
    # (0.76 s for its rows where freed arrays were kept, a setting tried and withdrawn): its fold over random blocks ran
    # 11 ns a unit, priced at half the sweep's 15-17. Priced at three quarters, it is refused
    from benchmarks.budget_search import build

    bigbird = ["bigbird", False, {"block": 1582, "window_blocks": 61, "global_blocks": 37, "random_blocks": 16}]
    with pytest.raises(PatternError, match="lower"):
        check_budget(build([bigbird, ["block", False, {"block": 5, "neighbors": 3}]], ["union", [0, 1]]), BIG, 128)
    # (random(2) ∪ neighborhood(32, 60)) ∩ random(2) at 125,166, block 8: 251 MB over the process for its block plan's
    # met pieces, priced 97 MiB at 24 bytes a slot
    layers = [
        ["random", False, {"random_keys": 2, "seed": 526}],
        ["neighborhood", False, {"side": 32, "radius": 60}],
        ["random", False, {"random_keys": 2, "seed": 420}],
    ]
    met = build(layers, ["intersection", [["union", [0, 1]], 2]])
    assert predict_cost(met, 125166, 8).memory_bytes >= 251 << 20


def test_vertical_slash_is_priced_for_its_estimating_queries_and_random_keys_for_their_widest_block_row():
    # a probe: vertical_slashᶜ(4,096, 2,903, last_q 3,977) alone at 4,096, block 4 held 196 MB over the import, priced
    # 130 MiB as 3 bytes a cell; with last_q 1,024, 71 MB. Two of them in a union with dilated and random parts held
    # 306 MB, priced 258 MiB (accepted): refused now
    from benchmarks.budget_search import build

    wide = ["vertical_slash", True, {"vertical": 4096, "slash": 2903, "last_q": 3977}]
    assert predict_cost(build([wide], 0), 4096, 4).memory_bytes >= 196 << 20
    narrow = ["vertical_slash", True, {"vertical": 1024, "slash": 4096, "last_q": 1024}]
    layers = [["dilated", True, {"window": 2048, "dilation": 16}], narrow, ["random", True, {"random_keys": 230}], wide]
    with pytest.raises(PatternError, match="lower"):
        check_budget(build(layers, ["union", [0, 1, 2, 3]]), 4096, 4)
    # random(8) at 2^20 lists a block row's keys together: 153 MB at block 2^19, 261-265 MB just below 2^20 (one block
    # row holds nearly all of them), 293 MB intersected with a block pattern there: refused past ~1 M rows a block row
    random8 = make("random", random_keys=8).expr()
    check_budget(random8, BIG, 1 << 19)
    with pytest.raises(PatternError, match="lower random_keys"):
        check_budget(random8, BIG, BIG - 1)
    check_budget(random8, BIG, BIG)  # one block: nothing listed per block row


def test_every_random_part_of_a_request_keeps_its_own_table(monkeypatch):
    # a probe: with one whole-sequence table kept at a time, random(8) ∪ random(1) at 877,141 tokens drew both tables
    # again for every chunk of rows (1.39 s priced 39.8 M units; 0.39 s now)
    from sparse_core.patterns import random_keys

    draws = []
    real = random_keys.RandomKeys._draw_all
    monkeypatch.setattr(random_keys.RandomKeys, "_draw_all", lambda self, n: draws.append(id(self)) or real(self, n))
    monkeypatch.setattr(random_keys, "_TABLES", [])
    a, b = make("random", True, random_keys=8, seed=46).expr(), make("random", True, random_keys=1, seed=11).expr()
    n = 4 * analysis.ROW_CHUNK + 5  # five chunks of rows
    analysis.row_degree(a | b, n)
    assert sorted(draws) == sorted([id(a), id(b)])


@pytest.mark.parametrize(
    "layers, n, block",
    [
        # a probe: counting intersection candidates to price the refinement took 90-101 ms to refuse
        (
            [
                ["neighborhood", False, {"side": 45, "radius": 30}],
                ["strided", True, {"stride": 9295}],
                ["neighborhood", False, {"side": 90, "radius": 2}],
                ["strided", False, {"stride": 31468}],
            ],
            32016,
            8,
        ),
        (
            [
                ["strided", True, {"stride": 31611}],
                ["strided", False, {"stride": 31230}],
                ["strided", False, {"stride": 18679}],
                ["strided", True, {"stride": 36923}],
            ],
            34244,
            9,
        ),
        # the decode cache's candidates met 75 pieces on every one of 20,533 keys, two terms: 81-87 ms
        (
            [
                ["neighborhood", False, {"side": 90, "radius": 37}],
                ["random", False, {"random_keys": 1, "seed": 56}],
                ["fixed", False, {"stride": 230, "summary": 60}],
            ],
            20533,
            6,
        ),
    ],
)
@pytest.mark.timing  # run alone (make test's second pass): 8-21 ms now, 81-101 ms before, against a 100 ms bound
def test_pricing_probes_stop_where_a_refusal_would_pass_50_ms(layers, n, block):
    from benchmarks.budget_search import build

    expr = build(layers, ["intersection", list(range(len(layers)))])
    start = time.process_time()
    with pytest.raises(PatternError, match="lower"):
        check_budget(expr, n, block)
    assert time.process_time() - start < 0.05 * 2, time.process_time() - start


def test_a_decode_cache_priced_as_refused_says_so():
    # it said "~4.6 x 10^18 row segments" (the sentinel kv_price gives a term it cannot count in a refusal's time)
    expr = (
        make("neighborhood", side=90, radius=37).expr()
        & make("random", random_keys=1, seed=56).expr()
        & make("fixed", stride=230, summary=60).expr()
    )
    with pytest.raises(PatternError, match="decode cache .* lower n, the window or the random keys") as info:
        check_budget(expr, 20533, 6)
    assert "10^" not in str(info.value) and info.value.code == "budget_uncountable_decode"


@pytest.mark.timing
@pytest.mark.slow  # a fresh process: a measurement, not the quick loop
def test_the_fold_over_many_pieces_holds_a_bounded_chunk_in_a_fresh_process():
    # (strided(4) ∪ strided(2)) ∩ (dilated(2^20, 2) ∪ random(8)) at 59,048: the fold's sweeps held 2^21 cells of
    # ~100 bytes at once, 302 MB in all accepted at 264 MiB (a probe); at 2^20 cells 253 MB
    import os
    import subprocess
    import sys

    code = (
        "import time; from sparse_core import make, stats, check_budget; "
        "e = (make('strided', stride=4).expr() | make('strided', stride=2).expr()) & "
        "(make('dilated', window=1 << 20, dilation=2).expr() | make('random', random_keys=8, seed=193).expr()); "
        "check_budget(e, 59048, 128); stats(e, 59048, 128); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(time.process_time(), int(hwm) / 1024)"
    )
    env = {**os.environ, **SERVER_ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    cpu_s, rss_mb = (float(x) for x in out.split())
    assert cpu_s < 1.0 * 2, cpu_s
    assert rss_mb < 300, rss_mb


def test_the_decode_cache_price_counts_a_prefix_only_where_its_pieces_are_cheap_to_build(monkeypatch):
    # three bigbirds ∩ neighborhood(1,024, 63) at 100 tokens: the 22 terms before the refusing one build 127
    # pieces each; counting whether they keep every key took 47-80 ms of a refusal (a probe). Their builds count
    # against KV_PREFIX_PASSES now, so the price refuses without counting them
    from sparse_core.patterns import expr as expr_mod

    calls = []
    real = expr_mod._keep_every_key
    monkeypatch.setattr(expr_mod, "_keep_every_key", lambda terms, n: calls.append(n) or real(terms, n))
    dear = Intersection(
        (
            make("bigbird", True, block=1, window_blocks=63, global_blocks=24, random_blocks=64, seed=714).expr(),
            make("bigbird", True, block=1, window_blocks=31, global_blocks=0, random_blocks=41, seed=449).expr(),
            make("bigbird", True, block=1, window_blocks=63, global_blocks=0, random_blocks=64, seed=703).expr(),
            make("neighborhood", True, side=1024, radius=63).expr(),
        )
    )
    with pytest.raises(PatternError, match="decode cache"):
        check_budget(dear, 100, 16)
    assert calls == []
    # a cheap prefix is still counted: logsparseᶜ keeps every key, so the random term after it reads none
    cheap = (make("logsparse", True).expr() | make("dilated", True, window=1 << 20, dilation=35).expr()) & make(
        "random", random_keys=256, seed=109
    ).expr()
    check_budget(cheap, 1893, 86)
    assert calls == [1893]


@pytest.mark.timing
@pytest.mark.parametrize(
    "label, expr, n, block",
    [
        # a sixth probe: stride columns' span priced as n, the fold looked cheap and the engine drew bitmaps over
        # step-2 progressions (36 s accepted at 1.5 M units); refused since, until the fold's keys a segment were
        # counted as ceil(span / L) for the engine and the price alike: both fold it, 0.05 s
        (
            "strided(2) ∪ dilated(2^20, 2) ∪ dilated(20,000, 2) ∪ strided(8,191) at 32,763",
            combine(
                [
                    make("strided", stride=2),
                    make("dilated", window=1048576, dilation=2),
                    make("dilated", window=20000, dilation=2),
                    make("strided", stride=8191),
                ]
            ),
            32763,
            4096,
        ),
        # seed 60: the fold over block rows held 317 MB at 786,432 (457 MB, 0.83 s at 2^20), priced 110-147 MiB; it now
        # builds its folded pieces a chunk of rows at a time (55 MB, 0.23 s) and its dilation's block slots are priced
        # as built (at 2^20 it holds 121 MB and is refused at 321 MiB: the block fold's 80 bytes a slot)
        (
            "longformer(2, 2^20) ∪ dilatedᶜ(988,249, 4,037) at 786,432, block 64",
            make("longformer", window=2, global_tokens=1048576).expr()
            | make("dilated", True, window=988249, dilation=4037).expr(),
            786432,
            64,
        ),
        # a seventh probe: its block count was made twice (0.58 s of 1.06-1.47 s accepted at 40 M units); once now
        (
            "longformer ∩ fixedᶜ(300,000, 16) at 425,225, block 1",
            make("longformer", window=1048576, global_tokens=2).expr()
            & make("fixed", True, stride=300000, summary=16).expr(),
            425225,
            1,
        ),
        # its block bitmaps were drawn twice (1.65 s); since block_layout keeps the one count of terms that are all
        # intersected, its price counts them once too: 39.1 M units, accepted, 0.60 s in fresh processes (was 70.7 M)
        (
            "(random(2) ∪ neighborhood(32, 60)) ∩ random(2) at 125,166, block 16",
            (make("random", random_keys=2, seed=526).expr() | make("neighborhood", side=32, radius=60).expr())
            & make("random", random_keys=2, seed=420).expr(),
            125166,
            16,
        ),
    ],
)
def test_former_breaks_now_accepted_run_within_the_promise(label, expr, n, block):
    check_budget(expr, n, block)
    _, run_s = cpu(lambda: stats(expr, n, block))
    assert run_s < 1.0 * 4, (label, run_s)  # 0.05 s and 0.65 s measured; a margin for the shared machine
