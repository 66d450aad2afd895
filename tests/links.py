"""Links as the app's sidebar draws them, for AppTest journeys: the query a link to a page carries."""

from __future__ import annotations

from ui.chrome import link_query
from ui.pages import PAGES


def _state(at) -> dict:
    """The session state keys link_query reads, as a plain mapping (AppTest's proxy has no .get)."""
    keys = ["lang"] + [f"{p.url_prefix}_url_{kind}" for p in PAGES if p.url_prefix for kind in ("written", "defaults")]
    return {key: at.session_state[key] for key in keys if key in at.session_state}


def follow_link(at, path: str):
    """Click the sidebar link to the page at `path`: the URL becomes the link's, then the page runs."""
    page = next(p for p in PAGES if p.path == path)
    query = link_query(page, _state(at))
    for key in list(at.query_params):
        del at.query_params[key]
    for key, value in query.items():
        at.query_params[key] = value
    return at.switch_page(path)
