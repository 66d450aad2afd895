"""A class at once: N browser sessions against one server on this machine (loopback only).

The server is started as `make run` starts it: `streamlit run serve.py` (st.App: pages preloaded,
metrics closed) with HF_HUB_OFFLINE=1, MALLOC_ARENA_MAX=2 and SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=1,
Streamlit's default session TTL, no thread-count variables (neither make run nor the app sets
OMP_NUM_THREADS: torch picks its own). Each session runs the mix a class makes: the explorer at
several n up to 1M with parameter changes (by URL, as a shared link does), a download of the
explorer's mask (counted as done only when the file arrived with the right size), the inspector on
MiniLM and then switched to SmolLM2, a small Pattern Lab run (SmolLM2, 64 tokens, one pattern, one
budget; the Lab's disk cache is off so each budget is computed once per server), a Learn step, a
cost-curve view and one more explorer link; the first --speed-runs sessions also start a measured
speed run. Prints, per action, two latencies, errors, downloads, the server's CPU seconds and its
RSS warm, at peak and after the sessions close, and each target met or missed:

- wire (browser): from the rerun request the page sends (a page load's first `rerun_script` BackMsg,
  or the one a click sends) to the `script_finished` ForwardMsg that ends that run, read from the
  app's own websocket (/_stcore/stream) with the browser's timestamps. It includes the time a starved
  browser takes to send the request and to read the end: what a user on this machine waits for.
- server wire: what the server does (issue #20's definition), from the server's own run log
  (SPARSE_EXPLORER_RUN_LOG, ui/runlog.py): from the rerun request's arrival at the server to the end
  of the script run that served it. An action is matched to its runs by the session id (the
  new_session ForwardMsg of each run carries it) and its time window (the runs of that session
  whose request arrived after the action began and that ended before the browser read the end).
  Beside it: the delay before the script started, the script thread's CPU seconds, and the wait for
  a turn in jobs.HEAVY, which tell queueing from computing from starvation.
- page-ready: what the user waits for on this machine: from the navigation or click until the page
  says the script is done and every chart is drawn (the client's layout and drawing included). For a
  download: from the click until the file is complete on disk.

    python -m benchmarks.app_load --sessions 30 --minutes 5 --markdown class.md

The sessions are contexts of ONE headless Chromium driven by asyncio: thirty browser processes on
a 2-core machine take the cores from the server they are meant to load. The server must get the
cores first, as in a class where each student's browser runs on their own machine. Nice alone does
not do that here: the kernel schedules by autogroup (kernel.sched_autogroup_enabled = 1; one group
per session) before it looks at nice, and Playwright starts Chromium in a session of its own. So the
server runs in a session of its own at autogroup nice 0 (--server-nice), and the benchmark, its
Playwright driver and Chromium's session get autogroup nice 19 (--client-nice), written to
/proc/<pid>/autogroup (see low_priority_session). Before the server starts, a check spins busy
children in sessions like the server's and like Chromium's and prints the CPU seconds each got. The
page-ready and browser wire columns still include that starved browser; the server wire does not.
Bounded: at most --sessions contexts, each stops after its script or --minutes, every wait has a
timeout.

Development runs on a machine busy with other work: `--client-nice 10` (at 19 beside a load of 20
the browser gets almost nothing), `--session-ttl 10` and `--port` in the range you were given.

After the sessions close, Streamlit keeps each closed tab's session for a reconnect for
`server.disconnectedSessionTTL` seconds (120 by default); serve.py expires them and lets go of the
class's caches once no browser has been connected for that TTL (+5 s). The run waits until the
server has no open connection (serve.py closes the metrics endpoint, so connections are counted on
the server's port), measures, waits out the TTL + 10 s without visiting, waits until RSS is stable,
and measures again.

Targets at N = 30 on the 2-core machine: 0 errors, explorer wire p95 <= 3 s, every action's wire p95
<= 10 s, every download complete, peak RSS <= 3 GB, RSS back within 300 MB of warm after close.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import numpy as np
import psutil
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.common import machine
from tests.browser import CHROMIUM, CHROMIUM_ARGS, wait_healthy
from ui.runlog import ENV as RUN_LOG_ENV

EXPLORER = [
    "/explorer?pattern=window(window=64)&n=4096",
    "/explorer?pattern=bigbird(block=64,window_blocks=3,global_blocks=2,random_blocks=3,seed=0)&n=65536",
    "/explorer?pattern=longformer(window=256,global_tokens=1)&n=1048576",
    "/explorer?pattern=strided(stride=1024)&n=1048576&causal=1",
    "/explorer?pattern=random(random_keys=8,seed=1)&n=262144",
    "/explorer?pattern=dilated(window=16,dilation=4)%2Bglobal(global_tokens=8)&n=16384&op=union",
]
LEARN = [f"/learn?step={s}" for s in (1, 2, 3, 6, 7)]
# the first explorer link's mask, downloaded from its Export tab: a bool array of n x n
DOWNLOAD = ("/explorer?pattern=window(window=64)&n=4096", "Mask (.npy)", 4096)
LAB_BUDGETS = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5)
# what `make run` sets (Makefile), besides HF_HUB_OFFLINE=1, which start_server sets for every server
MAKE_RUN_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "SPARSE_EXPLORER_ALLOW_LOCAL_MODELS": "1",
    "SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS": "8192",
    "SPARSE_EXPLORER_MAX_LAB_TOKENS": "8192",
    "SPARSE_EXPLORER_BUDGET_LAB_CPU_SECONDS": "600",
}
# set where the benchmark runs, never by make run: the server must not inherit them
NOT_MAKE_RUN = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL",
)
TARGETS = {
    "explorer wire p95 (s)": 3.0,
    "every action's wire p95 (s)": 10.0,
    "peak RSS (MB)": 3072,
    "after close (MB)": 300,
}
TIMEOUT_S = 240.0
ONLY: set[str] = set()  # --actions: a development run's subset of the class mix (empty: all of it)
IN_FLIGHT: Counter = Counter()  # actions under way now, read by the RSS watcher at each new peak
DONE = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}  # FINISHED_EARLY_FOR_RERUN is not an end: the user waits for the run that follows
CHARTS_DRAWN = (
    "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))"
    " && !document.querySelector('[data-testid=stSkeleton]')"
)


class Wire:
    """One page's Streamlit websocket frames, parsed, with the browser's own timestamps (seconds).

    Read through a CDP session rather than Playwright's websocket events: the timestamps are the
    browser's network stack's, so a busy driver or load generator delays the report, not the figure.
    """

    def __init__(self) -> None:
        self.sockets: set[str] = set()
        self.requests: list[tuple[float, str]] = []  # (time, socket) of each rerun_script BackMsg sent
        self.finished: list[tuple[float, str, int]] = []  # (time, socket, status) of each script_finished
        self.exceptions: list[tuple[float, str]] = []  # (time, message) of exception elements the server sent
        self.received: list[tuple[float, str, int]] = []  # (time, socket, bytes) of every frame received
        self.session: dict[str, str] = {}  # socket -> the server's session id (new_session, sent at each run)
        self.changed = asyncio.Event()

    async def attach(self, context, page) -> None:
        cdp = await context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", self._created)
        cdp.on("Network.webSocketFrameSent", lambda p: self._frame(p, sent=True))
        cdp.on("Network.webSocketFrameReceived", lambda p: self._frame(p, sent=False))
        await cdp.send("Network.enable")

    def _created(self, params: dict) -> None:
        if "/_stcore/stream" in params.get("url", ""):
            self.sockets.add(params["requestId"])

    def _frame(self, params: dict, sent: bool) -> None:
        socket, response = params["requestId"], params["response"]
        if socket not in self.sockets or response.get("opcode") != 2:
            return
        data, at = base64.b64decode(response["payloadData"]), params["timestamp"]
        if sent:
            back = BackMsg()
            back.ParseFromString(data)
            if back.WhichOneof("type") == "rerun_script":
                self.requests.append((at, socket))
        else:
            self.received.append((at, socket, len(data)))
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session" and msg.new_session.initialize.session_id:
                self.session[socket] = msg.new_session.initialize.session_id
            elif kind == "script_finished":
                self.finished.append((at, socket, msg.script_finished))
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                if msg.delta.new_element.WhichOneof("type") == "exception":
                    exception = msg.delta.new_element.exception
                    self.exceptions.append((at, f"{exception.type}: {exception.message}"[:200]))
        self.changed.set()

    def mark(self) -> tuple[int, int, int, int]:
        return len(self.requests), len(self.finished), len(self.exceptions), len(self.received)

    async def run_after(self, mark: tuple[int, int, int, int], timeout: float = TIMEOUT_S) -> tuple[float, float, str]:
        """(seconds from the first rerun request after `mark` to the end of that run, MB the server sent
        on that socket meanwhile, the socket)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if len(self.requests) > mark[0]:
                start, socket = self.requests[mark[0]]
                for at, where, status in self.finished[mark[1] :]:
                    if where == socket and at >= start and status in DONE:
                        if len(self.exceptions) > mark[2]:
                            raise RuntimeError(f"the server sent an exception: {self.exceptions[mark[2]][1]}")
                        sent = sum(b for t, w, b in self.received[mark[3] :] if w == socket and start <= t <= at)
                        return at - start, sent / 2**20, socket
            self.changed.clear()  # single-threaded: no frame can arrive between the check and here
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                what = "no rerun request" if len(self.requests) <= mark[0] else "no script_finished"
                raise TimeoutError(f"{what} on the wire within {timeout:.0f} s") from None


