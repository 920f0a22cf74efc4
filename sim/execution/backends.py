"""Where work units run: in this process, in a local process pool, or on a Dask cluster (§6, §7).

A work unit is (scenario, parameter set, block of patients); its tally depends on that key
alone (the keyed random streams see to it), never on the worker that ran it or when. The
strategies of a block are not split into separate units: the paired statistics (the
cross-products of costs and QALYs between strategies, "patients with an event under both")
need every strategy of a patient together. Units travel in tasks (a few blocks or
parameter sets each, to amortise the call) and come back in submission order, so that the
caller reduces them in a fixed order and every table is byte-identical on any backend and
any number of workers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

BACKENDS = ("serial", "processes", "dask")
#: Tasks in flight per worker: enough to keep it busy, few enough that results waiting
#: for an earlier, slower task stay few (memory stays flat).
_AHEAD_PER_WORKER = 3
#: A worker lost mid-run (killed, out of memory) has its tasks run again, a few times.
_MAX_POOL_RESTARTS = 3


class Backend:
    """Runs tasks in this process and yields their results in submission order; the
    compiled engine runs each task on `threads` threads (default: one per core)."""

    name = "serial"
    workers = 1
    #: Tasks run in this process (the runner overlaps preparing one with running another).
    in_process = True

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._beside: list[Callable[[], bool]] = []

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def threads_per_task(self) -> int | None:
        return self.threads

    @contextlib.contextmanager
    def beside(self, busy: Callable[[], bool]) -> Iterator[None]:
        """While `busy()` holds, a computation of this process (the EVPPI fits, on a
        thread of their own) keeps a core: tasks run here leave it to it (`threads_now`).
        Otherwise it would get a fifth of a core beside two calls of two threads, and the
        run would wait for it at the end with a core idle."""
        self._beside.append(busy)
        try:
            yield
        finally:
            self._beside.remove(busy)

    def threads_now(self) -> int | None:
        """The compiled engine's threads for a task run here now: `threads` (None: one
        per core), less a core for each computation beside it (at least one)."""
        taken = sum(1 for busy in self._beside if busy())
        if not taken:
            return self.threads
        from sim.engines.fast import default_threads

        return max(1, (self.threads or default_threads()) - taken)

    def close(self) -> None:
        """Stop the workers (also after an interruption: no process is left behind)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: How often a worker looks whether its parent is still there (seconds).
PARENT_WATCH_SECONDS = 0.5


