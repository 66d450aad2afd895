"""Widgets generated from a pattern's parameter spec: adding a pattern adds no UI code."""

from __future__ import annotations

import numbers

import streamlit as st

from .chrome import PERSIST, tr
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