async def _page_ready(page) -> None:
    """The page shows the finished run: connected, script not running, charts drawn, no skeleton."""
    timeout = TIMEOUT_S * 1000
    await page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout)
    await page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)
    await page.wait_for_function(CHARTS_DRAWN, timeout=timeout)
    if await page.get_by_test_id("stException").count():
        raise RuntimeError("an exception is shown on the page")


class Timing(NamedTuple):
    """One action as measured here; `session`, `begun` and `ended` find its runs in the server's run log."""

    wire: float  # browser timestamps: rerun request sent -> script_finished read
    page: float  # until the page is ready
    mb: float  # MB the server sent on that socket during the run
    session: str  # the server's session id of the socket that made the request
    begun: float  # epoch seconds here, before the navigation or click (before the request can arrive)
    ended: float  # epoch seconds here, after the browser read the run's end (after the server finished it)


async def _act(page, wire: Wire, do) -> Timing:
    """The timings of one navigation or click; waits on the wire, then the page.

    The wire comes first: the page's own "notRunning" may still be the previous run's until the
    browser has read the new one, and a starved renderer reads it late.
    """
    mark = wire.mark()
    begun, t0 = time.time(), time.perf_counter()
    await do()
    server, payload, socket = await wire.run_after(mark)
    ended = time.time()
    await _page_ready(page)
    return Timing(server, time.perf_counter() - t0, payload, wire.session.get(socket, ""), begun, ended)


