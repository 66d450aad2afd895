"""Learn: a guided tour of sparse attention in nine live steps, in English and Chinese.

One function per step (`full_attention` ... `remembering`), listed in SECTIONS. Each step reads its
widgets, asks the engine (cached per process), and draws with ui.learn_figures; its captions
come from the facts those figure builders computed from the arrays they drew. The current step is
a widget bound to `?step=` (Streamlit keeps it in the URL and restores it on Back, Forward, Reload
and a return through the sidebar). Memory arithmetic comes from sparse_core.memory, the same numbers
as the Cost & Speed page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from sparse_core import analysis, make, memory, models
from sparse_core import attention as A
from sparse_core.cost import MODEL_PRESETS
from sparse_core.reach import layers_to_connect, reachability
from sparse_core.scaling import curve
from sparse_core.views import MaskView
from ui import lab_figures, learn_memory
from ui import learn_figures as F
from ui.chrome import (
    DOWNLOAD_CONFIG,
    lang,
    own_query,
    page_link,
    pattern_title,
    pattern_titles,
    read_query,
    show_problems,
    tr,
)
from ui.figures import human, mask_image
from ui.i18n import STRINGS
from ui.query import QueryParam
from ui.safe import plain

STEPS = 9
STORY = (Path(__file__).parents[1] / "assets" / "examples" / "en_story.txt").read_text(encoding="utf-8")
MODEL_7B = MODEL_PRESETS["Llama-2-7B"]
N1 = [1 << e for e in range(10, 21)]
GAIN_PATTERNS = ("mistral", "bigbird", "streaming")
THUMB_PX = 256  # thumbnails are upscaled to about this many pixels, nearest neighbour
TOP_K = 8  # step 2's summary: the share of mass in each query's top 8 keys
LAB_PAGE, INSPECTOR_PAGE = "app_pages/lab.py", "app_pages/inspector.py"


# -- engine results, cached per process -------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _dense_run():
    lm = models.load("minilm")
    tokens = A.tokenize(lm, STORY, 256)
    return lm, tokens, A.forward(lm, tokens.ids)


@st.cache_data(show_spinner=False, max_entries=8)
def _weight_summary(layer: int):
    """Step 2's data for one layer: log-spaced bin edges, weight counts per bin, mean top-k share for every k."""
    _, _, dense = _dense_run()
    weights = np.asarray(dense.attentions[layer], dtype=np.float32)  # (H, T, T)
    edges = np.logspace(-6, 0, 49)
    counts, _ = np.histogram(np.clip(weights.ravel(), 1e-6, 1), bins=edges)
    ranked = -np.sort(-weights, axis=-1)  # each row sorted high to low
    share = np.cumsum(ranked, axis=-1).mean(axis=(0, 1))  # (T,) mean share held by the top-k keys
    return edges, counts, share


@st.cache_resource(show_spinner=False)
def _price(names: tuple[str, ...]):
    lm, tokens, _ = _dense_run()
    out = {}
    for name in names:
        result = A.compare(lm, tokens, _small(name, len(tokens.ids)).expr())
        out[name] = (float(result.mass_kept.mean()), float(result.cosine.mean()), float(result.keep.mean()))
    return len(tokens.ids), out


