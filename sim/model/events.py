"""The event catalogue: every event the model can record, its groups and its counters.

Both engines import this module and nothing else defines event ids. The order of
``EVENTS`` is the order of the rows of events.csv; the order in which simultaneous clocks
fire is that of :mod:`sim.model.clocks`. Consequences of an event (a withdrawal after a
catheter failure, the revision surgery that follows it, a death from a severe withdrawal)
are recorded at once, inside the handler of the event that caused them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Side-effect names of each route (DESIGN §3). A symptom that both routes can cause is
#: one event, so that its rate can be compared between strategies.
ITB_SIDE_EFFECTS: tuple[str, ...] = (
    "seizure",
    "hallucinations",
    "tinnitus",
    "depression",
    "vision_problems",
    "breathing_problems",
    "constipation",
    "headache",
    "paresthesia",
    "drowsiness",
    "hypotonia",
    "nausea",
)
ORAL_SIDE_EFFECTS: tuple[str, ...] = (
    "drowsiness",
    "dizziness",
    "weakness",
    "fatigue",
    "confusion",
    "nausea",
    "hallucinations",
    "seizure",
)
SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")

SIDE_EFFECTS: tuple[str, ...] = tuple(dict.fromkeys(ITB_SIDE_EFFECTS + ORAL_SIDE_EFFECTS))


@dataclass(frozen=True)
class Event:
    name: str
    label: str
    #: What the event has to do with an implanted pump: "in" puts one in a patient who
    #: has none, "out" takes it out, "needs" happens only with one in place, "" neither.
    pump: str = ""


def _catalogue() -> tuple[Event, ...]:
    events = [
        Event("death_background", "Death, background (life table)"),
        Event("death_withdrawal", "Death after withdrawal"),
        Event("death_overdose", "Death after overdose"),
        Event("death_meningitis", "Death after meningitis"),
        Event("death_surgery", "Death after surgery"),
        Event("death_side_effect", "Death after a side effect"),
        Event("screening", "ITB screening test"),
        Event("screening_failed", "ITB screening: no response"),
        Event("infection", "Infection after surgery", "needs"),
        Event("meningitis", "Meningitis", "needs"),
        Event("catheter_failure", "Catheter failure", "needs"),
        Event("pump_failure", "Pump failure", "needs"),
        Event("battery_depletion", "Battery depleted before replacement", "needs"),
        Event("battery_alarm", "Battery alarm (elective replacement indicator)", "needs"),
        Event("pump_replacement_elective", "Pump replacement, elective", "needs"),
        Event("reimplant", "Re-implant after infection", "in"),
        Event("explant", "Explant", "out"),
        Event("implant", "Implant surgery", "in"),
        Event("catheter_revision", "Catheter revision surgery", "needs"),
        Event("pump_replacement_urgent", "Pump replacement, urgent", "needs"),
        Event("refill_visit", "Refill visit", "needs"),
        Event("missed_refill", "Missed refill (reservoir runs dry)", "needs"),
        Event("pocket_fill", "Pocket fill at refill", "needs"),
        Event("programming_error", "Programming error at refill", "needs"),
    ]
    events += [Event(f"withdrawal_{s}", f"Withdrawal, {s}") for s in SEVERITIES]
    events += [Event(f"overdose_{s}", f"Overdose, {s}", "needs") for s in SEVERITIES]
    events += [Event("tablets_stopped", "Tablets stopped for intolerance")]
    events += [Event(name, name.replace("_", " ").capitalize()) for name in SIDE_EFFECTS]
    return tuple(events)


EVENTS: tuple[Event, ...] = _catalogue()
EVENT_ID: dict[str, int] = {e.name: i for i, e in enumerate(EVENTS)}
N_EVENTS = len(EVENTS)

#: Events by their role for the pump (the invariants of a history check them).
PUTS_PUMP_IN: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "in")
TAKES_PUMP_OUT: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "out")
NEEDS_PUMP: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "needs")

DEATHS: tuple[str, ...] = tuple(e.name for e in EVENTS if e.name.startswith("death_"))

#: Groups of events, reported as extra rows of events.csv and as the curves of
#: cumulative_incidence.csv (DESIGN §5). "Serious" follows the usual regulatory sense:
#: life-threatening, needing hospital care, or fatal.
GROUPS: dict[str, tuple[str, ...]] = {
    "any_device_failure": ("catheter_failure", "pump_failure", "battery_depletion"),
    "any_serious_adverse_event": (
        "withdrawal_moderate",
        "withdrawal_severe",
        "overdose_moderate",
        "overdose_severe",
        "infection",
        "meningitis",
        "seizure",
        "breathing_problems",
        *DEATHS[1:],
    ),
    "any_withdrawal": tuple(f"withdrawal_{s}" for s in SEVERITIES),
    "any_overdose": tuple(f"overdose_{s}" for s in SEVERITIES),
    "any_infection": ("infection",),
    "any_surgery": (
        "implant",
        "catheter_revision",
        "pump_replacement_elective",
        "pump_replacement_urgent",
        "reimplant",
    ),
    "any_pump_replacement": ("pump_replacement_elective", "pump_replacement_urgent"),
    "any_death": DEATHS,
}
#: The groups whose cumulative incidence is reported (DESIGN §5), death competing.
CUMULATIVE_GROUPS: tuple[str, ...] = (
    "any_device_failure",
    "any_serious_adverse_event",
    "any_withdrawal",
    "any_overdose",
    "any_infection",
    "any_death",
)

#: Counters of the tally: every event, then every group.
COUNTERS: tuple[str, ...] = tuple(e.name for e in EVENTS) + tuple(GROUPS)
N_COUNTERS = len(COUNTERS)
GROUP_ID: dict[str, int] = {g: N_EVENTS + i for i, g in enumerate(GROUPS)}


def _membership() -> tuple[tuple[int, ...], ...]:
    """For each event id, the counters it increments (itself and its groups)."""
    member = []
    for event in EVENTS:
        ids = [EVENT_ID[event.name]]
        ids += [GROUP_ID[g] for g, names in GROUPS.items() if event.name in names]
        member.append(tuple(ids))
    return tuple(member)


COUNTERS_OF_EVENT: tuple[tuple[int, ...], ...] = _membership()


def label(counter: str) -> str:
    if counter in EVENT_ID:
        return EVENTS[EVENT_ID[counter]].label
    return counter.replace("_", " ").capitalize()