def _expected_download_size(n: int) -> int:
    """Bytes of an n x n bool mask saved by numpy (its .npy header included), computed here, not read off the page."""
    out = io.BytesIO()
    np.save(out, np.zeros((n, n), dtype=bool))
    return out.tell()


def _lab_path(index: int) -> str:
    budget = LAB_BUDGETS[index % len(LAB_BUDGETS)]
    return f"/lab?model=smollm2&tokens=64&patterns=window&budgets={budget:g}&view=quality"


def _script(index: int) -> list[tuple[str, str]]:
    """One session's actions: every kind, explorer links between. The steps come in five groups, and
    session i starts at group i mod 5 (then wraps round): 30 browsers on the server's two cores draw
    their pages slowly (page-ready ~1 min), so a session gets through only a few steps in five minutes,
    and the rotation makes every kind of step (the Lab, Learn and Cost included) start early in
    several sessions. A step that needs another (the SmolLM2 switch after the inspector, the download
    on its explorer link) stays in its group."""
    explorer = EXPLORER[index % 3 :] + EXPLORER[: index % 3]
    groups = [
        [("explorer", explorer[0]), ("download", DOWNLOAD[0])],
        [("inspector", "/inspector"), ("inspector smollm2", "/inspector")],
        [("lab (small run)", _lab_path(index)), ("explorer", explorer[1])],
        [("learn", LEARN[index % len(LEARN)]), ("explorer", explorer[2])],
        [("cost", "/cost"), ("explorer", explorer[3]), ("explorer", explorer[4])],
    ]
    start = index % len(groups)
    return [step for group in groups[start:] + groups[:start] for step in group]


def _goto(page, url: str):
    return lambda: page.goto(url, wait_until="commit", timeout=TIMEOUT_S * 1000)


def _click(locator):
    return lambda: locator.click(timeout=TIMEOUT_S * 1000)


def _smollm2(page):
    return page.get_by_test_id("stRadio").get_by_text("SmolLM2", exact=False).first


async def _download(page, wire: Wire, url: str, expected: int, downloads: list) -> None:
    """Open the explorer's Export tab and download the mask; (seconds, bytes, ok) into `downloads`.

    Done only when the browser finished the file and it has the size computed here: a file the server
    lost arrives as a 404, which Chromium reports as a "canceled" download."""
    await _act(page, wire, _goto(page, url + DOWNLOAD[0]))
    await _act(page, wire, _click(page.get_by_role("tab", name="Export & share")))
    button = page.get_by_test_id("stDownloadButton").filter(has_text=DOWNLOAD[1]).get_by_role("button")
    t0 = time.perf_counter()
    async with page.expect_download(timeout=TIMEOUT_S * 1000) as info:
        await button.click(timeout=TIMEOUT_S * 1000)
    download = await info.value
    failure = await download.failure()
    size = -1 if failure else Path(await download.path()).stat().st_size
    downloads.append((time.perf_counter() - t0, size, failure is None and size == expected))
    await download.delete()
    if failure or size != expected:
        raise RuntimeError(f"download {failure or 'complete'} with {size:,} bytes, expected {expected:,}")


async def _lab_run(page, wire: Wire, url: str, path: str) -> Timing:
    await _act(page, wire, _goto(page, url + path))
    return await _act(page, wire, _click(page.get_by_role("button", name="Run", exact=True)))


