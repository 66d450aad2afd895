"""Pattern Explorer: pick, see, count, compare, export, share.

The page reads widgets -> engine -> figure in named sections: URL state, controls, the engine call
(after its predicted cost is checked), then one section per tab. Only the open tab runs (lazy tabs),
the zoom tile is a fragment, and a download file is built only when its button is clicked.
"""

from __future__ import annotations

import uuid

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sparse_core import PATTERNS, PatternError, analysis, export, get, make
from sparse_core.cost import stats
from sparse_core.export import Config, format_layers, parse_layers
from sparse_core.views import MaskView, degree_profile, mask_view
from ui.chrome import (
    DOWNLOAD_CONFIG,
    PERSIST,
    error_text,
    keep_valid,
    lang,
    option_labels,
    pattern_summary,
    pattern_title,
    pattern_titles,
    read_query,
    show_error,
    show_problems,
    tr,
    url_is_new,
    write_query,
)
from ui.figures import human, mask_image, short_n
from ui.query import QueryParam
from ui.safe import plain
from ui.widgets import param_key, param_widgets, reset_params

try:  # the per-request budget (engine); absent in older engines, where nothing is checked up front
    from sparse_core import limits
except ImportError:  # pragma: no cover
    limits = None

BLOCK_OPTIONS = [16, 32, 64, 128, 256]
N_OPTIONS = [16, 32, 64, 100, 128, 256, 500, 512, 1000, 1024, 2048, 4096, 8192, 10_000, 16_384, 32_768]
N_OPTIONS += [65_536, 100_000, 131_072, 262_144, 524_288, 1_000_000, 1_048_576]
NAMES = list(PATTERNS)
OPS = ("union", "intersection")
D_HEADS = [32, 64, 128, 256]
DEFAULT_PATTERN = "longformer(window=256,global_tokens=1)"
SPECS = [
    QueryParam("n", "choice", 4096, choices=N_OPTIONS),
    QueryParam("causal", "bool", False),
    QueryParam("pattern", "pattern", DEFAULT_PATTERN),
    QueryParam("block", "choice", 128, choices=BLOCK_OPTIONS),
    QueryParam("op", "choice", "union", choices=OPS),
    QueryParam("d_head", "choice", 64, choices=D_HEADS),
]
URL_NAMES = [spec.name for spec in SPECS]
DENSE_SHARE = 0.9  # above this share of the pairs a model could attend, a pattern is announced as dense
SCALED_SHARE = 0.5  # "scale to n" shrinks until at most this share is kept
# Parameters measured in tokens: scaling to n shrinks these and keeps counts (of blocks, of random keys).
LENGTHS = ("window", "stride", "block", "global_tokens", "sinks", "summary", "k", "vertical", "slash", "last_q")
CSV_MAX_N = getattr(getattr(limits, "Budget", None), "csv_n", 2048)
LAYOUT_MAX_BLOCKS = analysis.DENSE_MAX_N
TABS = ("ex.tab_mask", "ex.tab_compare", "ex.tab_export")
COMPARE_PER_ROW = 2


# -- state: URL <-> widgets ----------------------------------------------------------------
def _new_layer(name: str = "window", params: dict | None = None) -> str:
    lid = uuid.uuid4().hex[:6]
    st.session_state[f"ex_{lid}_pattern"] = name
    for key, value in (params or {}).items():
        st.session_state[param_key(f"ex_{lid}", name, key)] = value
    return lid


def _load_from_url() -> None:
    """Widgets start from the URL, each bad value replaced by its default with a message."""
    values, problems = read_query(SPECS)
    st.session_state.ex_url_problems = problems
    st.session_state.update(ex_n=values["n"], ex_causal=values["causal"], ex_block=values["block"], ex_op=values["op"])
    st.session_state.ex_d_head = values["d_head"]
    st.session_state.ex_layers = [_new_layer(s.name, s.params) for s in values["pattern"]]


