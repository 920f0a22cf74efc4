"""Running a scenario: patients in fixed-size blocks, tallies merged in block order (§6).

Both engines cut the cohort into the same blocks and fold each block's patients in patient
order, so the merged tally is the same, to the bit, whichever engine and however many
threads ran it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.engines import cohort, fast, rules
from sim.engines.tally import Outcome, Tally
from sim.execution import interrupts
from sim.execution.backends import Backend
from sim.model.units import MONTHS_PER_YEAR
from sim.numerics import lifetable
from sim.scenario import Scenario, params, prices
from sim.scenario.prices import PriceIndex

if TYPE_CHECKING:
    from sim.engines import des

BLOCK_SIZE = 4096
#: Compiled calls in flight at once in this process (see _results).
COMPUTE_AHEAD = 2
#: The compiled engine is the default; the SimPy engine is the executable specification.
ENGINES = ("fast", "des")


@dataclass(frozen=True)
class Job:
    """What the units of one simulation share. With `draw`, parameter set k > 0 simulates
    the scenario with its uncertain values drawn for k (a PSA iteration); with `values`,
    set i simulates it with values[i] at their paths (the points of a one-way analysis), on
    the base case's patients; without either, every set simulates `scenario` as given (the
    base case uses set 0)."""

    scenario: Scenario
    table: lifetable.LifeTable
    index: PriceIndex
    file: str
    engine: str
    draw: bool = False
    values: tuple[dict[str, float], ...] = ()

    @functools.cached_property
    def variants(self) -> params.Variants:
        """The scenario dumped, priced and fitted once for all the job's sets."""
        return params.Variants(self.scenario, self.file, self.index)

    def variant(self, k: int) -> Scenario:
        """What set k simulates: validated, its costs in the price year's prices."""
        if self.values:
            return self.variants.apply(self.values[k])
        return self.variants.apply(self.variants.draw(k) if self.draw and k > 0 else {})

    def key(self, k: int) -> int:
        """The parameter set whose keyed streams set k draws its patients from."""
        return 0 if self.values else k


@dataclass(frozen=True)
class Task:
    """Units of one job: each parameter set with the given blocks of its patients."""

    job: Job
    parameter_sets: tuple[int, ...]
    blocks: tuple[int, ...]
    block_size: int
    threads: int | None = None  # compiled-engine threads; None: one per core


def run_task(task: Task) -> list[Tally]:
    """The tallies of a task's units, set by set and block by block within a set."""
    return compute(task, prepare(task))


Prepared = tuple[list[Scenario], list[cohort.CohortArrays]]


def prepare(task: Task) -> Prepared:
    """What a task's units need before they run: each set's scenario (its drawn values,
    its costs in the price year's prices, validated) and its cohort's arrays."""
    job = task.job
    scenarios = [job.variant(k) for k in task.parameter_sets]
    return scenarios, [cohort.CohortArrays.of(sc, job.table) for sc in scenarios]


def compute(task: Task, prepared: Prepared, threads: int | None = None) -> list[Tally]:
    """The tallies of a prepared task's units, set by set and block by block, on
    `threads` compiled threads (default: the task's)."""
    job = task.job
    scenarios, arrays = prepared
    months = months_of(job.scenario)
    n = job.scenario.patients
    spans = [
        (b * task.block_size, min((b + 1) * task.block_size, n))
        for b in task.blocks
        if b * task.block_size < n
    ]
    if job.engine == "des":
        return [
            run_block(sc, a, start, stop, job.key(k))
            for sc, a, k in zip(scenarios, arrays, task.parameter_sets, strict=True)
            for start, stop in spans
        ]
    compiled = fast.Run(scenarios, arrays, months, [job.key(k) for k in task.parameter_sets])
    units = [(i, b) for i in range(len(scenarios)) for b in task.blocks[: len(spans)]]
    tallies, _ = compiled.blocks(units, task.block_size, threads or task.threads)
    return tallies


def months_of(scenario: Scenario) -> int:
    """Months of the cumulative-incidence grid: the horizon's, the last one partial."""
    return math.ceil(scenario.horizon * MONTHS_PER_YEAR - 1e-9)


