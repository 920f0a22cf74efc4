"""The model's invariants on random valid scenarios (DESIGN §4; issue 6).

Each example is a perturbed base scenario (rates to zero or large, probabilities to 0 or
1, short and lifetime horizons, one strategy or several). The SimPy engine's trace of a
few patients must satisfy what every history satisfies, and the compiled engine's tally
of a small cohort what every tally satisfies. A failure names the rule and the patient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from conftest import ROOT, base_document, build, perturbed
from hypothesis import given, settings

from sim import scenario
from sim.engines import cohort, des
from sim.execution import runner
from sim.model.events import (
    COUNTERS,
    DEATHS,
    EVENT_ID,
    GROUP_ID,
    GROUPS,
    N_EVENTS,
    NEEDS_PUMP,
    PUTS_PUMP_IN,
    TAKES_PUMP_OUT,
)
from sim.numerics import lifetable
from sim.output import tables
from sim.validation.setups import with_values

PATIENTS_TRACED = 20
PATIENTS_TALLIED = 300


def history_problems(sc: scenario.Scenario, strategy: str, rows: list[des.TraceRow]) -> list[str]:
    """Every rule a patient's history breaks (empty: none)."""
    problems = []
    horizon = sc.horizon
    pump = getattr(sc.strategies[strategy], "pump", None)
    implanted = False
    late = False
    for i, row in enumerate(rows):
        where = f"row {i} ({row.event} at {row.time_years:.6f})"
        if i and row.time_years < rows[i - 1].time_years:
            problems.append(f"{where}: time goes backwards")
        if row.time_years > horizon + 1e-9:
            problems.append(f"{where}: past the horizon {horizon}")
        if i and rows[i - 1].event in DEATHS:
            problems.append(f"{where}: after death")
        if not (math.isfinite(row.cost) and row.cost >= 0.0):
            problems.append(f"{where}: cost {row.cost}")
        if not math.isfinite(row.qaly_loss):
            problems.append(f"{where}: QALY loss {row.qaly_loss}")
        if row.event in PUTS_PUMP_IN:
            if implanted:
                problems.append(f"{where}: implanted twice without an explant between")
            implanted = True
        elif row.event in TAKES_PUMP_OUT:
            if not implanted:
                problems.append(f"{where}: explant without a pump")
            implanted = False
        elif row.event in NEEDS_PUMP and not implanted:
            problems.append(f"{where}: needs a pump and there is none")
        if row.event == "missed_refill":
            late = True
        elif row.event == "refill_visit":
            left = row.volume_left_ml
            if left < 0.0:
                if not late:
                    problems.append(f"{where}: ran dry without a missed refill ({row.detail})")
            elif not late and left < pump.alarm_volume_ml - 1e-9:
                problems.append(
                    f"{where}: below the alarm volume {pump.alarm_volume_ml} on schedule "
                    f"({row.detail})"
                )
            late = False
    if sum(row.event in DEATHS for row in rows) > 1:
        problems.append("more than one death")
    return problems


