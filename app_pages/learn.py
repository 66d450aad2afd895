"""Learn: a guided tour of sparse attention in nine live steps, in English and Chinese.

One function per step (`full_attention` ... `remembering`), listed in SECTIONS. Each step reads its
widgets, asks ui.learn_data (the engine's results, cached per process), and draws with ui.learn_figures; its captions
come from the facts those figure builders computed from the arrays they drew. The current step is
a widget bound to `?step=` (Streamlit keeps it in the URL and restores it on Back, Forward, Reload
and a return through the sidebar).
"""

from __future__ import annotations

import streamlit as st

from sparse_core import memory
from sparse_core.views import MaskView
from ui import lab_figures, learn_memory
from ui import learn_data as D
from ui import learn_figures as F
from ui.chrome import (
    DOWNLOAD_CONFIG,
    lang,
    own_query,
    page_link,
    pattern_title,
    pattern_titles,
    read_query,
    resend_after_language_switch,
    show_problems,
    tr,
)
from ui.figures import mask_image
from ui.query import QueryParam
from ui.safe import plain

STEPS = 9
LAB_PAGE, INSPECTOR_PAGE = "app_pages/lab.py", "app_pages/inspector.py"


def _thumbnails(names, n: int) -> None:
    """Small mask pictures that wrap to the width (four across on a desktop, two on a phone)."""
    grid = st.container(horizontal=True, gap="medium")
    for name in names:
        rgb, density = D.thumbnail(name, n)
        with grid.container(width=150, gap="small"):
            st.image(rgb, width="stretch", output_format="PNG")
            kept = tr("le.f4_kept", share=f"{density:.0%}")
            st.caption(f"**{pattern_title(name)}** · {D.complexity(name, lang())} · {kept}")


# -- the steps ----------------------------------------------------------------------------------
def full_attention() -> None:
    """Step 1: dense prefill memory against n, with three GPUs' memory."""
    n = st.select_slider(tr("le.f1_n"), D.N1, value=1 << 15, key="le_n1", format_func=lambda v: f"{v:,}")
    m = D.dense_memory(n)
    fig = F.memory_curve(m["ns"], m["total"], m["kv"], m["gpus"], n, m["now"], lang())
    st.plotly_chart(fig, key="le_fig1", config=DOWNLOAD_CONFIG)
    st.metric(tr("le.f1_metric", n=f"{n:,}"), memory.format_bytes(m["now"]))
    st.caption(tr("le.f1_parts", scores=memory.format_bytes(m["scores"]), kv=memory.format_bytes(m["cache"])))
    for name, budget, fits in m["fits"]:
        st.caption(tr("le.f1_fits", gpu=name, mem=memory.format_bytes(budget), n=f"{fits:,}"))


def tiny_weights() -> None:
    """Step 2: a real model's attention weights are mostly tiny."""
    with st.spinner(tr("le.loading")):
        lm, tokens, _ = D.dense_run()
    layer = st.slider(tr("le.f2_layer"), 0, lm.layers - 1, 2, key="le_layer2")
    edges, counts, share = D.weight_summary(layer)
    hist, weights = F.weight_histogram(edges, counts, lang())
    topk, top = F.topk_curve(share, D.TOP_K, lang())
    a, b = st.columns(2)
    a.markdown(f"**{tr('le.f2_hist')}**")  # titles above the charts wrap on a narrow column; Plotly's would be cut
    a.plotly_chart(hist, key="le_fig2a", config=DOWNLOAD_CONFIG)
    b.markdown(f"**{tr('le.f2_topk')}**")
    b.plotly_chart(topk, key="le_fig2b", config=DOWNLOAD_CONFIG)
    st.info(tr("le.f2_summary", tiny=f"{weights['tiny']:.0%}", k=top["k"], share=f"{top['share']:.0%}", n=top["n"]))
    with st.expander(tr("le.f2_text", n=f"{len(tokens.ids):,}", model=lm.info.title)):
        st.markdown(plain(D.STORY, limit=len(D.STORY)))  # an asset, but shown as text all the same


def pattern_graph() -> None:
    """Step 3: a pattern drawn as a graph and as its adjacency matrix."""
    names = ["window", "global", "random", "strided", "bigbird", "longformer"]
    name = st.selectbox(tr("le.f3_pattern"), names, key="le_pattern3", format_func=pattern_titles())
    n = 16
    mask = D.small_mask(name, n)
    graph, facts = F.pattern_graph(mask, lang())
    a, b = st.columns(2)
    a.plotly_chart(graph, key="le_fig3a", config=DOWNLOAD_CONFIG)
    picture = mask_image(MaskView(mask, False, 1, n), tr("le.f3_mask"), height=420, lang=lang())
    b.plotly_chart(picture, key="le_fig3b", config=DOWNLOAD_CONFIG)
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
    fig, facts = F.receptive_field(D.first_reach(name, n, query, depth), depth, query, lang())
    st.plotly_chart(fig, key="le_fig6", config=DOWNLOAD_CONFIG)
    st.caption(tr("le.f6_reach", **{k: f"{v:,}" for k, v in facts.items()}))
    needed = D.layers_needed(tuple(names), n)
    st.markdown(f"**{tr('le.f6_table', n=n)}**")
    st.dataframe(D.layers_table(names, needed, pattern_title, lang()), hide_index=True, key="le_table6")
    if any(k is None for k, _ in needed):
        st.caption(tr("le.f6_why"))


def gains() -> None:
    """Step 7: compute, score memory, decode cache and the longest one-pass prompt in 80 GiB, dense vs three."""
    n = st.select_slider(
        tr("le.f7_n"), [1 << e for e in range(12, 21)], value=1 << 17, key="le_n7", format_func=lambda v: f"{v:,}"
    )
    budget = memory.REFERENCE_GPU.memory_bytes
    with st.spinner(tr("le.computing")):
        rows, longest = D.gains(n), D.longest(budget)
    label = {name: tr("co.dense") if name == "dense" else pattern_title(name) for name in rows}
    # a plain table wraps its headers on a phone; a data grid would scroll and cut them
    st.table(D.gains_table(rows, longest, budget, label, lang()))
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
            longest=D.at_least(longest["streaming"]),
        )
    )


def price() -> None:
    """Step 8: attention mass kept, density and output cosine of six patterns on real text."""
    names = D.PRICE_PATTERNS
    with st.spinner(tr("le.loading")):
        n, kept = D.price(names)
    columns = [[kept[x][i] for x in names] for i in range(3)]  # mass kept, cosine, density
    fig, facts = F.price_bars([pattern_title(x) for x in names], *columns, n, lang())
    st.plotly_chart(fig, key="le_fig8", config=DOWNLOAD_CONFIG)
    st.caption(tr("le.f8_best", pattern=facts["best"], mass=f"{facts['mass']:.0%}", density=f"{facts['density']:.0%}"))
    st.page_link(LAB_PAGE, label=tr("le.f8_lab"), icon="🧪", query_params=D.LAB_QUERY)
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
    st.page_link(LAB_PAGE, label=tr("le.f9_lab"), icon="🧪", query_params=D.memory_link(about))


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


resend_after_language_switch("le", ["le_pattern3", "le_pattern6"])  # pickers whose labels are translated
tour()
