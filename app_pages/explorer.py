"""Pattern Explorer: pick, see, count, compare, export, share.

Widgets -> one engine call (sparse_core.explore) -> figures from ui.figures, in named sections: URL
state, controls, then one section per tab. Only the open tab runs (lazy tabs), the zoom tile is a
fragment, and a download file is built only when its button is clicked.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sparse_core import PatternError, export
from sparse_core.explore import TILE_SIZES, Exploration, compare, explore, explore_tile, tile_corner
from sparse_core.export import Config, format_layers
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    end_page,
    error_text,
    keep_valid,
    lang,
    option_labels,
    pattern_title,
    pattern_titles,
    read_query,
    resend_after_language_switch,
    show_error,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.explorer_state import (
    BLOCK_OPTIONS,
    COMPARE_DEFAULT,
    COMPARE_PER_ROW,
    D_HEADS,
    KV_DTYPE,
    MASK_PX,
    N_OPTIONS,
    NAMES,
    OPS,
    SPECS,
    TABS,
    URL_NAMES,
    config_of,
    from_url,
    layer_state,
    to_url,
    view_caption,
)
from ui.figures import degree_band, mask_image, short_n, tile_image
from ui.widgets import comparison_row, export_panel, layer_card, numbers_panel, param_values, scale_layers_to_n


# -- state: URL <-> widgets ----------------------------------------------------------------
def _new_layer(name: str = "window", params: dict | None = None) -> str:
    lid, entries = layer_state(name, params)
    st.session_state.update(entries)
    return lid


def _load_from_url() -> None:
    """Widgets start from the URL, each bad value replaced by its default with a message."""
    values, problems = read_query(SPECS)
    st.session_state.update(from_url(values), ex_url_problems=problems)


def _layers_text() -> str:
    """The layers as the widgets show them, in the URL's form, even when the engine refuses them."""
    parts = []
    for lid in st.session_state.ex_layers:
        name = st.session_state[f"ex_{lid}_pattern"]
        values = ",".join(f"{k}={v}" for k, v in param_values(f"ex_{lid}", name).items())
        parts.append(f"{name}({values})")
    return "+".join(parts)


def _add_layer() -> None:
    st.session_state.ex_layers.append(_new_layer("global"))


def _remove_layer(lid: str) -> None:
    st.session_state.ex_layers.remove(lid)


# -- cached engine calls -------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _explore(layers_text: str, op: str, causal: bool, n: int, block: int, d_head: int) -> Exploration:
    return explore(config_of(layers_text, op, causal, n, block), d_head, KV_DTYPE)


@st.cache_data(max_entries=16, show_spinner=False)
def _compare(layers_text: str, op: str, causal: bool, n: int, block: int, d_head: int, names: tuple[str, ...]):
    own = _explore(layers_text, op, causal, n, block, d_head)  # the mask tab's, from the cache
    return compare(config_of(layers_text, op, causal, n, block), list(names), d_head, own)


@st.cache_data(max_entries=16, show_spinner=False)
def _tile(layers_text: str, op: str, causal: bool, n: int, row0: int, col0: int, size: int):
    return explore_tile(config_of(layers_text, op, causal, n, 128), row0, col0, size)


