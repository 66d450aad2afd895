"""The app's helpers, split by what they need.

- `ui.i18n`: the one catalog of UI text (no imports).
- `ui.figures`: Plotly figure builders; no Streamlit, usable from a notebook or a benchmark.
- `ui.chrome`: page chrome and language (Streamlit).
- `ui.widgets`: widgets generated from a pattern's ParamSpec (Streamlit).
"""
