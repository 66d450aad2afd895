"""Widgets generated from a pattern's parameter spec: adding a pattern adds no UI code."""

from __future__ import annotations

import numbers

import streamlit as st

from sparse_core import PatternError, export, get, make
from sparse_core.cost import DTYPE_BYTES
from sparse_core.explore import export_plan
from sparse_core.scale import scale_to_n

from .chrome import PERSIST, error_text, keep_valid, pattern_summary, pattern_titles, show_error, tr
from .downloads import download_button
from .figures import human
from .i18n import STRINGS
from .safe import plain


def param_key(prefix: str, pattern: str, param: str) -> str:
    """Session-state key of one parameter widget."""
    return f"{prefix}_{pattern}_{param}"


def param_widgets(definition, prefix: str, columns: int = 2) -> dict:
    """One number input per ParamSpec (range, step and help from the spec); values persist under their keys."""
    values = {}
    cols = st.columns(columns)
    for i, p in enumerate(definition.params):
        key = param_key(prefix, definition.name, p.name)
        if not _usable(st.session_state.get(key), p):  # absent, or stale: out of range or of another type
            st.session_state[key] = p.default
        values[p.name] = cols[i % columns].number_input(
            tr(f"param.{p.name}") if f"param.{p.name}" in STRINGS else p.name,
            min_value=p.minimum,
            max_value=p.maximum,
            step=1 if p.kind is int else 0.1,
            help=tr(f"help.{definition.name}.{p.name}") if f"help.{definition.name}.{p.name}" in STRINGS else p.help,
            key=key,
            persist_state=PERSIST,
        )
    return values


def _usable(value, p) -> bool:
    """Whether a stored value can be handed to the parameter's number input (which raises otherwise)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if p.kind is int and not float(value).is_integer():
        return False
    return (p.minimum is None or value >= p.minimum) and (p.maximum is None or value <= p.maximum)


def reset_params(definition, prefix: str) -> None:
    """Put every parameter widget of a pattern back to its paper default."""
    for p in definition.params:
        st.session_state[param_key(prefix, definition.name, p.name)] = p.default


def param_values(prefix: str, name: str) -> dict:
    """A layer's parameters as its widgets hold them (defaults where a widget is not drawn yet)."""
    return {p.name: st.session_state.get(param_key(prefix, name, p.name), p.default) for p in get(name).params}


def _engine_word(key: str, english: str) -> str:
    """Engine text translated through the catalog; English when the catalog has no entry yet."""
    return tr(key) if key in STRINGS else english


def pattern_reference(name: str) -> str:
    """A pattern's paper reference in the session's language (engine text, translated by key)."""
    return _engine_word(f"ref.{name}", get(name).reference)


def pattern_complexity(name: str) -> str:
    """A pattern's complexity, its words translated (O(·) formulas read the same in every language)."""
    return _engine_word(f"cx.{name}", get(name).complexity)


def layer_card(i: int, prefix: str, names: list[str], causal: bool, specs: list, errors: list):
    """One pattern layer: picker, paper-defaults button, summary with reference, parameter widgets.

    Appends the layer's spec to `specs`, or its error to `errors` (shown inline under the widgets), and
    returns the card, for the page's own buttons."""
    card = st.container(border=True)
    with card:
        head, tail = st.columns([3, 1], vertical_alignment="bottom")
        keep_valid(f"{prefix}_pattern", names, "window")
        name = head.selectbox(
            tr("ex.layer", i=i + 1), names, key=f"{prefix}_pattern", format_func=pattern_titles(), persist_state=PERSIST
        )
        definition = get(name)
        tail.button(
            "↺",
            key=f"{prefix}_reset",
            on_click=reset_params,
            help=tr("ex.defaults"),
            args=(definition, prefix),
            use_container_width=True,
        )
        st.caption(
            f"{pattern_summary(name)}  \n{tr('ex.complexity')}: **{pattern_complexity(name)}** · "
            + tr("ex.reference", ref=pattern_reference(name))
        )
        values = param_widgets(definition, prefix)
        try:
            specs.append(make(name, causal, **values))
        except PatternError as e:
            errors.append(e)
            show_error(e)
    return card


def _aside(column, label: str, value: str, delta: str, help_text: str) -> None:
    column.metric(label, value, delta, delta_color="off", delta_arrow="off", help=help_text)


