"""Adversarial search for requests that break the budget's promise (issue 18).

The promise: every accepted request costs <= 1 s CPU and <= 300 MB peak RSS on this machine, every
refusal takes <= 50 ms and names what to lower, and no request that would have fit is refused.

    python -m benchmarks.budget_search --count 200 --seed 1

draws random requests (1-4 layers of any pattern, parameters near their maxima, causal both ways,
unions, intersections and nesting, any n <= 2^20, any block size) plus the pinned cases of the
issue, and runs each in a fresh process (`--worker`): the budget check, then, when accepted, the explorer's own
call (`explore.count`: stats, degree profile and mask view, what the Explorer and the CLI's `stats` run).
A refused request is also run past its refusal, under a CPU limit, to find false refusals. CPU time
is the request's own (`time.process_time`), memory its peak RSS (VmHWM) above the process before
it; the CPU figure adds the worker's own start (python, numpy and the engine imported, measured in the
same process at the same load), the memory figure the engine-only baseline of a fresh process; torch is
imported before the request, as the app server has it loaded. Prints the worst accepted request,
the slowest refusal, the false refusals, and a markdown summary with the load average.

    python -m benchmarks.budget_search --count 100 --seed 1 --edge

moves each drawn request to the budget's edge first: the largest n it accepts and the next n it refuses,
both run (where breaks and false refusals are; drawn anywhere, most requests are far from it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

CPU_LIMIT_S = 1.0
RSS_LIMIT_MB = 300
REFUSAL_LIMIT_S = 0.05
FORCE_CPU_S = 4  # a refused request is run past its refusal for at most this many CPU seconds

# Requests the issue measured (layers as [name, causal, params], tree over layer indices, n, block)
PINNED = [
    ("fixed ∩ fixed at 8,192", [["fixed", False, {}], ["fixed", False, {}]], ["intersection", [0, 1]], 8192, 128),
    ("fixed ∩ fixed at 65,536", [["fixed", False, {}], ["fixed", False, {}]], ["intersection", [0, 1]], 65536, 128),
    ("fixed ∩ fixed at 2^20", [["fixed", False, {}], ["fixed", False, {}]], ["intersection", [0, 1]], 1 << 20, 128),
    (
        "4-layer causal ∩ at 337, block 1",
        [
            ["random", True, {"random_keys": 2}],
            ["fixed", True, {"stride": 3, "summary": 1}],
            ["bigbird", True, {"block": 1, "window_blocks": 3, "global_blocks": 0, "random_blocks": 1}],
            ["fixed", True, {"stride": 3, "summary": 2}],
        ],
        ["intersection", [0, 1, 2, 3]],
        337,
        1,
    ),
    (
        "logsparse ∩ dilated(16, 2), block 2^20",
        [["logsparse", True, {}], ["dilated", False, {"window": 16, "dilation": 2}]],
        ["intersection", [0, 1]],
        65536,
        1 << 20,
    ),
    (
        "streaming(4, 698,760) ∩ random(2) at 2^20",
        [["streaming", True, {"sinks": 4, "window": 698760}], ["random", False, {"random_keys": 2}]],
        ["intersection", [0, 1]],
        1 << 20,
        128,
    ),
    (
        "bigbird ∪ bigbird at 2^20",
        [["bigbird", False, {}], ["bigbird", False, {"seed": 1}]],
        ["union", [0, 1]],
        1 << 20,
        128,
    ),  # noqa: E501
    ("random(4) at 2^20", [["random", False, {"random_keys": 4}]], 0, 1 << 20, 128),
    ("random(8) at 2^20", [["random", False, {"random_keys": 8}]], 0, 1 << 20, 128),
    # the fifth search's false refusals (seed 22): random(8) at its smallest accepted block, causal, and a
    # 4-layer intersection priced 28.4 M units that ran 0.13-0.40 s
    ("random(8) at 2^20, block 9", [["random", False, {"random_keys": 8}]], 0, 1 << 20, 9),
    ("randomᶜ(8) at 2^20", [["random", True, {"random_keys": 8}]], 0, 1 << 20, 128),
    (
        "block ∩ globalᶜ ∩ blockᶜ ∩ longformerᶜ at 2^20, block 256",
        [
            ["block", False, {"block": 1 << 20, "neighbors": 3773}],
            ["global", True, {"global_tokens": 1 << 20}],
            ["block", True, {"block": 354843, "neighbors": 47}],
            ["longformer", True, {"window": 1 << 20, "global_tokens": 1012208}],
        ],
        ["intersection", [0, 1, 2, 3]],
        1 << 20,
        256,
    ),
    (
        "4 BigBirds ∪ at 2^20",
        [["bigbird", False, {"seed": s}] for s in range(4)],
        ["union", [0, 1, 2, 3]],
        1 << 20,
        128,
    ),
    # the false refusals budget2 fixed (seeds 23 and 25): the decode cache's price of a stride term, k-means
    (
        "stridedᶜ(958,444) ∩ blockᶜ(9, 18) at 2^20, block 1",
        [["strided", True, {"stride": 958444}], ["block", True, {"block": 9, "neighbors": 18}]],
        ["intersection", [0, 1]],
        1 << 20,
        1,
    ),
    ("routing(256, 1) at 4,096", [["routing", False, {"clusters": 256, "iterations": 1}]], 0, 4096, 128),
    (
        "neighborhoodᶜ(28, 39) ∩ routingᶜ(1,000, 2) at 3,345, block 16",
        [["neighborhood", True, {"side": 28, "radius": 39}], ["routing", True, {"clusters": 1000, "iterations": 2}]],
        ["intersection", [0, 1]],
        3345,
        16,
    ),
    (
        "longformer(1,057, 12) ∩ logsparse at 84,717 (a partial last chunk of rows)",
        [["longformer", False, {"window": 1057, "global_tokens": 12}], ["logsparse", False, {}]],
        ["intersection", [0, 1]],
        84717,
        1 << 20,
    ),
    (
        "neighborhoodᶜ(8, 56) ∪ dilatedᶜ(51, 34) at 23,565, block 64 (a small bitmap)",
        [["neighborhood", True, {"side": 8, "radius": 56}], ["dilated", True, {"window": 51, "dilation": 34}]],
        ["union", [0, 1]],
        23565,
        64,
    ),
    # seed 29's false refusals, and seed 30's decode cache priced "refuse" (issue 18, third session)
    (
        "vertical_slash(567, 2, 4) at 4,096, block 1 (was every-pair memory; now its scattered pairs' work)",
        [["vertical_slash", False, {"vertical": 567, "slash": 2, "last_q": 4}]],
        0,
        4096,
        1,
    ),
    (
        "globalᶜ(2^20) ∩ dilated(31, 526) ∩ (windowᶜ ∪ window) at 2^20, block 2 (block plan now folded)",
        [
            ["global", True, {"global_tokens": 1 << 20}],
            ["dilated", False, {"window": 31, "dilation": 526}],
            ["window", True, {"window": 1035656}],
            ["window", False, {"window": 15320}],
        ],
        ["intersection", [["union", [2, 3]], 0, 1]],
        1 << 20,
        2,
    ),
    (
        "globalᶜ ∪ dilated(1,020,587, 4,063) ∪ streamingᶜ at 2^20, block 16 (block plan now folded)",
        [
            ["global", True, {"global_tokens": 30572}],
            ["dilated", False, {"window": 1020587, "dilation": 4063}],
            ["streaming", True, {"sinks": 1029182, "window": 25}],
        ],
        ["union", [["union", [1, 0]], 2]],
        1 << 20,
        16,
    ),
    (
        "(dilatedᶜ(2^20, 35) ∪ logsparseᶜ) ∩ random(256) at 1,893 (decode cache priced refuse)",
        [
            ["dilated", True, {"window": 1048576, "dilation": 35}],
            ["logsparse", True, {}],
            ["random", False, {"random_keys": 256, "seed": 109}],
        ],
        ["intersection", [["union", [1, 0]], 2]],
        1893,
        86,
    ),
    # seed 32 (fourth session): the decode cache held every candidate pair against every drawn key at once
    (
        "block(698, 1) ∩ randomᶜ(56) at 2,112, block 64 (decode cache: 312 MB, priced 9 MB)",
        [["block", False, {"block": 698, "neighbors": 1}], ["random", True, {"random_keys": 56, "seed": 307}]],
        ["intersection", [0, 1]],
        2112,
        64,
    ),
    (
        "(dilatedᶜ(14,254, 3,623) ∪ windowᶜ(21)) ∩ randomᶜ(64) at 42, block 1 (decode cache: a table per distinct row)",
        [
            ["window", True, {"window": 21}],
            ["dilated", True, {"window": 14254, "dilation": 3623}],
            ["random", True, {"random_keys": 64, "seed": 869}],
        ],
        ["intersection", [["union", [1, 0]], 2]],
        42,
        1,
    ),
    (
        "randomᶜ(2) ∩ neighborhood(2, 63) ∩ logsparse ∩ longformerᶜ at 9,010 (a 0.19 s refusal: pieces met to price)",
        [
            ["random", True, {"random_keys": 2, "seed": 835}],
            ["neighborhood", False, {"side": 2, "radius": 63}],
            ["logsparse", False, {}],
            ["longformer", True, {"window": 978444, "global_tokens": 1042362}],
        ],
        ["intersection", [0, 1, 2, 3]],
        9010,
        64,
    ),
    (
        "fixed(6,897, 27) ∪ streaming(42, 52) at 2^20, block 2 (summary columns: 0.98 s at 35 M units)",
        [["fixed", False, {"stride": 6897, "summary": 27}], ["streaming", False, {"sinks": 42, "window": 52}]],
        ["union", [0, 1]],
        1 << 20,
        2,
    ),
    (
        "randomᶜ(1) ∩ longformer(1,028,978, 2^20) at 929,573, block 256 (listed per chunk: 1.02 s)",
        [
            ["random", True, {"random_keys": 1, "seed": 671}],
            ["longformer", False, {"window": 1028978, "global_tokens": 1048576}],
        ],
        ["intersection", [0, 1]],
        929573,
        256,
    ),
    (
        "longformer(2, 2^20) ∪ dilatedᶜ(988,249, 4,037) at 786,432, block 64 (block fold: 317 MB priced 110 MiB)",
        [
            ["longformer", False, {"window": 2, "global_tokens": 1048576}],
            ["dilated", True, {"window": 988249, "dilation": 4037}],
        ],
        ["union", [0, 1]],
        786432,
        64,
    ),
    (
        "dilatedᶜ(168,000, 4,096) ∩ dilatedᶜ(168,000, 4,095) ∩ randomᶜ(10) at 100,000 (drawn rows under-counted)",
        [
            ["dilated", True, {"window": 168000, "dilation": 4096}],
            ["dilated", True, {"window": 168000, "dilation": 4095}],
            ["random", True, {"random_keys": 10}],
        ],
        ["intersection", [0, 1, 2]],
        100000,
        128,
    ),
    (
        "fixedᶜ(8,192, 5) ∩ dilatedᶜ(800,000, 4,096) ∩ randomᶜ(40) at 16,374 (a band of keys the sample missed: 21 s)",
        [
            ["fixed", True, {"stride": 8192, "summary": 5}],
            ["dilated", True, {"window": 800000, "dilation": 4096}],
            ["random", True, {"random_keys": 40}],
        ],
        ["intersection", [0, 1, 2]],
        16374,
        128,
    ),
    (
        "blockᶜ(2^19, 0) ∩ randomᶜ(4) at 1,048,513 (each chunk tests its 4.19 M candidates: 3.5 s, 394 MB)",
        [["block", True, {"block": 524288, "neighbors": 0}], ["random", True, {"random_keys": 4}]],
        ["intersection", [0, 1]],
        1048513,
        128,
    ),
    (
        "bigbird(8,192, 61 random blocks) at 2^20, block 256 (rows priced as 65,536, not 128 runs: 320 MiB for 103 MB)",
        [["bigbird", False, {"block": 8192, "window_blocks": 63, "global_blocks": 2, "random_blocks": 61}]],
        0,
        1 << 20,
        256,
    ),
    (
        "bigbird(8,192, 64 random blocks) at 2^20, block 64 (random block rows: 124 MB, priced 49 MiB)",
        [["bigbird", False, {"block": 8192, "window_blocks": 63, "global_blocks": 2, "random_blocks": 64}]],
        0,
        1 << 20,
        64,
    ),
    (
        "(block_gatingᶜ ∪ globalᶜ) ∩ random(230) at 4,096, block 2 (random keys bound no layout: 364 MiB, ran 138 MB)",
        [
            ["block_gating", True, {"block": 46, "top_blocks": 1024}],
            ["global", True, {"global_tokens": 146449}],
            ["random", False, {"random_keys": 230, "seed": 101}],
        ],
        ["intersection", [["union", [0, 1]], 2]],
        4096,
        2,
    ),
    (
        "mistralᶜ(7) ∩ fixed(41, 39) at 574,858, block 2^20 (its one block's rows counted at once: 490 MB)",
        [["mistral", True, {"window": 7}], ["fixed", False, {"stride": 41, "summary": 39}]],
        ["intersection", [0, 1]],
        574858,
        1 << 20,
    ),
    (
        "dilatedᶜ ∩ longformerᶜ ∩ windowᶜ ∩ strided(217) at 2^20, block 2^20 (a 2^20-residue sort: 76 ms to refuse)",
        [
            ["dilated", True, {"window": 1033757, "dilation": 3716}],
            ["longformer", True, {"window": 49, "global_tokens": 32}],
            ["window", True, {"window": 960169}],
            ["strided", False, {"stride": 217}],
        ],
        ["intersection", [["intersection", [0, 1]], 2, 3]],
        1 << 20,
        1 << 20,
    ),
    (
        "(random(2) ∪ neighborhood(32, 60)) ∩ random(2) at 125,166, block 16 (bitmaps of 2^24 cells: 1.65 s)",
        [
            ["random", False, {"random_keys": 2, "seed": 526}],
            ["neighborhood", False, {"side": 32, "radius": 60}],
            ["random", False, {"random_keys": 2, "seed": 420}],
        ],
        ["intersection", [["union", [0, 1]], 2]],
        125166,
        16,
    ),
    (
        "bigbird(1,582, 16 random blocks) ∪ block(5, 3) at 2^20 (fold over random blocks: 1.38-1.46 s)",
        [
            ["bigbird", False, {"block": 1582, "window_blocks": 61, "global_blocks": 37, "random_blocks": 16}],
            ["block", False, {"block": 5, "neighbors": 3}],
        ],
        ["union", [0, 1]],
        1 << 20,
        128,
    ),
    (
        "dilated(2,048, 2) ∩ topk(64) at 4,096, block 64 (a dense mask's 8.4 M pairs listed at once: 356 MB)",
        [["dilated", False, {"window": 2048, "dilation": 2}], ["topk", False, {"k": 64}]],
        ["intersection", [0, 1]],
        4096,
        64,
    ),
    (
        "neighborhoodᶜ(954, 56) ∩ neighborhood(955, 3) at 25,734, block 16 (36 ms to refuse, 372 MiB for 127 MB)",
        [["neighborhood", True, {"side": 954, "radius": 56}], ["neighborhood", False, {"side": 955, "radius": 3}]],
        ["intersection", [0, 1]],
        25734,
        16,
    ),
    (
        "strided(1,024,626) ∩ neighborhood(512, 56) at 41,000 (priced by inclusion-exclusion, swept: 370 MB)",
        [["strided", False, {"stride": 1024626}], ["neighborhood", False, {"side": 512, "radius": 56}]],
        ["intersection", [0, 1]],
        41000,
        1 << 20,
    ),
    (
        "randomᶜ(2) ∩ a_shapeᶜ(0, 2^20) at 700,000, block 128 (bitmaps priced, swept: 241 MB for 118 MiB)",
        [["random", True, {"random_keys": 2}], ["a_shape", True, {"sinks": 0, "window": 1048576}]],
        ["intersection", [0, 1]],
        700000,
        128,
    ),
    (
        "random ∩ neighborhood(1,024, 63) ∩ longformer ∩ dilated at 20,034 (refused in 52-65 ms)",
        [
            ["random", False, {"random_keys": 1, "seed": 8}],
            ["neighborhood", True, {"side": 1024, "radius": 63}],
            ["longformer", True, {"window": 497512, "global_tokens": 65232}],
            ["dilated", True, {"window": 739847, "dilation": 101}],
        ],
        ["intersection", [0, 1, 2, 3]],
        20034,
        16,
    ),
    (
        "global(2^20) ∪ bigbird(45, 26 random blocks) at 320,869, block 16 (a fold over random blocks: 0.93 s)",
        [
            ["global", False, {"global_tokens": 1048576}],
            ["bigbird", False, {"block": 45, "window_blocks": 1, "global_blocks": 10, "random_blocks": 26, "seed": 50}],
        ],
        ["union", [0, 1]],
        320869,
        16,
    ),
    (
        "streaming ∪ bigbirdᶜ(8,192, 2 random blocks) ∪ fixedᶜ at 57,401, block 16 (58 MB held, accepted)",
        [
            ["streaming", False, {"sinks": 850817, "window": 508913}],
            ["bigbird", True, {"block": 8192, "window_blocks": 21, "global_blocks": 41, "random_blocks": 2, "seed": 3}],
            ["fixed", True, {"stride": 1028215, "summary": 1004149}],
        ],
        ["union", [0, 1, 2]],
        57401,
        16,
    ),
    # a seventh probe (at 973ff37): each was accepted over the promise
    (
        "dilatedᶜ(2,000, 1,000) ∪ dilated(10, 4,096) at 381,706, block 47 (bounded block slots: 498 MB at 81 MiB)",
        [["dilated", True, {"window": 2000, "dilation": 1000}], ["dilated", False, {"window": 10, "dilation": 4096}]],
        ["union", [0, 1]],
        381706,
        47,
    ),
    (
        "(dilated(2^20, 16) ∩ bigbird(64, 8 random blocks)) ∪ windowᶜ(1) at 786,180, block 4,096 (a fold split: 2 s)",
        [
            ["dilated", False, {"window": 1048576, "dilation": 16}],
            ["bigbird", False, {"block": 64, "window_blocks": 3, "global_blocks": 1, "random_blocks": 8, "seed": 551}],
            ["window", True, {"window": 1}],
        ],
        ["union", [["intersection", [0, 1]], 2]],
        786180,
        4096,
    ),
    (
        "longformerᶜ ∩ bigbirdᶜ(6, 64 random blocks) at 331 (slow random-block draws: 1.6-2.3 s)",
        [
            ["longformer", True, {"window": 1000, "global_tokens": 1}],
            ["bigbird", True, {"block": 6, "window_blocks": 3, "global_blocks": 0, "random_blocks": 64, "seed": 229}],
        ],
        ["intersection", [0, 1]],
        331,
        128,
    ),
    (
        "longformer ∩ fixedᶜ(300,000, 16) at 425,225, block 1 (its block count made twice: 1.06-1.47 s)",
        [
            ["longformer", False, {"window": 1048576, "global_tokens": 2}],
            ["fixed", True, {"stride": 300000, "summary": 16}],
        ],
        ["intersection", [0, 1]],
        425225,
        1,
    ),
    # an eighth probe (at 461a940)
    (
        "dilatedᶜ(999, 3,001) ∪ windowᶜ(16) ∪ dilated(1,500, 3,001) at 537,607, block 46 (a fold split: 379 MB)",
        [
            ["dilated", True, {"window": 999, "dilation": 3001}],
            ["window", True, {"window": 16}],
            ["dilated", False, {"window": 1500, "dilation": 3001}],
        ],
        ["union", [0, 1, 2]],
        537607,
        46,
    ),
    (
        "four dilations(2^20, 1,451-1,471) at 2^20, block 1,447 (block rows built to price: 110-194 ms to refuse)",
        [["dilated", False, {"window": 1048576, "dilation": d}] for d in (1451, 1453, 1459, 1471)],
        ["union", [0, 1, 2, 3]],
        1048576,
        1447,
    ),
    (
        "three bigbirds ∩ neighborhood(1,024, 63) at 100, block 16 (a prefix's pieces built to price: 47-80 ms)",
        [
            ["bigbird", True, {"block": 1, "window_blocks": 63, "global_blocks": 24, "random_blocks": 64, "seed": 714}],
            ["bigbird", True, {"block": 1, "window_blocks": 31, "global_blocks": 0, "random_blocks": 41, "seed": 449}],
            ["bigbird", True, {"block": 1, "window_blocks": 63, "global_blocks": 0, "random_blocks": 64, "seed": 703}],
            ["neighborhood", True, {"side": 1024, "radius": 63}],
        ],
        ["intersection", [0, 1, 2, 3]],
        100,
        16,
    ),
    (
        "(strided(4) ∪ strided(2)) ∩ (dilated(2^20, 2) ∪ random(8)) at 59,048 (the fold's chunk of 2^21 cells: 302 MB)",
        [
            ["strided", False, {"stride": 4}],
            ["strided", False, {"stride": 2}],
            ["dilated", False, {"window": 1048576, "dilation": 2}],
            ["random", False, {"random_keys": 8, "seed": 193}],
        ],
        ["intersection", [["union", [0, 1]], ["union", [2, 3]]]],
        59048,
        128,
    ),
    (
        "fixedᶜ(4,096, 1) ∪ strided(64) at 125,248, block 16 (a column set left out of a bitmap's price: 1.6 GB)",
        [["fixed", True, {"stride": 4096, "summary": 1}], ["strided", True, {"stride": 64}]],
        ["union", [0, 1]],
        125248,
        16,
    ),
    (
        "strided(66,500) ∩ neighborhood(1,024, 25) at 70,000, block 256 (its first chunk swept: 372 MB)",
        [["strided", False, {"stride": 66500}], ["neighborhood", False, {"side": 1024, "radius": 25}]],
        ["intersection", [0, 1]],
        70000,
        256,
    ),
    (
        "dilated(0, 4,096) ∪ neighborhood(1,024, 7) at 2^20 (one key a row, priced as a progression: 0.93-1.13 s)",
        [["dilated", False, {"window": 0, "dilation": 4096}], ["neighborhood", False, {"side": 1024, "radius": 7}]],
        ["union", [0, 1]],
        1 << 20,
        128,
    ),
    (
        "logsparse at 131,072, block 1 (its block rows' ranges merged: 313 MB)",
        [["logsparse", False, {}]],
        0,
        131072,
        1,
    ),
    (
        "strided(40,001) ∩ dilatedᶜ(20, 4,095) at 555,478, block 64 (block bitmaps drawn twice: 1.6-1.9 s)",
        [["strided", False, {"stride": 40001}], ["dilated", True, {"window": 20, "dilation": 4095}]],
        ["intersection", [0, 1]],
        555478,
        64,
    ),
    ("random(11) at 762,129, block 10 (306 MB)", [["random", False, {"random_keys": 11}]], 0, 762129, 10),
    (
        "strided(640) ∪ fixed(30,000, 4) at 53,693, block 16 (fixed's columns listed as a table: 326 MB)",
        [["strided", False, {"stride": 640}], ["fixed", False, {"stride": 30000, "summary": 4}]],
        ["union", [0, 1]],
        53693,
        16,
    ),
    (
        "fixed(30,000, 4) ∪ fixed(7,000, 2) at 53,693, block 16 (both column sets listed as tables: 326 MB)",
        [["fixed", False, {"stride": 30000, "summary": 4}], ["fixed", False, {"stride": 7000, "summary": 2}]],
        ["union", [0, 1]],
        53693,
        16,
    ),
    (
        "strided(2) ∪ dilated(2^20, 2) ∪ dilated(20,000, 2) ∪ strided(8,191) at 32,763 (a fold priced, bitmaps: 36 s)",
        [
            ["strided", False, {"stride": 2}],
            ["dilated", False, {"window": 1048576, "dilation": 2}],
            ["dilated", False, {"window": 20000, "dilation": 2}],
            ["strided", False, {"stride": 8191}],
        ],
        ["union", [0, 1, 2, 3]],
        32763,
        4096,
    ),
    ("randomᶜ(9) at 930,256, block 9 (307 MB)", [["random", True, {"random_keys": 9, "seed": 573}]], 0, 930256, 9),
    (
        "strided(63) ∩ logsparse at 65",
        [["strided", False, {"stride": 63}], ["logsparse", True, {}]],
        ["intersection", [0, 1]],
        65,
        128,
    ),
    # the first edge search (seed 71, --edge): 25 intervals a row sorted by the engine, priced at a sorting network's
    # 2 passes; 0.79-1.00 s accepted at 40 M units
    (
        "a_shape ∪ windowᶜ(1,874) ∪ logsparseᶜ ∪ a_shape at 462,848 (a fold that is a sort: 1.00 s)",
        [
            ["a_shape", False, {"sinks": 998259, "window": 49}],
            ["window", True, {"window": 1874}],
            ["logsparse", True, {}],
            ["a_shape", False, {"sinks": 17510, "window": 960692}],
        ],
        ["union", [0, 1, 2, 3]],
        462848,
        128,
    ),
    # edge searches once the engine built every layout the budget accepts (its coarse guard had declined them):
    # neighborhood block layouts at 14-44 ns a unit of their price
    (
        "neighborhoodᶜ(992, 58) at 780,288, block 16 (its layout built: 0.95-1.03 s)",
        [["neighborhood", True, {"side": 992, "radius": 58}]],
        0,
        780288,
        16,
    ),
    (
        "neighborhoodᶜ(1,024, 20) at 137,216, block 1 (its layout built: 0.88 s)",
        [["neighborhood", True, {"side": 1024, "radius": 20}]],
        0,
        137216,
        1,
    ),
]


def build(layers, tree):
    """The expression of a request: layers combined as the tree says (an index is a layer)."""
    from sparse_core import make
    from sparse_core.patterns.base import Intersection, Union

    exprs = [make(name, causal, **params).expr() for name, causal, params in layers]

    def walk(node):
        if isinstance(node, int):
            return exprs[node]
        op, children = node
        parts = tuple(walk(c) for c in children)
        return Union(parts) if op == "union" else Intersection(parts)

    return walk(tree)


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: it survives exec, so a worker started by a parent of 53 MB
    (the search, after pricing its bisections) read 53 MB before doing anything, and so did the baseline."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(spec: dict) -> dict:
    """Run one request in this (fresh) process: check, then stats if accepted (or forced).

    torch is imported first for data-dependent layers, as the app server has it loaded (the Inspector and
    Lab use it; the engine's top-k selection calls torch.topk): its import (2-3 s CPU, ~200 MB here) is
    no part of a request. The
    request's own CPU and peak RSS above the process before it are reported; the caller adds the
    engine-only process baseline (python, numpy and the engine imported)."""
    from sparse_core import PATTERNS, PatternError, limits
    from sparse_core import explore as explorer

    out: dict = {}
    # this process's own start (python, numpy, the engine and this module), measured here rather than in a
    # separate process: it is taken at the same load as the request it is added to
    out["import_cpu_s"] = time.process_time()
    if any(PATTERNS[name].data_dependent for name, _, _ in spec["layers"]):
        import torch  # noqa: F401  (only data-dependent selection uses it; importing it costs 2-3 s CPU)

    expr = build(spec["layers"], spec["tree"])
    n, block = spec["n"], spec["block"]
    rss_before, cpu_before = _rss_mb(), time.process_time()
    start = time.process_time()
    try:
        cost = limits.check_budget(expr, n, block)
        out["verdict"] = "accepted"
        out["evals"], out["mem_pred_mb"] = cost.segment_evals, cost.memory_bytes / 2**20
    except PatternError as e:
        out["verdict"] = "refused"
        out["message"] = str(e)
        out["lower"] = "lower" in str(e)
    out["check_s"] = time.process_time() - start
    if out["verdict"] == "refused":  # the price a refusal saw, to set against the forced run's CPU
        try:
            cost = limits.predict_cost(expr, n, block)
            out["evals"], out["mem_pred_mb"] = cost.segment_evals, cost.memory_bytes / 2**20
        except PatternError:
            pass
    if out["verdict"] == "accepted" or spec.get("force"):
        run_start = time.process_time()
        if spec.get("force"):  # the process's own CPU so far (imports) plus FORCE_CPU_S for the request
            used = int(time.process_time()) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (used + FORCE_CPU_S, used + FORCE_CPU_S + 1))
            limits.check_budget = lambda *args, **kwargs: None  # past its refusal: what it would cost if accepted
        try:
            # the explorer's and the CLI's own call (stats, degree profile and mask view), not stats alone: the view
            # is part of what a user waits for (its block layout was declined for accepted requests, a 2026-12-07 run)
            s, _, _ = explorer.count(expr, n, block)
            # a stats whose block part the engine declined (analysis.BLOCK_MAX_WORK, its own coarse estimate) still
            # answers with exact element figures and says to change the block size: counted apart, not as over
            out["ran"] = "ok" if s.block_available else "block part declined"
        except PatternError as e:
            out["ran"] = "engine refused: " + str(e)[:80]
        except MemoryError:
            out["ran"] = "memory"
        out["run_s"] = time.process_time() - run_start
    out["cpu_s"] = time.process_time() - cpu_before
    out["rss_mb"] = max(0.0, _peak_rss_mb() - rss_before)
    return out


def run_worker(spec: dict, timeout: float = 60) -> dict:
    """Run the worker in a fresh process; a run killed by its CPU limit reports as over."""
    cmd = [sys.executable, "-m", "benchmarks.budget_search", "--worker", json.dumps(spec)]
    # one BLAS / OpenMP thread, as app.py and serve.py set it for the served app: on this 2-core machine under
    # load, OpenBLAS's own threads spin, and k-means at n = 4,096 measured 3.5 s CPU with them against 0.31 s
    # without (routing(1,000, 5), load 24)
    # and no huge pages for numpy's arrays, as the server sets (sparse_core/process.py: they gave 2-3x CPU tails)
    from sparse_core.process import SERVER_ENV

    env = {**SERVER_ENV, **os.environ}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"verdict": "timeout", "cpu_s": timeout, "rss_mb": 0, "check_s": timeout}
    if done.returncode != 0 or not done.stdout.strip():
        return {"verdict": "crashed", "cpu_s": FORCE_CPU_S, "rss_mb": 0, "check_s": 0, "err": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline() -> dict:
    """CPU and RSS of a worker doing nothing (imports only), the median of three, in the workers' environment.

    Started without it (numpy asking for huge pages) the imports read 42-48 MB where the workers' own read 34-35,
    and the difference was added to every request's memory: random(8) at 2^20, block 9 (258 MB above its start)
    was reported as 300-306 MB, over the promise, in three searches."""
    from sparse_core.process import SERVER_ENV

    code = (
        "import time, sparse_core; from benchmarks.budget_search import _peak_rss_mb; "
        "print(time.process_time(), _peak_rss_mb())"
    )
    cmd, env = [sys.executable, "-c", code], {**SERVER_ENV, **os.environ}
    runs = [subprocess.run(cmd, capture_output=True, text=True, env=env).stdout.split() for _ in range(3)]
    cpu, rss = sorted(float(r[0]) for r in runs)[1], sorted(float(r[1]) for r in runs)[1]
    return {"cpu_s": cpu, "rss_mb": rss}


# -- random requests ------------------------------------------------------------------------
def near_max(rng: random.Random, p) -> int:
    """A value near the parameter's maximum most of the time, anywhere in its range otherwise."""
    lo, hi = p.minimum, p.maximum
    if p.name == "seed":
        return rng.randrange(0, 1000)
    roll = rng.random()
    if roll < 0.4:
        return hi if rng.random() < 0.3 else max(lo, hi - rng.randrange(0, max(1, hi // 8) + 1))
    if roll < 0.7:  # log-uniform
        return int(min(hi, max(lo, round(2 ** rng.uniform(0, max(1, hi).bit_length())))))
    return rng.randint(lo, min(hi, max(lo, 64)))


def random_layer(rng: random.Random, structured_only: bool):
    from sparse_core import PATTERNS, PatternError, make

    names = [k for k, d in PATTERNS.items() if not (structured_only and d.data_dependent)]
    for _ in range(50):
        name = rng.choice(names)
        d = PATTERNS[name]
        params = {p.name: near_max(rng, p) for p in d.params}
        try:
            make(name, rng.random() < 0.5, **params)
        except PatternError:
            continue
        return [name, rng.random() < 0.5, params]
    return ["window", False, {}]


def random_tree(rng: random.Random, k: int):
    if k == 1:
        return 0
    idx = list(range(k))
    if k >= 3 and rng.random() < 0.5:  # nesting: a pair inside, the rest outside
        a, b = rng.sample(idx, 2)
        inner = [rng.choice(["union", "intersection"]), [a, b]]
        rest = [i for i in idx if i not in (a, b)]
        return [rng.choice(["union", "intersection"]), [inner, *rest]]
    return [rng.choice(["union", "intersection"]), idx]


def random_request(rng: random.Random) -> dict:
    from sparse_core import PATTERNS

    k = rng.choice([1, 1, 2, 2, 3, 4])
    layers = [random_layer(rng, structured_only=rng.random() < 0.85) for _ in range(k)]
    dense = any(PATTERNS[name].data_dependent for name, _, _ in layers)
    top = 12 if dense else 20
    n = int(min(1 << 20, max(1, round(2 ** rng.uniform(4, top)))))
    if rng.random() < 0.4:
        n = 1 << top
    block = rng.choice([1, 2, 16, 64, 128, 256, 1 << 20, rng.randint(1, 4096)])
    tree = random_tree(rng, k)
    names = " · ".join(f"{nm}{'ᶜ' if c else ''}({p})" for nm, c, p in layers)
    return {"label": _label(names, tree, n, block), "layers": layers, "tree": tree, "n": n, "block": block}


def _label(names: str, tree, n: int, block: int) -> str:
    return f"{names} tree={tree} n={n} B={block}"


def at_the_edge(spec: dict) -> list[dict]:
    """The request moved to the largest n the budget accepts, and the next n it refuses (found by bisection).

    Breaks and false refusals live at the budget's edge: a request drawn anywhere is mostly far inside or far
    past it (the probes that found what the random draws missed pushed each request to its largest accepted n).
    Returns the accepted and refused neighbours that exist: only the refused n = 1 where every n is refused, and no
    refused side where it is a data-dependent pattern's n cap (its forced run is refused by the engine's own check).
    The refused n is within n / 256 of the edge: the price moves that little between them."""
    from sparse_core import PatternError, limits
    from sparse_core.analysis import DATA_DEPENDENT_MAX_N

    expr, block, top = build(spec["layers"], spec["tree"]), spec["block"], spec["n"]

    def accepted(n: int) -> bool:  # priced here, in the parent: ~ms, nothing run
        try:
            limits.check_budget(expr, n, block)
            return True
        except PatternError:
            return False

    def bisect(lo: int, hi: int) -> tuple[int, int]:  # lo accepted (or 0), hi refused
        while hi - lo > max(1, lo // 256):
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if accepted(mid) else (lo, mid)
        return lo, hi

    if not accepted(top):
        lo, hi = bisect(0, top)
    elif top < 1 << 20 and not accepted(1 << 20):  # accepted as drawn: look above it
        lo, hi = bisect(top, 1 << 20)
    else:
        lo, hi = 1 << 20, None
    if hi and hi > DATA_DEPENDENT_MAX_N and expr.data_dependent:
        hi = None
    names = spec["label"].split(" tree=")[0]
    return [
        {**spec, "n": n, "label": f"{_label(names, spec['tree'], n, block)} ({side})"}
        for n, side in ((lo, "edge"), (hi, "past the edge"))
        if n
    ]


def evaluate(spec: dict, force_refused: bool, base: dict) -> dict:
    """One request in a fresh process (and again past its refusal); figures include the engine-only baseline."""
    res = run_worker(spec)
    res["label"] = spec["label"]
    if res["verdict"] in ("accepted", "refused"):
        res["cpu_s"] += res.get("import_cpu_s", base["cpu_s"])
        res["rss_mb"] += base["rss_mb"]
    if res["verdict"] == "refused" and force_refused:
        forced = run_worker({**spec, "force": True}, timeout=FORCE_CPU_S * 4 + 30)
        ok = forced.get("verdict") in ("accepted", "refused")
        res["forced_cpu_s"] = forced["cpu_s"] + forced.get("import_cpu_s", base["cpu_s"]) if ok else FORCE_CPU_S
        res["forced_rss_mb"] = forced["rss_mb"] + base["rss_mb"] if ok else 0
        res["forced_ran"] = forced.get("ran", forced.get("verdict"))
        res["false_refusal"] = (
            res["forced_ran"] == "ok" and res["forced_cpu_s"] <= CPU_LIMIT_S and res["forced_rss_mb"] <= RSS_LIMIT_MB
        )
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=100, help="random requests (after the pinned ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-force", action="store_true", help="do not run refused requests to find false refusals")
    parser.add_argument("--json", help="write every result here")
    parser.add_argument(
        "--edge",
        action="store_true",
        help="move each drawn request to the largest n the budget accepts, and run the next n it refuses too",
    )
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    rng = random.Random(args.seed)
    specs = [{"label": label, "layers": ly, "tree": tr, "n": n, "block": b} for label, ly, tr, n, b in PINNED]
    drawn = [random_request(rng) for _ in range(args.count)]
    specs += [edge for spec in drawn for edge in at_the_edge(spec)] if args.edge else drawn
    base = baseline()
    print(f"load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = []
    t0 = time.time()
    for i, spec in enumerate(specs):
        res = evaluate(spec, not args.no_force, base)
        results.append(res)
        if args.json:  # one line per request as it ends, so a long run cut short still has its results
            with open(args.json + "l", "a") as f:
                f.write(json.dumps(res) + "\n")
        print(
            f"[{i + 1}/{len(specs)}] {res['verdict']:8s} cpu {res['cpu_s']:.2f}s rss {res['rss_mb']:.0f}MB "
            f"check {res['check_s'] * 1000:.0f}ms {spec['label'][:110]}",
            flush=True,
        )
    report(results, base, time.time() - t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline": base, "results": results}, f, indent=1)


def report(results: list[dict], base: dict, wall: float) -> None:
    accepted = [r for r in results if r["verdict"] == "accepted"]
    refused = [r for r in results if r["verdict"] == "refused"]
    broken = [r for r in results if r["verdict"] not in ("accepted", "refused")]
    fine = ("ok", "block part declined")
    over = [r for r in accepted if r["cpu_s"] > CPU_LIMIT_S or r["rss_mb"] > RSS_LIMIT_MB or r.get("ran") not in fine]
    declined = [r for r in accepted if r.get("ran") == "block part declined"]
    slow_refusals = [r for r in refused if r["check_s"] > REFUSAL_LIMIT_S]
    false = [r for r in refused if r.get("false_refusal")]
    silent = [r for r in refused if not r.get("lower")]
    print()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} · wall {wall:.0f} s")
    starts = sorted(r["import_cpu_s"] for r in results if "import_cpu_s" in r)
    if starts:
        print(f"process start (each request's own, included in its CPU): {starts[0]:.2f}-{starts[-1]:.2f} s CPU")
    print(f"import baseline: {base['cpu_s']:.2f} s CPU, {base['rss_mb']:.0f} MB RSS (its RSS included in every figure)")
    print()
    print("| | count | worst |")
    print("|---|---|---|")
    if accepted:
        w = max(accepted, key=lambda r: r["cpu_s"])
        m = max(accepted, key=lambda r: r["rss_mb"])
        print(f"| accepted | {len(accepted)} | CPU {w['cpu_s']:.2f} s ({w['label'][:90]}) |")
        print(f"| accepted, memory | | {m['rss_mb']:.0f} MB ({m['label'][:90]}) |")
    if refused:
        s = max(refused, key=lambda r: r["check_s"])
        print(f"| refused | {len(refused)} | slowest {s['check_s'] * 1000:.0f} ms ({s['label'][:90]}) |")
    print(f"| accepted over 1 s / 300 MB or failing | {len(over)} | |")
    print(f"| refusals over 50 ms | {len(slow_refusals)} | |")
    print(f"| refusals without 'lower …' | {len(silent)} | |")
    print(f"| false refusals (ran ≤ 1 s, ≤ 300 MB) | {len(false)} | |")
    # a request that ran within half of both limits: no margin for load or for the price's error explains it
    clear = [r for r in false if r["forced_cpu_s"] <= CPU_LIMIT_S / 2 and r["forced_rss_mb"] <= RSS_LIMIT_MB / 2]
    print(f"| of which ran within half the limits (≤ 0.5 s, ≤ 150 MB) | {len(clear)} | |")
    print(f"| accepted, block part declined by the engine's own limit | {len(declined)} | |")
    print(f"| crashed or timed out | {len(broken)} | |")
    for title, rows in (("OVER", over), ("SLOW REFUSAL", slow_refusals), ("FALSE REFUSAL", false), ("BROKEN", broken)):
        for r in rows:
            forced = f" forced {r.get('forced_cpu_s', 0):.2f}s {r.get('forced_rss_mb', 0):.0f}MB"
            extra = forced if title == "FALSE REFUSAL" else ""
            print(
                f"{title}: cpu {r['cpu_s']:.2f}s rss {r['rss_mb']:.0f}MB check {r['check_s'] * 1000:.0f}ms{extra} "
                f"{r.get('ran', '')} {r.get('message', '')[:100]} :: {r['label']}"
            )


if __name__ == "__main__":
    main()
