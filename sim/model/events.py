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


#: Where an event's cost is reported (the cost breakdown of summary tables); background
#: care, tablets and the intrathecal drug accrue over time or with refills, not as events.
COST_CATEGORIES: tuple[str, ...] = (
    "care",
    "drug_tablets",
    "drug_intrathecal",
    "refill_visits",
    "screening",
    "surgery_device",
    "complications",
)

#: The states of the state-occupancy table (a Markov trace's picture): on the pump, on
#: tablets, on no antispastic drug (tablets stopped, untreated, or between an explant and
#: tablets), dead. The first three are the drug routes, in the compiled engine's order.
OCCUPANCY_STATES: tuple[str, ...] = ("untreated", "on_pump", "on_tablets", "dead")
DEAD_STATE = OCCUPANCY_STATES.index("dead")


@dataclass(frozen=True)
class Event:
    name: str
    label: str
    #: What the event has to do with an implanted pump: "in" puts one in a patient who
    #: has none, "out" takes it out, "needs" happens only with one in place, "" neither.
    pump: str = ""
    #: A harm: a number needed to harm (or treat) is reported for it when the risk
    #: difference between strategies is clear. Procedures, visits and alarms are not.
    adverse: bool = False
    #: The cost category its cost (if any) belongs to.
    cost_category: str = "complications"


#: Events of tablet therapy. In an ITB strategy, a patient on the fallback tablets (not a
#: responder, or explanted) records them under a twin name ("..._on_fallback"), so that the
#: pump's own events are not pooled with the tablets' (DESIGN §5).
TABLET_EVENTS: tuple[str, ...] = (
    *ORAL_SIDE_EFFECTS,
    *(f"withdrawal_{s}" for s in SEVERITIES),
    "tablets_stopped",
)


def on_fallback(name: str) -> str:
    """The twin of a tablet event recorded in an ITB strategy's fallback periods."""
    return f"{name}_on_fallback"


def _catalogue() -> tuple[Event, ...]:
    procedure = {"cost_category": "surgery_device"}
    events = [
        Event("death_background", "Death, background (life table)"),
        Event("death_withdrawal", "Death after withdrawal", adverse=True),
        Event("death_overdose", "Death after overdose", adverse=True),
        Event("death_meningitis", "Death after meningitis", adverse=True),
        Event("death_surgery", "Death after surgery", adverse=True),
        Event("death_side_effect", "Death after a side effect", adverse=True),
        Event("screening", "ITB screening test", cost_category="screening"),
        Event(
            "screening_adverse_effect",
            "Headache after the screening test (post-dural puncture)",
            adverse=True,
            cost_category="screening",
        ),
        Event("screening_failed", "ITB screening: no response"),
        Event("infection", "Infection after surgery", "needs", adverse=True),
        Event("meningitis", "Meningitis", "needs", adverse=True),
        Event("catheter_failure", "Catheter failure", "needs", adverse=True),
        Event("pump_failure", "Pump failure", "needs", adverse=True),
        Event("battery_depletion", "Battery depleted before replacement", "needs", adverse=True),
        Event("battery_alarm", "Battery alarm (elective replacement indicator)", "needs"),
        Event("pump_replacement_elective", "Pump replacement, elective", "needs", **procedure),
        Event("reimplant", "Re-implant after infection", "in", **procedure),
        Event("explant", "Explant surgery", "out", **procedure),
        Event("implant", "Implant surgery", "in", **procedure),
        Event("catheter_revision", "Catheter revision surgery", "needs", **procedure),
        Event("pump_replacement_urgent", "Pump replacement, urgent", "needs", **procedure),
        Event("refill_visit", "Refill visit", "needs", cost_category="refill_visits"),
        Event("missed_refill", "Missed refill visit (refilled late)", "needs"),
        Event(
            "reservoir_empty",
            "Reservoir ran dry before a late refill",
            "needs",
            adverse=True,
        ),
        Event("pocket_fill", "Pocket fill at refill", "needs", adverse=True),
        Event("programming_error", "Programming error at refill", "needs", adverse=True),
    ]
    events += [Event(f"withdrawal_{s}", f"Withdrawal, {s}", adverse=True) for s in SEVERITIES]
    events += [Event(f"overdose_{s}", f"Overdose, {s}", "needs", adverse=True) for s in SEVERITIES]
    # a switch of treatment (as a failed screening is), not a harm: the side effects are
    events += [Event("tablets_stopped", "Tablets stopped for intolerance")]
    events += [
        Event(name, name.replace("_", " ").capitalize(), adverse=True) for name in SIDE_EFFECTS
    ]
    by_name = {e.name: e for e in events}
    events += [
        Event(
            on_fallback(name),
            f"{by_name[name].label} (ITB arm, on fallback tablets)",
            adverse=by_name[name].adverse,
        )
        for name in TABLET_EVENTS
    ]
    return tuple(events)


