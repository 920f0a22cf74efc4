"""What a run keeps: per-patient outcomes folded into sums as they are made (DESIGN §5, §6).

An engine returns one :class:`Outcome` per patient and strategy; :meth:`Tally.add_patient`
folds the outcomes of one patient in every strategy into sums, sums of squares and
cross-products, counts and fixed-bin histograms, then the outcome is dropped: memory does
not grow with the patient count. Tallies of blocks of patients are merged in block order,
so the sums (and the tables) do not depend on how the blocks were spread over workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.engines.rules import N_SUBGROUPS, grid_months
from sim.model.events import (
    COST_CATEGORIES,
    COUNTERS_OF_EVENT,
    CUMULATIVE_GROUPS,
    GROUP_ID,
    N_COUNTERS,
    OCCUPANCY_STATES,
)
from sim.model.units import MONTHS_PER_YEAR

N_COST_CATEGORIES = len(COST_CATEGORIES)
#: Per-patient quantities whose second moments are kept (vector v of a patient).
OUTCOMES: tuple[str, ...] = ("cost", "qaly", "life_years", "life_years_discounted")
_CUMULATIVE_COUNTERS = tuple(GROUP_ID[g] for g in CUMULATIVE_GROUPS)
#: For each event id, the positions in CUMULATIVE_GROUPS of the curves it belongs to.
_CURVES_OF_EVENT = tuple(
    tuple(k for k, c in enumerate(_CUMULATIVE_COUNTERS) if c in ids) for ids in COUNTERS_OF_EVENT
)


@dataclass
class Outcome:
    """One patient's result under one strategy."""

    cost: float = 0.0
    qaly: float = 0.0
    life_years: float = 0.0
    life_years_discounted: float = 0.0
    followup_years: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(N_COUNTERS, dtype=np.int64))
    first_time: np.ndarray = field(
        default_factory=lambda: np.full(len(CUMULATIVE_GROUPS), math.inf)
    )
    itb_dose_mcg_years: float = 0.0  # integral of the ITB dose over time on ITB
    itb_years: float = 0.0
    oral_dose_mg_years: float = 0.0
    oral_years: float = 0.0
    refill_interval_days: float = 0.0  # sum over refill visits of days since the last fill
    qaly_state: float = 0.0  # QALYs of the states lived in, before event losses (discounted)
    qaly_lost: float = 0.0  # QALYs lost to events (discounted)
    cost_by_category: np.ndarray = field(default_factory=lambda: np.zeros(N_COST_CATEGORIES))
    undiscounted_cost_by_category: np.ndarray = field(
        default_factory=lambda: np.zeros(N_COST_CATEGORIES)
    )
    # the states held: (state of OCCUPANCY_STATES, from, to); dead from the death on
    held: list[tuple[int, float, float]] = field(default_factory=list)

    def add_cost(self, category: int, undiscounted: float, discounted: float) -> None:
        """A cost in a category of COST_CATEGORIES: into the total and the category."""
        self.cost += discounted
        self.cost_by_category[category] += discounted
        self.undiscounted_cost_by_category[category] += undiscounted

    def count(self, event_id: int, time: float, n: int = 1) -> None:
        """n events at `time` (the first of them, for a run of refill visits)."""
        for counter in COUNTERS_OF_EVENT[event_id]:
            self.counts[counter] += n
        for k in _CURVES_OF_EVENT[event_id]:
            self.first_time[k] = min(self.first_time[k], time)