async def _session(browser, index, url, deadline, speed_run, results, errors, downloads) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    wire = Wire()
    await wire.attach(context, page)
    expected = _expected_download_size(DOWNLOAD[2])
    for action, path in _script(index):
        if ONLY and action not in ONLY:
            continue
        if time.time() > deadline:
            break
        IN_FLIGHT[action] += 1
        try:
            if action == "inspector smollm2":
                await _act(page, wire, _goto(page, url + path))
                results[action].append(await _act(page, wire, _click(_smollm2(page))))
            elif action == "download":
                await _download(page, wire, url, expected, downloads)
            elif action.startswith("lab"):
                results[action].append(await _lab_run(page, wire, url, path))
            else:
                results[action].append(await _act(page, wire, _goto(page, url + path)))
        except Exception as e:  # one failed action is counted; the session goes on
            errors.append((action, f"session {index} {action} {path}: {type(e).__name__}: {_first_line(e)}"))
        finally:
            IN_FLIGHT[action] -= 1
        if speed_run and action == "cost" and time.time() < deadline:
            IN_FLIGHT["speed run (queued)"] += 1
            try:
                await _act(page, wire, _click(page.get_by_role("tab").nth(3)))
                button = page.get_by_test_id("stButton").filter(has_text="Measure").first
                results["speed run (queued)"].append(await _act(page, wire, _click(button)))
            except Exception as e:
                line = f"session {index} speed run: {type(e).__name__}: {_first_line(e)}"
                errors.append(("speed run (queued)", line))
            finally:
                IN_FLIGHT["speed run (queued)"] -= 1
    await context.close()


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0][:120]


SPIN = "\n".join(
    [
        "import sys, time",
        "end = time.time() + float(sys.argv[1])",
        "while time.time() < end: pass",
        "print(time.process_time())",
    ]
)


def low_priority_session(nice: int = 19) -> str:
    """Move this process into a session (so an autogroup) of its own and give that autogroup `nice`.

    Why not plain nice: with kernel.sched_autogroup_enabled = 1, as here, CFS first shares the cores
    between autogroups (one per session, setsid) and only then between the threads of each group by
    their nice value. Nice 19 on the browser's threads only ordered them among themselves. Worse,
    Playwright starts Chromium detached, in a session of its own: Chromium had an autogroup of its
    own at nice 0 and took an equal share of the cores with the server (Run T: browsers 583 CPU-s,
    server 56). So here:
    - the server is started in a session of its own (start_new_session; its autogroup at
      --server-nice, 0 by default, as a server started by make run);
    - this process and the Playwright driver (its child) share this session's autogroup at `nice`;
    - Chromium's own session's autogroup is set to `nice` too, by `Client.renice` as soon as it
      appears (/proc/<pid>/autogroup);
    - a process-group leader, such as a shell's job, may not call setsid: then this process forks,
      the child goes on in its own session, and the parent only waits for it (passing on Ctrl-C and
      SIGTERM).
    `check_priority` verifies, with busy children started the same ways, that it works here.
    Returns what was done, for the report."""
    if os.getpid() == os.getpgrp():
        child = os.fork()
        if child:
            _wait_for(child)  # never returns
    os.setsid()
    if not set_autogroup_nice(os.getpid(), nice):
        return "own session; the autogroup's nice could not be set (per-thread nice only)"
    enabled = Path("/proc/sys/kernel/sched_autogroup_enabled")
    on = enabled.exists() and enabled.read_text().strip() == "1"
    return f"own sessions, autogroup nice {nice} (autogroups {'on' if on else 'OFF: per-thread nice only'})"


def set_autogroup_nice(pid: int, nice: int) -> bool:
    """Give the autogroup (session) of `pid` the weight of `nice`; False where it cannot be set."""
    path = Path(f"/proc/{pid}/autogroup")
    try:
        if path.read_text().split()[-1] != str(nice):
            path.write_text(str(nice))
        return True
    except (OSError, IndexError):
        return False


def _wait_for(child: int) -> None:
    """The parent's part of low_priority_session: pass signals on, exit with the child's status."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except KeyboardInterrupt:
            os.kill(child, signal.SIGINT)
        except ChildProcessError:
            status = 0
            break
    os._exit(os.waitstatus_to_exitcode(status))


def check_priority(server_nice: int, client_nice: int, seconds: float = 2.0) -> tuple[float, float]:
    """(CPU seconds of os.cpu_count() busy children in a session like the server's, of as many in a session like
    Chromium's), all spinning at once for `seconds`: the second should be a small fraction of the first."""

    def spin(nice: int) -> list[subprocess.Popen]:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", SPIN, str(seconds)], start_new_session=True, stdout=subprocess.PIPE, text=True
            )
            for _ in range(os.cpu_count() or 1)
        ]
        for child in children:
            set_autogroup_nice(child.pid, nice)
        return children

    server, client = spin(server_nice), spin(client_nice)
    return tuple(sum(float(p.communicate()[0] or 0) for p in group) for group in (server, client))  # type: ignore[return-value]