EVENTS: tuple[Event, ...] = _catalogue()
EVENT_ID: dict[str, int] = {e.name: i for i, e in enumerate(EVENTS)}
N_EVENTS = len(EVENTS)

#: Events by their role for the pump (the invariants of a history check them).
PUTS_PUMP_IN: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "in")
TAKES_PUMP_OUT: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "out")
NEEDS_PUMP: frozenset[str] = frozenset(e.name for e in EVENTS if e.pump == "needs")
#: Harms, for which numbers needed to harm or treat are reported.
ADVERSE: frozenset[str] = frozenset(e.name for e in EVENTS if e.adverse)
#: The cost category of each event id (an index into COST_CATEGORIES).
COST_CATEGORY_OF_EVENT: tuple[int, ...] = tuple(
    COST_CATEGORIES.index(e.cost_category) for e in EVENTS
)

DEATHS: tuple[str, ...] = tuple(e.name for e in EVENTS if e.name.startswith("death_"))

#: Groups of events, reported as extra rows of events.csv and as the curves of
#: cumulative_incidence.csv (DESIGN §5). "Serious" follows the usual regulatory sense:
#: life-threatening, needing hospital care, or fatal.
GROUPS: dict[str, tuple[str, ...]] = {
    "any_device_failure": ("catheter_failure", "pump_failure", "battery_depletion"),
    "any_serious_adverse_event": (
        "withdrawal_moderate",
        "withdrawal_severe",
        on_fallback("withdrawal_moderate"),
        on_fallback("withdrawal_severe"),
        "overdose_moderate",
        "overdose_severe",
        "infection",
        "meningitis",
        "seizure",
        on_fallback("seizure"),
        "breathing_problems",
        *DEATHS[1:],
    ),
    "any_withdrawal": tuple(
        name for s in SEVERITIES for name in (f"withdrawal_{s}", on_fallback(f"withdrawal_{s}"))
    ),
    "any_overdose": tuple(f"overdose_{s}" for s in SEVERITIES),
    "any_infection": ("infection",),
    "any_surgery": (
        "implant",
        "catheter_revision",
        "pump_replacement_elective",
        "pump_replacement_urgent",
        "reimplant",
        "explant",
    ),
    "any_pump_replacement": ("pump_replacement_elective", "pump_replacement_urgent"),
    "any_death": DEATHS,
    # A tablet event with its fallback twin: the ITB arm's whole experience of it (on the
    # pump and in its periods on tablets) against the comparator's, like with like.
    **{f"any_{name}": (name, on_fallback(name)) for name in TABLET_EVENTS},
}
#: Counters reported apart by period (a tablet event and its fallback twin): compared
#: between strategies only through their any_ group, which holds both.
SPLIT_BY_PERIOD: frozenset[str] = frozenset(TABLET_EVENTS) | {
    on_fallback(name) for name in TABLET_EVENTS
}
#: Counters that are about the pump (events that need, put in or take out a pump, and
#: groups of only those): their rates are also reported per pump-year (DESIGN §5).
PUMP_COUNTERS: frozenset[str] = frozenset(
    [e.name for e in EVENTS if e.pump]
    + [g for g, names in GROUPS.items() if all(EVENTS[EVENT_ID[n]].pump for n in names)]
)
#: Counters that are harms (adverse events, and groups with any), but not those split by
#: period: numbers needed to harm or treat are reported for these only.
ADVERSE_COUNTERS: frozenset[str] = (
    frozenset(
        [e.name for e in EVENTS if e.adverse]
        + [g for g, names in GROUPS.items() if any(EVENTS[EVENT_ID[n]].adverse for n in names)]
    )
    - SPLIT_BY_PERIOD
)

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