# -- controls --------------------------------------------------------------------------------
def _controls():
    """The left column: n, causal, the layers, how they combine, block size and head size."""
    keep_valid("ex_n", N_OPTIONS, 4096)
    keep_valid("ex_block", BLOCK_OPTIONS, 128)
    keep_valid("ex_op", OPS, "union")
    keep_valid("ex_d_head", D_HEADS, 64)
    n = st.select_slider(tr("ex.n"), N_OPTIONS, key="ex_n", format_func=short_n, persist_state=PERSIST)
    causal = st.toggle(tr("ex.causal"), key="ex_causal", help=tr("ex.causal_help"), persist_state=PERSIST)
    specs, errors = [], []
    several = len(st.session_state.ex_layers) > 1
    for i, lid in enumerate(st.session_state.ex_layers):
        card = layer_card(i, f"ex_{lid}", NAMES, causal, specs, errors)
        if several:
            card.button(tr("ex.remove"), key=f"ex_{lid}_remove", on_click=_remove_layer, args=(lid,))
    if len(st.session_state.ex_layers) < export.MAX_LAYERS:
        st.button(tr("ex.add"), on_click=_add_layer, use_container_width=True)
    if several:
        st.radio(tr("ex.op"), OPS, key="ex_op", format_func=option_labels(lambda o: f"ex.{o}"), persist_state=PERSIST)
    left, right = st.columns(2)
    block = left.select_slider(
        tr("ex.block"), BLOCK_OPTIONS, key="ex_block", help=tr("ex.block_help"), persist_state=PERSIST
    )
    d_head = right.select_slider(tr("ex.d_head"), D_HEADS, key="ex_d_head", persist_state=PERSIST)
    op = st.session_state.get("ex_op", "union") if several else "union"
    return specs, errors, Config(specs, n, op, block, causal), d_head


def _scale_to_n(n: int, causal: bool) -> None:
    """Button callback: each layer's length parameters shrunk to n, written into its widgets."""
    scale_layers_to_n([f"ex_{lid}" for lid in st.session_state.ex_layers], n, causal)


# -- the mask tab ----------------------------------------------------------------------------
def _dense_note(result: Exploration) -> None:
    """Say so when the pattern keeps (nearly) every pair it could at this n, and offer to shrink it."""
    if not result.dense:
        return
    config = result.config
    st.warning(tr("ex.dense_note", share=f"{result.share:.1%}", n=f"{config.n:,}"), icon="⚠️")
    st.button(
        tr("ex.scale_button", n=short_n(config.n)),
        key="ex_scale",
        on_click=_scale_to_n,
        args=(config.n, config.causal),
        help=tr("ex.scale_help"),
        type="primary",
    )


def _mask_figure(result: Exploration) -> None:
    key, fields = view_caption(result.view)
    st.caption(tr(key, **fields))
    image = {"format": st.session_state.get("ex_image_format", "png"), "scale": 2, "filename": "sparse-mask"}
    figure = mask_image(result.view, height=MASK_PX, lang=lang(), nnz=result.stats.nnz)
    st.plotly_chart(figure, key="ex_mask", config={**DOWNLOAD_CONFIG, "toImageButtonOptions": image})


@st.fragment
def _zoom(layers_text: str, op: str, causal: bool, n: int) -> None:
    """An exact token-level tile anywhere in the mask; its inputs rerun only this fragment."""
    keep_valid("ex_zoom_size", TILE_SIZES, 64)
    st.session_state.setdefault("ex_zoom_size", 64)
    size = min(st.select_slider(tr("ex.zoom_size"), TILE_SIZES, key="ex_zoom_size", persist_state=PERSIST), n)
    z1, z2 = st.columns(2)
    for key in ("ex_zoom_r", "ex_zoom_c"):  # absent, or a corner kept from a larger n: the middle of this one
        st.session_state[key] = tile_corner(n, size, st.session_state.get(key))
    r0 = int(z1.number_input(tr("ex.zoom_row"), 0, n - size, "min", key="ex_zoom_r", persist_state=PERSIST))
    c0 = int(z2.number_input(tr("ex.zoom_col"), 0, n - size, "min", key="ex_zoom_c", persist_state=PERSIST))
    tile = _tile(layers_text, op, causal, n, r0, c0, st.session_state.ex_zoom_size)
    st.plotly_chart(tile_image(tile, lang()), key="ex_zoom_fig", config=DOWNLOAD_CONFIG)


