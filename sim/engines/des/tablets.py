"""Tablet therapy in the SimPy engine (DESIGN §4.4): an oral strategy, or the fallback of
an ITB strategy: side effects, stopping for intolerance, withdrawal."""

from __future__ import annotations

import numpy as np

from sim.engines import rules
from sim.engines.des.base import (
    PatientBase,
)
from sim.model.clocks import TABLET_CLOCKS
from sim.model.events import (
    ORAL_SIDE_EFFECTS,
    TABLET_EVENTS,
    on_fallback,
)
from sim.model.units import DAYS_PER_YEAR
from sim.numerics.rng import exponential_time
from sim.scenario import (
    Itb,
    Oral,
)


class Tablets(PatientBase):
    """The tablet processes of a patient."""

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


def _rates(events: object, names: tuple[str, ...]) -> np.ndarray:
    """The rates of a route's side effects, as the one-column table the rules read."""
    return np.array([[getattr(events, n).rate_per_year] for n in names])
