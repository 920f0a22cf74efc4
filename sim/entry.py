"""The command line's entry point: light, so that an interrupt while the heavy modules are
imported is already handled: kept on record (sim.execution.interrupts), so that the
command line stops at once with exit 130/143 and one line, even if the exception raised
during the imports was swallowed on the way."""

from __future__ import annotations

import signal
import sys

from sim.execution import interrupts

START_UP = "interrupted while starting: nothing was run\n"


def _early(signum: int, _frame: object) -> None:
    interrupts.record(signum)
    raise interrupts.Interrupted(signum)


def main() -> None:
    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)
    try:
        from sim import cli  # installs its own handlers, then checks the record
    except interrupts.Interrupted as exc:
        sys.stderr.write(START_UP)
        sys.exit(143 if exc.args == (signal.SIGTERM,) else 130)
    cli.main()
