"""The heavy-job queue: one job at a time per process, first come first served, always released."""

import threading
import time

import pytest

from sparse_core.jobs import (
    PER_SESSION_ENV,
    JobCancelledError,
    JobQueue,
    QueueFullError,
    per_session_limit,
    reset_thread_waits,
    speed_runs_allowed,
    thread_waits,
)

WAIT = 10  # seconds; every wait below ends on an event long before this


def test_second_job_waits_sees_its_position_then_runs():
    queue = JobQueue()
    first_running, release_first = threading.Event(), threading.Event()
    seen: list[int] = []
    order: list[str] = []

    def first():
        first_running.set()
        assert release_first.wait(WAIT)
        order.append("first")

    def second():
        order.append("second")
        return 42

    def on_wait(ahead):
        seen.append(ahead)
        release_first.set()  # the first job may finish only once the second has seen its place

    a = threading.Thread(target=queue.run, args=(first,))
    a.start()
    assert first_running.wait(WAIT)
    assert queue.run(second, on_wait=on_wait, poll_s=0.05) == 42
    a.join(WAIT)
    assert seen and seen[0] == 1
    assert order == ["first", "second"]
    assert len(queue) == 0


def test_positions_are_first_come_first_served():
    queue = JobQueue()
    tickets = [queue.enter() for _ in range(4)]
    assert [queue.position(t) for t in tickets] == [0, 1, 2, 3]
    queue.leave(tickets[1])  # someone in the middle gives up
    assert [queue.position(t) for t in (tickets[0], tickets[2], tickets[3])] == [0, 1, 2]
    assert queue.position(tickets[1]) is None
    queue.leave(tickets[0])
    assert queue.position(tickets[2]) == 0


def test_a_failing_job_releases_the_queue():
    queue = JobQueue()

    def boom():
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):
        queue.run(boom)
    assert len(queue) == 0
    assert queue.run(lambda: "next") == "next"  # would block forever if the ticket had stayed


def test_a_caller_that_goes_away_leaves_the_queue():
    queue = JobQueue()
    holder = queue.enter()

    class SessionGone(BaseException):  # Streamlit stops a script with a BaseException
        pass

    def on_wait(ahead):
        raise SessionGone

    with pytest.raises(SessionGone):
        queue.run(lambda: None, on_wait=on_wait, poll_s=0.01)
    with pytest.raises(JobCancelledError):
        queue.run(lambda: None, cancelled=lambda: True, poll_s=0.01)
    assert len(queue) == 1 and queue.position(holder) == 0  # only the holder is left
    queue.leave(holder)
    assert len(queue) == 0


