"""Running a scenario: patients in fixed-size blocks, tallies merged in block order (§6).

Both engines cut the cohort into the same blocks and fold each block's patients in patient
order, so the merged tally is the same, to the bit, whichever engine and however many
threads ran it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numba

from . import cohort, lifetable
from .engines import des, fast
from .scenario import Scenario
from .tally import Tally

BLOCK_SIZE = 4096
#: The compiled engine is the default; the SimPy engine is the executable specification.
ENGINES = ("fast", "des")


def months_of(scenario: Scenario) -> int:
    return math.ceil(scenario.horizon * 12 - 1e-9)


def run_block(
    scenario: Scenario, arrays: cohort.CohortArrays, start: int, stop: int, parameter_set: int = 0
) -> Tally:
    """Tally of patients start..stop-1: every strategy simulates the same patients."""
    names = scenario.strategy_names()
    tally = Tally(len(names), names.index(scenario.comparator), months_of(scenario))
    for index in range(start, stop):
        patient = cohort.draw(arrays, scenario.seed, parameter_set, index)
        tally.add_patient([des.simulate(scenario, name, patient, parameter_set) for name in names])
    return tally


def run(
    scenario: Scenario,
    base_dir: Path,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
) -> Tally:
    """Base-case tally of the scenario (its `patients` and `seed`)."""
    table = lifetable.load(scenario.cohort.life_table, base_dir)
    return simulate(scenario, table, 0, progress, engine)


def simulate(
    scenario: Scenario,
    table: lifetable.LifeTable,
    parameter_set: int = 0,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
    observe: Callable[[Tally], None] | None = None,
) -> Tally:
    """Tally of one parameter set: 0 is the base case, k > 0 the PSA iteration k (its own
    patients, keyed by k). A one-way analysis runs its values as parameter set 0, so that
    it simulates the very patients of the base case. `observe` sees the running tally after
    each block (for convergence plots)."""
    arrays = cohort.CohortArrays.of(scenario, table)
    names = scenario.strategy_names()
    total = Tally(len(names), names.index(scenario.comparator), months_of(scenario))
    n_blocks = math.ceil(scenario.patients / BLOCK_SIZE)
    if engine == "des":
        for b in range(n_blocks):
            start, stop = b * BLOCK_SIZE, min((b + 1) * BLOCK_SIZE, scenario.patients)
            total.merge(run_block(scenario, arrays, start, stop, parameter_set))
            if observe is not None:
                observe(total)
            if progress is not None:
                progress(stop - start)
        return total
    if engine != "fast":
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    compiled = fast.Run.single(scenario, arrays, months_of(scenario), parameter_set)
    for first in range(0, n_blocks, fast.BLOCKS_PER_CALL):
        count = min(fast.BLOCKS_PER_CALL, n_blocks - first)
        blocks, _ = compiled.blocks([(0, b) for b in range(first, first + count)], BLOCK_SIZE)
        for block in blocks:
            total.merge(block)
            if observe is not None:
                observe(total)
        if progress is not None:
            progress(min((first + count) * BLOCK_SIZE, scenario.patients) - first * BLOCK_SIZE)
    return total


def simulate_sets(
    scenarios: list[Scenario],
    table: lifetable.LifeTable,
    parameter_sets: list[int],
    engine: str = "fast",
) -> list[Tally]:
    """Tallies of several parameter sets (PSA iterations) of one scenario, each the same
    as `simulate` gives it alone. The compiled engine runs the blocks of several sets in
    one parallel call, so that every core is busy however few blocks one set has."""
    if engine != "fast":
        pairs = zip(scenarios, parameter_sets, strict=True)
        return [simulate(sc, table, k, engine=engine) for sc, k in pairs]
    first = scenarios[0]
    n_blocks = math.ceil(first.patients / BLOCK_SIZE)
    names = first.strategy_names()
    compiled = fast.Run(
        scenarios,
        [cohort.CohortArrays.of(sc, table) for sc in scenarios],
        months_of(first),
        parameter_sets,
    )
    blocks, _ = compiled.blocks(
        [(i, b) for i in range(len(scenarios)) for b in range(n_blocks)], BLOCK_SIZE
    )
    tallies = []
    for i in range(len(scenarios)):
        total = Tally(len(names), names.index(first.comparator), months_of(first))
        for block in blocks[i * n_blocks : (i + 1) * n_blocks]:
            total.merge(block)
        tallies.append(total)
    return tallies


def sets_per_call(scenario: Scenario) -> int:
    """Parameter sets per compiled call: enough blocks for every core, few enough that the
    per-block tallies held at once stay small."""
    n_blocks = math.ceil(scenario.patients / BLOCK_SIZE)
    units = max(fast.BLOCKS_PER_CALL, 4 * numba.get_num_threads())
    return max(1, units // n_blocks)


def trace(
    scenario: Scenario,
    base_dir: Path,
    strategy: str,
    patient: int,
) -> tuple[cohort.Patient, list[des.TraceRow]]:
    table = lifetable.load(scenario.cohort.life_table, base_dir)
    arrays = cohort.CohortArrays.of(scenario, table)
    person = cohort.draw(arrays, scenario.seed, 0, patient)
    rows: list[des.TraceRow] = []
    des.simulate(scenario, strategy, person, 0, rows)
    return person, rows