def numbers_panel(result, d_head: int, columns: int = 3) -> None:
    """The engine's exact counts for one exploration in a grid, each with its full figure on hover."""
    s, n = result.stats, result.config.n
    cells = st.columns(columns) + st.columns(columns)  # reading order: across, then down
    cells[0].metric(tr("ex.kept_pairs"), human(s.nnz), help=f"{s.nnz:,} / {n * n:,}")
    cells[1].metric(tr("ex.density"), f"{s.density:.4%}", help=f"{s.nnz:,} / {n * n:,} = {s.density:.10f}")
    _aside(
        cells[2],
        tr("ex.flops"),
        human(s.flops_sparse, "FLOP"),
        tr("ex.speedup", x=f"{s.speedup_ideal:,.1f}×"),
        tr("ex.help_flops", sparse=f"{s.flops_sparse:,}", dense=f"{s.flops_dense:,}", d=d_head),
    )
    _aside(
        cells[3],
        tr("ex.score_mem"),
        human(s.score_bytes_sparse, "B"),
        tr("ex.score_mem_delta", dense=human(s.score_bytes_dense, "B")),
        tr("ex.help_mem", sparse=f"{s.score_bytes_sparse:,}", dense=f"{s.score_bytes_dense:,}"),
    )
    kept, total = f"{s.kept_blocks:,}", f"{s.n_blocks**2:,}"
    blocks_help = tr("ex.help_blocks", kept=kept, total=total, b=s.block_size, pairs=f"{s.executed_pairs:,}")
    waste = tr("ex.block_waste", w=f"{s.block_waste:.1%}")
    _aside(cells[4], tr("ex.block_kernel"), human(s.flops_block, "FLOP"), waste, blocks_help)
    kv = tr("ex.kv_bounded", t=f"{s.kv_tokens_sparse:,}") if result.kv_bounded else tr("ex.kv_unbounded")
    kv_bytes = DTYPE_BYTES[result.kv_dtype]
    kv_help = tr("ex.help_kv_dtype", t=f"{s.kv_tokens_sparse:,}", bytes=kv_bytes, dtype=result.kv_dtype)
    _aside(cells[5], tr("ex.kv"), human(result.kv_bytes, "B"), kv, kv_help)
    if not s.block_exact:
        st.caption(tr("ex.block_inexact"))
    sparse, dense = human(s.softmax_flops_sparse, "FLOP"), human(s.softmax_flops_dense, "FLOP")
    st.caption(tr("ex.softmax_line", label=tr("ex.softmax"), sparse=sparse, dense=dense))


def scale_layers_to_n(prefixes: list[str], n: int, causal: bool) -> None:
    """Button callback: each layer's length parameters shrunk to n, written into its widgets."""
    for prefix in prefixes:
        name = st.session_state[f"{prefix}_pattern"]
        try:
            new = scale_to_n(name, param_values(prefix, name), n, causal).params
        except PatternError:
            continue
        for key, value in new.items():
            st.session_state[param_key(prefix, name, key)] = value


def comparison_row(s, complexity: str) -> dict[str, str]:
    """One compared pattern's column of the comparison table (engine Stats, formatted)."""
    return {
        tr("ex.kept_pairs"): f"{s.nnz:,}",
        tr("ex.density"): f"{s.density:.4%}",
        tr("ex.flops"): human(s.flops_sparse, "FLOP"),
        tr("ex.times_dense"): f"{s.speedup_ideal:,.1f}",
        tr("ex.block_kernel"): human(s.flops_block, "FLOP"),
        tr("ex.score_mem"): human(s.score_bytes_sparse, "B"),
        tr("ex.complexity"): complexity,
    }


# -- the explorer's export tab -----------------------------------------------------------------
DOWNLOADS_PER_ROW = 2  # five buttons in one row cut their labels
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


def _download(config, name: str, size: int | None) -> None:
    download_button(
        st,
        tr(DOWNLOAD_LABELS[name]) + (f" · {human(size, 'B')}" if size else ""),
        lambda: export.build_file(config, name),
        name,
        MIMES[name[name.rindex(".") :]],
        key=f"ex_dl_{name.replace('.', '_')}",
        use_container_width=True,
    )


def _flex_code(config, size: int | None, refused: PatternError | None) -> None:
    """The FlexAttention script inline when it is short; a long one is only offered for download."""
    st.markdown(f"**{tr('ex.flex_title')}**")
    if refused is not None:  # no button either: say why, never "use the download button"
        st.caption(tr("ex.flex_refused", msg=plain(error_text(refused))))
    elif size is not None and size > INLINE_CODE_BYTES:
        st.caption(tr("ex.flex_long", size=human(size, "B")))
    else:
        try:
            st.code(export.flex_snippet(config), language="python")
        except PatternError as e:
            show_error(e)


def export_panel(config) -> None:
    """The explorer's export tab: downloads (each built on click, sizes known before) and the FlexAttention code."""
    st.info(tr("ex.share"), icon="🔗")
    keep_valid("ex_image_format", ["png", "svg"], "png")
    st.radio(tr("ex.image_format"), ["png", "svg"], key="ex_image_format", horizontal=True, persist_state=PERSIST)
    plan = export_plan(config)  # one verdict per file, decided before any message: they agree with the buttons
    names = [x for x in plan.names if x in DOWNLOAD_LABELS]
    if plan.too_large:
        nb = -(-config.n // config.block)
        fields = dict(n=f"{config.n:,}", size=human(config.n**2, "B"), limit=f"{plan.dense_n:,}", nb=f"{nb:,}")
        layout_refused = plan.refused.get("block_layout.npy")
        if layout_refused is None:
            st.warning(tr("ex.too_large", **fields, b=config.block))
        else:
            reason = plain(error_text(layout_refused))
            st.warning(tr("ex.too_large_no_layout", **fields, b=config.block, reason=reason))
    elif plan.csv_limit:
        st.caption(tr("ex.csv_limit", limit=f"{plan.csv_n:,}"))
    offered = [x for x in names if plan.refused[x] is None]
    for name in names:  # a refusal said above (the layout) is not said twice
        if plan.refused[name] is not None and name not in ("block_layout.npy", "flex_mask.py"):
            st.caption(tr("ex.not_offered", name=name, msg=plain(error_text(plan.refused[name]))))
    for start in range(0, len(offered), DOWNLOADS_PER_ROW):
        for holder, name in zip(
            st.columns(DOWNLOADS_PER_ROW), offered[start : start + DOWNLOADS_PER_ROW], strict=False
        ):
            with holder:
                _download(config, name, plan.sizes.get(name))
    _flex_code(config, plan.sizes.get("flex_mask.py"), plan.refused.get("flex_mask.py"))