class Tally:
    """Sums over patients for S strategies. All arrays are fixed-size."""

    def __init__(self, n_strategies: int, comparator: int, months: int) -> None:
        s, k = n_strategies, len(OUTCOMES)
        self.n_strategies, self.comparator, self.months = s, comparator, months
        self.patients = 0
        self.sum_v = np.zeros(s * k)
        self.sum_vv = np.zeros((s * k, s * k))
        self.followup = np.zeros(s)
        self.followup_sq = np.zeros(s)
        self.count = np.zeros((s, N_COUNTERS), dtype=np.int64)
        self.count_sq = np.zeros((s, N_COUNTERS))
        self.count_followup = np.zeros((s, N_COUNTERS))
        self.with_event = np.zeros((s, N_COUNTERS), dtype=np.int64)
        self.with_event_and_comparator = np.zeros((s, N_COUNTERS), dtype=np.int64)
        self.first_month = np.zeros((s, len(CUMULATIVE_GROUPS), months), dtype=np.int64)
        self.itb_dose = np.zeros(s)
        self.itb_years = np.zeros(s)
        self.oral_dose = np.zeros(s)
        self.oral_years = np.zeros(s)
        self.refill_days = np.zeros(s)
        self.qaly_state = np.zeros(s)
        self.qaly_lost = np.zeros(s)
        self.cost_by_category = np.zeros((s, N_COST_CATEGORIES))
        self.undiscounted_cost_by_category = np.zeros((s, N_COST_CATEGORIES))
        # state occupancy on the monthly grid, as differences: +1 at the first month of a
        # stay, -1 after its last (`occupancy()` sums them up)
        self.occupancy = np.zeros((s, len(OCCUPANCY_STATES), months), dtype=np.int64)
        # the per-patient vector's sums within each subgroup (rules.subgroups)
        self.group_patients = np.zeros(N_SUBGROUPS, dtype=np.int64)
        self.group_sum_v = np.zeros((N_SUBGROUPS, s * k))
        self.group_sum_vv = np.zeros((N_SUBGROUPS, s * k, s * k))

    @classmethod
    def of(
        cls, n_strategies: int, comparator: int, months: int, arrays: dict[str, np.ndarray]
    ) -> Tally:
        """A block's tally holding the sums computed elsewhere (the compiled engine's
        arrays, "patients" among them) as they are: no zeros allocated and copied over,
        which took the PSA's main thread about a millisecond an iteration."""
        tally = cls.__new__(cls)
        tally.n_strategies, tally.comparator, tally.months = n_strategies, comparator, months
        tally.patients = int(arrays["patients"])
        for name, value in arrays.items():
            if name != "patients":
                setattr(tally, name, value)
        return tally

    def add_patient(self, outcomes: list[Outcome], groups: tuple[int, ...] = ()) -> None:
        """Fold one patient's outcomes, one per strategy in scenario order (`groups`: the
        patient's subgroup slots, rules.subgroups)."""
        self.patients += 1
        v = np.array([getattr(o, name) for o in outcomes for name in OUTCOMES])
        self.sum_v += v
        vv = np.outer(v, v)
        self.sum_vv += vv
        for g in groups:
            self.group_patients[g] += 1
            self.group_sum_v[g] += v
            self.group_sum_vv[g] += vv
        comparator_has = outcomes[self.comparator].counts > 0
        for s, o in enumerate(outcomes):
            t = o.followup_years
            self.followup[s] += t
            self.followup_sq[s] += t * t
            self.count[s] += o.counts
            self.count_sq[s] += o.counts.astype(np.float64) ** 2
            self.count_followup[s] += o.counts * t
            has = o.counts > 0
            self.with_event[s] += has
            self.with_event_and_comparator[s] += has & comparator_has
            for g, time in enumerate(o.first_time):
                if math.isfinite(time):
                    month = min(int(time * MONTHS_PER_YEAR), self.months - 1)
                    self.first_month[s, g, month] += 1
            self.itb_dose[s] += o.itb_dose_mcg_years
            self.itb_years[s] += o.itb_years
            self.oral_dose[s] += o.oral_dose_mg_years
            self.oral_years[s] += o.oral_years
            self.refill_days[s] += o.refill_interval_days
            self.qaly_state[s] += o.qaly_state
            self.qaly_lost[s] += o.qaly_lost
            self.cost_by_category[s] += o.cost_by_category
            self.undiscounted_cost_by_category[s] += o.undiscounted_cost_by_category
            for state, since, until in o.held:
                first, stop = grid_months(since, until, self.months)
                if first < stop:
                    self.occupancy[s, state, first] += 1
                    if stop < self.months:
                        self.occupancy[s, state, stop] -= 1

    def merge(self, other: Tally) -> None:
        """Add another block's tally (call in block order for byte-identical results)."""
        for name, value in vars(other).items():
            if isinstance(value, np.ndarray):
                getattr(self, name).__iadd__(value)
        self.patients += other.patients

    def occupancy_counts(self) -> np.ndarray:
        """(S, states, months): patients in each state at each month's start."""
        return np.cumsum(self.occupancy, axis=2)

    def means(self) -> np.ndarray:
        """(S, 4) per-patient means of cost, QALYs, life-years, discounted life-years."""
        return (self.sum_v / self.patients).reshape(self.n_strategies, len(OUTCOMES))

    def combination_variance(self, weights: dict[int, float]) -> float:
        """Variance of the mean of a per-patient linear combination (paired patients)."""
        n = self.patients
        if n < 2:
            return math.nan
        total, total_sq = self.combination(weights)
        return max(0.0, (total_sq - total * total / n) / (n - 1)) / n

    def index(self, strategy: int, outcome: str) -> int:
        return strategy * len(OUTCOMES) + OUTCOMES.index(outcome)

    def combination(self, weights: dict[int, float]) -> tuple[float, float]:
        """Sum and sum of squares over patients of the per-patient linear combination
        sum_k w_k v_k (paired: the same patients in every strategy, so the cross-products
        carry the correlation)."""
        total = sum(w * self.sum_v[k] for k, w in weights.items())
        total_sq = sum(
            wi * wj * self.sum_vv[i, j] for i, wi in weights.items() for j, wj in weights.items()
        )
        return total, total_sq

    def incremental_nmb_weights(self, strategy: int, wtp: float) -> dict[int, float]:
        """Weights of a strategy's net monetary benefit minus the comparator's."""
        c = self.comparator
        return {
            self.index(strategy, "qaly"): wtp,
            self.index(strategy, "cost"): -1.0,
            self.index(c, "qaly"): -wtp,
            self.index(c, "cost"): 1.0,
        }