def mask_tab(result: Exploration, d_head: int) -> None:
    """The mask, its numbers in a grid under it, then the degree profile and the zoom."""
    config = result.config
    _dense_note(result)
    # the whole width: the mask is square and its colour bar and axes take ~155 px, so beside the
    # numbers a 16Ki mask was drawn ~240 px wide on a desktop
    _mask_figure(result)
    numbers_panel(result, d_head)
    st.markdown(f"**{tr('ex.degree')}**")
    st.plotly_chart(degree_band(result.profile, lang()), key="ex_degree", config=DOWNLOAD_CONFIG)
    # An expander has no persist_state: its open state is kept beside it, so a round trip reopens it.
    if "ex_zoom_open" not in st.session_state:
        st.session_state.ex_zoom_open = st.session_state.get("ex_zoom_kept", False)
    zoom = st.expander(tr("ex.zoom"), key="ex_zoom_open", on_change="rerun")
    st.session_state.ex_zoom_kept = zoom.open
    if zoom.open:  # a closed expander builds no tile
        with zoom:
            _zoom(format_layers(config.layers), config.op, config.causal, config.n)


# -- the compare tab -------------------------------------------------------------------------
def compare_tab(config: Config, d_head: int) -> None:
    """The user's own pattern first, then up to three library patterns at their paper defaults."""
    chosen = st.multiselect(
        tr("ex.compare_pick"),
        NAMES,
        max_selections=3,
        key="ex_compare",
        format_func=pattern_titles(),
        persist_state=PERSIST,
    )
    with st.spinner(tr("ex.computing", n=f"{config.n:,}")):
        text = format_layers(config.layers)
        columns = _compare(text, config.op, config.causal, config.n, config.block, d_head, tuple(chosen))
    rows = {}
    for start in range(0, len(columns), COMPARE_PER_ROW):
        pair = columns[start : start + COMPARE_PER_ROW]
        for holder, column in zip(st.columns(COMPARE_PER_ROW), pair, strict=False):
            title = pattern_title(column.name) if column.name else tr("ex.your_pattern")
            with holder:
                if column.result is None:
                    show_error(f"{title}: {error_text(column.error)}")
                    continue
                r = column.result
                figure = mask_image(r.view, title, height=340, lang=lang(), nnz=r.stats.nnz, compact=True)
                st.plotly_chart(figure, key=f"ex_cmp_{column.name or 'yours'}", config=DOWNLOAD_CONFIG)
                if r.dense:
                    st.caption(tr("ex.dense_short", share=f"{r.share:.1%}"))
            rows[title] = comparison_row(r.stats, column.complexity)
    if rows:
        st.dataframe(pd.DataFrame(rows), key="ex_compare_table")


# -- the page --------------------------------------------------------------------------------
if "ex_layers" not in st.session_state or url_is_new("ex", URL_NAMES):
    _load_from_url()
st.session_state.setdefault("ex_compare", COMPARE_DEFAULT)
layer_pickers = [f"ex_{lid}_pattern" for lid in st.session_state.ex_layers]
resend_after_language_switch("ex", ["ex_op", "ex_compare", *layer_pickers])

st.title(tr("ex.title"))
st.caption(tr("ex.lead"))
show_problems(st.session_state.pop("ex_url_problems", []))

controls, results = st.columns([1, 2.2], gap="large")
with controls:
    specs, errors, config, d_head = _controls()
write_query("ex", to_url(_layers_text(), config, d_head))  # a refused combination too: its link explains it
if errors:
    with results:
        show_error(errors[0])
    end_page()

try:
    with results, st.spinner(tr("ex.computing", n=f"{config.n:,}")):  # top of the results: seconds at 1M
        result = _explore(format_layers(specs), config.op, config.causal, config.n, config.block, d_head)
except PatternError as e:
    with results:
        show_error(e)
    end_page()

with results:
    labels = [tr(k) for k in TABS]
    # Tabs have no persist_state: the open tab's index is kept beside them, so that a round trip or a
    # language switch (which renames the tabs) reopens it.
    if st.session_state.get("ex_tab") not in labels:
        st.session_state.ex_tab = labels[st.session_state.get("ex_tab_index", 0)]
    tab_mask, tab_compare, tab_export = st.tabs(labels, key="ex_tab", on_change="rerun")
    st.session_state.ex_tab_index = labels.index(st.session_state.ex_tab)
if tab_mask.open:
    with tab_mask:
        mask_tab(result, d_head)
if tab_compare.open:
    with tab_compare:
        compare_tab(config, d_head)
if tab_export.open:
    with tab_export:
        export_panel(config)
