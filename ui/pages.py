"""The app's page list: the one list that app.py navigates and Home links to, so the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Page(NamedTuple):
    """One page: script path, catalog key of its title, icon, and whether it is the home."""

    path: str
    title_key: str
    icon: str
    default: bool
    url_prefix: str | None = None  # the prefix the page writes its URL state under (ui.chrome.write_query)

    @property
    def name(self) -> str:
        """The page's short name, its script's stem: 'explorer' for app_pages/explorer.py."""
        return Path(self.path).stem


PAGES: tuple[Page, ...] = (
    Page("app_pages/home.py", "nav.home", "🏠", True),
    Page("app_pages/explorer.py", "nav.explorer", "🧩", False, "ex"),
    Page("app_pages/inspector.py", "nav.inspector", "🔬", False, "in"),
    Page("app_pages/lab.py", "lab.nav", "🧪", False, "lab"),
    Page("app_pages/cost.py", "nav.cost", "📈", False, "co"),
    Page("app_pages/learn.py", "nav.learn", "🎓", False, "le"),
)