def _free_port() -> int:
    import socket  # here: `socket` names a websocket's id everywhere else in this file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int = 0) -> tuple[subprocess.Popen, str]:
    """`streamlit run serve.py` in a session (autogroup) of its own, on `port` (0: a free one); (process, url)
    once it answers its health check. As tests/browser.start_server, but not in the load generator's
    autogroup (low_priority_session)."""
    port = port or _free_port()
    env = {**env, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, "streamlit run serve.py", 120)
    return proc, url


class Client:
    """The load generator's processes (this one excluded): the Playwright driver and the browser."""

    def __init__(self, server: psutil.Process, per_thread: bool, nice: int = 19) -> None:
        self.per_thread = per_thread  # renice each thread: only where the autogroup's own nice could not be set
        self.nice = nice
        self.autogroups: set[str] = set()  # the client's autogroups seen, with their nice
        self.server_pids = {server.pid}
        self.reniced: Counter = Counter()  # thread id -> times set back to nice 19
        self.cpu: dict[int, float] = {}

    def processes(self) -> list[psutil.Process]:
        out = []
        for p in psutil.Process().children(recursive=True):
            try:
                if p.pid in self.server_pids or p.ppid() in self.server_pids:
                    self.server_pids.add(p.pid)
                    continue
                out.append(p)
            except psutil.Error:
                pass
        return out

    def renice(self) -> None:
        """Note the client's CPU seconds and give each client process's autogroup the client's nice; where that
        cannot be set, nice every thread of the browser and its driver instead (Linux nice is per thread).

        Called every half second: Chromium sets its own thread priorities as it goes (display threads
        to nice -8 when it may, renderers up and down with their visibility), so once is not enough.
        With autogroups (low_priority_session) per-thread nice is moot: those threads compete only with each
        other; what counts is the weight of Chromium's autogroup, set here the first time it is seen.
        """
        for p in self.processes():
            try:
                self.cpu[p.pid] = sum(p.cpu_times()[:2])
                if not self.per_thread:
                    if set_autogroup_nice(p.pid, self.nice):  # Chromium's own session (Playwright starts it detached)
                        self.autogroups.add(Path(f"/proc/{p.pid}/autogroup").read_text().strip())
                    continue
                for thread in p.threads():
                    if os.getpriority(os.PRIO_PROCESS, thread.id) < self.nice:
                        os.setpriority(os.PRIO_PROCESS, thread.id, self.nice)
                        self.reniced[thread.id] += 1
            except (psutil.Error, ProcessLookupError, PermissionError):
                pass


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    procs = [proc]
    try:
        procs += proc.children(recursive=True)
    except psutil.Error:
        pass
    return procs


def _rss(proc: psutil.Process) -> float:
    """Resident memory of the server and its children, in MB."""
    total = 0
    for p in _tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in _tree(proc):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _open_connections(server: psutil.Process, url: str) -> int:
    """Connections open to the server's port (websockets and kept-alive HTTP); serve.py closes the metrics
    endpoint that counted sessions, and a closed tab closes its connections."""
    port = urlparse(url).port
    count = 0
    for p in _tree(server):
        try:
            count += sum(
                1 for c in p.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED"
            )
        except psutil.Error:
            pass
    return count


