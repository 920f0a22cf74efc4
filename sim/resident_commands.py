"""`baclofen-sim resident start|stop|status`: the command line's commands for its resident
process (sim.execution.resident, sim.resident_process)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sim import console
from sim.execution import resident

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "A resident process that has done the command line's start-up (imports, the "
        "compiled engine, the report's libraries) once: while it runs, each command is run "
        "by a fork of it, about a second sooner, with the same results."
    ),
)


@app.command("start")
def resident_start(
    idle_minutes: Annotated[
        float, typer.Option(min=0.1, help="End after this many minutes without a command.")
    ] = resident.IDLE_MINUTES,
    warm_up: Annotated[
        Path | None,
        typer.Option(
            help="Scenario simulated once at start, to load its compiled code "
            "(default: the checkout's scenarios/base.yaml)."
        ),
    ] = None,
) -> None:
    """Start this build's resident process (if none is running) and wait until it serves."""
    if warm_up is not None and not warm_up.is_file():
        raise typer.BadParameter(f"--warm-up {warm_up}: no such scenario file")
    if resident.status() is None:
        console.err.print(
            "starting a resident process: the libraries, then the compiled engine (compiled "
            "first if this machine has not yet, 10-30 s)...",
            highlight=False,
        )
    try:
        started = resident.start(idle_minutes, warm_up)
    except resident.Unavailable as exc:
        raise typer.BadParameter(str(exc)) from None
    state = "already running" if started.get("already") else "started"
    console.out.print(
        f"resident process {state} (pid {started['pid']}): commands run by it until it has "
        f"been idle for {started['idle_seconds'] / 60:g} minutes; "
        f"`baclofen-sim resident stop` ends it",
        highlight=False,
    )


@app.command("stop")
def resident_stop() -> None:
    """Stop this user's resident processes (commands they are running go on to their end)."""
    stopped = resident.stop()
    if not stopped:
        console.out.print("no resident process was running", highlight=False)
    for answer in stopped:
        console.out.print(
            f"resident process {answer['pid']} stopped after {answer['served']} commands",
            highlight=False,
        )


@app.command("status")
def resident_status() -> None:
    """Whether this build has a resident process, and what it has served."""
    running = resident.status()
    if running is None:
        console.out.print("no resident process is running for this build", highlight=False)
        return
    console.out.print(
        f"resident process {running['pid']}: {running['served']} commands served since "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(running['started']))}; ends "
        f"after {running['idle_seconds'] / 60:g} idle minutes; socket {running['socket']}",
        highlight=False,
    )
