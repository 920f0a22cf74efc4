"""Running blocks of patients through the compiled engine, on several threads.

:class:`Run` packs the parameter sets of one scenario (the base case, or PSA iterations)
once, stacked, and runs work units (parameter set, block) on a pool of threads: the
compiled :func:`sim.engines.fast.fold.block` releases the GIL, each unit writes its own
slot of the tally arrays, and the slots are read back in unit order, so the tallies do not
depend on the number of threads.
"""

from __future__ import annotations

import concurrent.futures

import numba
import numpy as np

from sim.engines.cohort import CohortArrays
from sim.engines.fast.fold import FOLD_FIELDS, block, log_one
from sim.engines.fast.kernel import ACCUMULATORS
from sim.engines.fast.layout import pack
from sim.engines.rules import endless_life
from sim.engines.tally import Tally
from sim.model.clocks import CLOCKS, N_CLOCKS
from sim.numerics import discount
from sim.scenario import Scenario

#: Blocks per call of `Run.blocks` from the runner: the progress bar moves once per call,
#: and the per-block tallies of one call are all that is held (memory does not grow with
#: the patient count).
BLOCKS_PER_CALL = 16


def default_threads() -> int:
    """Threads of the compiled engine: NUMBA_NUM_THREADS if set, else one per core."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


class Run:
    """Parameter sets of one scenario (the base case, or PSA iterations: the same
    strategies, cohort structure and horizon, other values) with their cohorts, packed
    once, stacked, as the compiled loop's arguments."""

    def __init__(
        self,
        scenarios: list[Scenario],
        arrays: list[CohortArrays],
        months: int,
        parameter_sets: list[int],
    ) -> None:
        first = scenarios[0]
        models = [pack(sc).arrays() for sc in scenarios]
        names = first.strategy_names()
        self.scenario = first
        self.names = names
        self.comparator = names.index(first.comparator)
        self.months = months
        self.model = tuple(np.stack([m[k] for m in models]) for k in range(len(models[0])))
        compiled = [a.compiled() for a in arrays]
        self.people = tuple(
            np.stack([np.asarray(c[k], dtype=np.float64) for c in compiled])
            for k in range(len(compiled[0]))
        )
        self.parameter_sets = np.array(parameter_sets, dtype=np.int64)
        self.horizons = np.array([sc.horizon for sc in scenarios])
        # the cost discount rate, or with a cost trend the table of its weights (the
        # compiled loop is specialised on which)
        self.cost_rates = [
            discount.cost_weights(sc.discount.costs, sc.discount.cost_trend)
            if sc.discount.cost_trend
            else float(sc.discount.costs)
            for sc in scenarios
        ]
        self.effect_rates = np.array([sc.discount.effects for sc in scenarios])

    @classmethod
    def single(
        cls, scenario: Scenario, arrays: CohortArrays, months: int, parameter_set: int = 0
    ) -> Run:
        return cls([scenario], [arrays], months, [parameter_set])

    def _tally(self) -> Tally:
        return Tally(len(self.names), self.comparator, self.months)

    def _people(self, i: int) -> tuple:
        return tuple(a[i] for a in self.people)

    def blocks(
        self, units: list[tuple[int, int]], block_size: int, threads: int | None = None
    ) -> tuple[list[Tally], int]:
        """Tallies of the work units (set index, block), in the order given, and their
        number of events; the units run on `threads` threads (default_threads())."""
        n = len(units)
        template = self._tally()
        stacked = tuple(
            np.zeros(
                (n, *np.shape(getattr(template, name))),
                dtype=np.asarray(getattr(template, name)).dtype,
            )
            for name in FOLD_FIELDS
        )
        patients = self.scenario.patients
        comparator = self.comparator

        def run(u: int) -> int:
            i, b = units[u]
            start = b * block_size
            stop = min(start + block_size, patients)
            return block(
                start,
                stop,
                u,
                self.scenario.seed,
                self.parameter_sets[i],
                self._people(i),
                tuple(a[i] for a in self.model),
                self.horizons[i],
                self.cost_rates[i],
                self.effect_rates[i],
                comparator,
                stacked,
            )

        workers = min(threads or default_threads(), n)
        if workers <= 1:
            events = [run(u) for u in range(n)]
        else:
            # largest blocks first (a set's last block is short), so that no thread
            # waits long for the last; each unit writes its own row: any order, same sums
            def size(u: int) -> int:
                start = units[u][1] * block_size
                return min(start + block_size, patients) - start

            order = sorted(range(n), key=lambda u: (-size(u), u))
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                done = dict(zip(order, pool.map(run, order), strict=True))
            events = [done[u] for u in range(n)]
        vv = stacked[FOLD_FIELDS.index("sum_vv")]
        lower = np.tril_indices(vv.shape[1], -1)
        vv[:, lower[0], lower[1]] = vv[:, lower[1], lower[0]]  # products commute: exact
        group_vv = stacked[FOLD_FIELDS.index("group_sum_vv")]
        group_vv[:, :, lower[0], lower[1]] = group_vv[:, :, lower[1], lower[0]]
        tallies = [
            Tally.of(
                len(self.names),
                self.comparator,
                self.months,
                {name: value[u] for name, value in zip(FOLD_FIELDS, stacked, strict=True)},
            )
            for u in range(n)
        ]
        for u, made in enumerate(events):
            if made < 0:
                self._endless(units[u][0], -1 - made)
        return tallies, int(sum(events))

    def _endless(self, i: int, code: int) -> None:
        """A life that took more than MAX_FIRINGS firings (fold.block's code): say whose."""
        clock = CLOCKS[code % N_CLOCKS]
        patient, strategy = divmod(code // N_CLOCKS, len(self.names))
        raise endless_life(
            self.scenario, self.names[strategy], patient, int(self.parameter_sets[i]), clock
        )

    def log(
        self, strategy: str, patient: int, capacity: int = 100_000
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One patient's events under one strategy in the first parameter set: (times,
        event ids, accumulators)."""
        acc = np.zeros(len(ACCUMULATORS))
        log_t, log_e = np.empty(capacity), np.empty(capacity, dtype=np.int64)
        n = log_one(
            patient,
            self.names.index(strategy),
            self.scenario.seed,
            int(self.parameter_sets[0]),
            (self.people[0][0], float(self.people[1][0]), *(a[0] for a in self.people[2:])),
            tuple(a[0] for a in self.model),
            float(self.horizons[0]),
            self.cost_rates[0],
            float(self.effect_rates[0]),
            acc,
            log_t,
            log_e,
        )
        if n < 0:
            raise endless_life(
                self.scenario, strategy, patient, int(self.parameter_sets[0]), CLOCKS[-1 - n]
            )
        if n > capacity:
            raise RuntimeError(f"patient {patient} has {n} events; raise the log capacity")
        order = np.argsort(log_t[:n], kind="stable")  # a refill run's visits join in
        return log_t[:n][order], log_e[:n][order], acc
