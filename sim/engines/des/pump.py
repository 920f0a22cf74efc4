"""The pump in the SimPy engine (DESIGN §4.5): screening, surgery, refills and their
errors, missed refills, catheter and pump failures, the battery, infections, explant."""

from __future__ import annotations

import dataclasses
import math

from sim.engines import rules
from sim.engines.des.base import (
    DRUG_INTRATHECAL,
    REFILL_VISITS,
    PatientBase,
    TraceRow,
    _RefillRun,
)
from sim.engines.des.tablets import _rates
from sim.model.clocks import PUMP_CLOCKS
from sim.model.events import (
    EVENT_ID,
    ITB_SIDE_EFFECTS,
)
from sim.model.units import DAYS_PER_YEAR
from sim.numerics.distributions import quantile
from sim.numerics.rng import exponential_time, visits_until
from sim.scenario import (
    Itb,
    Surgery,
    distribution_params,
)


class Pump(PatientBase):
    """The pump processes of a patient under an ITB strategy."""

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
        m, factor = rules.settle_run(
            run.start, run.step, run.visits, end, self.cost_weights, self.segments
        )
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
            self.out.add_cost(DRUG_INTRATHECAL, drug, drug * self.cost_factor(self.now))
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