def _worker_start(parent: int) -> None:
    """A worker's start: Ctrl-C in a terminal reaches the whole process group, so the
    parent stops the run and the workers, and a worker must not print a KeyboardInterrupt
    traceback of its own; and a worker whose parent is gone (killed with SIGKILL, which
    no handler sees) exits by itself instead of holding its memory for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Processes(Backend):
    """A local pool of worker processes, each with its share of the cores for the
    compiled engine's threads (no oversubscription)."""

    name = "processes"
    in_process = False

    def __init__(self, workers: int, threads: int | None = None) -> None:
        super().__init__(threads)
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def threads_per_task(self) -> int:
        return self.threads

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: a forked child of a process whose Numba threads are running
            # can deadlock.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        restarts = 0
        # [item, future]; the future is None until submitted, and again after a restart.
        pending: deque[list[Any]] = deque()
        source = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.workers * _AHEAD_PER_WORKER:
                item = next(source, _END)
                if item is _END:
                    exhausted = True
                    break
                pending.append([item, None])
            if not pending:
                return
            try:
                # Both submit() and result() raise once a worker has died.
                for entry in pending:
                    if entry[1] is None:
                        entry[1] = self._executor().submit(fn, entry[0])
                result = pending[0][1].result()
            except BrokenProcessPool:
                # A worker died: start a new pool and submit the unfinished tasks again.
                restarts += 1
                if restarts > _MAX_POOL_RESTARTS:
                    raise
                self._kill()
                for entry in pending:
                    entry[1] = None
                continue
            pending.popleft()
            yield result

    def _kill(self) -> None:
        """Stop the pool now: kill its workers, reap them, and let the executor's own
        threads wind down without waiting on them (after an interrupt in the middle of the
        executor's bookkeeping, a waiting shutdown could wait for ever)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=5)
        # Tasks still queued for the dead workers sit in a pipe nobody reads: the queue's
        # feeder thread blocks writing them, and the executor's shutdown (and, at exit,
        # the interpreter) would wait for it for ever. Nothing in the queue is wanted now.
        queue = getattr(pool, "_call_queue", None)
        if queue is not None:
            queue.cancel_join_thread()
            queue._ignore_epipe = True  # its feeder's write to a dead worker: no traceback
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._kill()


_END = object()


#: How long a --scheduler address has to answer as a Dask scheduler.
CONNECT_SECONDS = 30.0


def _connect(client: Callable[..., Any], address: str, seconds: float) -> Any:
    """A Dask client of the scheduler at `address`, or TimeoutError after `seconds`: a
    server that accepts the connection but is not a Dask scheduler (a web server, say)
    never answers the handshake, and Client's own timeout does not cover that wait. The
    attempt runs in a daemon thread, so a hung one cannot keep the process alive."""
    found: dict[str, Any] = {}

    def attempt() -> None:
        try:
            found["client"] = client(address, timeout=f"{seconds:g}s")
        except BaseException as exc:  # handed to the caller
            found["error"] = exc

    thread = threading.Thread(target=attempt, name="dask-connect", daemon=True)
    thread.start()
    thread.join(seconds + 2.0)
    if "client" in found:
        return found["client"]
    if "error" in found:
        raise found["error"]
    raise TimeoutError(f"no answer as a Dask scheduler within {seconds:g} s")


class Dask(Backend):
    """Dask distributed: an existing cluster (`scheduler` address) or a LocalCluster of
    `workers` processes started for the run. The scheduler reruns the tasks of a worker
    that is lost; tasks are pure, so a rerun gives the same tally."""

    name = "dask"
    in_process = False

    def __init__(
        self, workers: int | None, scheduler: str | None, threads: int | None = None
    ) -> None:
        super().__init__(threads)
        import dask
        from distributed import Client, LocalCluster

        # A local worker's statistical profiler samples its threads every 10 ms: about a
        # tenth of a core that the compiled engine could use. Restored on close().
        self._config = dask.config.set(
            {
                "distributed.worker.profile.enabled": False,
                "distributed.admin.system-monitor.gil.enabled": False,
            }
        )
        self._cluster = None
        if scheduler is None:
            self._cluster = LocalCluster(
                n_workers=workers or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=50,  # logging.CRITICAL: the progress display is the output
            )
            self._client = Client(self._cluster)
        else:
            self._client = _connect(Client, scheduler, CONNECT_SECONDS)
        self.workers = max(1, len(self._client.scheduler_info()["workers"]))
        # A local cluster shares this machine's cores; workers of a remote cluster use
        # their own machine's cores (start them with --nthreads 1).
        local = max(1, (os.cpu_count() or 1) // self.workers) if scheduler is None else None
        self.threads = threads or local

    def threads_per_task(self) -> int | None:
        return self.threads

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        pending: deque[Any] = deque()
        source = iter(items)
        ahead = self.workers * _AHEAD_PER_WORKER
        for item in source:
            pending.append(self._client.submit(fn, item, pure=False))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._config.__exit__(None, None, None)


def open_backend(
    name: str,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
) -> Backend:
    """The backend of `--backend NAME`; `workers` defaults to the machine's cores, and
    each worker's compiled-engine `threads` to its share of them."""
    cores = os.cpu_count() or 1
    if name == "serial":
        return Backend(threads)
    if name == "processes":
        return Processes(workers or cores, threads)
    if name == "dask":
        return Dask(workers or (None if scheduler else cores), scheduler, threads)
    raise ValueError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