def run_block(
    scenario: Scenario, arrays: cohort.CohortArrays, start: int, stop: int, parameter_set: int = 0
) -> Tally:
    """Tally of patients start..stop-1: every strategy simulates the same patients."""
    from sim.engines import des  # the SimPy engine and SimPy: for its runs only

    names = scenario.strategy_names()
    tally = Tally(len(names), names.index(scenario.comparator), months_of(scenario))
    for index in range(start, stop):
        patient = cohort.draw(arrays, scenario.seed, parameter_set, index)
        tally.add_patient(
            [des.simulate(scenario, name, patient, parameter_set) for name in names],
            rules.subgroups(
                arrays.indication_names.index(patient.indication), patient.male, patient.age_years
            ),
        )
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
    backend: Backend | None = None,
) -> Tally:
    """Tally of one parameter set: 0 is the base case, k > 0 the PSA iteration k (its own
    patients, keyed by k). A one-way analysis runs its values as parameter set 0, so that
    it simulates the very patients of the base case. `observe` sees the running tally after
    each block (for convergence plots)."""

    def on_block(total: Tally, patients: int) -> None:
        if observe is not None:
            observe(total)
        if progress is not None:
            progress(patients)

    job = Job(scenario, table, price_index(scenario), _file(scenario), _checked(engine))
    return next(tallies([(job, [parameter_set])], backend or Backend(), on_block))


def simulate_sets(
    scenario: Scenario,
    table: lifetable.LifeTable,
    file: str,
    parameter_sets: list[int],
    engine: str = "fast",
    backend: Backend | None = None,
) -> Iterator[Tally]:
    """Tallies of PSA iterations of a scenario (each its drawn values and its own
    patients), in order, each the same as `simulate` gives it alone. Several sets share a
    task, so that every core is busy however few blocks one set has."""
    job = Job(scenario, table, price_index(scenario), file, _checked(engine), draw=True)
    return tallies([(job, parameter_sets)], backend or Backend())


def simulate_values(
    scenario: Scenario,
    table: lifetable.LifeTable,
    file: str,
    values: list[dict[str, float]],
    engine: str = "fast",
    backend: Backend | None = None,
) -> Iterator[Tally]:
    """Base-case tallies of the scenario with each of `values` at their paths (the points
    of a one-way analysis), in order, each on the base case's patients and the same as the
    base case of the scenario so changed. Several share a task, as PSA iterations do."""
    job = Job(scenario, table, price_index(scenario), file, _checked(engine), values=tuple(values))
    return tallies([(job, list(range(len(values))))], backend or Backend())


def _file(scenario: Scenario) -> str:
    """What an error of a run names: the scenario's file, or its name when it has none."""
    return str(scenario.source or scenario.name)


def price_index(scenario: Scenario) -> PriceIndex:
    """The scenario's price index (its costs go to the engines in the price year's prices)."""
    return prices.load_index(scenario.price_index, scenario.base_dir, scenario.source or "")


