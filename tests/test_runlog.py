"""The server-side run log (ui/runlog.py): off by default; on, one line per script run that the load
benchmark can match to its actions."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.app_session import AppSession

from sparse_core import jobs
from ui import runlog


def _rerun() -> BackMsg:
    msg = BackMsg()
    msg.rerun_script.query_string = "n=4096"
    return msg


def test_off_by_default_it_does_nothing(monkeypatch):
    monkeypatch.setattr(runlog, "PATH", None)
    monkeypatch.setattr(runlog, "_installed", False)
    before = AppSession.handle_backmsg
    runlog.install()
    assert AppSession.handle_backmsg is before
    assert runlog.begin() is None
    runlog.end(None, "app_pages/explorer.py", None)  # nothing to write, and no file to write it to


@pytest.mark.timing  # the queue wait of an uncontended turn is read off the wall clock
def test_on_it_logs_each_run_from_the_requests_arrival(monkeypatch, tmp_path):
    path = tmp_path / "runs.jsonl"
    monkeypatch.setattr(runlog, "PATH", str(path))
    monkeypatch.setattr(runlog, "_installed", False)
    monkeypatch.setattr(runlog, "_requested", {})
    handled: list[str] = []
    monkeypatch.setattr(AppSession, "handle_backmsg", lambda self, msg: handled.append(msg.WhichOneof("type")))
    runlog.install()
    session = SimpleNamespace(id="abc")

    heartbeat = BackMsg()
    heartbeat.app_heartbeat = True
    before = time.time()
    AppSession.handle_backmsg(session, _rerun())
    AppSession.handle_backmsg(session, _rerun())  # a second before the run starts: the first one is waited on
    AppSession.handle_backmsg(session, heartbeat)  # not a rerun request
    arrived = time.time()
    assert handled == ["rerun_script", "rerun_script", "app_heartbeat"]  # Streamlit still handles every message

    ctx = SimpleNamespace(session_id="abc")
    monkeypatch.setattr("streamlit.runtime.scriptrunner.get_script_run_ctx", lambda: ctx)
    run = runlog.begin()
    with jobs.JobQueue().turn():
        time.sleep(0.01)  # a measured stretch inside the heavy turn
    runlog.end(run, "app_pages/lab.py", None)
    replay = runlog.begin()  # a run no request started (st.rerun): no arrival to measure from
    runlog.end(replay, "app_pages/lab.py", RuntimeError("replaced"))

    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["session"] == "abc" and first["page"] == "app_pages/lab.py" and first["status"] == "ok"
    assert before <= first["requested"] <= arrived <= first["started"] <= first["finished"]
    assert first["heavy"] >= 0.01 and first["queued"] == pytest.approx(0, abs=0.05) and first["cpu"] >= 0
    assert second["requested"] is None and second["status"] == "RuntimeError" and second["heavy"] == 0


def test_an_unwritable_log_leaves_the_runs_own_outcome(monkeypatch, tmp_path):
    # app.py calls end() inside `except BaseException`: an OSError here would replace st.rerun or the
    # page's own error with a traceback on every page
    monkeypatch.setattr(runlog, "PATH", str(tmp_path))  # a directory: open(..., "a") raises IsADirectoryError
    run = runlog.Run("abc", None, time.time(), time.thread_time())
    runlog.end(run, "app_pages/explorer.py", RuntimeError("the page's own"))
    runlog.end(run, "app_pages/explorer.py", None)
    assert list(tmp_path.iterdir()) == []


def test_rerun_requests_of_sessions_that_went_away_are_dropped(monkeypatch):
    # a tab closed between its rerun request and the run left its entry for the server's lifetime
    from ui import runlog

    monkeypatch.setattr(runlog, "_requested", {f"gone-{i}": 0.0 for i in range(runlog.PRUNE_AT + 1)})
    runlog._requested["recent"] = 1000.0
    runlog.note_request("new", 1000.0 + runlog.STALE_S)
    assert set(runlog._requested) == {"recent", "new"}
    runlog.note_request("new", 2000.0 + runlog.STALE_S)  # the earliest unserved request is the one kept
    assert runlog._requested["new"] == 1000.0 + runlog.STALE_S
