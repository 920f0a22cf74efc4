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


#: Every clock, in tie-break order.
CLOCKS: tuple[Clock, ...] = (
    Clock("background_death", ""),
    Clock("infection", "pump"),
    Clock("catheter_failure", "pump"),
    Clock("pump_failure", "pump"),
    Clock("battery_depletion", "pump"),
    Clock("battery_alarm", "pump"),
    Clock("elective_replacement", "pump"),
    Clock("reimplant", ""),  # set by an explant after infection: it outlives the pump
    Clock("explant", "pump"),
    Clock("reservoir_empty", "pump"),  # a missed refill's reserve runs out before the visit
    Clock("refill", "pump"),
    Clock("itb_side_effect", "pump"),
    Clock("tablets_stopped", "tablets"),
    Clock("oral_withdrawal", "tablets"),
    Clock("oral_side_effect", "tablets"),
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