def _checked(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    return engine


def tallies(
    requests: list[tuple[Job, list[int]]],
    backend: Backend,
    on_block: Callable[[Tally, int], None] | None = None,
) -> Iterator[Tally]:
    """The tally of each requested (job, parameter set), in request order. Units come back
    in submission order and are merged block by block, so the sums do not depend on the
    backend or the number of workers; `on_block` sees the running tally and the block's
    patient count after each block."""
    tasks = [task for job, sets in requests for task in _tasks(job, sets, backend)]
    total: Tally | None = None
    done = 0
    for task, results in zip(tasks, _results(tasks, backend), strict=True):
        # a safe point: an interrupt whose exception a library swallowed (raised inside a
        # ctypes callback of Numba's loader, say) stops the run here, not at its end
        interrupts.check()
        job = task.job
        n = job.scenario.patients
        n_blocks = math.ceil(n / BLOCK_SIZE)
        units = iter(results)
        for _ in task.parameter_sets:
            for b in task.blocks:
                if total is None:  # the set's first block: the sums start from its own
                    total = next(units)
                else:
                    total.merge(next(units))
                if on_block is not None:
                    on_block(total, min((b + 1) * BLOCK_SIZE, n) - b * BLOCK_SIZE)
                done += 1
                if done == n_blocks:
                    yield total
                    total, done = None, 0


def _results(tasks: list[Task], backend: Backend) -> Iterator[list[Tally]]:
    """Each task's tallies, in order. In this process the work is a pipeline: while the
    caller merges and reads task i's tallies, threads run the next COMPUTE_AHEAD tasks in
    the compiled engine (which releases the interpreter lock) and another prepares the one
    after (drawing, validating and pricing its scenarios). Two compiled calls at once keep
    both cores busy while one call waits for its last, short block; a PSA's thousand
    iterations would otherwise leave a core idle at the end of every call, and both
    during every preparation and merge. An engine of one thread (asked for, or all that a
    computation beside the run leaves it: Backend.beside) runs one call at a time. Each
    task's tallies are its own, so the order in which threads finish changes no sum."""
    if not backend.in_process:
        yield from backend.map(run_task, tasks)
        return
    with (
        concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prepare") as preparing,
        concurrent.futures.ThreadPoolExecutor(
            COMPUTE_AHEAD, thread_name_prefix="compute"
        ) as computing,
    ):
        prepared: dict[int, concurrent.futures.Future[Prepared]] = {}
        computed: collections.deque[concurrent.futures.Future[list[Tally]]] = collections.deque()

        def run(i: int) -> list[Tally]:
            # held no longer than needed
            return compute(tasks[i], prepared.pop(i).result(), backend.threads_now())

        next_task = 0

        def submit_up_to(in_flight: int) -> None:
            """Tasks to compute until `in_flight` are, and the one after to prepare."""
            nonlocal next_task
            while len(computed) < in_flight and next_task < len(tasks):
                for j in (next_task, next_task + 1):
                    if j < len(tasks) and j not in prepared:
                        prepared[j] = preparing.submit(prepare, tasks[j])
                computed.append(computing.submit(run, next_task))
                next_task += 1

        def ahead() -> int:
            """Calls in flight: one when the engine has a single thread (asked for, or
            all that a computation beside it leaves)."""
            return 1 if backend.threads_now() == 1 else COMPUTE_AHEAD

        submit_up_to(ahead())
        for _ in range(len(tasks)):
            results = computed.popleft().result()
            submit_up_to(ahead())
            yield results


def _tasks(job: Job, parameter_sets: list[int], backend: Backend) -> list[Task]:
    """A job's units cut into tasks: a set's blocks in order, whole sets together when a
    set has few blocks. One worker gets tasks of up to BLOCKS_PER_CALL blocks (one compiled
    parallel call keeps its threads busy); several get about four tasks each, so that none
    waits long for the last; the SimPy engine's tasks hold one block (its blocks are slow:
    progress after each)."""
    n_blocks = math.ceil(job.scenario.patients / BLOCK_SIZE)
    threads = backend.threads_per_task()
    units = n_blocks * len(parameter_sets)
    if job.engine == "des":
        per_task = 1
    elif backend.workers == 1:
        per_task = min(fast.BLOCKS_PER_CALL, units)
    else:
        balanced = math.ceil(units / (4 * backend.workers))
        per_task = max(1, min(fast.BLOCKS_PER_CALL, max(balanced, threads or 1)))
    if n_blocks >= per_task:
        return [
            Task(
                job, (k,), tuple(range(first, min(first + per_task, n_blocks))), BLOCK_SIZE, threads
            )
            for k in parameter_sets
            for first in range(0, n_blocks, per_task)
        ]
    sets = max(1, per_task // n_blocks)
    return [
        Task(job, tuple(parameter_sets[i : i + sets]), tuple(range(n_blocks)), BLOCK_SIZE, threads)
        for i in range(0, len(parameter_sets), sets)
    ]


def trace(
    scenario: Scenario,
    base_dir: Path,
    strategy: str,
    patient: int,
) -> tuple[cohort.Patient, list[des.TraceRow], Outcome]:
    """One patient of the base case under one strategy: who, each event, and the outcome
    (its totals, discounted as in the tables)."""
    from sim.engines import des

    table = lifetable.load(scenario.cohort.life_table, base_dir)
    arrays = cohort.CohortArrays.of(scenario, table)
    person = cohort.draw(arrays, scenario.seed, 0, patient)
    rows: list[des.TraceRow] = []
    priced = params.apply(scenario, {}, scenario.source or "", price_index(scenario))
    outcome = des.simulate(priced, strategy, person, 0, rows)
    return person, rows, outcome
