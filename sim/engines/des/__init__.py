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

from sim.engines.cohort import Patient
from sim.engines.des.base import TraceRow
from sim.engines.des.pump import Pump
from sim.engines.des.tablets import Tablets
from sim.engines.tally import Outcome
from sim.scenario import Scenario

__all__ = ["PatientRun", "TraceRow", "simulate"]


class PatientRun(Pump, Tablets):
    """One patient under one strategy, from t = 0 to death or the horizon."""


def simulate(
    scenario: Scenario,
    strategy: str,
    patient: Patient,
    parameter_set: int = 0,
    trace: list[TraceRow] | None = None,
) -> Outcome:
    """One patient's outcome under one strategy (and, if asked, the trace of events)."""
    return PatientRun(scenario, strategy, patient, parameter_set, trace).run()