def _layers_text() -> str:
    """The layers as the widgets show them, in the URL's form, even when the engine refuses them."""
    parts = []
    for lid in st.session_state.ex_layers:
        name = st.session_state[f"ex_{lid}_pattern"]
        prefix = f"ex_{lid}"
        values = ",".join(
            f"{p.name}={st.session_state.get(param_key(prefix, name, p.name), p.default)}" for p in get(name).params
        )
        parts.append(f"{name}({values})")
    return "+".join(parts)


def _sync_url(n: int, causal: bool, block: int, d_head: int, layers_text: str) -> None:
    """The URL says what the widgets show (a refused combination too: its link then explains the refusal)."""
    op = st.session_state.get("ex_op", "union") if len(st.session_state.ex_layers) > 1 else "union"
    write_query(
        "ex",
        {
            "pattern": layers_text,
            "n": str(n),
            "causal": "1" if causal else "0",
            "op": op,
            "block": str(block),
            "d_head": str(d_head),
        },
    )


def _add_layer() -> None:
    st.session_state.ex_layers.append(_new_layer("global"))


def _remove_layer(lid: str) -> None:
    st.session_state.ex_layers.remove(lid)


def allowed_pairs(specs, op: str, n: int) -> int:
    """Pairs a model could attend: the causal triangle when the combination is causal, else n²."""
    causal = any(s.causal for s in specs) if op == "intersection" else all(s.causal for s in specs)
    return n * (n + 1) // 2 if causal else n * n


