"""The SimPy engine: the model of DESIGN §4 as readable event handlers, with full traces.

This is the executable specification. Each patient under each strategy runs in its own
SimPy environment. The model is a set of named *clocks* (:mod:`sim.model.clocks`): each clock is
a SimPy event at an absolute time, scheduled with the clock's tie-break priority, whose
handler applies one rule of the model. Setting a clock again moves it; cancelling it (an
explant, a new pump) makes its pending event do nothing. Consequences of an event (a
withdrawal after a catheter failure, the revision surgery, a death) run at once inside
its handler.

Random numbers come from the keyed streams of :mod:`sim.model.streams`; each stream is drawn in the
order this file draws it, and the compiled engine must draw in the same order. Rules
about draws, kept everywhere below:

* a Bernoulli (withdrawal after a cause, meningitis, explant after infection, event
  death) is drawn every time its question arises, even when its probability is 0 or 1,
  so that changing a probability does not shift the other draws of that stream;
* per-visit risks (missed refill, pocket fill, programming error) are drawn as the number
  of visits until the next occurrence (geometric), one draw per occurrence;
* a fill at a settled dose (dose growth over) starts a *run* of refill visits every
  interval: the visits before the next one that brings a risk are uneventful, so they are
  not scheduled one by one; the run is settled (counted, costed in one geometric sum,
  traced) when it ends: at the eventful visit, a new pump, an explant, death or the
  horizon. Its visits fall at fill time + k interval, and a visit at the very instant
  the run ends is not made;
* the side effects of a route are one Poisson process at the summed rate, the type of
  each occurrence drawn in proportion to the rates; a dose change rescales the waiting
  time (rate x remaining time is kept).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from sim.engines import rules
from sim.engines.cohort import Patient
from sim.engines.tally import Outcome
from sim.model.clocks import CLOCK_PRIORITY, PUMP_CLOCKS, TABLET_CLOCKS
from sim.model.events import (
    COST_CATEGORIES,
    COST_CATEGORY_OF_EVENT,
    EVENT_ID,
    ITB_SIDE_EFFECTS,
    ORAL_SIDE_EFFECTS,
    SEVERITIES,
    TABLET_EVENTS,
    on_fallback,
)
from sim.model.streams import STREAM, STREAM_KEY
from sim.model.units import DAYS_PER_YEAR
from sim.numerics import discount
from sim.numerics.distributions import quantile
from sim.numerics.rng import exponential_time, uniform, visits_until
from sim.scenario import (
    Consequence,
    Itb,
    Oral,
    Scenario,
    Severity,
    Surgery,
    Untreated,
    distribution_params,
)

CARE, DRUG_TABLETS, DRUG_INTRATHECAL, REFILL_VISITS = (
    COST_CATEGORIES.index(c) for c in ("care", "drug_tablets", "drug_intrathecal", "refill_visits")
)


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


@dataclass(frozen=True)
class _RefillRun:
    """Uneventful refill visits at start + k step, k = 1 .. visits (may be infinite)."""

    start: float
    step: float
    days: float
    visit_cost: float  # of one visit, undiscounted: the visit
    drug_cost: float  # and the drug it replaces
    visits: float


class _Clock:
    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = True


class PatientRun:
    """One patient under one strategy, from t = 0 to death or the horizon."""

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
        self.patient = patient
        self.key = (scenario.seed, parameter_set, patient.index)
        self.trace = trace
        self.horizon = scenario.horizon
        self.rate_costs = scenario.discount.costs
        self.rate_effects = scenario.discount.effects
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
            self.out.add_cost(category, cost, cost * discount.factor(self.rate_costs, t))
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
        f = discount.flow(self.rate_costs, a, t)
        out.add_cost(CARE, self.care_rate * (t - a), self.care_rate * f)
        if self.drug_rate != 0.0:
            out.add_cost(DRUG_TABLETS, self.drug_rate * (t - a), self.drug_rate * f)
        self.flows_since = t

    def accrue_drug(self, t: float) -> None:
        a = self.drug_since
        if t <= a:
            return
        out = self.out
        if self.route == "itb":
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

    # ------------------------------------------------------------------ tablets

    def start_tablets(self, oral: Oral) -> None:
        """On tablets (own strategy, or an ITB fallback): or untreated once stopped."""
        self.oral = oral
        if self.tablets_stopped:
            self.enter_untreated(oral)
            return
        controlled = self.patient.oral_response_u < oral.response_probability
        dose = self.patient.oral_dose_mg_per_day
        baseline = self.patient.baseline_utility
        self.enter_state(
            baseline + oral.utility_change_controlled if controlled else baseline,
            self.scenario.cohort.care_cost_per_year,
            dose * DAYS_PER_YEAR * oral.drug_cost_per_mg,
            "oral",
            dose,
        )
        effects = oral.side_effects
        self.oral_side_effect_rate = rules.side_effect_rate(
            dose,
            effects.reference_dose_mg_per_day,
            effects.dose_exponent,
            rules.rate_sum(_rates(effects.events, ORAL_SIDE_EFFECTS)),
        )
        self.next_oral_side_effect()
        t = self.now + exponential_time(
            self.draw("tablets_stopped"), oral.discontinuation_rate_per_year
        )
        self.set_clock("tablets_stopped", t, self.on_tablets_stopped)
        self.next_oral_withdrawal()

    def enter_untreated(self, oral: Oral) -> None:
        """Off tablets after stopping them for intolerance (for good)."""
        self.enter_state(
            self.patient.baseline_utility + oral.untreated_utility_change,
            self.scenario.cohort.care_cost_per_year * oral.untreated_care_cost_multiplier,
            0.0,
            "",
            0.0,
        )

    def tablet_event(self, event: str) -> str:
        """A tablet event's name: its twin in an ITB strategy's fallback periods."""
        if isinstance(self.strategy, Itb) and event in TABLET_EVENTS:
            return on_fallback(event)
        return event

    def stop_tablet_clocks(self) -> None:
        self.cancel(*TABLET_CLOCKS)

    def next_oral_side_effect(self) -> None:
        u = self.draw("oral_side_effect_time")
        t = self.now + exponential_time(u, self.oral_side_effect_rate)
        self.set_clock("oral_side_effect", t, self.on_oral_side_effect)

    def next_oral_withdrawal(self) -> None:
        u = self.draw("oral_withdrawal")
        t = self.now + exponential_time(u, self.oral.withdrawal_rate_per_year)
        self.set_clock("oral_withdrawal", t, self.on_oral_withdrawal)

    def on_oral_side_effect(self) -> None:
        events = self.oral.side_effects.events
        name = self.pick_side_effect(ORAL_SIDE_EFFECTS, events, "oral_side_effect_type")
        event = self.tablet_event(name)
        if self.consequence(getattr(events, name), event, "death_side_effect", "tablets"):
            self.next_oral_side_effect()

    def on_oral_withdrawal(self) -> None:
        if self.severity(self.oral.withdrawal, "withdrawal", "tablets: abrupt stop", True):
            self.next_oral_withdrawal()

    def on_tablets_stopped(self) -> None:
        self.record(self.tablet_event("tablets_stopped"), "intolerance: untreated from now on")
        self.tablets_stopped = True
        self.stop_tablet_clocks()
        self.enter_untreated(self.oral)

    def pick_side_effect(self, names: tuple[str, ...], events: object, stream: str) -> str:
        """Type of a side-effect occurrence, in proportion to the rates."""
        rates = _rates(events, names)
        return names[rules.pick_side_effect(rates, rules.rate_sum(rates), self.draw(stream))]

    # ------------------------------------------------------------------ ITB

    def start_itb(self, itb: Itb) -> None:
        self.itb = itb
        fallback = self.scenario.strategies[itb.fallback]
        self.fallback = fallback
        responder = self.patient.itb_response_u < itb.screening.response_probability
        self.record(
            "screening",
            "responds to the test dose" if responder else "no response",
            itb.screening.cost,
        )
        effect = itb.screening.adverse_effect
        if self.chance("screening_adverse_effect", effect.probability):
            loss = rules.qaly_loss(effect.utility_loss, effect.duration_days)
            self.record("screening_adverse_effect", "after the test dose", effect.cost, loss)
        kind, a, b, c, d = distribution_params(itb.pump.replacement_delay_days)
        self.replacement_delay_years = (
            max(0.0, quantile(kind, a, b, c, d, self.patient.replacement_delay_u)) / DAYS_PER_YEAR
        )
        if not responder:
            self.record("screening_failed", f"stays on {itb.fallback}")
            self.start_tablets(fallback)
            return
        self.visits_to = {
            "missed_refill": visits_until(
                self.draw("missed_refill"), itb.refill.missed_probability
            ),
            "pocket_fill": visits_until(
                self.draw("pocket_fill"), itb.refill.pocket_fill_probability
            ),
            "programming_error": visits_until(
                self.draw("programming_error"), itb.refill.programming_error_probability
            ),
        }
        self.implant("implant")

    def surgery(self, event: str, block: Surgery, detail: str = "", cause: str = "") -> bool:
        """An operation: cost, QALY loss, possible death, possible infection later."""
        qaly_loss = rules.qaly_loss(block.utility_loss, block.duration_days)
        self.record(event, detail, block.cost, qaly_loss, cause)
        if self.chance("event_death", block.death_probability):
            self.die("death_surgery", f"after {event.replace('_', ' ')}")
            return False
        if self.chance("infection", block.infection_probability):
            window = self.itb.infection.window_days / DAYS_PER_YEAR
            t = self.now + self.draw("infection_time") * window
            if t < self.infection_time:  # one pending infection: the earliest
                self.infection_time = t
                self.set_clock("infection", t, self.on_infection)
        return True

    def implant(self, event: str) -> None:
        """Implant or re-implant: a new pump and a new catheter; ITB state from now."""
        itb = self.itb
        block = itb.surgery.implant if event == "implant" else itb.surgery.reimplant
        if event == "implant":
            self.first_implant_time = self.now
        self.stop_tablet_clocks()
        if not self.surgery(event, block):
            return
        self.new_catheter()
        self.new_pump()
        t = self.now + exponential_time(self.draw("explant"), itb.explant_rate_per_year)
        self.set_clock("explant", t, lambda: self.explant("loss of efficacy or choice", False))

    def dose_need(self) -> float:
        """The patient's ITB dose need now: grows for growth_years after first implant."""
        grow = self.itb.dose
        years = self.now - self.first_implant_time
        return rules.dose_need(
            self.patient.itb_dose_mcg_per_day, grow.annual_growth, grow.growth_years, years
        )

    def fill_pump(self) -> None:
        """Fill the reservoir, set the dose, and book the next refill visit."""
        pump = self.itb.pump
        self.dose = self.dose_need()
        self.cancel("reservoir_empty")  # a full reservoir
        self.enter_state(
            self.patient.baseline_utility + self.itb.utility_change,
            self.scenario.cohort.care_cost_per_year * self.itb.care_cost_multiplier,
            0.0,  # the intrathecal drug is costed at each refill
            "itb",
            self.dose,
        )
        self.rescale_itb_side_effects()
        self.fill_time = self.now
        self.refill_late = False
        usable_mcg = (pump.reservoir_ml - pump.alarm_volume_ml) * pump.concentration_mcg_per_ml
        days = rules.refill_interval_days(self.dose, usable_mcg, pump.stability_days)
        step = days / DAYS_PER_YEAR
        grow = self.itb.dose
        years = self.now - self.first_implant_time
        settled = grow.annual_growth == 0.0 or years >= grow.growth_years
        visits = min(self.visits_to.values()) - 1.0 if settled else 0.0
        visit = self.itb.refill.cost_visit
        self.refill_run = _RefillRun(self.now, step, days, visit, self.drug_cost(days), visits)
        self.set_clock("refill", self.now + (visits + 1.0) * step, self.on_refill_due)

    def drug_cost(self, days: float) -> float:
        """The drug a refill `days` after the fill replaces, at its price."""
        pump, refill = self.itb.pump, self.itb.refill
        reservoir_mcg = pump.reservoir_ml * pump.concentration_mcg_per_ml
        return rules.drug_cost(self.dose, days, reservoir_mcg, refill.drug_cost_per_mg)

    def visit_found(self, days: float) -> tuple[str, float]:
        """What a refill visit `days` after the fill finds: its detail, and the volume left
        in the reservoir (negative: what the dose lacked once it ran dry)."""
        pump = self.itb.pump
        left_ml = pump.reservoir_ml - self.dose * days / pump.concentration_mcg_per_ml
        found = (
            f"{left_ml:.4f} mL left"
            if left_ml >= 0.0
            else f"ran dry {-left_ml * pump.concentration_mcg_per_ml / self.dose:.0f} days before"
        )
        return f"dose {self.dose:.0f} mcg/day, {days:.0f} days since fill, {found}", left_ml

    def end_refill_run(self, end: float) -> None:
        """Settle the uneventful visits of the current run made before `end`: count them,
        cost them in one geometric sum, count the per-visit risks down, trace them."""
        run, self.refill_run = self.refill_run, None
        if run is None:
            return
        delta = math.log1p(self.rate_costs)
        m, factor = rules.settle_run(run.start, run.step, run.visits, end, delta)
        if m == 0:
            return
        for risk in self.visits_to:
            self.visits_to[risk] -= m
        self.fill_time = run.start + m * run.step
        out = self.out
        out.refill_interval_days += m * run.days
        out.count(EVENT_ID["refill_visit"], run.start + run.step, m)
        out.add_cost(REFILL_VISITS, m * run.visit_cost, run.visit_cost * factor)
        out.add_cost(DRUG_INTRATHECAL, m * run.drug_cost, run.drug_cost * factor)
        if self.trace is not None:
            cost = run.visit_cost + run.drug_cost
            for k in range(1, m + 1):
                t = run.start + k * run.step
                detail, left_ml = self.visit_found(run.days)
                age = self.patient.age_years + t
                self.trace.append(
                    TraceRow(t, age, "refill_visit", detail, cost, 0.0, volume_left_ml=left_ml)
                )

    def new_catheter(self) -> None:
        self.catheter_placed = self.now
        kind, a, b, c, d = distribution_params(self.itb.catheter.time_to_failure_years)
        t = self.now + quantile(kind, a, b, c, d, self.draw("catheter_failure"))
        self.set_clock("catheter_failure", t, self.on_catheter_failure)

    def new_pump(self) -> None:
        """A new pump (implant or replacement): battery, failure hazard, full reservoir."""
        self.end_refill_run(self.now)
        pump = self.itb.pump
        kind, a, b, c, d = distribution_params(pump.battery_life_years)
        life = min(
            max(quantile(kind, a, b, c, d, self.draw("battery_life")), 0.0), pump.battery_cap_years
        )
        depletion = self.now + life
        self.battery_depletion_time = depletion
        alarm = max(self.now, depletion - pump.battery_alarm_lead_days / DAYS_PER_YEAR)
        self.cancel("elective_replacement")
        self.set_clock("battery_alarm", alarm, self.on_battery_alarm)
        self.set_clock("battery_depletion", depletion, self.on_battery_depletion)
        t = self.now + exponential_time(self.draw("pump_failure"), pump.failure_rate_per_year)
        self.set_clock("pump_failure", t, self.on_pump_failure)
        self.fill_pump()

    def rescale_itb_side_effects(self) -> None:
        """Summed side-effect rate at the current dose. A new rate rescales the pending
        waiting time (the unit-exponential hazard left is kept); none pending: draw one."""
        effects = self.itb.side_effects
        rate = rules.side_effect_rate(
            self.dose,
            effects.reference_dose_mcg_per_day,
            effects.dose_exponent,
            rules.rate_sum(_rates(effects.events, ITB_SIDE_EFFECTS)),
        )
        old, t = self.itb_side_effect_rate, self.itb_side_effect_time
        if rate == old and not math.isnan(t):
            return
        if rate <= 0.0:
            t = math.inf
        elif old > 0.0 and not math.isnan(t):
            t = rules.rescaled_time(self.now, t, old, rate)
        else:
            t = self.now + exponential_time(self.draw("itb_side_effect_time"), rate)
        self.itb_side_effect_rate, self.itb_side_effect_time = rate, t
        self.set_clock("itb_side_effect", t, self.on_itb_side_effect)

    def on_itb_side_effect(self) -> None:
        events = self.itb.side_effects.events
        name = self.pick_side_effect(ITB_SIDE_EFFECTS, events, "itb_side_effect_type")
        if self.consequence(getattr(events, name), name, "death_side_effect", "pump"):
            t = self.now + exponential_time(
                self.draw("itb_side_effect_time"), self.itb_side_effect_rate
            )
            self.itb_side_effect_time = t
            self.set_clock("itb_side_effect", t, self.on_itb_side_effect)

    def itb_withdrawal(self, probability: float, cause: str) -> bool:
        """Withdrawal with a probability after a cause. True if still alive."""
        if self.chance("withdrawal_given_cause", probability):
            return self.severity(self.itb.withdrawal, "withdrawal", cause)
        return True

    def on_catheter_failure(self) -> None:
        age = self.now - self.catheter_placed
        self.record("catheter_failure", f"catheter {age:.2f} years old")
        if not self.itb_withdrawal(self.itb.catheter.withdrawal_probability, "catheter failure"):
            return
        if self.surgery("catheter_revision", self.itb.surgery.catheter_revision):
            self.new_catheter()

    def on_pump_failure(self) -> None:
        self.record("pump_failure")
        if self.itb_withdrawal(self.itb.pump.failure_withdrawal_probability, "pump failure"):
            self.replace_pump("pump_replacement_urgent", "after pump failure", "pump failure")

    def on_battery_alarm(self) -> None:
        left = (self.battery_depletion_time - self.now) * DAYS_PER_YEAR
        self.record("battery_alarm", f"{left:.0f} days of battery left")
        t = self.now + self.replacement_delay_years
        if t < self.battery_depletion_time:
            self.set_clock(
                "elective_replacement",
                t,
                lambda: self.replace_pump("pump_replacement_elective", "battery", "battery"),
            )

    def on_battery_depletion(self) -> None:
        self.record("battery_depletion", "delivery stops before replacement")
        if self.itb_withdrawal(self.itb.pump.depletion_withdrawal_probability, "battery depleted"):
            self.replace_pump("pump_replacement_urgent", "battery depleted", "battery")

    def replace_pump(self, event: str, detail: str, cause: str) -> None:
        if self.surgery(event, self.itb.surgery.pump_replacement, detail, cause):
            self.new_pump()

    def on_refill_due(self) -> None:
        """A refill visit falls due: it may be missed (the reservoir runs dry)."""
        self.end_refill_run(self.now)
        if not self.refill_late and self.visit_brings("missed_refill"):
            self.miss_refill()
            return
        self.refill_visit()

    def miss_refill(self) -> None:
        """The visit is missed: the pump goes on from what is left in the reservoir until
        the late refill; only if that comes after the reservoir is empty does delivery stop
        (DESIGN §4.5)."""
        pump = self.itb.pump
        kind, a, b, c, d = distribution_params(self.itb.refill.missed_delay_days)
        u = self.draw("missed_refill_delay")
        late = max(0.0, quantile(kind, a, b, c, d, u)) / DAYS_PER_YEAR
        days = (self.now - self.fill_time) * DAYS_PER_YEAR
        reservoir_mcg = pump.reservoir_ml * pump.concentration_mcg_per_ml
        reserve = rules.reserve_years(self.dose, days, reservoir_mcg)
        self.record(
            "missed_refill",
            f"refill {late * DAYS_PER_YEAR:.1f} days late; the reservoir holds "
            f"{reserve * DAYS_PER_YEAR:.1f} days",
        )
        if late > reserve:
            self.set_clock("reservoir_empty", self.now + reserve, self.on_reservoir_empty)
        self.refill_late = True
        self.set_clock("refill", self.now + late, self.on_refill_due)

    def on_reservoir_empty(self) -> None:
        self.record("reservoir_empty", "delivery stops until the late refill")
        missed = self.itb.refill.missed_withdrawal_probability
        self.itb_withdrawal(missed, "empty reservoir")

    def visit_brings(self, risk: str) -> bool:
        """Count a visit down towards the next occurrence of a per-visit risk."""
        self.visits_to[risk] -= 1.0
        if self.visits_to[risk] > 0.0:
            return False
        probability = {
            "missed_refill": self.itb.refill.missed_probability,
            "pocket_fill": self.itb.refill.pocket_fill_probability,
            "programming_error": self.itb.refill.programming_error_probability,
        }[risk]
        self.visits_to[risk] = visits_until(self.draw(risk), probability)
        return True

    def refill_visit(self) -> None:
        days = (self.now - self.fill_time) * DAYS_PER_YEAR
        self.out.refill_interval_days += days
        detail, left_ml = self.visit_found(days)
        visit, drug = self.itb.refill.cost_visit, self.drug_cost(days)
        self.record("refill_visit", detail, visit, volume_left_ml=left_ml, shown_cost=visit + drug)
        if drug != 0.0:
            self.out.add_cost(
                DRUG_INTRATHECAL, drug, drug * discount.factor(self.rate_costs, self.now)
            )
        if self.visit_brings("pocket_fill"):
            self.record("pocket_fill", "drug injected into the pocket")
            if not self.severity(self.itb.overdose, "overdose", "pocket fill"):
                return
        if self.visit_brings("programming_error"):
            self.record("programming_error", "pump programmed wrongly")
            if not self.severity(self.itb.overdose, "overdose", "programming error"):
                return
        self.fill_pump()

    def on_infection(self) -> None:
        infection = self.itb.infection
        self.infection_time = math.inf
        loss = rules.qaly_loss(infection.utility_loss, infection.duration_days)
        self.record("infection", "", infection.cost, loss)
        if self.chance("meningitis", infection.meningitis_probability) and not (
            self.consequence(infection.meningitis, "meningitis", "death_meningitis")
        ):
            return
        if self.chance("infection_explant", infection.explant_probability):
            self.explant("infection", temporary=True)

    def explant(self, cause: str, temporary: bool) -> None:
        """Remove the device; tablets (fallback) from now, perhaps until a re-implant."""
        self.end_refill_run(self.now)
        reimplant = temporary and self.chance("reimplant", self.itb.infection.reimplant_probability)
        plan = "re-implant planned" if reimplant else "tablets for good"
        if not self.consequence(self.itb.surgery.explant, "explant", "death_surgery", cause):
            return
        if self.trace is not None:  # the detail says the plan
            self.trace[-1] = dataclasses.replace(self.trace[-1], detail=f"{cause}; {plan}")
        self.infection_time = math.inf
        self.itb_side_effect_rate, self.itb_side_effect_time = 0.0, math.nan
        self.cancel(*PUMP_CLOCKS)
        self.start_tablets(self.fallback)
        if reimplant:
            t = self.now + self.itb.infection.reimplant_delay_days / DAYS_PER_YEAR
            self.set_clock("reimplant", t, lambda: self.implant("reimplant"))


def _rates(events: object, names: tuple[str, ...]) -> np.ndarray:
    """The rates of a route's side effects, as the one-column table the rules read."""
    return np.array([[getattr(events, n).rate_per_year] for n in names])


def simulate(
    scenario: Scenario,
    strategy: str,
    patient: Patient,
    parameter_set: int = 0,
    trace: list[TraceRow] | None = None,
) -> Outcome:
    """One patient's outcome under one strategy (and, if asked, the trace of events)."""
    return PatientRun(scenario, strategy, patient, parameter_set, trace).run()
