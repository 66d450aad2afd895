"""The load test's wire clock: which frames start and end a server run (no browser, no server)."""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.app_load import ServerRun, Timing, Wire, server_run


def _frame(wire: Wire, at: float, msg, socket: str = "s1") -> None:
    payload = base64.b64encode(msg.SerializeToString()).decode()
    wire._frame(
        {"requestId": socket, "timestamp": at, "response": {"opcode": 2, "payloadData": payload}},
        sent=isinstance(msg, BackMsg),
    )


def _rerun() -> BackMsg:
    msg = BackMsg()
    msg.rerun_script.query_string = "n=4096"
    return msg


def _finished(status: int) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    return msg


def _in_own_loop(coro):
    """asyncio.run in a thread of its own: a browser test earlier in the same process (pytest-playwright's
    sync API) leaves an event loop running in the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _wire() -> Wire:
    wire = Wire()
    wire._created({"requestId": "s1", "url": "ws://127.0.0.1:1/_stcore/stream"})
    wire._created({"requestId": "other", "url": "ws://127.0.0.1:1/somewhere-else"})
    return wire


def test_a_run_lasts_from_its_request_to_the_finish_that_is_not_a_rerun():
    async def go():
        wire = _wire()
        _frame(wire, 1.0, _finished(ForwardMsg.FINISHED_SUCCESSFULLY))  # the previous run's end
        mark = wire.mark()
        _frame(wire, 10.0, _rerun())
        _frame(wire, 10.5, _finished(ForwardMsg.FINISHED_SUCCESSFULLY), socket="other")  # not the app's socket
        _frame(wire, 11.0, _finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))  # st.rerun: the user still waits
        delta = ForwardMsg()
        delta.delta.new_element.markdown.body = "x" * 1000
        _frame(wire, 11.5, delta)
        _frame(wire, 12.5, _finished(ForwardMsg.FINISHED_SUCCESSFULLY))
        return await wire.run_after(mark, timeout=1)

    seconds, mb, socket = _in_own_loop(go())
    assert seconds == pytest.approx(2.5) and socket == "s1"
    assert 1000 / 2**20 < mb < 1100 / 2**20


def test_a_run_waits_for_frames_that_arrive_later():
    async def go():
        wire = _wire()
        mark = wire.mark()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, _frame, wire, 5.0, _rerun())
        loop.call_later(0.1, _frame, wire, 5.75, _finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))
        return await wire.run_after(mark, timeout=5)

    assert _in_own_loop(go())[0] == pytest.approx(0.75)


def test_no_finish_is_a_timeout_and_an_exception_element_is_an_error():
    async def silent():
        wire = _wire()
        mark = wire.mark()
        _frame(wire, 1.0, _rerun())
        await wire.run_after(mark, timeout=0.05)

    with pytest.raises(TimeoutError, match="no script_finished"):
        _in_own_loop(silent())

    async def failing():
        wire = _wire()
        mark = wire.mark()
        _frame(wire, 1.0, _rerun())
        error = ForwardMsg()
        error.delta.new_element.exception.message = "boom"
        _frame(wire, 1.5, error)
        _frame(wire, 2.0, _finished(ForwardMsg.FINISHED_SUCCESSFULLY))
        await wire.run_after(mark, timeout=1)

    with pytest.raises(RuntimeError, match="exception"):
        _in_own_loop(failing())


def test_the_server_gets_make_runs_environment_and_nothing_make_run_never_sets(monkeypatch):
    from benchmarks.app_load import server_env

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a test runner's setting, not the deployment's
    env = server_env(["FOO=bar=baz"], ttl=None)
    assert "MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2}" in makefile and env["MALLOC_ARENA_MAX"] == "2"
    assert "SPARSE_EXPLORER_ALLOW_LOCAL_MODELS:-1" in makefile and env["SPARSE_EXPLORER_ALLOW_LOCAL_MODELS"] == "1"
    for name in ("MAX_INSPECTOR_TOKENS", "MAX_LAB_TOKENS", "BUDGET_LAB_CPU_SECONDS"):  # a laptop's caps, as make run
        key = f"SPARSE_EXPLORER_{name}"
        assert f"{key}=$${{{key}:-{env[key]}}}" in makefile
    assert "OMP_NUM_THREADS" not in makefile and "OMP_NUM_THREADS" not in env
    assert "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL" not in env  # Streamlit's default TTL, as make run
    assert env["FOO"] == "bar=baz" and server_env([], ttl=30)["STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL"] == "30"


def test_every_session_makes_the_class_mix():
    from benchmarks.app_load import _script

    for index in range(6):
        actions = [action for action, _ in _script(index)]
        assert {"explorer", "download", "inspector", "inspector smollm2", "lab (small run)", "learn", "cost"} <= set(
            actions
        )
    lab = dict(_script(0))["lab (small run)"]
    assert "model=smollm2" in lab and "tokens=64" in lab


def test_a_download_is_expected_at_the_npy_formats_size():
    from benchmarks.app_load import _expected_download_size

    # .npy v1.0: magic, version, 2-byte header length, then the header padded so the data starts at a
    # multiple of 64 bytes: 128 bytes for a 2-D bool array of this shape, then one byte per cell
    assert _expected_download_size(4096) == 128 + 4096 * 4096


def _t(wire: float, page: float, mb: float) -> Timing:
    return Timing(wire, page, mb, "", 0.0, 0.0)


def _report(after: float = 1_100) -> dict:
    return {"idle": 1_000.0, "after": after, "disconnected": 1_200.0, "all_disconnected": True}


def test_the_summary_says_each_target_met_or_missed():
    from benchmarks.app_load import summary

    explorer = [_t(0.5, 9.0, 0.1)] * 19 + [_t(2.9, 9.0, 0.1)]
    results = {"explorer": explorer, "lab (small run)": [_t(9.5, 20.0, 0.2)]}
    # the server's side of each action: one run each, 0.1 s shorter than the browser saw
    runs = {
        f"s{i}": [_run(10.0 * i + 0.01, 10.0 * i + 0.02, 10.0 * i + t.wire - 0.09)]
        for i, t in enumerate([*explorer, *results["lab (small run)"]])
    }
    explorer = [t._replace(session=f"s{i}", begun=10.0 * i, ended=10.0 * i + t.wire) for i, t in enumerate(explorer)]
    lab = [results["lab (small run)"][0]._replace(session="s20", begun=200.0, ended=209.5)]
    results = {"explorer": explorer, "lab (small run)": lab}
    lines, checks = summary(results, [], [(1.0, 10, True)], _report(), peak=2_000, runs=runs)
    assert lines[0].startswith("| action | count | errors | wire p50 (s) | wire p95 (s)")
    assert "| explorer | 20 | 0 | 0.50 | 2.90 | 2.90 | 0.40 | 2.80 | 2.80 | 20 |" in lines[2], lines[2]
    assert any(line.startswith("| download (mask.npy") and "| 1 | 0 |" in line for line in lines)
    assert all(c.startswith("- met") for c in checks), checks

    errors = [("download", "session 1 download /explorer: RuntimeError: download canceled with -1 bytes, expected 9")]
    slow = {**results, "inspector smollm2": [_t(12.0, 30.0, 0.1)]}
    _, checks = summary(slow, errors, [(1.0, -1, False)], _report(after=1_400), peak=3_500, runs=runs)
    missed = [c for c in checks if "missed" in c]
    assert len(missed) == 5, checks  # errors, worst browser p95 (SmolLM2), downloads, peak, after close
    assert any("browser wire" in c and "inspector smollm2" in c for c in missed) and any("0 of 1" in c for c in missed)
    # without the server's run log its figures are not measured, and say so
    _, checks = summary(results, [], [(1.0, 10, True)], _report(), peak=2_000)
    assert "- **missed**: explorer server wire p95 none measured (target <= 3 s)" in checks


def test_an_action_that_never_finished_is_a_missed_target_not_a_number():
    from benchmarks.app_load import summary

    errors = [("explorer", "session 0 explorer /explorer: RuntimeError: the server sent an exception: ImportError")]
    _, checks = summary({}, errors, [], _report(), peak=1_000)
    assert "- **missed**: explorer browser wire p95 none measured (target <= 3 s)" in checks
    assert any(c.startswith("- **missed**: worst browser wire p95 none measured") for c in checks)


def test_every_kind_of_action_starts_some_sessions_and_the_smollm2_switch_follows_the_inspector():
    from benchmarks.app_load import _script

    scripts = [[action for action, _ in _script(index)] for index in range(30)]
    first_two = {action for actions in scripts for action in actions[:2]}
    assert first_two == set(scripts[0])  # a starved browser that makes two steps still covers the mix
    for actions in scripts:
        switch = actions.index("inspector smollm2")
        assert actions[switch - 1] == "inspector"


def _run(requested, started, finished, status="ok", cpu=0.1, queued=0.0, heavy=0.0) -> dict:
    return dict(
        requested=requested, started=started, finished=finished, status=status, cpu=cpu, queued=queued, heavy=heavy
    )


def test_the_wire_learns_each_sockets_session_id():
    wire = _wire()
    msg = ForwardMsg()
    msg.new_session.initialize.session_id = "abc"
    _frame(wire, 1.0, msg)
    assert wire.session == {"s1": "abc"}


def test_an_action_is_matched_to_the_server_runs_that_served_it():
    runs = {
        "a": [
            _run(0.5, 0.6, 0.9),  # the run before the action: not it
            _run(10.2, 10.5, 11.0, status="RerunException", cpu=0.2),  # replaced by the click's second request
            _run(11.0, 11.1, 14.0, cpu=1.0, queued=2.0, heavy=0.5),
            _run(20.0, 20.1, 21.0),  # a later action's
        ],
        "b": [_run(10.3, 10.4, 10.6)],  # another session at the same time
    }
    action = Timing(wire=4.5, page=6.0, mb=0.1, session="a", begun=10.0, ended=14.6)
    served = server_run(action, runs)
    assert served == ServerRun(
        wire=pytest.approx(3.8), start_delay=pytest.approx(0.3), cpu=pytest.approx(1.2), queued=2.0, heavy=0.5
    )
    assert server_run(action._replace(session="c"), runs) is None  # a session the log does not know
    assert server_run(action._replace(ended=12.0), runs) is None  # no end before the browser saw one


def test_the_load_generator_gets_an_autogroup_of_its_own_even_from_a_shells_job():
    """A shell's job is a process-group leader and may not setsid: it forks, the child goes on in a new
    session whose autogroup has the asked nice, and the parent exits with the child's status."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import os, sys\n"
        "from benchmarks.app_load import low_priority_session\n"
        "leader = os.getpid() == os.getpgrp()\n"
        "before = open('/proc/self/autogroup').read().split()[0]\n"
        "what = low_priority_session(15)\n"
        "after = open('/proc/self/autogroup').read().split()\n"
        "print(leader, before != after[0], after[-1], os.getsid(0) == os.getpid(), what, flush=True)\n"
        "sys.exit(3)\n"
    )
    if not Path("/proc/self/autogroup").exists():
        pytest.skip("no autogroups on this kernel")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, start_new_session=True, timeout=120
    )
    assert out.returncode == 3, out.stderr[-2000:]  # the parent passed on the child's exit status
    leader, moved, nice, session_leader, *what = out.stdout.split()
    assert (leader, moved, nice, session_leader) == ("True", "True", "15", "True"), out.stdout
    assert "autogroup nice 15" in " ".join(what)
