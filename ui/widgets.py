"""Widgets generated from a pattern's parameter spec: adding a pattern adds no UI code."""

from __future__ import annotations

import numbers

import streamlit as st

from sparse_core import PatternError, get, make
from sparse_core.cost import DTYPE_BYTES
from sparse_core.scale import scale_to_n

from .chrome import PERSIST, keep_valid, pattern_summary, pattern_titles, show_error, tr
from .figures import human
from .i18n import STRINGS


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


def layer_card(i: int, prefix: str, names: list[str], causal: bool, specs: list, errors: list) -> None:
    """One pattern layer: picker, paper-defaults button, summary with reference, parameter widgets.

    Appends the layer's spec to `specs`, or its error to `errors` (shown inline under the widgets)."""
    with st.container(border=True):
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


def _aside(label: str, value: str, delta: str, help_text: str) -> None:
    st.metric(label, value, delta, delta_color="off", delta_arrow="off", help=help_text)


def numbers_panel(result, d_head: int) -> None:
    """The engine's exact counts for one exploration, each with its full figure on hover."""
    s, n = result.stats, result.config.n
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
    kept, total = f"{s.kept_blocks:,}", f"{s.n_blocks**2:,}"
    blocks_help = tr("ex.help_blocks", kept=kept, total=total, b=s.block_size, pairs=f"{s.executed_pairs:,}")
    waste = tr("ex.block_waste", w=f"{s.block_waste:.1%}")
    _aside(tr("ex.block_kernel"), human(s.flops_block, "FLOP"), waste, blocks_help)
    if not s.block_exact:
        st.caption(tr("ex.block_inexact"))
    kv = tr("ex.kv_bounded", t=f"{s.kv_tokens_sparse:,}") if result.kv_bounded else tr("ex.kv_unbounded")
    kv_help = tr(
        "ex.help_kv_dtype", t=f"{s.kv_tokens_sparse:,}", bytes=DTYPE_BYTES[result.kv_dtype], dtype=result.kv_dtype
    )
    _aside(tr("ex.kv"), human(result.kv_bytes, "B"), kv, kv_help)
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
