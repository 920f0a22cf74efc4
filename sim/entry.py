"""The command line's entry point: light, so that an interrupt while the heavy modules are
imported is already handled: kept on record (sim.execution.interrupts), so that the
command line stops at once with exit 130/143 and one line, even if the exception raised
during the imports was swallowed on the way."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time

from sim.execution import interrupts, resident
from sim.execution.collector import long_lived

START_UP = "interrupted while starting: nothing was run\n"


def _early(signum: int, _frame: object) -> None:
    interrupts.record(signum)
    raise interrupts.Interrupted(signum)


def main(forward: bool = True) -> None:
    """The command line: run by this build's resident process when one is running
    (sim.execution.resident; `forward` is False in the resident process's own fork),
    else here."""
    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)
    interrupts.quiet_when_swallowed()
    try:
        # a resident process's fork holds them until its handlers are in place
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.STOPS)
        served = resident.forward(sys.argv) if forward else None
        if served is not None:
            sys.exit(served)
        with long_lived():  # the libraries' imports: about a million objects
            from sim import cli  # installs its own handlers, then checks the record
    except SystemExit:
        raise
    except BaseException:
        # The Interrupted raised by the handler may come out as another exception: a
        # library that was running (pydantic building a validator, say) wraps it in its
        # own error. The record says whether a signal was the cause.
        signum = interrupts.seen()
        if signum is None:
            raise
        sys.stderr.write(START_UP)
        sys.exit(143 if signum == signal.SIGTERM else 130)
    try:
        cli.main()
    except SystemExit as exc:
        if interrupts.seen() is not None and not _threads_end(THREADS_WAIT_SECONDS):
            # Interrupted, and the run has cleaned up after itself (no folder written,
            # workers killed), but a library's thread is still there: a process pool's
            # manager thread blocked for ever reading the half-written result of a worker
            # killed mid-write, which the interpreter's shutdown would wait for. Leave.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 130)
        raise
    finally:
        gc.freeze()  # what is left is freed by the process's end, not walked first


#: How long an interrupted run waits for library threads to end before it leaves anyway.
THREADS_WAIT_SECONDS = 1.0


def _threads_end(seconds: float) -> bool:
    """Whether every other non-daemon thread ends within `seconds`."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon or not thread.is_alive():
            continue  # (a thread whose start the interrupt cut short is not alive yet)
        try:
            thread.join(max(0.0, deadline - time.monotonic()))
        except BaseException:  # a second signal, or a thread in the middle of starting
            return False
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    return not any(t.is_alive() and not t.daemon for t in others)
