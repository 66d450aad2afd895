"""Configurations as text (URLs, JSON) and as ready-to-run FlexAttention code: one import for callers.

- `config`: Config and the layer grammar (`parse_layers`, `format_layers`, `config_from_dict`).
- `flex_script`: the FlexAttention script and its size.
- `export_files`: the downloads, each built only when asked for.
"""

from __future__ import annotations

from .config import ECHO_CHARS, LAYER_RE, MAX_LAYERS, Config, config_from_dict, format_layers, parse_layers
from .export_files import FILES, build_file, downloads, file_names, file_sizes
from .flex_script import (
    CREATE_BLOCK_MASK_MAX_N,
    ELIDED,
    FULL_BLOCK_ROWS,
    PACKED_BYTES_PER_INDEX,
    SCRIPT_OVERHEAD,
    estimated_snippet_size,
    flex_preview,
    flex_snippet,
    snippet_size,
)

__all__ = [
    "CREATE_BLOCK_MASK_MAX_N",
    "ECHO_CHARS",
    "ELIDED",
    "FILES",
    "FULL_BLOCK_ROWS",
    "LAYER_RE",
    "MAX_LAYERS",
    "PACKED_BYTES_PER_INDEX",
    "SCRIPT_OVERHEAD",
    "Config",
    "build_file",
    "config_from_dict",
    "downloads",
    "estimated_snippet_size",
    "file_names",
    "file_sizes",
    "flex_preview",
    "flex_snippet",
    "format_layers",
    "parse_layers",
    "snippet_size",
]
