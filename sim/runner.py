"""Running a scenario: patients in fixed-size blocks, tallies merged in block order (§6)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from . import cohort, lifetable
from .engines import des
from .scenario import Scenario
from .tally import Tally

BLOCK_SIZE = 1024
ENGINES = ("des",)


def months_of(scenario: Scenario) -> int:
    return math.ceil(scenario.horizon * 12 - 1e-9)


def run_block(scenario: Scenario, arrays: cohort.CohortArrays, start: int, stop: int,
              parameter_set: int = 0) -> Tally:  # fmt: skip
    """Tally of patients start..stop-1: every strategy simulates the same patients."""
    names = scenario.strategy_names()
    tally = Tally(len(names), names.index(scenario.comparator), months_of(scenario))
    for index in range(start, stop):
        patient = cohort.draw(arrays, scenario.seed, parameter_set, index)
        tally.add_patient([des.simulate(scenario, name, patient, parameter_set) for name in names])
    return tally


def run(scenario: Scenario, base_dir: Path, progress: Callable[[int], None] | None = None,
        ) -> Tally:  # fmt: skip
    """Base-case tally of the scenario (its `patients` and `seed`)."""
    table = lifetable.load(scenario.cohort.life_table, base_dir)
    arrays = cohort.CohortArrays.of(scenario, table)
    names = scenario.strategy_names()
    total = Tally(len(names), names.index(scenario.comparator), months_of(scenario))
    for start in range(0, scenario.patients, BLOCK_SIZE):
        stop = min(start + BLOCK_SIZE, scenario.patients)
        total.merge(run_block(scenario, arrays, start, stop))
        if progress is not None:
            progress(stop - start)
    return total


def trace(scenario: Scenario, base_dir: Path, strategy: str, patient: int,
          ) -> tuple[cohort.Patient, list[des.TraceRow]]:  # fmt: skip
    table = lifetable.load(scenario.cohort.life_table, base_dir)
    arrays = cohort.CohortArrays.of(scenario, table)
    person = cohort.draw(arrays, scenario.seed, 0, patient)
    rows: list[des.TraceRow] = []
    des.simulate(scenario, strategy, person, 0, rows)
    return person, rows
