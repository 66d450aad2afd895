"""The app's page list, read from `PAGES` in app.py: the one list, so links to pages cannot drift from it.

app.py runs the app when imported, so its `PAGES` literal is read from the source instead of imported.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import NamedTuple

APP = Path(__file__).resolve().parents[1] / "app.py"


class Page(NamedTuple):
    """One page as app.py declares it: script path, catalog key of its title, icon, and whether it is the home."""

    path: str
    title_key: str
    icon: str
    default: bool

    @property
    def name(self) -> str:
        """The page's short name, its script's stem: 'explorer' for app_pages/explorer.py."""
        return Path(self.path).stem


@cache
def pages() -> tuple[Page, ...]:
    """Every page of the app, in the sidebar's order."""
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            return tuple(Page(*entry) for entry in ast.literal_eval(node.value))
    raise LookupError(f"{APP} declares no PAGES list")
