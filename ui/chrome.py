"""Page chrome shared by app.py and app_pages/: language, translated labels, error boxes."""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from sparse_core import get

from .i18n import LANGS, STRINGS, t
from .query import QueryParam, engine_message
from .query import read_query as _read_query
from .safe import plain

LANG_PARAM = QueryParam("lang", "choice", "en", choices=tuple(LANGS))
DOWNLOAD_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
# Every keyed widget of a page is declared with persist_state=PERSIST: without it Streamlit discards a
# widget's value when its page is not rendered, and a round trip through another page reset the page.
PERSIST = "session"
SHARED_PARAMS = ("lang",)  # query parameters every page keeps; all others belong to one page


def lang() -> str:
    """The session's language code ('en' or 'zh')."""
    return st.session_state.get("lang", "en")


def tr(key: str, **fields) -> str:
    """The catalog entry `key` in the session's language, with fields filled in."""
    return t(key, lang(), **fields)


def _keep_language() -> None:
    st.session_state.lang = st.session_state._lang_widget


def setup_app():
    """Run by app.py before any page: wide layout, language (session state and ?lang=), sidebar.

    The language lives in session state, not in the widget, so it survives page changes; it reaches
    the URL through write_query or keep_language_in_url.
    Returns `tr` for the navigation labels.
    """
    problems = []
    if "lang" not in st.session_state:
        values, problems = _read_query([LANG_PARAM], st.query_params)
        st.session_state.lang = values["lang"]
    st.set_page_config(page_title=tr("app.title"), page_icon="🕸️", layout="wide")
    with st.sidebar:
        st.session_state._lang_widget = st.session_state.lang
        st.radio(
            t("app.language", lang()),
            list(LANGS),
            format_func=LANGS.get,
            key="_lang_widget",
            horizontal=True,
            on_change=_keep_language,
        )
    show_problems(problems)
    return tr


def keep_language_in_url() -> None:
    """Put the session's language into the URL if the page did not (app.py, after the page ran).

    After, not before: a page that writes its state writes the language with it, as one URL change;
    the browser pushes a history entry for every change it is sent, so writing the language first
    made a deep link two entries, and an unconditional write re-pushed the old page's URL on every
    page change."""
    if st.query_params.get("lang", "en") != st.session_state.lang:  # no `lang` reads as English
        st.query_params["lang"] = st.session_state.lang


def read_query(specs: list[QueryParam]) -> tuple[dict, list[str]]:
    """This page's query parameters through ui.query: (values, plain-text problems in the session's language)."""
    return _read_query(specs, st.query_params, lang())


def own_query(names) -> None:
    """Drop every query parameter that is not this page's own (nor the language).

    Streamlit keeps the query parameters of the page one leaves (Back from Learn brought `step=1`
    into the Explorer's URL), so each page calls this before it writes its own."""
    keep = set(names) | set(SHARED_PARAMS)
    if any(k not in keep for k in st.query_params):
        st.query_params.from_dict({k: v for k, v in st.query_params.to_dict().items() if k in keep})


def url_is_new(prefix: str, names) -> bool:
    """Whether the page must (re)read its state from the URL: the session's first visit, or a URL
    whose parameters of this page differ from those the page last wrote (Back, Forward, a link).

    A URL without any of the page's parameters means the page's defaults (see write_query): Back to
    the entry of a first visit shows the defaults again. Links within the app carry the page's state
    (link_query), so a page is never reset by moving around in it."""
    last = st.session_state.get("_url_last")
    if last is not None and last[0] != prefix and _page_params() == last[1]:
        # Exactly what the page we come from wrote: carried over by the page change, not a link to
        # this page. Pages share names (pattern, model, tokens), so reading it would mix them up.
        own_query(())
    own_query(names)  # what is left of another page (Learn's bound `step`) is not this page's
    written = st.session_state.get(f"{prefix}_url_written")
    if written is None:
        return True
    current = {k: st.query_params.get(k) for k in names if k in st.query_params}
    if not current:
        return written != st.session_state.get(f"{prefix}_url_defaults")
    return current != written


def _page_params() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params if k not in SHARED_PARAMS}


def write_query(prefix: str, values: dict[str, str]) -> None:
    """Make the URL say `values` (this page's parameters) plus the language, and remember them.

    A page that shows its defaults on arriving from a URL without its parameters leaves the URL so:
    the browser pushes a history entry for every URL change it is sent, and writing the defaults
    made a first visit two entries, the first of which Back then landed on without moving."""
    values = dict(values)
    defaults_key = f"{prefix}_url_defaults"
    if not _page_params() and (
        f"{prefix}_url_written" not in st.session_state or values == st.session_state.get(defaults_key)
    ):
        st.session_state[defaults_key] = values  # read from a URL without parameters: the defaults
        wanted = {"lang": lang()}
    else:
        wanted = {"lang": lang()} | values
    if st.query_params.to_dict() != wanted:
        # One message for the whole URL: one assignment per parameter made Back step through a
        # page's parameters one by one (13 entries for one Inspector visit).
        st.query_params.from_dict(wanted)
    st.session_state[f"{prefix}_url_written"] = values
    st.session_state._url_last = (prefix, values)


