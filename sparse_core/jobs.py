"""One queue per process for heavy jobs (measured speed runs): first come, first served, one at a time.

A heavy job pins a CPU core for seconds to minutes; two at once on a small server make every other
user's light rerun several times slower. So heavy work waits its turn here, and the caller shows
where it stands:

    with HEAVY.turn(on_wait=lambda ahead: box.info(f"{ahead} ahead of you")):
        run_the_job()

`on_wait` is called on every poll while waiting. A Streamlit page passes a function that updates an
element: when the session goes away or reruns, that update raises, and the ticket leaves the queue
(the `finally` below), so an abandoned request never blocks the ones behind it.

A caller may name an `owner` (a session id): one owner holds at most `per_owner` tickets at once
(SPARSE_EXPLORER_MAX_QUEUED_PER_SESSION, default 2), so one person clicking Run again and again
cannot fill the queue ahead of everyone else; the next ticket is refused with `QueueFullError`.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from .params import PatternError

SPEED_RUNS_ENV = "SPARSE_EXPLORER_ALLOW_SPEED_RUNS"
PER_SESSION_ENV = "SPARSE_EXPLORER_MAX_QUEUED_PER_SESSION"
DEFAULT_PER_SESSION = 2


def per_session_limit() -> int:
    """Heavy jobs one session may have queued or running at once (SPARSE_EXPLORER_MAX_QUEUED_PER_SESSION)."""
    try:
        return max(1, int(os.environ.get(PER_SESSION_ENV, DEFAULT_PER_SESSION)))
    except ValueError:
        return DEFAULT_PER_SESSION


def speed_runs_allowed() -> bool:
    """Deployment switch: measured speed runs are on unless SPARSE_EXPLORER_ALLOW_SPEED_RUNS is 0/false/no/off."""
    return os.environ.get(SPEED_RUNS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


_waits = threading.local()  # per thread: seconds spent waiting for turns and holding them


def reset_thread_waits() -> None:
    """Start counting this thread's queue waits afresh (ui/runlog does at each script run)."""
    _waits.queued = _waits.held = 0.0


def thread_waits() -> tuple[float, float]:
    """(seconds this thread waited for its turns, seconds it held them) since reset_thread_waits.

    Tells a slow run's queue wait from its own work: the server-side run log reports both."""
    return getattr(_waits, "queued", 0.0), getattr(_waits, "held", 0.0)


class JobCancelledError(Exception):
    """The caller gave up its place (its `cancelled()` said so) before the job started."""


class QueueFullError(PatternError):
    """This owner already has as many heavy jobs queued or running as one session may."""