def scaled_params(name: str, params: dict, causal: bool, n: int, share_of) -> dict:
    """The same pattern shrunk to n: halve every length parameter together until at most SCALED_SHARE is kept.

    `share_of(spec)` gives the share of allowed pairs a spec keeps at n (the engine counts it).
    Counts (blocks, random keys, top-k blocks) stay; a length never drops below its minimum or to 0.
    """
    definition = get(name)
    current = dict(params)
    for _ in range(24):
        spec = make(name, causal, **current)
        if share_of(spec) <= SCALED_SHARE:
            break
        shrunk = dict(current)
        for p in definition.params:
            if p.name in LENGTHS and current[p.name] > max(1, p.minimum):
                shrunk[p.name] = max(1, p.minimum, current[p.name] // 2)
        if "summary" in shrunk and "stride" in shrunk:
            shrunk["summary"] = min(shrunk["summary"], shrunk["stride"])
        if shrunk == current:
            break
        try:
            make(name, causal, **shrunk)
        except PatternError:
            break
        current = shrunk
    return current


def _scale_to_n(n: int, causal: bool) -> None:
    """Button callback: each layer's length parameters shrunk to n, written into its widgets."""
    for lid in st.session_state.ex_layers:
        name = st.session_state[f"ex_{lid}_pattern"]
        prefix = f"ex_{lid}"
        params = {p.name: st.session_state.get(param_key(prefix, name, p.name), p.default) for p in get(name).params}

        def share_of(spec):
            kept = int(analysis.row_degree(spec.expr(), n).sum())
            return kept / allowed_pairs([spec], "union", n)

        try:
            new = scaled_params(name, params, causal, n, share_of)
        except PatternError:
            continue
        for key, value in new.items():
            st.session_state[param_key(prefix, name, key)] = value


# -- cached engine calls -------------------------------------------------------------------
def _check_budget(expr, n: int, block: int, what: str = "stats") -> None:
    if limits is not None:
        limits.check_budget(expr, n, block, what=what)


@st.cache_data(max_entries=64, show_spinner=False)
def _analyse(layers_text: str, op: str, causal: bool, n: int, block: int, d_head: int):
    config = Config(parse_layers(layers_text, causal), n, op, block, causal)
    expr = config.expr()
    analysis.check_n(n, expr)
    _check_budget(expr, n, block)
    deg = analysis.row_degree(expr, n)
    s = stats(expr, n, block, d_head, degrees=deg)
    return s, degree_profile(deg), mask_view(expr, n)


@st.cache_data(max_entries=16, show_spinner=False)
def _tile(layers_text: str, op: str, causal: bool, n: int, r0: int, c0: int, size: int):
    config = Config(parse_layers(layers_text, causal), n, op, 128, causal)
    return analysis.mask_tile(config.expr(), n, r0, r0 + size, c0, c0 + size)


def _build_file(config: Config, name: str) -> bytes:
    """One download file, built when its button is clicked (export.build_file where the engine has it)."""
    if hasattr(export, "build_file"):
        return export.build_file(config, name)
    if name == "pattern.json":  # pragma: no cover - engines before build_file
        return config.to_json().encode()
    if name == "flex_mask.py":  # pragma: no cover
        return export.flex_snippet(config).encode()
    return export.downloads(config)[name]  # pragma: no cover


# -- controls --------------------------------------------------------------------------------
def _layer_card(i: int, lid: str, causal: bool, specs: list, errors: list) -> None:
    """One pattern layer: picker, paper-defaults button, summary, parameter widgets."""
    with st.container(border=True):
        head, tail = st.columns([3, 1], vertical_alignment="bottom")
        keep_valid(f"ex_{lid}_pattern", NAMES, "window")
        name = head.selectbox(
            tr("ex.layer", i=i + 1), NAMES, key=f"ex_{lid}_pattern", format_func=pattern_titles(), persist_state=PERSIST
        )
        definition = get(name)
        tail.button(
            "↺",
            key=f"ex_{lid}_reset",
            on_click=reset_params,
            help=tr("ex.defaults"),
            args=(definition, f"ex_{lid}"),
            use_container_width=True,
        )
        st.caption(
            f"{pattern_summary(name)}  \n"
            f"{tr('ex.complexity')}: **{definition.complexity}** · " + tr("ex.reference", ref=definition.reference)
        )
        values = param_widgets(definition, f"ex_{lid}")
        try:
            specs.append(make(name, causal, **values))
        except PatternError as e:
            errors.append(e)
            show_error(e)
        if len(st.session_state.ex_layers) > 1:
            st.button(tr("ex.remove"), key=f"ex_{lid}_remove", on_click=_remove_layer, args=(lid,))


def _controls():
    """The left column: n, causal, the layers, how they combine, block size and head size."""
    keep_valid("ex_n", N_OPTIONS, 4096)
    keep_valid("ex_block", BLOCK_OPTIONS, 128)
    keep_valid("ex_op", OPS, "union")
    keep_valid("ex_d_head", D_HEADS, 64)
    n = st.select_slider(tr("ex.n"), N_OPTIONS, key="ex_n", format_func=short_n, persist_state=PERSIST)
    causal = st.toggle(tr("ex.causal"), key="ex_causal", help=tr("ex.causal_help"), persist_state=PERSIST)
    specs, errors = [], []
    for i, lid in enumerate(st.session_state.ex_layers):
        _layer_card(i, lid, causal, specs, errors)
    if len(st.session_state.ex_layers) < 4:
        st.button(tr("ex.add"), on_click=_add_layer, use_container_width=True)
    if len(st.session_state.ex_layers) > 1:
        st.radio(tr("ex.op"), OPS, key="ex_op", format_func=option_labels(lambda o: f"ex.{o}"), persist_state=PERSIST)
    left, right = st.columns(2)
    block = left.select_slider(
        tr("ex.block"), BLOCK_OPTIONS, key="ex_block", help=tr("ex.block_help"), persist_state=PERSIST
    )
    d_head = right.select_slider(tr("ex.d_head"), D_HEADS, key="ex_d_head", persist_state=PERSIST)
    op = st.session_state.get("ex_op", "union") if len(specs) > 1 else "union"
    return specs, errors, Config(specs, n, op, block, causal), d_head


# -- the mask tab ----------------------------------------------------------------------------
def _dense_note(s, config: Config) -> None:
    """Say so when the pattern keeps (nearly) every pair it could at this n, and offer to shrink it."""
    share = s.nnz / allowed_pairs(config.layers, config.op, config.n)
    if share <= DENSE_SHARE:
        return
    st.warning(tr("ex.dense_note", share=f"{share:.1%}", n=f"{config.n:,}"), icon="⚠️")
    st.button(
        tr("ex.scale_button", n=short_n(config.n)),
        key="ex_scale",
        on_click=_scale_to_n,
        args=(config.n, config.causal),
        help=tr("ex.scale_help"),
        type="primary",
    )


def _mask_figure(view, n: int, nnz: int) -> None:
    if not view.pooled:
        st.caption(tr("ex.token_view", n=f"{n:,}"))
    else:
        st.caption(tr("ex.pooled_view" if view.exact_density else "ex.pooled_binary", b=f"{view.block:,}"))
    image_format = st.session_state.get("ex_image_format", "png")
    st.plotly_chart(
        mask_image(view, lang=lang(), nnz=nnz),
        key="ex_mask",
        config={
            **DOWNLOAD_CONFIG,
            "toImageButtonOptions": {"format": image_format, "scale": 2, "filename": "sparse-mask"},
        },
    )


def _aside(label: str, value: str, delta: str, help_text: str) -> None:
    st.metric(label, value, delta, delta_color="off", delta_arrow="off", help=help_text)


def _numbers(s, n: int, block: int, d_head: int) -> None:
    """The engine's exact counts, each with its full figure on hover."""
    st.metric(tr("ex.kept_pairs"), human(s.nnz), help=f"{s.nnz:,} / {n * n:,}")
    st.metric(tr("ex.density"), f"{s.density:.4%}", help=f"{s.nnz:,} / {n * n:,} = {s.density:.10f}")
    _aside(
        tr("ex.flops"),
        human(s.flops_sparse, "FLOP"),
        tr("ex.speedup", x=f"{s.speedup_ideal:,.1f}×"),
        tr("ex.help_flops", sparse=f"{s.flops_sparse:,}", dense=f"{s.flops_dense:,}", d=d_head),
    )
    _aside(
        tr("ex.score_mem"),
        human(s.score_bytes_sparse, "B"),
        tr("ex.score_mem_delta", dense=human(s.score_bytes_dense, "B")),
        tr("ex.help_mem", sparse=f"{s.score_bytes_sparse:,}", dense=f"{s.score_bytes_dense:,}"),
    )
    blocks_help = tr(
        "ex.help_blocks", kept=f"{s.kept_blocks:,}", total=f"{s.n_blocks**2:,}", b=block, pairs=f"{s.executed_pairs:,}"
    )
    _aside(
        tr("ex.block_kernel"), human(s.flops_block, "FLOP"), tr("ex.block_waste", w=f"{s.block_waste:.1%}"), blocks_help
    )
    if not s.block_exact:
        st.caption(tr("ex.block_inexact"))
    kv = tr("ex.kv_bounded", t=f"{s.kv_tokens_sparse:,}") if s.kv_tokens_sparse < n else tr("ex.kv_unbounded")
    kv_bytes = s.kv_tokens_sparse * 2 * d_head * 2  # K and V, fp16
    _aside(tr("ex.kv"), human(kv_bytes, "B"), kv, tr("ex.help_kv", t=f"{s.kv_tokens_sparse:,}"))
    softmax = tr(
        "ex.softmax_line",
        label=tr("ex.softmax"),
        sparse=human(s.softmax_flops_sparse, "FLOP"),
        dense=human(s.softmax_flops_dense, "FLOP"),
    )
    st.caption(softmax)


def _degree_chart(profile) -> None:
    """Min, mean and max keys per query over the sequence."""
    st.markdown(f"**{tr('ex.degree')}**")
    edge = dict(mode="lines", line=dict(width=0))
    band = go.Figure(
        [
            go.Scatter(x=profile.start, y=profile.high, **edge, showlegend=False, hoverinfo="skip"),
            go.Scatter(
                x=profile.start,
                y=profile.low,
                **edge,
                fill="tonexty",
                name=tr("ex.degree_range"),
                fillcolor="rgba(49,51,145,0.2)",
            ),
            go.Scatter(
                x=profile.start,
                y=profile.mean,
                mode="lines",
                name=tr("ex.degree_mean"),
                line=dict(color="rgb(49,51,145)"),
            ),
        ]
    )
    band.update_layout(
        height=280,
        margin=dict(l=10, r=10, t=30, b=10),  # the top band belongs to the chart's toolbar
        xaxis_title=tr("fig.query"),
        yaxis_title=tr("ex.degree_axis"),
        # below the axis title: above the plot it ran under the toolbar, which a phone shows at all times
        legend=dict(orientation="h", yanchor="top", y=-0.35, x=0),
    )
    band.update_xaxes(exponentformat="SI")
    band.update_yaxes(exponentformat="SI")
    st.plotly_chart(band, key="ex_degree", config=DOWNLOAD_CONFIG)


@st.fragment
def _zoom(layers_text: str, op: str, causal: bool, n: int) -> None:
    """An exact token-level tile anywhere in the mask; its inputs rerun only this fragment."""
    sizes = [16, 32, 64, 128, 256, 512]
    keep_valid("ex_zoom_size", sizes, 64)
    if "ex_zoom_size" not in st.session_state:
        st.session_state.ex_zoom_size = 64
    size = st.select_slider(tr("ex.zoom_size"), sizes, key="ex_zoom_size", persist_state=PERSIST)
    size = min(size, n)
    z1, z2 = st.columns(2)
    for key in ("ex_zoom_r", "ex_zoom_c"):  # absent, or a corner kept from a larger n: the middle of this one
        if not 0 <= st.session_state.get(key, -1) <= n - size:
            st.session_state[key] = min(n - size, n // 2)
    r0 = int(z1.number_input(tr("ex.zoom_row"), 0, n - size, "min", key="ex_zoom_r", persist_state=PERSIST))
    c0 = int(z2.number_input(tr("ex.zoom_col"), 0, n - size, "min", key="ex_zoom_c", persist_state=PERSIST))
    tile = _tile(layers_text, op, causal, n, r0, c0, size)
    fig = mask_image(MaskView(tile, False, 1, size), height=380, lang=lang())
    ticks = list(range(0, size, max(1, size // 8)))
    fig.update_xaxes(tickvals=ticks, ticktext=[str(c0 + v) for v in ticks])
    fig.update_yaxes(tickvals=ticks, ticktext=[str(r0 + v) for v in ticks])
    st.plotly_chart(fig, key="ex_zoom_fig", config=DOWNLOAD_CONFIG)


def mask_tab(config: Config, s, profile, view, d_head: int) -> None:
    """Figure and numbers side by side, then the degree profile and the zoom."""
    fig_col, num_col = st.columns([1.35, 1])
    with fig_col:
        _dense_note(s, config)
        _mask_figure(view, config.n, s.nnz)
    with num_col:
        _numbers(s, config.n, config.block, d_head)
    _degree_chart(profile)
    zoom = st.expander(tr("ex.zoom"), key="ex_zoom_open", on_change="rerun")
    if zoom.open:  # a closed expander builds no tile
        with zoom:
            _zoom(format_layers(config.layers), config.op, config.causal, config.n)


# -- the compare tab -------------------------------------------------------------------------
def _compare_column(title: str, text: str, op: str, config: Config, d_head: int, key: str, complexity: str):
    """One compared pattern: its figure (with a dense note) and its table row; None if it cannot run."""
    try:
        with st.spinner(tr("ex.computing", n=f"{config.n:,}")):
            cs, _, cview = _analyse(text, op, config.causal, config.n, config.block, d_head)
    except PatternError as e:
        show_error(f"{title}: {error_text(e)}")
        return None
    share = cs.nnz / allowed_pairs(parse_layers(text, config.causal), op, config.n)
    figure = mask_image(cview, title, height=340, lang=lang(), nnz=cs.nnz, compact=True)
    st.plotly_chart(figure, key=key, config=DOWNLOAD_CONFIG)
    if share > DENSE_SHARE:
        st.caption(tr("ex.dense_short", share=f"{share:.1%}"))
    return {
        tr("ex.kept_pairs"): f"{cs.nnz:,}",
        tr("ex.density"): f"{cs.density:.4%}",
        tr("ex.flops"): human(cs.flops_sparse, "FLOP"),
        tr("ex.times_dense"): f"{cs.speedup_ideal:,.1f}",
        tr("ex.block_kernel"): human(cs.flops_block, "FLOP"),
        tr("ex.score_mem"): human(cs.score_bytes_sparse, "B"),
        tr("ex.complexity"): complexity,
    }


def compare_tab(config: Config, d_head: int) -> None:
    """The user's own pattern first, then up to three library patterns at their paper defaults."""
    default = [x for x in ("longformer", "bigbird", "streaming") if x in NAMES]
    chosen = st.multiselect(
        tr("ex.compare_pick"),
        NAMES,
        default=default,
        max_selections=3,
        key="ex_compare",
        format_func=pattern_titles(),
        persist_state=PERSIST,
    )
    yours = tr("ex.your_pattern")
    complexity = " / ".join(dict.fromkeys(get(s.name).complexity for s in config.layers))
    columns = [(yours, format_layers(config.layers), config.op, "ex_cmp_yours", complexity)]
    columns += [
        (pattern_title(x), format_layers([make(x, config.causal)]), "union", f"ex_cmp_{x}", get(x).complexity)
        for x in chosen
    ]
    rows = {}
    # two masks a row: four in one row were ~50 px wide each, their titles and colour bars cut
    for start in range(0, len(columns), COMPARE_PER_ROW):
        pair = columns[start : start + COMPARE_PER_ROW]
        for col, (title, text, op, key, cx) in zip(st.columns(COMPARE_PER_ROW), pair, strict=False):
            with col:
                row = _compare_column(title, text, op, config, d_head, key, cx)
                if row is not None:
                    rows[title] = row
    if rows:
        st.dataframe(pd.DataFrame(rows), key="ex_compare_table")


# -- the export tab --------------------------------------------------------------------------
DOWNLOAD_LABELS = {
    "mask.npy": "ex.dl_npy",
    "mask_packed.npy": "ex.dl_packed",
    "mask.csv": "ex.dl_csv",
    "block_layout.npy": "ex.dl_layout",
    "pattern.json": "ex.dl_json",
    "flex_mask.py": "ex.dl_flex",
}
MIMES = {".npy": "application/octet-stream", ".csv": "text/csv", ".json": "application/json", ".py": "text/x-python"}
INLINE_CODE_BYTES = 64_000  # a longer script (embedded index tables) is offered, not printed


def _file_names(config: Config) -> list[str]:
    if hasattr(export, "file_names"):
        return [name for name in export.file_names(config) if name in DOWNLOAD_LABELS]
    masks = ["mask.npy"] + (["mask.csv"] if config.n <= CSV_MAX_N else [])
    return (masks if config.n <= analysis.DENSE_MAX_N else ["block_layout.npy"]) + ["pattern.json", "flex_mask.py"]


def _refusal(config: Config, name: str) -> PatternError | None:
    """The engine's budget verdict on building `name`, predicted before offering its button."""
    if name == "pattern.json" or limits is None:
        return None
    dense = name.startswith("mask") or (name == "flex_mask.py" and config.n <= analysis.DENSE_MAX_N)
    if name == "block_layout.npy" and -(-config.n // config.block) > LAYOUT_MAX_BLOCKS:
        smallest = next((b for b in BLOCK_OPTIONS if -(-config.n // b) <= LAYOUT_MAX_BLOCKS), BLOCK_OPTIONS[-1])
        nb = f"{-(-config.n // config.block):,}"
        return PatternError(tr("ex.layout_limit", nb=nb, limit=f"{LAYOUT_MAX_BLOCKS:,}", b=smallest))
    try:
        limits.check_budget(config.expr(), config.n, config.block, what="dense" if dense else "layout")
    except PatternError as e:
        return e
    return None


def _download(column, config: Config, name: str, size: int | None, refused: PatternError | None) -> None:
    label = tr(DOWNLOAD_LABELS[name]) + (f" · {human(size, 'B')}" if size else "")
    if refused is not None:
        column.caption(tr("ex.not_offered", name=name, msg=plain(error_text(refused))))
        return
    column.download_button(
        label,
        lambda: _build_file(config, name),
        name,
        MIMES[name[name.rindex(".") :]],
        key=f"ex_dl_{name.replace('.', '_')}",
        on_click="ignore",
    )


def _flex_code(config: Config, size: int | None, refused: PatternError | None) -> None:
    """The FlexAttention script inline when it is short; a long one is only offered for download."""
    st.markdown(f"**{tr('ex.flex_title')}**")
    if refused is not None:  # no button either: say why, never "use the download button"
        st.caption(tr("ex.flex_refused", msg=plain(error_text(refused))))
        return
    if size is not None and size > INLINE_CODE_BYTES:
        st.caption(tr("ex.flex_long", size=human(size, "B")))
        return
    try:
        st.code(export.flex_snippet(config), language="python")
    except PatternError as e:
        show_error(e)


def export_tab(config: Config) -> None:
    """Downloads (each built on click, sizes known before) and the FlexAttention code."""
    st.info(tr("ex.share"), icon="🔗")
    keep_valid("ex_image_format", ["png", "svg"], "png")
    st.radio(tr("ex.image_format"), ["png", "svg"], key="ex_image_format", horizontal=True, persist_state=PERSIST)
    n, block = config.n, config.block
    names = _file_names(config)
    sizes = export.file_sizes(config) if hasattr(export, "file_sizes") else {}
    # one verdict per file, decided before any message: the messages then agree with what is offered
    refused = {name: _refusal(config, name) for name in names}
    if n > analysis.DENSE_MAX_N:
        nb = -(-n // block)
        fields = dict(n=f"{n:,}", size=human(n * n, "B"), limit=f"{analysis.DENSE_MAX_N:,}", nb=f"{nb:,}", b=block)
        layout_refused = refused.get("block_layout.npy")
        if layout_refused is None:
            st.warning(tr("ex.too_large", **fields))
        else:
            st.warning(tr("ex.too_large_no_layout", **fields, reason=plain(error_text(layout_refused))))
            names = [x for x in names if x != "block_layout.npy"]  # said once, above
    elif "mask.csv" not in names:
        st.caption(tr("ex.csv_limit", limit=f"{CSV_MAX_N:,}"))
    for column, name in zip(st.columns(len(names)), names, strict=True):
        _download(column, config, name, sizes.get(name), refused[name])
    _flex_code(config, sizes.get("flex_mask.py"), refused.get("flex_mask.py"))


# -- the page --------------------------------------------------------------------------------
if "ex_layers" not in st.session_state or url_is_new("ex", URL_NAMES):
    _load_from_url()

st.title(tr("ex.title"))
st.caption(tr("ex.lead"))
show_problems(st.session_state.pop("ex_url_problems", []))

controls, results = st.columns([1, 2.2], gap="large")
with controls:
    specs, errors, config, d_head = _controls()
_sync_url(config.n, config.causal, config.block, d_head, _layers_text())
if errors:
    with results:
        show_error(errors[0])
    st.stop()

layers_text = format_layers(specs)
try:
    with results, st.spinner(tr("ex.computing", n=f"{config.n:,}")):  # top of the results: seconds at 1M
        s, profile, view = _analyse(layers_text, config.op, config.causal, config.n, config.block, d_head)
except PatternError as e:
    with results:
        show_error(e)
    st.stop()

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
        mask_tab(config, s, profile, view, d_head)
if tab_compare.open:
    with tab_compare:
        compare_tab(config, d_head)
if tab_export.open:
    with tab_export:
        export_tab(config)