def _small(name: str, n: int):
    """Each pattern scaled to a small n so that its structure is visible."""
    w = max(2, n // 16)
    params = {
        "window": {"window": w},
        "dilated": {"window": max(1, w // 2), "dilation": 2},
        "global": {"global_tokens": max(1, n // 32)},
        "block": {"block": max(2, n // 8)},
        "random": {"random_keys": max(1, n // 32)},
        "lsh": {"buckets": 4},
        "topk": {"k": max(1, n // 16)},
        "longformer": {"window": w, "global_tokens": max(1, n // 64)},
        "bigbird": {"block": max(2, n // 16), "random_blocks": 2, "global_blocks": 1},
        "strided": {"stride": max(2, int(np.sqrt(n)))},
        "fixed": {"stride": max(2, n // 8), "summary": max(1, n // 32)},
        "streaming": {"sinks": max(1, n // 64), "window": w},
    }[name]
    return make(name, **params)


@st.cache_data(show_spinner=False, max_entries=64)
def _small_mask(name: str, n: int) -> np.ndarray:
    return analysis.dense_mask(_small(name, n).expr(), n)


@st.cache_data(show_spinner=False, max_entries=64)
def _thumbnail(name: str, n: int) -> tuple[np.ndarray, float]:
    """A mask as an RGB picture, upscaled without smoothing, and the share of its pixels that are kept."""
    return F.thumbnail(_small_mask(name, n), THUMB_PX)


def _groups(mask: np.ndarray) -> int:
    """How many groups of tokens the pattern joins, ignoring direction: more than one means 'never connected'."""
    n = mask.shape[0]
    linked = mask | mask.T | np.eye(n, dtype=bool)
    reach = linked
    while True:  # boolean closure: at most log2(n) squarings
        nxt = (reach.astype(np.float32) @ reach.astype(np.float32)) > 0
        if np.array_equal(nxt, reach):
            return len({row.tobytes() for row in np.packbits(reach, axis=1)})
        reach = nxt


@st.cache_data(show_spinner=False)
def _layers_needed(names: tuple[str, ...], n: int) -> list[tuple[int | None, int]]:
    """Per pattern: layers to connect every pair (None: never) and the groups the pattern splits tokens into."""
    out = []
    for name in names:
        mask = _small_mask(name, n)
        out.append((layers_to_connect(mask, causal=_small(name, n).causal), _groups(mask)))
    return out


@st.cache_data(show_spinner=False)
def _gains(n: int) -> dict[str, tuple[float, float, float, int]]:
    """Step 7 at one n: (prefill FLOPs, one layer's score bytes, decode KV cache bytes, cache tokens) per pattern."""
    rows = {}
    for name in GAIN_PATTERNS:
        point = curve(make(name).expr(), MODEL_7B, [n])[0]
        m, s = point.model, point.stats
        if not rows:  # the dense baseline is the same whatever the pattern
            rows["dense"] = (
                m["prefill_flops_dense"],
                m["score_bytes_dense_per_layer"],
                m["kv_cache_bytes_dense"],
                s.kv_tokens_dense,
            )
        rows[name] = (
            m["prefill_flops_sparse"],
            m["score_bytes_sparse_per_layer"],
            m["kv_cache_bytes_sparse"],
            s.kv_tokens_sparse,
        )
    return rows


@st.cache_data(show_spinner=False)
def _longest(budget_bytes: int) -> dict[str, int]:
    """Step 7: the longest prompt whose one-pass prefill fits the budget; it does not depend on the slider's n."""
    out = {"dense": memory.largest_dense_n(MODEL_7B, budget_bytes)}
    for name in GAIN_PATTERNS:
        out[name] = memory.largest_n(make(name).expr(), MODEL_7B, budget_bytes, sparse=True)
    return out


def complexity(name: str) -> str:
    """A pattern's complexity: the engine's formula, or the catalog's words where it has words."""
    return tr(f"cx.{name}") if f"cx.{name}" in STRINGS else make(name).definition.complexity


def _at_least(n: int) -> str:
    return ("≥ " if n >= memory.MAX_N else "") + f"{n:,}"


def _thumbnails(names, n: int) -> None:
    """Small mask pictures that wrap to the width (four across on a desktop, two on a phone)."""
    grid = st.container(horizontal=True, gap="medium")
    for name in names:
        rgb, density = _thumbnail(name, n)
        with grid.container(width=150, gap="small"):
            st.image(rgb, width="stretch", output_format="PNG")
            st.caption(f"**{pattern_title(name)}** · {complexity(name)} · {tr('le.f4_kept', share=f'{density:.0%}')}")


# -- the steps ----------------------------------------------------------------------------------
def full_attention() -> None:
    """Step 1: dense prefill memory against n, with three GPUs' memory."""
    n = st.select_slider(tr("le.f1_n"), N1, value=1 << 15, key="le_n1", format_func=lambda v: f"{v:,}")
    ns = np.array(N1, dtype=float)
    now = int(memory.dense_prefill_bytes(MODEL_7B, n))
    gpus = [(gpu.name, gpu.memory_bytes) for gpu in memory.GPUS]
    fig = F.memory_curve(
        ns,
        memory.dense_prefill_bytes(MODEL_7B, ns),
        memory.kv_cache_bytes(MODEL_7B, ns),
        gpus,
        n,
        now,
        lang(),
    )
    st.plotly_chart(fig, key="le_fig1", config=DOWNLOAD_CONFIG)
    scores, cache = memory.score_bytes_per_layer(MODEL_7B, n), memory.kv_cache_bytes(MODEL_7B, n)
    st.metric(tr("le.f1_metric", n=f"{n:,}"), memory.format_bytes(now))
    st.caption(tr("le.f1_parts", scores=memory.format_bytes(scores), kv=memory.format_bytes(cache)))
    for name, budget in gpus:
        fits = memory.largest_dense_n(MODEL_7B, budget)
        st.caption(tr("le.f1_fits", gpu=name, mem=memory.format_bytes(budget), n=f"{fits:,}"))


def tiny_weights() -> None:
    """Step 2: a real model's attention weights are mostly tiny."""
    with st.spinner(tr("le.loading")):
        lm, tokens, _ = _dense_run()
    layer = st.slider(tr("le.f2_layer"), 0, lm.layers - 1, 2, key="le_layer2")
    edges, counts, share = _weight_summary(layer)
    hist, weights = F.weight_histogram(edges, counts, lang())
    topk, top = F.topk_curve(share, TOP_K, lang())
    a, b = st.columns(2)
    a.markdown(f"**{tr('le.f2_hist')}**")  # titles above the charts wrap on a narrow column; Plotly's would be cut
    a.plotly_chart(hist, key="le_fig2a", config=DOWNLOAD_CONFIG)
    b.markdown(f"**{tr('le.f2_topk')}**")
    b.plotly_chart(topk, key="le_fig2b", config=DOWNLOAD_CONFIG)
    st.info(tr("le.f2_summary", tiny=f"{weights['tiny']:.0%}", k=top["k"], share=f"{top['share']:.0%}", n=top["n"]))
    with st.expander(tr("le.f2_text", n=f"{len(tokens.ids):,}", model=lm.info.title)):
        st.markdown(plain(STORY, limit=len(STORY)))  # an asset, but shown as text all the same


def pattern_graph() -> None:
    """Step 3: a pattern drawn as a graph and as its adjacency matrix."""
    names = ["window", "global", "random", "strided", "bigbird", "longformer"]
    name = st.selectbox(tr("le.f3_pattern"), names, key="le_pattern3", format_func=pattern_titles())
    n = 16
    mask = _small_mask(name, n)
    graph, facts = F.pattern_graph(mask, lang())
    a, b = st.columns(2)
    a.plotly_chart(graph, key="le_fig3a", config=DOWNLOAD_CONFIG)
    b.plotly_chart(
        mask_image(MaskView(mask, False, 1, n), tr("le.f3_mask"), height=420, lang=lang()),
        key="le_fig3b",
        config=DOWNLOAD_CONFIG,
    )
    st.caption(tr("le.f3_counts", edges=facts["edges"], loops=facts["loops"], cells=facts["cells"], n=n))


def families() -> None:
    """Step 4: one thumbnail per family of patterns."""
    n = st.select_slider(tr("le.f4_n"), [32, 64, 128], value=64, key="le_n4")
    _thumbnails(["window", "dilated", "global", "block", "random", "lsh", "topk"], n)


def published() -> None:
    """Step 5: the published designs as thumbnails."""
    _thumbnails(["longformer", "bigbird", "strided", "fixed", "streaming"], 128)


def receptive_field() -> None:
    """Step 6: the layer at which each key first reaches a query, and layers to connect every pair."""
    n = 64
    names = ["window", "dilated", "longformer", "bigbird", "strided", "block"]
    a, b, c = st.columns(3)
    name = a.selectbox(tr("le.f3_pattern"), names, key="le_pattern6", format_func=pattern_titles())
    query = b.slider(tr("le.f6_query"), 0, n - 1, n // 2, key="le_query6")
    depth = c.slider(tr("le.f6_layers"), 1, 12, 4, key="le_layers6")
    reach = reachability(_small_mask(name, n), depth)
    first = np.full(n, np.nan)
    for layer in range(depth, 0, -1):
        first[reach[layer - 1][query]] = layer
    fig, facts = F.receptive_field(first, depth, query, lang())
    st.plotly_chart(fig, key="le_fig6", config=DOWNLOAD_CONFIG)
    st.caption(tr("le.f6_reach", **{k: f"{v:,}" for k, v in facts.items()}))
    needed = _layers_needed(tuple(names), n)
    rows = [
        {
            tr("le.f3_pattern"): pattern_title(other),
            tr("le.f6_layers_col"): tr("le.f6_never", groups=groups) if k is None else str(k),
        }
        for other, (k, groups) in zip(names, needed, strict=True)
    ]
    st.markdown(f"**{tr('le.f6_table', n=n)}**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="le_table6")
    if any(k is None for k, _ in needed):
        st.caption(tr("le.f6_why"))


def gains() -> None:
    """Step 7: compute, score memory, decode cache and the longest one-pass prompt in 80 GiB, dense vs three."""
    n = st.select_slider(
        tr("le.f7_n"), [1 << e for e in range(12, 21)], value=1 << 17, key="le_n7", format_func=lambda v: f"{v:,}"
    )
    budget = memory.REFERENCE_GPU.memory_bytes
    with st.spinner(tr("le.computing")):
        rows, longest = _gains(n), _longest(budget)
    label = {name: tr("co.dense") if name == "dense" else pattern_title(name) for name in rows}
    table = pd.DataFrame(
        {
            label[name]: {
                tr("le.f7_compute"): human(f, "FLOP"),
                tr("le.f7_memory"): memory.format_bytes(m),
                tr("le.f7_cache"): tr("le.f7_cache_cell", tokens=f"{tokens:,}", bytes=memory.format_bytes(kv)),
                tr("le.f7_context", mem=memory.format_bytes(budget)): _at_least(longest[name]),
            }
            for name, (f, m, kv, tokens) in rows.items()
        }
    ).T
    st.table(table)  # a plain table wraps its headers on a phone; a data grid would scroll and cut them
    fig, _ = F.gains_bars([label[k] for k in rows], [rows[k][0] for k in rows], lang())
    st.plotly_chart(fig, key="le_fig7", config=DOWNLOAD_CONFIG)
    _, scores, kv, tokens = rows["streaming"]
    st.caption(
        tr(
            "le.f7_streaming",
            pattern=label["streaming"],
            tokens=f"{tokens:,}",
            bytes=memory.format_bytes(kv),
            n=f"{n:,}",
            scores=memory.format_bytes(scores),
            longest=_at_least(longest["streaming"]),
        )
    )


def price() -> None:
    """Step 8: attention mass kept, density and output cosine of six patterns on real text."""
    names = ("window", "longformer", "bigbird", "streaming", "random", "topk")
    with st.spinner(tr("le.loading")):
        n, kept = _price(names)
    fig, facts = F.price_bars(
        [pattern_title(x) for x in names],
        [kept[x][0] for x in names],
        [kept[x][1] for x in names],
        [kept[x][2] for x in names],
        n,
        lang(),
    )
    st.plotly_chart(fig, key="le_fig8", config=DOWNLOAD_CONFIG)
    st.caption(tr("le.f8_best", pattern=facts["best"], mass=f"{facts['mass']:.0%}", density=f"{facts['density']:.0%}"))
    st.page_link(
        LAB_PAGE,
        label=tr("le.f8_lab"),
        icon="🧪",
        query_params={
            "model": "smollm2",
            "text": "keeper_of_the_light",
            "tokens": "512",
            "patterns": "window,streaming,bigbird",
            "budgets": "0.05,0.1,0.25",
            "y": "ppl_change",
        },
    )
    st.caption(tr("lab.learn_link"))
    page_link(INSPECTOR_PAGE, label=tr("le.f8_inspector"), icon="🔬")  # with the Inspector's state, as in the sidebar


def remembering() -> None:
    """Step 9: the same patterns at one budget, measured fluent (perplexity) and remembering (passkeys), from the
    grid the engine computed once (ui.learn_memory); every number shown is read from that data."""
    try:
        data, titles = learn_memory.load(), pattern_titles()
    except (OSError, ValueError):  # a checkout without the grid (it is made by `python -m ui.learn_memory`)
        st.info(tr("le.f9_missing"))
        return
    about, memory_rows = data["about"], data["memory"]
    fig, facts = F.fluent_vs_memory(data["fluency"], memory_rows, titles, lang())
    st.plotly_chart(fig, key="le_fig9a", config=DOWNLOAD_CONFIG)
    st.caption(tr("le.f9_caption", **facts))
    heat, _ = lab_figures.memory_heatmaps(memory_rows, titles, lang(), columns=2)
    st.plotly_chart(heat, key="le_fig9b", config=DOWNLOAD_CONFIG)
    lengths = " / ".join(f"{n:,}" for n in about["lengths"])
    depths, trials = len(about["depths"]), about["trials"]
    model = tr(f"in.model_{about['model']}")
    st.caption(
        tr("le.f9_source", model=model, trials=trials, depths=depths, lengths=lengths, tokens=f"{about['tokens']:,}")
    )
    st.page_link(
        LAB_PAGE,
        label=tr("le.f9_lab"),
        icon="🧪",
        query_params={
            "model": about["model"],
            "patterns": ",".join(about["patterns"]),
            "budgets": f"{about['budget']:g}",
            "view": "memory",
            "task": about["task"],
            "lengths": "256,512",
            "depths": ",".join(f"{d:g}" for d in about["depths"]),
            "trials": "1",
        },
    )


SECTIONS = [
    full_attention,
    tiny_weights,
    pattern_graph,
    families,
    published,
    receptive_field,
    gains,
    price,
    remembering,
]
STEP_PARAM = QueryParam("step", "int", 1, minimum=1, maximum=STEPS, max_length=16)
LAST_STEP = "le_last_step"  # plain session state: survives the widget, which Streamlit drops off the page
RESTORE, RESTORED = "le_restore_step", "le_restored"


# -- the tour ----------------------------------------------------------------------------------
def _go(delta: int) -> None:
    st.session_state.step = min(STEPS, max(1, (st.session_state.step or 1) + delta))


def _arrive() -> list[str]:
    """On arriving at the page, the step to show: the link's `?step=` when it is valid (the binding
    seeds the widget from it), else the step this session last showed (first visit: 1).

    Streamlit drops a page's bound parameters when the user leaves it, in history entries of their own,
    so Back from another page returns to a Learn URL without `?step=`; the step is kept here, in plain
    session state, for exactly that. A bad value is said once, in plain text."""
    if RESTORE in st.session_state:  # a rerun asked for below: now a code-set value, which the URL follows
        st.session_state.step = st.session_state.pop(RESTORE)
        return []
    if "step" in st.session_state:  # staying on the page: the widget owns the step
        return []
    problems = read_query([STEP_PARAM])[1]
    if "step" not in st.query_params or problems:
        st.session_state.step = st.session_state.get(LAST_STEP, 1)
    return problems


def _navigation(step: int) -> None:
    prev, nxt = st.columns(2)
    prev.button(tr("le.prev"), on_click=_go, args=(-1,), disabled=step == 1, width="stretch", key="le_prev")
    nxt.button(
        tr("le.next"), on_click=_go, args=(1,), disabled=step == STEPS, width="stretch", key="le_next", type="primary"
    )


def tour() -> None:
    """The page: title, step picker, the step's text and navigation beside its live figure."""
    own_query((STEP_PARAM.name,))  # Streamlit keeps the page one left's parameters; only ?step= is Learn's
    problems = _arrive()
    st.title(tr("le.title"))
    st.caption(tr("le.lead"))
    show_problems(problems)
    # bound to ?step= (digits, the same in both languages): Streamlit keeps the URL equal to the widget,
    # and Back, Forward and Reload restore it. No default option, so step 1 is written too (a bound
    # value equal to the default is left out of the URL, and a URL without ?step= means "the step this
    # session last showed", see _arrive)
    step = st.radio(
        tr("le.step"),
        list(range(1, STEPS + 1)),
        index=None,
        key="step",
        horizontal=True,
        format_func=str,
        captions=[tr(f"le.s{s}").split(" · ", 1)[-1] for s in range(1, STEPS + 1)],
        bind="query-params",
    )
    if step is None and not st.session_state.get(RESTORED):
        # Back/Forward to an entry without ?step= (or ?step= empty): Streamlit resets a bound widget to
        # its default there, over any value set before the call, so the remembered step is set on a rerun
        st.session_state[RESTORE] = st.session_state.get(LAST_STEP, 1)
        st.session_state[RESTORED] = True  # once: a second None shows the remembered step, never a loop
        st.rerun()
    st.session_state[RESTORED] = False
    step = st.session_state[LAST_STEP] = step or st.session_state.get(LAST_STEP, 1)
    text, figure = st.columns([1, 1.8], gap="large")
    with text:
        st.subheader(tr(f"le.s{step}"))
        st.markdown(tr(f"le.t{step}"))
        _navigation(step)
    with figure:
        SECTIONS[step - 1]()


tour()