class JobQueue:
    """A FIFO of tickets; the first `slots` tickets run, the others wait in order."""

    def __init__(self, slots: int = 1, per_owner: int | None = None):
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.per_owner = per_owner  # None: read per_session_limit() at each enter (deployments may change it)
        self._cond = threading.Condition()
        self._tickets: deque[int] = deque()
        self._owners: dict[int, Hashable] = {}
        self._numbers = itertools.count(1)

    def enter(self, owner: Hashable | None = None) -> int:
        """Take a ticket at the back of the queue; QueueFullError when `owner` already holds its limit."""
        limit = self.per_owner if self.per_owner is not None else per_session_limit()
        with self._cond:
            if owner is not None:
                held = sum(1 for o in self._owners.values() if o == owner)
                if held >= limit:
                    raise QueueFullError(
                        f"you already have {held} heavy job{'s' if held != 1 else ''} waiting or running; "
                        f"wait for {'one' if held > 1 else 'it'} to finish",
                        "jobs_session_limit",
                        held=held,
                        limit=limit,
                    )
            ticket = next(self._numbers)
            self._tickets.append(ticket)
            if owner is not None:
                self._owners[ticket] = owner
            return ticket

    def held(self, owner: Hashable) -> int:
        """Tickets this owner holds now (queued or running)."""
        with self._cond:
            return sum(1 for o in self._owners.values() if o == owner)

    def leave(self, ticket: int) -> None:
        """Give a ticket back, whether it ran, failed or was abandoned; the next in line may start."""
        with self._cond:
            self._owners.pop(ticket, None)
            try:
                self._tickets.remove(ticket)
            except ValueError:
                return
            self._cond.notify_all()

    def position(self, ticket: int) -> int | None:
        """Jobs ahead of this ticket that must finish before it starts: 0 = running or starting; None = not queued."""
        with self._cond:
            try:
                index = self._tickets.index(ticket)
            except ValueError:
                return None
            return max(0, index - self.slots + 1)

    def __len__(self) -> int:
        with self._cond:
            return len(self._tickets)

    def wait(
        self,
        ticket: int,
        on_wait: Callable[[int], Any] | None = None,
        cancelled: Callable[[], bool] | None = None,
        poll_s: float = 0.5,
        light: Callable[[], bool] | None = None,
    ) -> bool:
        """Block until the ticket may run, calling on_wait(jobs ahead) on every poll while waiting.

        True when it returned because `light()` said the job no longer needs a turn (checked on every
        poll, outside the lock), False when the turn came."""
        while True:
            with self._cond:
                ahead = self.position(ticket)
                if ahead is None:
                    raise JobCancelledError("the ticket is no longer queued")
                if ahead > 0:
                    self._cond.wait(poll_s)
                    ahead = self.position(ticket)
            if ahead == 0:
                return False
            if light is not None and light():
                return True
            if cancelled is not None and cancelled():
                raise JobCancelledError("the caller went away")
            if on_wait is not None and ahead is not None:
                on_wait(ahead)  # outside the lock: it may be slow, or raise to cancel

    @contextmanager
    def turn(
        self,
        on_wait: Callable[[int], Any] | None = None,
        cancelled: Callable[[], bool] | None = None,
        poll_s: float = 0.5,
        owner: Hashable | None = None,
        light: Callable[[], bool] | None = None,
    ) -> Iterator[int]:
        """Wait for this caller's turn, run the body, and always give the place back (error or not).

        `on_wait(jobs ahead)` is called at once when the caller has to wait, then on every poll.

        `light()`, when given, says whether the job needs no heavy work any more (say, every row it would
        compute is already in a cache, or was just put there by the job ahead of it). Then the body runs
        at once, outside the queue (ticket 0, or the ticket given back first), so that a light rerun never
        waits behind a heavy job: a class whose first student computed the result gets it without
        queueing behind the others' runs. Checked before taking a ticket and on every poll."""
        if light is not None and light():
            yield 0
            return
        ticket = self.enter(owner)
        entered = time.perf_counter()
        started, became_light = None, False
        try:
            ahead = self.position(ticket)
            if ahead and on_wait is not None:
                on_wait(ahead)
            became_light = self.wait(ticket, on_wait, cancelled, poll_s, light)
            if became_light:
                self.leave(ticket)  # no turn needed: the ones behind need not wait for this body
            started = time.perf_counter()
            yield ticket
        finally:
            self.leave(ticket)
            now = time.perf_counter()
            held = now - started if started is not None and not became_light else 0.0
            _waits.queued = getattr(_waits, "queued", 0.0) + (started if started is not None else now) - entered
            _waits.held = getattr(_waits, "held", 0.0) + held

    def run(
        self,
        fn: Callable[..., Any],
        *args,
        on_wait=None,
        cancelled=None,
        poll_s: float = 0.5,
        owner=None,
        light=None,
        **kwargs,
    ) -> Any:
        """fn(*args, **kwargs) in its turn; its result, or its exception after the queue moves on."""
        with self.turn(on_wait, cancelled, poll_s, owner, light):
            return fn(*args, **kwargs)


HEAVY = JobQueue(slots=1)  # the process-wide queue that pages use for speed runs and Lab runs
