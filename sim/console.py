"""What the command line shows while it works: the consoles, the progress display of a
run or a batch, the first-run compile notice and the summary table of a run."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.table import Table
from rich.text import Text

from sim import scenario


def _consoles() -> tuple[Console, Console]:
    """The consoles of this process's standard output and error. Off a terminal (CI,
    pipes) Rich would wrap tables at 80 columns: give them room."""
    return (
        Console(width=None if sys.stdout.isatty() else 160),
        Console(stderr=True, width=None if sys.stderr.isatty() else 160),
    )


out, err = _consoles()


def reopen() -> None:
    """Consoles for the standard streams as they are now: a resident process's fork takes
    over a command line's terminal after the consoles were made (colours and width are
    decided when a console is made)."""
    global out, err
    out, err = _consoles()


class LifetimesPerSecond(ProgressColumn):
    """Speed in patient-lifetimes per second (a unit of a task is `lifetimes` of them)."""

    def render(self, task: ProgressTask) -> Text:
        per_unit = task.fields.get("lifetimes", 0)
        if not per_unit or not task.speed:
            return Text("")
        return Text(f"{task.speed * per_unit:,.0f} patient-lifetimes/s", style="cyan")


def progress(quiet: bool) -> Progress:
    """One display for a run or a whole batch: scenarios done, then the running
    scenario's patients, PSA iterations or one-way runs, with speed and time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        LifetimesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    )


class Stages:
    """The pipeline's stages on the run's Rich progress display."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        self.task = self.progress.add_task(
            stage, total=total, unit=unit, lifetimes=lifetimes_per_unit
        )

    def advance(self, units: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, units)

    def end(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = None


def say_if_compiling(engine: str, quiet: bool) -> None:
    """A cold cache compiles the engine before the first block (about 10-30 s): say so,
    or the first run looks hung."""
    if engine != "fast" or quiet:
        return
    from sim import compile_cache
    from sim.engines.fast import fold

    if not compile_cache.is_compiled(fold.block):
        err.print(
            "compiling the simulation engine (first run on this machine only)...",
            highlight=False,
        )


def print_summary(
    loaded: scenario.Scenario, summary, target: Path, seconds: float, simulating: float
) -> None:
    # a title is the user's text, not markup: "[/bold]" in it is shown, not parsed
    table = Table(title=Text(f"{loaded.name}: {loaded.title}" if loaded.title else loaded.name))
    for column in (
        "strategy",
        f"cost ({loaded.currency})",
        "QALYs",
        "life-years",
        "incr. cost",
        "incr. QALYs",
        "ICER",
        "status",
    ):
        table.add_column(column, justify="left" if column in ("strategy", "status") else "right")
    for row in summary.itertuples():
        icer = "" if row.icer != row.icer else f"{row.icer:,.0f}"
        table.add_row(
            row.strategy,
            f"{row.cost:,.0f}",
            f"{row.qaly:.3f}",
            f"{row.life_years:.2f}",
            f"{row.incremental_cost:,.0f}",
            f"{row.incremental_qaly:.3f}",
            icer or row.icer_note,
            row.frontier_status,
        )
    out.print(table)
    out.print(
        f"{loaded.patients:,} patients per strategy, seed {loaded.seed}, "
        f"{seconds:.1f} s ({simulating:.1f} s simulating and analysing, the rest writing "
        f"tables, report and workbook) -> {target}"
    )


#: A run of at least this many consecutive rows of one event folds into one row.
FOLD_AT = 3


def folded(rows: list, at: int = FOLD_AT) -> list[tuple[str, str, str, str, float, float]]:
    """A patient's trace for reading: (years, ages, event, detail, cost, QALY loss) per
    row, with each run of `at` or more consecutive rows of one event (refill visits,
    mostly) as one row that counts them and sums their costs."""
    out: list[tuple[str, str, str, str, float, float]] = []
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1].event == rows[i].event:
            j += 1
        run = rows[i : j + 1]
        name = rows[i].event.replace("_", " ")
        if len(run) >= at:
            out.append(
                (
                    f"{run[0].time_years:.3f}-{run[-1].time_years:.3f}",
                    f"{run[0].age_years:.1f}-{run[-1].age_years:.1f}",
                    f"{name} x {len(run)}",
                    f"{len(run)} in a row (--all shows each)",
                    sum(r.cost for r in run),
                    sum(r.qaly_loss for r in run),
                )
            )
        else:
            out += [
                (f"{r.time_years:.3f}", f"{r.age_years:.1f}", name, r.detail, r.cost, r.qaly_loss)
                for r in run
            ]
        i = j + 1
    return out


def print_trace(
    title: str, rows: list, outcome, currency: str, every: bool, events: list[str] | None = None
) -> None:
    """A patient's events as a table (runs folded unless `every`; only `events` if given),
    then the totals of the whole history, which no single row holds: the background care
    and the utility of the states lived in accrue continuously between events."""
    table = Table(title=Text(title))
    for column in (
        "year",
        "age",
        "event",
        "detail",
        f"cost ({currency}, undiscounted)",
        "QALY loss (undiscounted)",
    ):
        table.add_column(column, justify="left" if column in ("event", "detail") else "right")
    chosen = [r for r in rows if r.event in events] if events else rows
    shown = folded(chosen, len(chosen) + 1 if every or events else FOLD_AT)
    for year, age, event, detail, cost, loss in shown:
        table.add_row(
            year, age, event, detail, f"{cost:,.0f}" if cost else "", f"{loss:.4f}" if loss else ""
        )
    out.print(table)
    undiscounted = float(outcome.undiscounted_cost_by_category.sum())
    events_cost = sum(r.cost for r in rows)
    out.print(
        f"Totals for this patient: cost {outcome.cost:,.0f} {currency} discounted "
        f"({undiscounted:,.0f} undiscounted: {events_cost:,.0f} in the events' rows, "
        f"{undiscounted - events_cost:,.0f} of background care and other costs that accrue "
        f"between events); {outcome.qaly:.3f} QALYs discounted; {outcome.life_years:.2f} "
        f"life-years ({outcome.life_years_discounted:.2f} discounted)",
        highlight=False,
    )