def link_query(page, state=None) -> dict[str, str]:
    """The query parameters a link to `page` (a ui.pages.Page) carries: the language, and the state the
    page last wrote in this session (none while it shows its defaults: see write_query).

    Streamlit's browser side pushes one history entry for the link and another for each URL the page
    then writes. A link that already carries what the page will write makes a page change one entry,
    so Back and Forward step page by page (a bare link made two or three entries per change).
    `state`: the session state to read (a mapping; tests pass AppTest's), else this session's."""
    state = st.session_state if state is None else state
    values = {"lang": state.get("lang", "en")}
    if page.url_prefix:
        written = state.get(f"{page.url_prefix}_url_written")
        if written is not None and written != state.get(f"{page.url_prefix}_url_defaults"):
            values |= written
    return values


class PageEndedEarlyError(Exception):
    """Raised by `end_page`; app.py catches it around the page and then draws the sidebar's links."""


def end_page() -> NoReturn:
    """End the page's script here, as st.stop() would, but let app.py draw the sidebar's links after it.

    st.stop() requests a stop that every later Streamlit call honours by raising again, so the links app.py
    draws after the page were dropped: a page that stopped early (an error, a run waiting for its button)
    left the sidebar without them and the visitor with only the browser's Back."""
    raise PageEndedEarlyError


def page_links(pages) -> None:
    """The navigation links (one per page, translated), each carrying link_query's parameters.

    app.py draws them after the page ran, into a slot at the top of the sidebar, so that the current
    page's own link carries the state this run wrote, not the one before."""
    for page, st_page in pages:
        st.page_link(st_page, label=tr(page.title_key), icon=page.icon, query_params=link_query(page))
    st.html(_CLOSE_DRAWER_ON_PHONES, unsafe_allow_javascript=True, width="content")


# Streamlit's own navigation closes the sidebar drawer on a phone after a click; st.page_link does not,
# and the open drawer then covered the page one had asked for. One listener per browser tab (the
# document outlives reruns), closing the drawer at Streamlit's phone width (below 768 px) after a
# click on a sidebar link.
_CLOSE_DRAWER_ON_PHONES = """<script>
if (!window.__sparseCloseDrawer) {
  window.__sparseCloseDrawer = true;
  document.addEventListener("click", (event) => {
    const link = event.target.closest('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]');
    if (!link || window.innerWidth >= 768) return;
    const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (close) setTimeout(() => close.click(), 0);
  }, true);
}
</script>"""


def page_link(path: str, label: str, icon: str | None = None, **kwargs) -> None:
    """st.page_link to one of the app's pages (by script path), carrying its state (link_query)."""
    from .pages import PAGES

    page = next(p for p in PAGES if p.path == path)
    st.page_link(path, label=label, icon=icon, query_params=link_query(page), **kwargs)


def resend_after_language_switch(prefix: str, keys) -> None:
    """On a page's first run in a new language, hand each labelled choice widget (`keys`) its value again.

    Streamlit 1.67 sends a selectbox's, radio's, pills' or multiselect's value back from the browser as its
    label and matches it with the labels of the run that reads it: after a language switch the browser still
    held the old language's labels, so the next rerun fell back to the default (the Explorer's second layer
    became a window, the Cost page's patterns emptied). Setting the value from the server sends the new
    labels. Widgets given here must not also pass a default (`value`, `index`, `default`)."""
    s = st.session_state
    seen = f"_{prefix}_labels_lang"
    if s.get(seen, lang()) != lang():
        for key in keys:
            if key in s:
                s[key] = s[key]
    s[seen] = lang()


def keep_valid(key: str, options, default) -> None:
    """Reset a widget's stored value to `default` when it is not one of `options`.

    A stored value can go stale (options that depend on the text or the model, a value of another
    type sent back for an old list): a widget must never be handed one, and nothing may compare it."""
    if key in st.session_state and st.session_state[key] not in list(options):
        st.session_state[key] = default


def show_problems(problems: list[str]) -> None:
    """One warning listing the link's unusable values, shown as plain text."""
    if problems:
        st.warning(tr("q.warning", msg="  \n".join(plain(p) for p in problems)), icon="🔗")


def error_text(error: Exception) -> str:
    """A user-facing message for an engine error, translated when the engine gave it a code (plain text, unescaped)."""
    return engine_message(error, lang())


def show_error(error: Exception | str) -> None:
    """An error box for a problem the user can fix; the message is shown as plain text, never markup."""
    message = error if isinstance(error, str) else error_text(error)
    st.error(tr("err.prefix", msg=plain(message)), icon="⚠️")


def _engine_text(key: str, language: str, english) -> str:
    # a pattern added to the engine before the catalog has its text shows in English, not as a KeyError
    return t(key, language) if key in STRINGS else english()


def pattern_title(name: str) -> str:
    """A pattern's title in the session's language."""
    return _engine_text(f"pattern.{name}", lang(), lambda: get(name).title)


def pattern_summary(name: str) -> str:
    """A pattern's one-line summary in the session's language."""
    return _engine_text(f"pattern.{name}.summary", lang(), lambda: get(name).summary)


def pattern_titles():
    """format_func for pattern names, pinned to this run's language: Streamlit may call a
    format_func outside the script run (AppTest does), where session state is not readable."""
    current = lang()
    return lambda name: _engine_text(f"pattern.{name}", current, lambda: get(name).title)


def option_labels(key_of):
    """format_func translating each option through key_of(option), pinned to this run's language."""
    current = lang()
    return lambda value: t(key_of(value), current)
