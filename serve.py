"""The served app: `streamlit run serve.py` (what `make run` starts) serves app.py through st.App.

What plain `streamlit run app.py` cannot do, added here:
- every page's modules are imported when the server starts (ui/preload.py), in a background
  thread, so the first visitor of a page does not wait for them and no two sessions import at once;
- `/_stcore/metrics` (session counts and cache sizes, open to anyone in Streamlit 1.67, with no
  setting to close it) answers 404;
- an unknown nested path (`/explorer/foo/bar`) gets a redirect to its first segment (`/explorer`),
  query string kept, instead of Streamlit's index page whose relative script links then point
  under the bogus path and leave a blank page;
- with SPARSE_EXPLORER_RUN_LOG=<file>, one line per script run (session, page, request arrival,
  start, end, CPU, heavy-queue wait) for the load benchmark's server-side wire (ui/runlog.py);
- memory comes back after a class: once no browser has been connected for the session TTL (every
  closed tab's session has expired), the server drops what the class left behind (`after_class`).
Settings, ports and flags are the same as for app.py (`.streamlit/config.toml`, `--server.*`).
"""

from __future__ import annotations

import os

# One torch thread per server process, as app.py sets, but here: ui.preload imports the pages' modules,
# torch among them, in a background thread as the server starts, before app.py first runs, and torch's
# OpenMP pool is sized when torch is imported. Under serve.py app.py's setting came too late: torch ran
# with one thread per core, and a 64-token SmolLM2 Lab run cost its script thread 5.9 CPU-s under load
# (spinning OpenMP threads) against 0.6-1.0 CPU-s at one thread (measured; /tmp perf notes, issue #20).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# No transparent huge pages for numpy's arrays (numpy reads this at import): the kernel's inline compaction for them
# gave requests of 150-290 MB 2-3x CPU tails here; the budget is measured without them (sparse_core/process.py)
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import contextlib  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.responses import PlainTextResponse, RedirectResponse  # noqa: E402
from streamlit.logger import get_logger  # noqa: E402

from ui import heap, preload, runlog  # noqa: E402

_log = get_logger("serve")  # Streamlit's handler and level: the line shows in the server's log

# Streamlit's own routes and the frontend's assets: nested paths that are real.
STREAMLIT_PREFIXES = ("_stcore/", "static/", "media/", "component/", "app/static/", "-/")
CLOSED = {"_stcore/metrics"}


def after_class() -> dict:
    """Drop what the sessions of a class left behind, once none is connected and their TTL has passed.

    Issue #20 measured +688 MB over the warm server after a class closed. What a class leaves behind
    (read in Streamlit 1.67's code and this app's caches; the benchmark's after-close RSS checks it):
    - closed tabs' sessions (their session state, media references, deferred downloads): Streamlit
      drops an expired one only at the session store's next write, so after the last tab closes they
      stay until the next visitor; here they expire and are shut down as Streamlit shuts a closed one;
    - per-request results cached for the class (st.cache_data, the engine's mask memo, the Lab's
      in-memory rows and dense passes): bounded, but filled by thirty people; recomputed on demand,
      and the Lab's rows stay on disk where its disk cache is on;
    - the Inspector's last long inspection (its q/k: 755 MB at 8,192 tokens, 1.1 GB for a data-dependent
      pattern), kept in an st.cache_resource for the session that ran it: dropped here, rerun on request;
    - freed memory parked in glibc's arenas: returned by malloc_trim.
    Models and the other st.cache_resource entries (loaded models, Learn's dense run, the Lab's retrieval
    grids) stay: the warm server has them too, and they are expensive to rebuild."""
    expired = _expire_closed_sessions()
    _sweep_media()
    st.cache_data.clear()
    from sparse_core import analysis, lab_cache

    analysis.clear_mask_memo()
    lab_cache.clear_cache(memory_only=True)
    from ui import inspector_progress

    inspector_progress.release_long()
    returned = heap.trim()
    _log.info(
        "after the class: %d expired sessions shut down, caches cleared, %.0f MB returned", expired, returned / 2**20
    )
    return {"expired_sessions": expired, "returned_bytes": returned}


def _expire_closed_sessions() -> int:
    """Expire the stored (closed, past their TTL) sessions now and shut each down; how many.

    Reaches into Streamlit 1.67's session manager (no public call does this); anything missing, as in
    another version, means nothing is done here and the sessions go at the store's next write as before."""
    from streamlit.runtime import Runtime

    manager = getattr(Runtime.instance(), "_session_mgr", None)
    storage = getattr(manager, "_session_storage", None)
    expire = getattr(getattr(storage, "_cache", None), "expire", None)
    if not callable(expire):
        return 0
    with getattr(manager, "_storage_lock", None) or contextlib.nullcontext():  # the store is not thread-safe
        removed = expire()
    for _, info in removed:
        try:
            info.session.shutdown()  # media references, uploads, the deferred downloads of that session
        except Exception as e:  # one session's shutdown must not keep the others
            _log.warning("after the class: shutting down a session failed: %r", e)
    return len(removed)


def _sweep_media() -> None:
    """Delete media files no session references: the class's downloads (ui/downloads pins last 90 s) and
    images. A download is only marked by one sweep and deleted by the next, hence two."""
    from streamlit.runtime import Runtime

    if Runtime.exists():
        for _ in range(2):
            Runtime.instance().media_file_mgr.remove_orphaned_files()


class Idle:
    """Counts the app's open websockets; `action` runs once they have all been closed for `after_s`."""

    def __init__(self, after_s: Callable[[], float], action: Callable[[], object]) -> None:
        self._after_s, self._action = after_s, action
        self._lock = threading.Lock()
        self.open = 0
        self._epoch = 0  # bumped by every connection: a timer from an earlier quiet spell does nothing
        self._timer: threading.Timer | None = None

    def opened(self) -> None:
        with self._lock:
            self.open += 1
            self._epoch += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def closed(self) -> None:
        with self._lock:
            self.open -= 1
            if self.open == 0:
                self._timer = threading.Timer(self._after_s(), self._fire, args=(self._epoch,))
                self._timer.daemon = True
                self._timer.start()

    def _fire(self, epoch: int) -> None:
        with self._lock:
            if self.open or epoch != self._epoch:
                return
            self._timer = None
        try:
            self._action()
        except Exception as e:  # housekeeping must never take the server down
            _log.warning("after the class: %r", e)


def _ttl_and_margin() -> float:
    from streamlit import config

    # the last session to close expires TTL seconds after it closed; a margin for the store's clock
    return float(config.get_option("server.disconnectedSessionTTL")) + 5.0


IDLE = Idle(_ttl_and_margin, after_class)


class PublicPaths:
    """ASGI middleware: closes the metrics endpoint, sends unknown nested paths to their first segment."""

    def __init__(self, app):
        self.app = app
        from streamlit import config

        base = (config.get_option("server.baseUrlPath") or "").strip("/")
        self.base = f"/{base}/" if base else "/"

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"].endswith("_stcore/stream"):
            IDLE.opened()
            try:
                await self.app(scope, receive, send)
            finally:
                IDLE.closed()
            return
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


runlog.install()  # off unless SPARSE_EXPLORER_RUN_LOG names a file (the load benchmark's server-side wire)
app = st.App("app.py", lifespan=lifespan, middleware=[Middleware(PublicPaths)])
