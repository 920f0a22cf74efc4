"""The SimPy engine's plumbing: one patient's environment, clocks, the record of events
and states, and the run from t = 0 to death or the horizon."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from sim.engines import rules
from sim.engines.cohort import Patient
from sim.engines.tally import Outcome
from sim.model.clocks import CLOCK_PRIORITY, CLOCKS, MAX_FIRINGS
from sim.model.events import (
    COST_CATEGORIES,
    COST_CATEGORY_OF_EVENT,
    DEAD_STATE,
    EVENT_ID,
    OCCUPANCY_STATES,
    SEVERITIES,
)
from sim.model.streams import STREAM, STREAM_KEY
from sim.numerics import discount
from sim.numerics.rng import uniform
from sim.scenario import (
    Consequence,
    Oral,
    Scenario,
    Severity,
    Untreated,
)

CARE, DRUG_TABLETS, DRUG_INTRATHECAL, REFILL_VISITS = (
    COST_CATEGORIES.index(c) for c in ("care", "drug_tablets", "drug_intrathecal", "refill_visits")
)


@dataclass(frozen=True)
class _RefillRun:
    """Uneventful refill visits at start + k step, k = 1 .. visits (may be infinite)."""

    start: float
    step: float
    days: float
    visit_cost: float  # of one visit, undiscounted: the visit
    drug_cost: float  # and the drug it replaces
    visits: float


@dataclass(frozen=True)
class TraceRow:
    """One line of a patient's history: what happened, its cost and QALY loss, and the
    facts a check may need as typed fields (the `detail` text is for people)."""

    time_years: float
    age_years: float
    event: str
    detail: str
    cost: float  # undiscounted
    qaly_loss: float  # undiscounted
    cause: str = ""  # why it happened: "battery", "pump failure", "infection", ...
    volume_left_ml: float = math.nan  # a refill visit: in the reservoir (< 0: ran dry)


class _Environment(simpy.Environment):
    """SimPy environment that can schedule an event at an exact absolute time.

    ``schedule(event, priority, delay)`` would store ``now + (time - now)``, which can
    differ from ``time`` in the last bit; the compiled engine compares the times
    themselves, so the queue must hold them exactly.
    """

    def at(self, time: float, priority: int) -> simpy.Event:
        event = simpy.Event(self)
        event._ok = True
        event._value = None
        heapq.heappush(self._queue, (time, priority, next(self._eid), event))
        return event


class _Clock:
    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = True


#: The occupancy state of each drug route.
_STATE_OF_ROUTE = {
    "": OCCUPANCY_STATES.index("untreated"),
    "itb": OCCUPANCY_STATES.index("on_pump"),
    "oral": OCCUPANCY_STATES.index("on_tablets"),
}


class PatientBase:
    """One patient under one strategy, from t = 0 to death or the horizon: the state and
    the plumbing the processes of :mod:`tablets` and :mod:`pump` share."""

    def __init__(
        self,
        scenario: Scenario,
        strategy_name: str,
        patient: Patient,
        parameter_set: int = 0,
        trace: list[TraceRow] | None = None,
    ) -> None:
        self.scenario = scenario
        self.strategy = scenario.strategies[strategy_name]
        self.strategy_name = strategy_name
        self.firings = 0  # clock firings so far (a life has at most MAX_FIRINGS)
        self.patient = patient
        self.key = (scenario.seed, parameter_set, patient.index)
        self.trace = trace
        self.horizon = scenario.horizon
        self.rate_costs = scenario.discount.costs
        self.rate_effects = scenario.discount.effects
        # discounting and the cost trend, one segment per trend year
        self.cost_weights = discount.cost_weights(self.rate_costs, scenario.discount.cost_trend)
        self.segments = len(self.cost_weights) // 2
        self.env = _Environment()
        self.out = Outcome()
        self.counter = [0] * len(STREAM)
        self.clocks: dict[str, _Clock] = {}
        self.alive = True
        self.finished = False
        # accrual state: utility and cost per year of the current state (accrued since
        # `flows_since`), dose of the drug route (accrued since `drug_since`)
        self.flows_since = 0.0
        self.drug_since = 0.0
        self.utility = 0.0
        self.care_rate = 0.0  # background care per year, as the state changes it
        self.drug_rate = 0.0  # tablets per year
        self.route = ""  # "itb", "oral" or "" (no drug)
        self.route_dose = 0.0
        # oral state (own strategy, or the fallback of an ITB strategy)
        self.oral: Oral | None = None
        self.tablets_stopped = False
        self.oral_side_effect_rate = 0.0
        # ITB state
        self.first_implant_time = math.nan
        self.dose = 0.0  # mcg/day, updated when the pump is filled
        self.fill_time = 0.0
        self.refill_late = False
        self.refill_run: _RefillRun | None = None
        self.battery_depletion_time = math.inf
        self.catheter_placed = 0.0
        self.itb_side_effect_rate = 0.0
        self.itb_side_effect_time = math.nan  # nan: no waiting time drawn yet
        self.infection_time = math.inf  # the pending infection, if any
        self.visits_to = {
            "missed_refill": math.inf,
            "pocket_fill": math.inf,
            "programming_error": math.inf,
        }

    # ------------------------------------------------------------------ plumbing

    def draw(self, stream: str) -> float:
        """Next uniform of a stream for this patient (the stream's counter advances)."""
        s = STREAM[stream]
        u = uniform(self.key[0], self.key[1], self.key[2], STREAM_KEY[s], self.counter[s])
        self.counter[s] += 1
        return u

    def chance(self, stream: str, probability: float) -> bool:
        return self.draw(stream) < probability

    def set_clock(self, name: str, time: float, action: Callable[[], None]) -> None:
        """(Re)set a clock: at `time`, if not moved or cancelled since, run `action`."""
        self.cancel(name)
        if not time < self.horizon:
            return
        clock = self.clocks[name] = _Clock()

        def fire(_event: simpy.Event) -> None:
            if clock.live and not self.finished:
                clock.live = False
                del self.clocks[name]
                self.firings += 1
                if self.firings > MAX_FIRINGS:  # events repeating without end
                    raise rules.endless_life(
                        self.scenario,
                        self.strategy_name,
                        self.patient.index,
                        self.key[1],
                        CLOCKS[CLOCK_PRIORITY[name] - 1],
                        MAX_FIRINGS,
                    )
                action()

        self.env.at(time, CLOCK_PRIORITY[name]).callbacks.append(fire)

    def cancel(self, *names: str) -> None:
        for name in names:
            clock = self.clocks.pop(name, None)
            if clock is not None:
                clock.live = False

    @property
    def now(self) -> float:
        return self.env.now

    def record(
        self,
        event: str,
        detail: str = "",
        cost: float = 0.0,
        qaly_loss: float = 0.0,
        cause: str = "",
        volume_left_ml: float = math.nan,
        shown_cost: float | None = None,
    ) -> None:
        """Count an event at the current time; its cost and QALY loss are discounted now.
        (`shown_cost`: the cost its trace row shows, when more than its own is paid then.)"""
        t = self.now
        event_id = EVENT_ID[event]
        self.out.count(event_id, t)
        if cost != 0.0 or qaly_loss != 0.0:  # the compiled engine skips adding zeros too
            category = COST_CATEGORY_OF_EVENT[event_id]
            self.out.add_cost(category, cost, cost * self.cost_factor(t))
            loss = qaly_loss * discount.factor(self.rate_effects, t)
            self.out.qaly -= loss
            self.out.qaly_lost += loss
        if self.trace is not None:
            age = self.patient.age_years + t
            shown = cost if shown_cost is None else shown_cost
            self.trace.append(
                TraceRow(t, age, event, detail, shown, qaly_loss, cause, volume_left_ml)
            )

    def enter_state(
        self, utility: float, care_per_year: float, drug_per_year: float, route: str, dose: float
    ) -> None:
        """Accrue the state left behind, then switch utility, cost rates and drug route.

        Utility and cost flows are accrued only when they change: a refill that keeps them
        costs no discounting integral (the sum is the same, and both engines do it so)."""
        if (utility, care_per_year, drug_per_year) != (
            self.utility,
            self.care_rate,
            self.drug_rate,
        ):
            self.accrue_flows(self.now)
            self.utility, self.care_rate, self.drug_rate = utility, care_per_year, drug_per_year
        self.accrue_drug(self.now)
        self.route, self.route_dose = route, dose

    def accrue_flows(self, t: float) -> None:
        a = self.flows_since
        if t <= a:
            return
        out = self.out
        qalys = self.utility * discount.flow(self.rate_effects, a, t)
        out.qaly += qalys
        out.qaly_state += qalys
        f = discount.weight_flow(self.cost_weights, self.segments, a, t)
        out.add_cost(CARE, self.care_rate * (t - a), self.care_rate * f)
        if self.drug_rate != 0.0:
            out.add_cost(DRUG_TABLETS, self.drug_rate * (t - a), self.drug_rate * f)
        self.flows_since = t

    def cost_factor(self, t: float) -> float:
        """The weight of a cost at t: discounting, and the cost trend if there is one."""
        return discount.weight(self.cost_weights, self.segments, t)

    def accrue_drug(self, t: float) -> None:
        """The drug route's dose since the last change, and on the pump the care of its
        early years (when their care has multipliers of its own)."""
        a = self.drug_since
        if t <= a:
            return
        out = self.out
        out.held.append((_STATE_OF_ROUTE[self.route], a, t))
        if self.route == "itb":
            early = self.strategy.care_cost_multiplier_early  # the route is the strategy's
            if early:
                undiscounted, discounted = rules.early_care(
                    a,
                    t,
                    self.first_implant_time,
                    self.scenario.cohort.care_cost_per_year,
                    self.strategy.care_cost_multiplier,
                    np.array(early),
                    len(early),
                    self.cost_weights,
                    self.segments,
                )
                out.add_cost(CARE, undiscounted, discounted)
            out.itb_dose_mcg_years += self.route_dose * (t - a)
            out.itb_years += t - a
        elif self.route == "oral":
            out.oral_dose_mg_years += self.route_dose * (t - a)
            out.oral_years += t - a
        self.drug_since = t

    def consequence(
        self,
        block: Consequence,
        event: str,
        death_event: str,
        detail: str = "",
    ) -> bool:
        """Record an event with its cost and QALY loss; it may kill. True if still alive."""
        qaly_loss = rules.qaly_loss(block.utility_loss, block.duration_days)
        self.record(event, detail, block.cost, qaly_loss, cause=detail)
        if self.chance("event_death", block.death_probability):
            self.die(death_event, f"after {event.replace('_', ' ')}")
        return self.alive

    def severity(self, block: Severity, kind: str, cause: str, tablets: bool = False) -> bool:
        """A withdrawal or overdose: severity drawn from the mix. True if still alive.
        (`tablets`: a withdrawal from tablets, an event of tablet therapy.)"""
        levels = block.levels()
        level = rules.severity_level(levels[0].share, levels[1].share, self.draw("severity"))
        event = f"{kind}_{SEVERITIES[level]}"
        if tablets:
            event = self.tablet_event(event)
        return self.consequence(levels[level], event, f"death_{kind}", cause)

    def die(self, event: str, detail: str = "") -> None:
        """Death ends follow-up now: no later (or simultaneous, pending) event happens."""
        self.record(event, detail)
        self.alive = False
        self.finished = True

    # ------------------------------------------------------------------ the run

    def run(self) -> Outcome:
        p = self.patient
        self.set_clock(
            "background_death", p.background_death_years, lambda: self.die("death_background")
        )
        strategy = self.strategy
        if isinstance(strategy, Untreated):
            self.enter_state(
                p.baseline_utility + strategy.utility_change,
                self.scenario.cohort.care_cost_per_year * strategy.care_cost_multiplier,
                0.0,
                "",
                0.0,
            )
        elif isinstance(strategy, Oral):
            self.start_tablets(strategy)
        else:
            self.start_itb(strategy)
        # Every clock lies before the horizon (set_clock drops the others).
        while not self.finished and self.env.peek() < math.inf:
            self.env.step()
        t_end = self.now if not self.alive else self.horizon
        self.end_refill_run(t_end)
        self.accrue_flows(t_end)
        self.accrue_drug(t_end)
        out = self.out
        if not self.alive:
            out.held.append((DEAD_STATE, t_end, self.horizon + 1.0))  # to the grid's end
        out.followup_years = t_end
        out.life_years = t_end
        out.life_years_discounted = discount.flow(self.rate_effects, 0.0, t_end)
        if self.trace is not None:
            self.trace.sort(key=lambda row: row.time_years)  # stable: a run's visits join in
        if self.trace is not None and self.alive:
            self.trace.append(
                TraceRow(
                    t_end, p.age_years + t_end, "end_of_follow_up", "horizon reached", 0.0, 0.0
                )
            )
        return out