def tally_problems(sc: scenario.Scenario, tally: Any) -> list[str]:
    """Every rule a tally of `PATIENTS_TALLIED` patients breaks."""
    n = PATIENTS_TALLIED
    problems = []
    if tally.patients != n:
        problems.append(f"{tally.patients} patients counted, not {n}")
    if not np.all(np.isfinite(tally.sum_v)):
        problems.append("a cost, QALY or life-year sum is not finite")
    death = GROUP_ID["any_death"]
    for s, name in enumerate(sc.strategy_names()):
        cost = tally.sum_v[tally.index(s, "cost")]
        if cost < 0.0:
            problems.append(f"{name}: total cost {cost} < 0")
        if not 0.0 <= tally.followup[s] <= n * sc.horizon * (1 + 1e-12):
            problems.append(f"{name}: follow-up {tally.followup[s]} outside [0, n x horizon]")
        if tally.count[s, death] != tally.with_event[s, death] or tally.count[s, death] > n:
            problems.append(f"{name}: {tally.count[s, death]} deaths in {n} patients")
        if np.any(tally.with_event[s] > n) or np.any(tally.count[s] < tally.with_event[s]):
            problems.append(f"{name}: more patients with an event than patients or events")
        per_event = tally.count[s, :N_EVENTS]
        for g, counter in enumerate(COUNTERS[N_EVENTS:]):
            members = [EVENT_ID[e] for e in GROUPS[counter]]
            if tally.count[s, N_EVENTS + g] != per_event[members].sum():
                problems.append(f"{name}: group {counter} is not the sum of its events")
    incidence = tables.cumulative_incidence(sc, tally)
    for (name, group), curve in incidence.groupby(["strategy", "group"], sort=False):
        values = curve["cumulative_incidence"].to_numpy()
        if np.any(np.diff(values) < 0.0) or values.max() > 1.0 or values.min() < 0.0:
            problems.append(f"{name}: cumulative incidence of {group} not in [0, 1] rising")
    return problems


@settings(max_examples=60)
@given(doc=perturbed())
def test_histories_and_tallies_keep_the_invariants(doc: dict[str, Any]) -> None:
    sc = build(doc).model_copy(update={"patients": PATIENTS_TALLIED})
    table = lifetable.load(sc.cohort.life_table, ROOT / "scenarios")
    arrays = cohort.CohortArrays.of(sc, table)
    for strategy in sc.strategy_names():
        for patient in range(PATIENTS_TRACED):
            rows: list[des.TraceRow] = []
            des.simulate(sc, strategy, cohort.draw(arrays, sc.seed, 0, patient), 0, rows)
            problems = history_problems(sc, strategy, rows)
            assert not problems, f"{strategy} patient {patient}: {problems[0]}"
    tally = runner.simulate(sc, table)
    problems = tally_problems(sc, tally)
    assert not problems, problems[0]


def test_the_rules_catch_a_broken_history() -> None:
    """Each rule can fail: a history edited to break it is caught."""
    sc = build(with_values(base_document(), horizon_years=20.0))
    rows = [
        des.TraceRow(0.0, 40.0, "implant", "", 100.0, 0.0),
        des.TraceRow(
            0.5,
            40.5,
            "refill_visit",
            "dose 300 mcg/day, 10 days since fill, 1.0000 mL left",
            10.0,
            0.0,
            volume_left_ml=1.0,
        ),
        des.TraceRow(0.4, 40.4, "implant", "", -1.0, math.nan),
        des.TraceRow(0.6, 40.6, "death_background", "", 0.0, 0.0),
        des.TraceRow(
            99.0,
            139.0,
            "refill_visit",
            "dose 300 mcg/day, 10 days since fill, ran dry 3 days before",
            0.0,
            0.0,
            volume_left_ml=-0.45,
        ),
    ]
    problems = " | ".join(history_problems(sc, "itb", rows))
    for rule in (
        "below the alarm volume",
        "time goes backwards",
        "implanted twice",
        "cost -1.0",
        "QALY loss nan",
        "after death",
        "past the horizon",
        "ran dry without a missed refill",
    ):
        assert rule in problems, rule


def test_the_rules_catch_a_broken_tally() -> None:
    sc = build(base_document()).model_copy(update={"patients": PATIENTS_TALLIED})
    tally = runner.simulate(sc, lifetable.load(sc.cohort.life_table, ROOT / "scenarios"))
    assert tally_problems(sc, tally) == []
    tally.count[1, GROUP_ID["any_death"]] += 1
    tally.first_month[0, 0, 5] -= 1_000
    tally.sum_v[tally.index(1, "cost")] = -1.0
    problems = " | ".join(tally_problems(sc, tally))
    for rule in ("deaths in", "is not the sum", "not in [0, 1] rising", "total cost -1.0"):
        assert rule in problems, rule
