"""SIGINT and SIGTERM, handled in one place (issue 18).

The handler records the signal before it raises: an exception raised inside a callback
that Python runs for its own purposes (a garbage-collection callback, a finaliser) is
printed and dropped, and the run would go on to write its results and exit 0. Whatever
happens to the exception, the record stays: a result folder is never put in place after
an interrupt (:func:`check` runs before every swap), and the command line exits with the
signal's code.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

#: The signals that stop a run.
STOPS = frozenset({signal.SIGINT, signal.SIGTERM})


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM: the run stops and writes nothing unfinished."""


#: Signals seen by this process (a process-wide fact, as signals are).
_SEEN: list[int] = []


def _handler(signum: int, _frame: object) -> None:
    record(signum)
    raise Interrupted(signum)


def record(signum: int) -> None:
    """Keep a signal on record (the start-up handler of sim.entry does it too)."""
    _SEEN.append(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to the handler (the command line's main thread), and keep
    Python from printing a traceback for an interrupt it swallows (raised inside a
    finaliser or a ctypes callback): it is on record, and the run stops at its next safe
    point with one line."""
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    quiet_when_swallowed()


def quiet_when_swallowed() -> None:
    """No traceback printed for an Interrupted that Python swallows (it is on record)."""
    previous = sys.unraisablehook
    if getattr(previous, "keeps_interrupts_quiet", False):
        return

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            previous(unraisable)  # every other unraisable exception as before

    quiet.keeps_interrupts_quiet = True  # type: ignore[attr-defined]
    sys.unraisablehook = quiet


def seen() -> int | None:
    """The first signal seen, if any."""
    return _SEEN[0] if _SEEN else None


def check() -> None:
    """Raise Interrupted if a signal was seen, even one whose exception was swallowed."""
    if _SEEN:
        raise Interrupted(_SEEN[0])
