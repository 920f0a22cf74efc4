"""A whole study of one scenario: base case, PSA, one-way and threshold analyses, tables.

``run(scenario)`` is what the command line, ``make bench``, ``make validation`` and the
tests call, and what a notebook calls::

    import sim
    results = sim.run(sim.load("scenarios/base.yaml", patients=3000, psa_iterations=0))
    results.summary            # a DataFrame; results.tables holds every table
    results.write("results")   # results/base/: exactly what `baclofen-sim run` writes

The command line adds only its options, a progress display and exit codes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from sim.analysis import convergence, preflight
from sim.analysis.one_way import OneWay, one_way, runs_known
from sim.analysis.psa import (
    Psa,
    ceac_table,
    evppi_table,
    psa,
    psa_summary_columns,
    psa_table,
)
from sim.engines.tally import Tally
from sim.execution import runner
from sim.execution.backends import Backend
from sim.execution.background import Background
from sim.numerics import lifetable
from sim.output import files
from sim.output import tables as output_tables
from sim.output.beside import Writers
from sim.scenario import Scenario, Uncertain, prices


class Progress(Protocol):
    """What a run tells a progress display: the stages it goes through (the base case in
    patients, the PSA in iterations, the one-way runs), and the work done in each."""

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        """A stage starts: `total` units (None: not known ahead), each of that many
        patient-lifetimes."""

    def advance(self, units: int) -> None:
        """Units of the current stage are done."""

    def end(self) -> None:
        """The current stage is done."""


class Silent:
    """A progress display that shows nothing."""

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        pass

    def advance(self, units: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class Results:
    """Everything a run of one scenario found: its tables (DataFrames, in the order they
    are written) and the raw results behind them."""

    scenario: Scenario
    tables: dict[str, pd.DataFrame]
    tally: Tally
    psa: Psa | None
    one_way: OneWay | None
    warnings: list[str]
    seconds: float
    engine: str
    backend: str
    workers: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        return self.tables["summary"]

    @property
    def events(self) -> pd.DataFrame:
        return self.tables["events"]

    def manifest(self) -> dict[str, Any]:
        """manifest.json: what made the tables (the only place for timings and the backend)."""
        index = runner.price_index(self.scenario)
        inflation = [
            {**dataclasses.asdict(x), "priced": x.priced}
            for x in prices.inflation(self.scenario.model_dump(), index)
        ]
        extra = {
            "price_index": index.name,
            "inflation": inflation,
            "psa_iterations": self.scenario.psa_iterations,
            "backend": self.backend,
            "workers": self.workers,
            "warnings": self.warnings,
            "files": self.files(),
            **self.extra,
        }
        source = self.scenario.source
        return output_tables.manifest(
            self.scenario,
            source if source is not None else Path(""),
            self.engine,
            self.seconds,
            extra,
        )

    def files(self) -> list[str]:
        """What `write` puts in the folder besides the manifest and the plots: a batch
        reruns a folder that lacks any of them."""
        names = [f"{name}.csv" for name in self.tables]
        names += [f"{n}.parquet" for n in self.tables if n in output_tables.PARQUET_TABLES]
        return [*names, "report.html", "results.xlsx"]

    def write(self, out_dir: str | Path, writers: Writers | None = None) -> Path:
        """Every table, the manifest, report.html and results.xlsx into OUT/<name>/, at once
        or not at all (an earlier result there stays until the new one is complete).
        The report and the workbook are written from the tables by two processes, side by
        side: `writers` (started ahead by the command line, so that their imports overlap
        the run) or two started here. Returns the folder."""
        target = Path(out_dir) / self.scenario.name
        with files.atomic_folder(target) as tmp, contextlib.ExitStack() as own:
            ahead = writers or own.enter_context(Writers())
            for name, frame in self.tables.items():
                output_tables.write_csv(frame, tmp / f"{name}.csv")
                if name in output_tables.PARQUET_TABLES:
                    output_tables.write_parquet(frame, tmp / f"{name}.parquet")
            (tmp / "manifest.json").write_text(json.dumps(self.manifest(), indent=2) + "\n")
            ahead.start(tmp)
            ahead.finish()
        return target


def run(
    scenario: Scenario,
    *,
    engine: str = "fast",
    backend: Backend | None = None,
    progress: Progress | None = None,
    one_way_analyses: bool = True,
) -> Results:
    """The base case, then the PSA and the one-way and threshold analyses when the scenario
    asks for them (`one_way_analyses=False` skips the latter), and every table. Relative
    paths of the scenario (a life table) are read from its file's folder
    (`Scenario.base_dir`). Every one-way value and the PSA iterations that draw a value's
    extremes are validated first: a value outside its range is a ScenarioError before
    any patient runs."""
    preflight.check(scenario, scenario.source or Path(scenario.name), one_way_analyses)
    progress = progress or Silent()
    backend = backend or Backend()
    start = time.perf_counter()
    table = lifetable.load(scenario.cohort.life_table, scenario.base_dir)
    file = str(scenario.source or "")
    strategies = len(scenario.strategies)
    running = convergence.Running()
    progress.begin(scenario.name, scenario.patients, "patients", strategies)
    tally = runner.simulate(
        scenario,
        table,
        0,
        progress.advance,
        engine,
        observe=lambda t: running.observe(scenario, t),
        backend=backend,
    )
    progress.end()
    result_psa, evppi = None, None
    if scenario.psa_iterations:
        lifetimes = scenario.patients * strategies
        progress.begin(f"{scenario.name} PSA", scenario.psa_iterations, "iterations", lifetimes)
        result_psa = psa(scenario, table, file, progress.advance, engine, backend)
        progress.end()
        # fitted while the one-way runs go on: one core's work, and the same numbers
        evppi = Background(evppi_table, scenario, result_psa, name="evppi")
    try:
        result_one_way = None
        n_one_way = 2 * sum(isinstance(e, Uncertain) for e in scenario.uncertainty.values())
        if one_way_analyses and (n_one_way or scenario.analysis.thresholds):
            lifetimes = scenario.patients * strategies
            progress.begin(f"{scenario.name} one-way", runs_known(scenario), "runs", lifetimes)

            def refining() -> None:  # the threshold searches' steps: not known ahead
                progress.end()
                progress.begin(f"{scenario.name} thresholds", None, "runs", lifetimes)

            # the fits keep a core of their own while they last (Backend.beside)
            with backend.beside(evppi.running) if evppi else contextlib.nullcontext():
                result_one_way = one_way(
                    scenario, table, tally, file, progress.advance, engine, backend, refining
                )
            progress.end()
        evppi_frame = evppi.result() if evppi is not None else None
    except BaseException:
        if evppi is not None:
            evppi.stop()
        raise
    seconds = time.perf_counter() - start
    warnings = convergence.noise_warnings(scenario, result_psa) if result_psa is not None else []
    return Results(
        scenario,
        _tables(scenario, tally, result_psa, evppi_frame, result_one_way, running),
        tally,
        result_psa,
        result_one_way,
        warnings,
        seconds,
        engine,
        backend.name,
        backend.workers,
        {"one_way_analyses": one_way_analyses},
    )


def _tables(
    scenario: Scenario,
    tally: Tally,
    result_psa: Psa | None,
    evppi: pd.DataFrame | None,
    result_one_way: OneWay | None,
    running: convergence.Running,
) -> dict[str, pd.DataFrame]:
    """Every table of a run, by file name, in the order they are written."""
    summary = output_tables.summary(scenario, tally)
    if result_psa is not None:
        summary = summary.merge(psa_summary_columns(scenario, result_psa), on="strategy")
    frames: dict[str, pd.DataFrame] = {
        "summary": summary,
        "events": output_tables.events(scenario, tally),
        "cost_breakdown": output_tables.cost_breakdown(scenario, tally),
        "cumulative_incidence": output_tables.cumulative_incidence(scenario, tally),
        "subgroups": output_tables.subgroups(scenario, tally),
        "state_occupancy": output_tables.state_occupancy(scenario, tally),
        "convergence": convergence.convergence_table(scenario, running, result_psa),
    }
    if result_psa is not None:
        frames["psa"] = psa_table(result_psa)
        frames["ceac"] = ceac_table(scenario, result_psa)
        frames["evppi"] = evppi
    if result_one_way is not None and len(result_one_way.tornado):
        frames["tornado"] = result_one_way.tornado
    if result_one_way is not None and len(result_one_way.threshold):
        frames["threshold"] = result_one_way.threshold
    return frames