def test_only_one_job_runs_at_a_time():
    queue = JobQueue()
    running, peak, lock = [0], [0], threading.Lock()

    def job():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.02)
        with lock:
            running[0] -= 1

    threads = [threading.Thread(target=queue.run, args=(job,), kwargs={"poll_s": 0.01}) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert peak[0] == 1 and len(queue) == 0


@pytest.mark.parametrize(
    "value, allowed", [(None, True), ("1", True), ("0", False), ("off", False), (" FALSE ", False)]
)
def test_the_deployment_switch(monkeypatch, value, allowed):
    if value is None:
        monkeypatch.delenv("SPARSE_EXPLORER_ALLOW_SPEED_RUNS", raising=False)
    else:
        monkeypatch.setenv("SPARSE_EXPLORER_ALLOW_SPEED_RUNS", value)
    assert speed_runs_allowed() is allowed


def test_one_session_holds_at_most_its_limit_of_tickets_and_others_still_queue():
    queue = JobQueue(per_owner=2)
    a1, a2 = queue.enter("session-a"), queue.enter("session-a")
    with pytest.raises(QueueFullError) as caught:
        queue.enter("session-a")  # a third click while two wait or run
    assert caught.value.code == "jobs_session_limit" and caught.value.fields == {"held": 2, "limit": 2}
    b = queue.enter("session-b")  # another person is not held back
    assert [queue.position(t) for t in (a1, a2, b)] == [0, 1, 2] and queue.held("session-a") == 2
    queue.leave(a1)
    a3 = queue.enter("session-a")  # one finished: room for one more, at the back
    assert queue.position(a3) == 2 and queue.held("session-a") == 2
    for ticket in (a2, b, a3):
        queue.leave(ticket)
    assert len(queue) == 0 and queue.held("session-a") == 0


def test_the_limit_comes_from_the_deployment(monkeypatch):
    monkeypatch.setenv(PER_SESSION_ENV, "1")
    queue = JobQueue()
    with queue.turn(owner="s"):
        with pytest.raises(QueueFullError):
            queue.enter("s")
    assert queue.held("s") == 0  # the ticket left with the body, and the refused one never entered
    monkeypatch.setenv(PER_SESSION_ENV, "not a number")
    assert per_session_limit() == 2


@pytest.mark.timing
def test_each_thread_counts_its_own_queue_wait_and_turn():
    """The run log's split of a slow run: time in line vs time holding the turn, per script thread,
    checked against clocks read around the turn here."""
    queue = JobQueue()
    holding, release = threading.Event(), threading.Event()
    seen: dict[str, tuple[float, float]] = {}
    measured: dict[str, float] = {}

    def first():
        reset_thread_waits()
        with queue.turn():
            holding.set()
            assert release.wait(WAIT)
        seen["first"] = thread_waits()

    def second():
        reset_thread_waits()
        entered = time.perf_counter()
        with queue.turn(poll_s=0.01):
            started = time.perf_counter()
            time.sleep(0.05)  # the job's own work: a measured duration, not a wait for another thread
            measured["held"] = time.perf_counter() - started
        measured["queued"] = started - entered
        seen["second"] = thread_waits()

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(WAIT)
    b = threading.Thread(target=second)
    b.start()
    while len(queue) < 2:  # the second is in line
        time.sleep(0.001)
    time.sleep(0.1)  # it waits this long at least: the first holds its turn
    release.set()
    a.join(WAIT)
    b.join(WAIT)
    queued, held = seen["second"]
    # the queue's clocks are read inside the turn's bounds read here: waited no longer, held no shorter
    assert 0.1 <= queued <= measured["queued"] and queued == pytest.approx(measured["queued"], abs=0.5)
    assert measured["held"] <= held and held == pytest.approx(measured["held"], abs=0.5)
    assert seen["first"][0] < 0.05 and seen["first"][1] >= 0.1  # it never waited; it held while the other did
    reset_thread_waits()
    assert thread_waits() == (0.0, 0.0)


def test_a_job_that_became_light_runs_without_waiting_for_the_heavy_one_ahead():
    """A Lab run whose rows the run ahead already computed: it must not wait behind a speed run."""
    queue = JobQueue()
    holding, release = threading.Event(), threading.Event()
    cached: set[str] = set()
    ran: list[str] = []

    def heavy():
        with queue.turn():
            holding.set()
            assert release.wait(WAIT)  # a long job: holds the turn until the end of the test

    a = threading.Thread(target=heavy)
    a.start()
    assert holding.wait(WAIT)

    # light from the start: runs at once and never takes a ticket
    cached.add("row")
    with queue.turn(light=lambda: "row" in cached) as ticket:
        assert ticket == 0 and len(queue) == 1
        ran.append("light at once")

    # light while waiting: leaves the line and runs while the heavy job still holds its turn
    done = threading.Event()

    def waiter():
        with queue.turn(poll_s=0.01, light=lambda: "other" in cached):
            assert len(queue) == 1  # its ticket is gone: the ones behind it need not wait for it
            ran.append("light after waiting")
        done.set()

    b = threading.Thread(target=waiter)
    b.start()
    while len(queue) < 2:
        time.sleep(0.001)
    cached.add("other")  # the job ahead of it (or another session) computed what it needed
    assert done.wait(WAIT)
    assert ran == ["light at once", "light after waiting"] and not release.is_set()
    release.set()
    a.join(WAIT)
    b.join(WAIT)
    assert len(queue) == 0

    # still heavy: waits for its turn as before
    with queue.turn(light=lambda: False) as ticket:
        assert ticket > 0 and queue.position(ticket) == 0