async def _until(predicate, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(every)
    return False


async def _stable_rss(server: psutil.Process, timeout: float = 60.0) -> tuple[float, float]:
    """(RSS in MB once 5 samples 1 s apart agree within 5 MB, seconds it took); the last sample at timeout."""
    samples, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        samples.append(_rss(server))
        if len(samples) >= 5 and max(samples[-5:]) - min(samples[-5:]) < 5:
            break
        await asyncio.sleep(1.0)
    return samples[-1], time.monotonic() - t0


def _session_ttl() -> int:
    from streamlit import config

    return int(config.get_option("server.disconnectedSessionTTL"))


async def _drive(url, server, client, sessions, minutes, speed_runs, ttl, results, errors, downloads, report) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        client.renice()
        # A warm server is the baseline: each page once, both models loaded (they stay cached by design).
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        warm = await context.new_page()
        wire = Wire()
        await wire.attach(context, warm)
        for path in ("/", "/explorer", "/learn", "/cost", "/lab", "/inspector", "smollm2"):
            try:  # a page that fails here fails in the sessions too: counted, and the run goes on
                await _act(warm, wire, _click(_smollm2(warm)) if path == "smollm2" else _goto(warm, url + path))
            except Exception as e:
                errors.append(("warm-up", f"warm-up {path}: {type(e).__name__}: {_first_line(e)}"))
        await context.close()
        await _until(lambda: _open_connections(server, url) == 0, 60)
        report["idle"], _ = await _stable_rss(server)
        report["load"] = os.getloadavg()
        cpu0, t0 = _cpu(server), time.perf_counter()
        deadline = time.time() + minutes * 60
        tasks = []
        for i in range(sessions):
            tasks.append(
                asyncio.create_task(_session(browser, i, url, deadline, i < speed_runs, results, errors, downloads))
            )
            await asyncio.sleep(0.2)  # a class arrives within seconds, not within the same millisecond
        await asyncio.gather(*tasks)
        report["wall"], report["cpu"] = time.perf_counter() - t0, _cpu(server) - cpu0
        report["all_disconnected"] = await _until(lambda: _open_connections(server, url) == 0, 60)
        closed = time.monotonic()
        report["disconnected"], _ = await _stable_rss(server)
        # serve.py expires the closed sessions and lets go of the class's caches once no browser has been
        # connected for the TTL (+5 s); a visit in between would restart that wait, so none is made
        await asyncio.sleep(max(0.0, closed + ttl + 10 - time.monotonic()))
        report["after"], report["settle"] = await _stable_rss(server)
        await browser.close()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(values: list[float]) -> str:
    if not values:
        return "— | — | —"
    ordered = sorted(values)
    return f"{_quantile(ordered, 0.5):.2f} | {_quantile(ordered, 0.95):.2f} | {ordered[-1]:.2f}"


def server_env(extra: list[str], ttl: int | None) -> dict[str, str]:
    """The server's environment: this process's without what make run never sets, plus make run's own."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_MAKE_RUN}
    env |= MAKE_RUN_ENV | dict(item.split("=", 1) for item in extra)
    env["SPARSE_LAB_DISK_CACHE"] = "0"  # every run computes: a class's first runs, not an earlier benchmark's disk
    if ttl is not None:
        env["STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL"] = str(ttl)
    return env


def _seconds(value: float | None) -> str:
    return "none measured" if value is None else f"{value:.2f} s"


class ServerRun(NamedTuple):
    """The server's side of one action, from its run log (ui/runlog.py)."""

    wire: float  # the request's arrival -> the end of the run that served it
    start_delay: float  # the request's arrival -> its script run starting
    cpu: float  # CPU seconds of the script thread(s) over those runs
    queued: float  # seconds waiting for a turn in jobs.HEAVY
    heavy: float  # seconds holding that turn


SERVED = {"ok", "StopException"}  # st.stop ends a run as finished; a RerunException run is replaced by the next


def read_run_log(path: Path) -> dict[str, list[dict]]:
    """The server's script runs by session id, in the order they started."""
    runs: dict[str, list[dict]] = defaultdict(list)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                run = json.loads(line)
            except ValueError:
                continue  # a line cut by the server's end
            runs[run["session"]].append(run)
    for session in runs.values():
        session.sort(key=lambda r: r["started"])
    return runs


def server_run(timing: Timing, runs: dict[str, list[dict]], slack: float = 0.05) -> ServerRun | None:
    """Match an action to its runs: the session's first run whose request arrived after the action began,
    up to the first that ended as finished (a run replaced by a newer request or st.rerun is followed)."""
    first = None
    cpu = queued = heavy = 0.0
    for run in runs.get(timing.session, []):
        if first is None:
            if run["requested"] is None or run["requested"] < timing.begun - slack:
                continue
            first = run
        if run["finished"] > timing.ended + slack:
            return None  # the browser saw the end before the server logged one: not this action's
        cpu, queued, heavy = cpu + run["cpu"], queued + run["queued"], heavy + run["heavy"]
        if run["status"] in SERVED:
            return ServerRun(
                run["finished"] - first["requested"], first["started"] - first["requested"], cpu, queued, heavy
            )
    return None


def summary(
    results: dict, errors: list, downloads: list, report: dict, peak: float, runs: dict[str, list[dict]] | None = None
) -> tuple[list[str], list[str]]:
    """(the table's lines in docs/PERFORMANCE.md's format, one line per target: met or missed).

    `runs`: the server's run log (read_run_log); its columns show "—" without it."""
    lines = [
        "| action | count | errors | wire p50 (s) | wire p95 (s) | wire max (s) "
        "| server wire p50 (s) | server wire p95 (s) | server wire max (s) | matched "
        "| start delay p95 (s) | server CPU p50 (s) | queue wait p95 (s) "
        "| page p50 (s) | page p95 (s) | page max (s) | MB sent p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    failed: Counter = Counter(action for action, _ in errors)
    p95, server_p95 = {}, {}
    for action in sorted(set(results) | set(failed) - {"download"}):
        timings = results.get(action, [])
        wire, page = [t.wire for t in timings], [t.page for t in timings]
        if wire:
            p95[action] = _quantile(sorted(wire), 0.95)
        served = [r for r in (server_run(t, runs or {}) for t in timings) if r is not None]
        if served:
            server_p95[action] = _quantile(sorted(r.wire for r in served), 0.95)
        payload = f"{statistics.median(t.mb for t in timings):.2f}" if timings else "—"
        side = (
            f"{_row([r.wire for r in served])} | {len(served)} | {_p95([r.start_delay for r in served])} "
            f"| {_p50([r.cpu for r in served])} | {_p95([r.queued for r in served])}"
        )
        lines.append(
            f"| {action} | {len(timings)} | {failed[action]} | {_row(wire)} | {side} | {_row(page)} | {payload} |"
        )
    done = [t for t, _, ok in downloads if ok]
    lines.append(
        f"| download (mask.npy, click to file) | {len(done)} | {failed['download']} | — | — | — "
        f"| — | — | — | — | — | — | — | {_row(done)} | — |"
    )
    after = report["after"] - report["idle"]
    attempted = len(downloads) + sum(1 for a, line in errors if a == "download" and "expected" not in line)
    checks = [(len(errors) == 0, f"errors: {len(errors)} (target 0)")]
    for name, values in (("server wire", server_p95), ("browser wire", p95)):
        explorer = values.get("explorer")
        worst = max(values.items(), key=lambda kv: kv[1], default=None)
        checks += [
            (
                explorer is not None and explorer <= TARGETS["explorer wire p95 (s)"],
                f"explorer {name} p95 {_seconds(explorer)} (target <= 3 s)",
            ),
            (
                worst is not None and worst[1] <= TARGETS["every action's wire p95 (s)"],
                f"worst {name} p95 {_seconds(worst and worst[1])}, {worst[0] if worst else 'no action'} "
                "(target <= 10 s)",
            ),
        ]
    checks += [
        (
            len(done) == attempted and attempted > 0,
            f"downloads complete with the right size: {len(done)} of {attempted}",
        ),
        (peak <= TARGETS["peak RSS (MB)"], f"peak RSS {peak:,.0f} MB (target <= 3,072 MB)"),
        (after <= TARGETS["after close (MB)"], f"after close {after:+,.0f} MB over warm (target <= +300 MB)"),
    ]
    return lines, [f"- {'met' if ok else '**missed**'}: {text}" for ok, text in checks]


def _p50(values: list[float]) -> str:
    return f"{_quantile(sorted(values), 0.5):.2f}" if values else "—"


def _p95(values: list[float]) -> str:
    return f"{_quantile(sorted(values), 0.95):.2f}" if values else "—"


def main() -> None:
    """Run the load test, print its table, and write it as markdown when asked."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--speed-runs", type=int, default=2)
    parser.add_argument(
        "--session-ttl",
        type=int,
        default=None,
        help="server.disconnectedSessionTTL (default: Streamlit's, as make run)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the server only, beside make run's (MALLOC_ARENA_MAX=2 ...); repeatable",
    )
    parser.add_argument("--markdown", type=Path, help="also write the results as a '## A class at once' section here")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument(
        "--run-log", type=Path, help="keep the server's run log here (default: a temporary file, deleted)"
    )
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="the server's autogroup nice (default 0; a development run on a shared machine may pass 10)",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=19,
        help="the browser's and driver's autogroup nice (default 19; on a machine busy with other work a "
        "development run may pass 10, or the browser gets almost nothing)",
    )
    parser.add_argument(
        "--actions",
        default="",
        help="development only: a comma-separated subset of the mix (e.g. 'inspector smollm2,lab (small run)')",
    )
    args = parser.parse_args()
    ONLY.update(a.strip() for a in args.actions.split(",") if a.strip())
    priority = low_priority_session(args.client_nice)  # first: before any thread or child starts
    per_thread = "could not be set" in priority
    check = check_priority(args.server_nice, args.client_nice)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below stops the server
    sessions = max(1, min(args.sessions, 40))
    env = server_env(args.server_env, args.session_ttl)
    ttl = args.session_ttl if args.session_ttl is not None else _session_ttl()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()
    run_log = args.run_log or Path(tempfile.mkstemp(prefix="app_load_runs_", suffix=".jsonl")[1])
    run_log.write_text("", encoding="utf-8")
    env[RUN_LOG_ENV] = str(run_log)
    proc, url = start_server(env, args.port)
    if args.server_nice and not set_autogroup_nice(proc.pid, args.server_nice):
        print("the server's autogroup nice could not be set", file=sys.stderr)
    server = psutil.Process(proc.pid)
    client = Client(server, per_thread, args.client_nice)
    results, errors, downloads, report = defaultdict(list), [], [], {}
    peak, stop = [0.0], threading.Event()
    at_peak: dict = {}

    def watch():
        while not stop.is_set():
            rss = _rss(server)
            if rss > peak[0]:
                peak[0] = rss
                at_peak.clear()
                at_peak.update((k, v) for k, v in list(IN_FLIGHT.items()) if v)
            client.renice()  # the client's CPU; without an autogroup of its own, new renderers start at nice 0
            stop.wait(0.5)

    try:
        threading.Thread(target=watch, daemon=True).start()
        asyncio.run(
            _drive(
                url, server, client, sessions, args.minutes, args.speed_runs, ttl, results, errors, downloads, report
            )
        )
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    client_cpu = sum(client.cpu.values())
    shown_env = " ".join(
        f"{k}={env[k]}"
        for k in sorted({*MAKE_RUN_ENV, "SPARSE_LAB_DISK_CACHE"} | {e.split("=", 1)[0] for e in args.server_env})
    )
    head = [
        f"Commit {commit}, {time.strftime('%Y-%m-%d')}; machine: {machine()}",
        f"Server: `streamlit run serve.py` as `make run` starts it: HF_HUB_OFFLINE=1 {shown_env}; session TTL {ttl} s",
        f"Load average before the server started: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"at the start of the sessions: {report['load'][0]:.2f} {report['load'][1]:.2f} {report['load'][2]:.2f}",
        f"{sessions} sessions for {args.minutes:g} min (contexts of one Chromium"
        + (f"; only: {', '.join(sorted(ONLY))}" if ONLY else "")
        + f"), {report['wall']:.0f} s "
        f"wall; server CPU {report['cpu']:.0f} s ({report['cpu'] / report['wall'] / (os.cpu_count() or 1):.0%} of "
        f"the machine); browser and driver CPU {client_cpu:.0f} s (whole run"
        + (f"; {sum(client.reniced.values())} times a client thread was set back to nice 19)" if per_thread else ")"),
        f"Priority: server in a session of its own (autogroup nice {args.server_nice}); browser and driver: "
        f"{priority}; Chromium's: {', '.join(sorted(client.autogroups)) or 'none seen'}. Check: "
        f"{os.cpu_count()} busy children in a session like the server's got {check[0]:.2f} CPU-s, as many in one "
        f"like Chromium's {check[1]:.2f} CPU-s, in the same 2 s",
    ]
    runs = read_run_log(run_log)
    if args.run_log is None:
        run_log.unlink(missing_ok=True)
    logged = [r for session in runs.values() for r in session]
    head.append(
        f"Server run log: {len(logged)} script runs, script-thread CPU {sum(r['cpu'] for r in logged):.0f} s, "
        f"{sum(r['status'] == 'RerunException' for r in logged)} replaced by a newer request; server wire = "
        "the request's arrival at the server to the end of the run that served it"
    )
    table, checks = summary(results, errors, downloads, report, peak[0], runs)
    total = sum(len(v) for v in results.values()) + len(downloads) + len(errors)
    rss = (
        f"Server RSS: warm {report['idle']:,.0f} MB (every page once, both models loaded), "
        f"peak {peak[0]:,.0f} MB ({peak[0] - report['idle']:+,.0f}), "
        f"all tabs closed {report['disconnected']:,.0f} MB ({report['disconnected'] - report['idle']:+,.0f}; "
        f"sessions kept {ttl} s for a reconnect{'' if report['all_disconnected'] else ', some still connected'}), "
        f"after they expired {report['after']:,.0f} MB ({report['after'] - report['idle']:+,.0f}; "
        f"stable after {report['settle']:.0f} s)"
    )
    during = ", ".join(f"{v} {k}" for k, v in sorted(at_peak.items())) or "none"
    text = [
        *head,
        "",
        *table,
        "",
        f"Errors: {len(errors)} of {total} actions",
        *[f"- {line}" for _, line in errors[:20]],
        "",
        rss,
        f"Actions under way at the peak: {during}",
        "",
        "Targets:",
        *checks,
    ]
    print("\n".join(text))
    if args.markdown:
        command = f"python -m benchmarks.app_load --sessions {sessions} --minutes {args.minutes:g}"
        command += f" --session-ttl {args.session_ttl}" if args.session_ttl is not None else ""
        command += f" --server-nice {args.server_nice}" if args.server_nice else ""
        command += f" --client-nice {args.client_nice}" if args.client_nice != 19 else ""
        command += f" --actions '{args.actions}'" if ONLY else ""
        section = [f"## A class at once: {sessions} sessions (`{command}`)", "", *[f"{line}  " for line in head]]
        args.markdown.write_text("\n".join([*section, "", *text[len(head) + 1 :], ""]), encoding="utf-8")


if __name__ == "__main__":
    main()
