"""The load test's wire clock: which frames start and end a server run (no browser, no server)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.app_load import Wire


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

    seconds, mb = asyncio.run(go())
    assert seconds == pytest.approx(2.5)
    assert 1000 / 2**20 < mb < 1100 / 2**20


def test_a_run_waits_for_frames_that_arrive_later():
    async def go():
        wire = _wire()
        mark = wire.mark()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, _frame, wire, 5.0, _rerun())
        loop.call_later(0.1, _frame, wire, 5.75, _finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))
        return await wire.run_after(mark, timeout=5)

    assert asyncio.run(go())[0] == pytest.approx(0.75)


def test_no_finish_is_a_timeout_and_an_exception_element_is_an_error():
    async def silent():
        wire = _wire()
        mark = wire.mark()
        _frame(wire, 1.0, _rerun())
        await wire.run_after(mark, timeout=0.05)

    with pytest.raises(TimeoutError, match="no script_finished"):
        asyncio.run(silent())

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
        asyncio.run(failing())
