"""A computation on a thread of its own while the run goes on.

The EVPPI fits are one core's NumPy work; the one-way runs that follow the PSA keep the
compiled engine on every core but leave it gaps (Python between calls, a short last
block). Fitting during those runs instead of after them takes most of the fits off the
wall clock, and the numbers do not depend on when they were computed. A run that stops
(an error, an interrupt) tells the computation to stop at its next step, and does not wait
for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Stopped(Exception):
    """The run that asked for a computation no longer needs it."""


class Background:
    """`fn(*args, stop=event)` running on a daemon thread; `fn` checks the event between
    its steps (raising Stopped when it is set)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "background") -> None:
        self._stop = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._result = fn(*args, stop=self._stop)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def running(self) -> bool:
        """Whether the computation is still going on."""
        return self._thread.is_alive()

    def result(self) -> Any:
        """The computation's result (waiting for it), or its exception raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def stop(self) -> None:
        """Ask the computation to stop at its next step; do not wait for it."""
        self._stop.set()


def check(stop: threading.Event | None) -> None:
    """A step of a computation that may run in the background: stop if asked to."""
    if stop is not None and stop.is_set():
        raise Stopped
