"""A log of every script run, seen from the server: off unless SPARSE_EXPLORER_RUN_LOG names a file.

The load benchmark (benchmarks/app_load.py) reads the "wire" of an action, the time from the rerun
request to the end of that run, off the browser's websocket frames. On a 2-core machine the thirty
browsers that load the server are also starved by it, and a starved browser reads the end of a run
late. This log gives the server's side of the same runs, one JSON line per script run:

    {"session": ..., "page": "app_pages/lab.py", "requested": 1765000000.12, "started": ...,
     "finished": ..., "cpu": 0.21, "queued": 0.0, "heavy": 0.0, "status": "ok"}

- requested: when the session's rerun request arrived (epoch seconds; the earliest one not yet
  served: requests that arrive while a run is under way stop it, and the next run serves them);
  None for a run no request started (st.rerun, a widget callback's own rerun);
- started / finished: the main script (app.py) starting and ending, on the script thread (Streamlit's
  own end-of-run steps and the sending of `script_finished` follow; the event loop sends it);
- cpu: that thread's CPU seconds for the run (time.thread_time), which leaves out worker threads;
- queued / heavy: seconds this run waited in jobs.HEAVY for its turn, and held it;
- status: "ok", or the exception that ended the run ("RerunException" when a newer request or
  st.rerun replaced it, "StopException" for st.stop, which still ends the run normally).

Off (the default), `install` changes nothing and `begin` returns None at once: no cost, no UI.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

from sparse_core import jobs

ENV = "SPARSE_EXPLORER_RUN_LOG"
PATH = os.environ.get(ENV) or None  # read once: a deployment sets it before starting the server

_lock = threading.Lock()
_requested: dict[str, float] = {}  # session id -> arrival of its earliest rerun request not yet served
_installed = False
# A request still unserved after this long belongs to a session that went away (a tab closed mid-rerun): its entry
# is dropped once the table holds more than PRUNE_AT, so a long-lived server does not keep one per closed tab
STALE_S = 600
PRUNE_AT = 256


def note_request(session: str, now: float) -> None:
    """A rerun request of `session` arrived at `now` (the earliest unserved one is kept)."""
    with _lock:
        if len(_requested) > PRUNE_AT:
            for key in [k for k, t in _requested.items() if now - t > STALE_S]:
                del _requested[key]
        _requested.setdefault(session, now)


def install() -> None:
    """Note when each rerun request arrives (AppSession.handle_backmsg runs on the event loop as it arrives)."""
    global _installed
    if PATH is None or _installed:
        return
    from streamlit.runtime.app_session import AppSession

    original = AppSession.handle_backmsg

    def handle_backmsg(self, msg):
        if msg.WhichOneof("type") == "rerun_script":
            note_request(self.id, time.time())
        return original(self, msg)

    AppSession.handle_backmsg = handle_backmsg  # type: ignore[method-assign]
    _installed = True


@dataclass
class Run:
    session: str
    requested: float | None
    started: float
    cpu: float


def begin() -> Run | None:
    """At the top of the main script: this run's start (None when the log is off)."""
    if PATH is None:
        return None
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    session = ctx.session_id if ctx is not None else ""
    with _lock:
        requested = _requested.pop(session, None)
    jobs.reset_thread_waits()
    return Run(session, requested, time.time(), time.thread_time())


def end(run: Run | None, page: str | None, error: BaseException | None) -> None:
    """At the end of the main script: one line for this run (`error`: what ended it, if anything did)."""
    if run is None:
        return
    queued, heavy = jobs.thread_waits()
    line = {
        "session": run.session,
        "page": page,
        "requested": run.requested,
        "started": run.started,
        "finished": time.time(),
        "cpu": round(time.thread_time() - run.cpu, 4),
        "queued": round(queued, 3),
        "heavy": round(heavy, 3),
        "status": "ok" if error is None else type(error).__name__,
    }
    try:
        with _lock, open(PATH or os.devnull, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    except OSError:  # a full disk or an unwritable log must not replace the run's own outcome with a traceback
        pass
