"""The served app: `streamlit run serve.py` (what `make run` starts) serves app.py through st.App.

Three things plain `streamlit run app.py` cannot do, added here:
- every page's modules are imported when the server starts (ui/preload.py), in a background
  thread, so the first visitor of a page does not wait for them and no two sessions import at once;
- `/_stcore/metrics` (session counts and cache sizes, open to anyone in Streamlit 1.67, with no
  setting to close it) answers 404;
- an unknown nested path (`/explorer/foo/bar`) gets a redirect to its first segment (`/explorer`),
  query string kept, instead of Streamlit's index page whose relative script links then point
  under the bogus path and leave a blank page.
Settings, ports and flags are the same as for app.py (`.streamlit/config.toml`, `--server.*`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, RedirectResponse

from ui import preload

# Streamlit's own routes and the frontend's assets: nested paths that are real.
STREAMLIT_PREFIXES = ("_stcore/", "static/", "media/", "component/", "app/static/", "-/")
CLOSED = {"_stcore/metrics"}


class PublicPaths:
    """ASGI middleware: closes the metrics endpoint, sends unknown nested paths to their first segment."""

    def __init__(self, app):
        self.app = app
        from streamlit import config

        base = (config.get_option("server.baseUrlPath") or "").strip("/")
        self.base = f"/{base}/" if base else "/"

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.base):
            rest = scope["path"][len(self.base) :]
            if rest.rstrip("/") in CLOSED:
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
            segments = [s for s in rest.split("/") if s]
            if "_stcore" in segments and segments[-1] == "metrics":
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
            # The browser finds the app's base path by asking `<page path>/_stcore/health` (and
            # host-config) first: those must get Streamlit's own answer (404), never a redirect to a
            # page, or the browser takes `/explorer/` for the base path and never connects.
            streamlit_route = rest.startswith(STREAMLIT_PREFIXES) or "_stcore" in segments or "static" in segments
            if len(segments) > 1 and not streamlit_route and scope["method"] in ("GET", "HEAD"):
                query = scope.get("query_string", b"").decode("latin-1")
                target = self.base + segments[0] + (f"?{query}" if query else "")
                await RedirectResponse(target, status_code=307)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@asynccontextmanager
async def lifespan(_app):
    preload.start()
    yield


app = st.App("app.py", lifespan=lifespan, middleware=[Middleware(PublicPaths)])
