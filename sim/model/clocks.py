"""The clocks of the next-event logic, declared once for both engines (DESIGN §4.5).

A clock is the time of the next occurrence of one process (background death, a catheter
failure, the next refill...). Their order here is the tie-break order: when two clocks
fall on the same instant, the one earlier here fires first (death first). The SimPy
engine schedules each clock with priority ``CLOCK_PRIORITY[name]``; the compiled engine
keeps the clocks in an array indexed by ``CLOCK.<name>`` and takes the earliest by
scanning it in this order, so neither engine writes the order again.

A clock's `ends_with` says what cancels it: ``"pump"`` clocks belong to an implanted
device and an explant cancels them all; ``"tablets"`` clocks belong to tablet therapy and
stop when a pump is implanted or the tablets are stopped; the others run for the whole
life.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    name: str
    ends_with: str  # "pump", "tablets" or "" (runs for the whole life)
    driven_by: str = ""  # the strategy's keys that set when it fires (for messages)


#: Every clock, in tie-break order.
CLOCKS: tuple[Clock, ...] = (
    Clock("background_death", "", "cohort life table and mortality multipliers"),
    Clock("infection", "pump", "surgery infection probabilities, infection"),
    Clock("catheter_failure", "pump", "catheter.time_to_failure_years"),
    Clock("pump_failure", "pump", "pump.failure_rate_per_year"),
    Clock("battery_depletion", "pump", "pump.battery_life_years, battery_cap_years"),
    Clock("battery_alarm", "pump", "pump.battery_alarm_lead_days"),
    Clock("elective_replacement", "pump", "pump.replacement_delay_days"),
    Clock("reimplant", "", "infection.reimplant_delay_days"),  # it outlives the pump
    Clock("explant", "pump", "explant_rate_per_year"),
    Clock("reservoir_empty", "pump", "refill.missed_delay_days, pump"),  # the reserve runs out
    Clock("refill", "pump", "pump reservoir, concentration and stability, the dose"),
    Clock("itb_side_effect", "pump", "side_effects rates and dose_exponent"),
    Clock("tablets_stopped", "tablets", "discontinuation_rate_per_year"),
    Clock("oral_withdrawal", "tablets", "withdrawal_rate_per_year"),
    Clock("oral_side_effect", "tablets", "side_effects rates and dose_exponent"),
)
CLOCK_NAMES: tuple[str, ...] = tuple(c.name for c in CLOCKS)
N_CLOCKS = len(CLOCKS)
#: Clock ids by name, as attributes (``CLOCK.refill``): compiled code reads them as
#: constants.
CLOCK = namedtuple("ClockIds", CLOCK_NAMES)(*range(N_CLOCKS))
#: Priority 0 is SimPy's URGENT (interrupts, process starts); clocks start at 1.
CLOCK_PRIORITY: dict[str, int] = {name: 1 + i for i, name in enumerate(CLOCK_NAMES)}
#: What an explant cancels, and what an implant or stopping the tablets cancels.
PUMP_CLOCKS: tuple[str, ...] = tuple(c.name for c in CLOCKS if c.ends_with == "pump")
TABLET_CLOCKS: tuple[str, ...] = tuple(c.name for c in CLOCKS if c.ends_with == "tablets")
PUMP_CLOCK_IDS: tuple[int, ...] = tuple(getattr(CLOCK, n) for n in PUMP_CLOCKS)
TABLET_CLOCK_IDS: tuple[int, ...] = tuple(getattr(CLOCK, n) for n in TABLET_CLOCKS)

#: The most clock firings one patient's life under one strategy may take (about a
#: hundred is usual): a life beyond it is events repeating without time advancing (a
#: time to failure of 0) or rates far beyond any patient's, and both engines stop it
#: with an error that names the clock, rather than run for ever.
MAX_FIRINGS = 200_000
