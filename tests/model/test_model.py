"""The SimPy engine against the mathematics of each process (DESIGN §4).

Each test switches on one process in the silent scenario (no death, every rate and
probability 0) and compares the engine with a closed form or an independent simulation.
Statistical tests use a fixed seed and a tolerance of 4 Monte Carlo standard errors, so
they never flake yet catch a rule that is off by a few per cent.
"""

from __future__ import annotations

import csv
import math
from typing import Any

import numpy as np
import pytest
from conftest import (
    ROOT,
    base_document,
    build,
    count,
    silent_document,
    tally_of,
    with_values,
)

from sim.engines import cohort, des
from sim.execution import runner
from sim.model.events import COUNTERS, ORAL_SIDE_EFFECTS
from sim.model.units import DAYS_PER_YEAR
from sim.numerics import lifetable
from sim.validation.setups import one_indication, only

Z = 4.0  # tolerance in standard errors


def _patients(doc: dict[str, Any], n: int) -> tuple[Any, list[cohort.Patient]]:
    scenario = build(doc)
    table = lifetable.load(scenario.cohort.life_table, ROOT / "scenarios")
    arrays = cohort.CohortArrays.of(scenario, table)
    return scenario, [cohort.draw(arrays, scenario.seed, 0, i) for i in range(n)]


# ----------------------------------------------------------------- background mortality


def _published_ex(year: int) -> dict[tuple[int, int], float]:
    path = lifetable.bundled_path()
    with path.open() as handle:
        return {
            (1 if r["sex"] == "male" else 0, int(r["age"])): float(r["ex"])
            for r in csv.DictReader(handle)
            if int(r["year"]) == year
        }


@pytest.mark.parametrize("name", ["us-ssa-2019", "us-ssa-2020"])
def test_life_expectancy_of_the_hazard_matches_the_published_table(name):
    # The published e(x) is rounded to 0.01 and computed by the actuaries' own method;
    # a constant hazard within each year of age reproduces it to 0.02 years up to 80.
    table = lifetable.load(name)
    ex = _published_ex(lifetable.BUNDLED[name])
    for sex in (0, 1):
        for age in range(0, 81):
            assert table.life_expectancy(sex, age) == pytest.approx(ex[sex, age], abs=0.02)


@pytest.mark.parametrize(
    ("age", "male", "multiplier"),
    [(40, True, 1.0), (65, False, 1.0), (80, True, 1.0), (65, True, 2.5)],
)
def test_untreated_life_years_match_the_life_table(age, male, multiplier):
    n = 3000
    doc = only(one_indication(base_document(), multiplier), "none")
    doc = with_values(
        doc,
        horizon_years="lifetime",
        patients=n,
        discount={"costs": 0.0, "effects": 0.0},
        cohort__age_years=age,
        cohort__male_share=float(male),
    )
    doc["sources"], doc["uncertainty"] = {}, {}
    scenario = build(doc)
    tally = runner.run(scenario, ROOT / "scenarios")
    mean = tally.sum_v[tally.index(0, "life_years")] / n
    second = tally.sum_vv[tally.index(0, "life_years"), tally.index(0, "life_years")] / n
    se = math.sqrt((second - mean * mean) / (n - 1))
    table = lifetable.load("us-ssa-2019")
    expected = table.life_expectancy(int(male), age, multiplier)
    assert abs(mean - expected) < Z * se, (mean, expected, se)
    if multiplier == 1.0:  # and so the published figure, to its rounding
        published = _published_ex(2019)[int(male), age]
        assert abs(mean - published) < Z * se + 0.02
    assert count(tally, 0, "death_background") == n  # lifetime: everybody dies


def test_death_time_inverts_the_cumulative_hazard():
    hazard = lifetable.load("us-ssa-2019").hazards()[1]
    for age, u in [(40.3, 0.5), (79.9, 0.01), (18.0, 0.999), (119.5, 0.3)]:
        t = lifetable.death_time(hazard, 1.7, age, u)
        # integrate the hazard from age to age + t by years of age
        total, x = 0.0, age
        while x < age + t - 1e-12:
            year = int(x)
            step = min(year + 1.0, age + t) - x
            total += 1.7 * hazard[year] * step
            x += step
        assert total == pytest.approx(-math.log(u), rel=1e-9)
    closed = hazard.copy()
    closed[90:] = math.inf  # a table that closes at 90: death at 90 at the latest
    assert lifetable.death_time(closed, 1.0, 85.5, 1e-300) == 4.5
    assert lifetable.death_time(closed, 1.0, 95.0, 0.5) == 0.0
    assert lifetable.death_time(hazard, 1.0, lifetable.MAX_AGE, 0.5) == 0.0
    assert lifetable.death_time(hazard, 0.0, 40.0, 0.5) == math.inf


# ----------------------------------------------------------------- tablets


def test_oral_side_effects_are_poisson_with_dose_scaling():
    n, horizon = 600, 20.0
    rates = {"drowsiness": 0.3, "dizziness": 0.1, "confusion": 0.05}
    doc = only(silent_document(), "oral")
    effects = doc["strategies"]["oral"]["side_effects"]
    effects["dose_exponent"] = 1.5
    for name, rate in rates.items():
        effects["events"][name]["rate_per_year"] = rate
    scenario, people = _patients(with_values(doc, patients=n), n)
    reference = effects["reference_dose_mg_per_day"]
    expected = sum((p.oral_dose_mg_per_day / reference) ** 1.5 for p in people)
    expected *= sum(rates.values()) * horizon
    tally = runner.run(scenario, ROOT / "scenarios")
    observed = sum(count(tally, 0, name) for name in ORAL_SIDE_EFFECTS)
    assert abs(observed - expected) < Z * math.sqrt(expected), (observed, expected)
    # the type of each occurrence in proportion to its rate: binomial
    share = rates["drowsiness"] / sum(rates.values())
    k = count(tally, 0, "drowsiness")
    assert abs(k - share * observed) < Z * math.sqrt(observed * share * (1 - share))
    assert count(tally, 0, "nausea") == 0  # a rate of 0 never happens


def test_stopping_tablets_is_exponential_and_ends_tablet_events():
    n, rate, horizon = 2000, 0.05, 20.0
    doc = only(silent_document(), "oral")
    doc = with_values(doc, patients=n, strategies__oral__discontinuation_rate_per_year=rate)
    doc["strategies"]["oral"]["withdrawal_rate_per_year"] = 0.2
    scenario = build(doc)
    tally = runner.run(scenario, ROOT / "scenarios")
    p = 1.0 - math.exp(-rate * horizon)
    stopped = count(tally, 0, "tablets_stopped")
    assert abs(stopped - n * p) < Z * math.sqrt(n * p * (1 - p))
    # withdrawal runs only while on tablets: expected time on tablets (1 - e^{-rT}) / r
    on_tablets = n * (1.0 - math.exp(-rate * horizon)) / rate
    assert tally.oral_years[0] == pytest.approx(on_tablets, rel=Z * math.sqrt(p * (1 - p) / n))
    expected = 0.2 * tally.oral_years[0]  # Poisson given the time at risk
    observed = count(tally, 0, "any_withdrawal")
    assert abs(observed - expected) < Z * math.sqrt(expected)


# ----------------------------------------------------------------- the pump


def _itb(doc: dict[str, Any], n: int, **values: Any) -> dict[str, Any]:
    doc = only(doc, "itb", "oral")
    doc = with_values(doc, patients=n, **{f"strategies__itb__{k}": v for k, v in values.items()})
    return doc


def test_pump_failures_are_poisson_and_each_is_replaced():
    n, rate = 500, 0.2
    tally = tally_of(_itb(silent_document(), n, pump__failure_rate_per_year=rate))
    expected = n * rate * 20.0  # memoryless, replacement at once: Poisson(rate * T)
    failures = count(tally, 0, "pump_failure")
    assert abs(failures - expected) < Z * math.sqrt(expected)
    assert count(tally, 0, "pump_replacement_urgent") == failures
    assert count(tally, 0, "any_withdrawal") == 0  # withdrawal probability 0


def test_catheter_renewals_match_an_independent_weibull_renewal_process():
    n, shape, scale, horizon = 1500, 0.7, 5.0, 20.0
    doc = _itb(
        silent_document(),
        n,
        catheter__time_to_failure_years={"dist": "weibull", "shape": shape, "scale": scale},
    )
    tally = tally_of(doc)
    # the renewal count by numpy's own Weibull sampler
    rng = np.random.default_rng(7)
    reps = 200_000
    t = np.zeros(reps)
    renewals = np.zeros(reps)
    alive = np.ones(reps, dtype=bool)
    while alive.any():
        t[alive] += scale * rng.weibull(shape, alive.sum())
        alive &= t < horizon
        renewals += alive
    mean, var = renewals.mean(), renewals.var()
    observed = count(tally, 0, "catheter_failure")
    se = math.sqrt(n * var + n * n * var / reps)
    assert abs(observed - n * mean) < Z * se, (observed / n, mean)
    assert count(tally, 0, "catheter_revision") == observed


def test_refill_visits_follow_the_reservoir_arithmetic_exactly():
    doc = _itb(silent_document(), 60)
    scenario, people = _patients(doc, 60)
    pump = doc["strategies"]["itb"]["pump"]
    usable = (pump["reservoir_ml"] - pump["alarm_volume_ml"]) * pump["concentration_mcg_per_ml"]
    for person in people:
        out = des.simulate(scenario, "itb", person)
        days = max(min(math.floor(usable / person.itb_dose_mcg_per_day), pump["stability_days"]), 1)
        visits = math.ceil(20.0 * DAYS_PER_YEAR / days) - 1  # k * days < T, k >= 1
        assert out.counts[COUNTERS.index("refill_visit")] == visits, person
        assert out.refill_interval_days == pytest.approx(visits * days, rel=1e-9)


@pytest.mark.parametrize(("delay_days", "elective", "urgent"), [(30.0, 4, 0), (120.0, 0, 3)])
def test_battery_replacement_elective_or_urgent(delay_days, elective, urgent):
    # Battery of exactly 5 years, alarm 90 days before. Replaced 30 days after the alarm
    # (before depletion): a new pump every 5 - 60/365.25 years, 4 within 20 years.
    # Replaced 120 days after the alarm: the battery runs out first, every 5 years.
    doc = _itb(
        silent_document(),
        40,
        pump__battery_life_years=5.0,
        pump__battery_cap_years=7.0,
        pump__replacement_delay_days=delay_days,
    )
    tally = tally_of(doc)
    assert count(tally, 0, "pump_replacement_elective") == 40 * elective
    assert count(tally, 0, "pump_replacement_urgent") == 40 * urgent
    assert count(tally, 0, "battery_depletion") == 40 * urgent
    assert count(tally, 0, "battery_alarm") == 40 * 4


def test_battery_cap_shuts_the_pump_down():
    doc = _itb(
        silent_document(),
        20,
        pump__battery_life_years=9.0,
        pump__battery_cap_years=7.0,
        pump__replacement_delay_days=10.0,
    )
    tally = tally_of(doc)
    assert count(tally, 0, "pump_replacement_elective") == 20 * 2  # at ~6.8 and ~13.6 years


def test_surgical_infection_is_binomial_and_explant_leads_to_reimplant():
    n, p = 2000, 0.3
    doc = _itb(
        silent_document(),
        n,
        surgery__implant__infection_probability=p,
        infection__explant_probability=1.0,
        infection__reimplant_probability=1.0,
    )
    tally = tally_of(doc)
    infections = count(tally, 0, "infection")
    assert abs(infections - n * p) < Z * math.sqrt(n * p * (1 - p))
    assert count(tally, 0, "explant") == infections
    assert count(tally, 0, "reimplant") == infections  # reimplant surgery: no infection risk
    assert count(tally, 0, "meningitis") == 0


def test_explant_without_reimplant_returns_to_tablets_for_good():
    n, rate = 400, 0.1
    doc = _itb(silent_document(), n, explant_rate_per_year=rate)
    tally = tally_of(doc)
    p = 1.0 - math.exp(-rate * 20.0)
    explants = count(tally, 0, "explant")
    assert abs(explants - n * p) < Z * math.sqrt(n * p * (1 - p))
    assert count(tally, 0, "reimplant") == 0
    # after an explant the patient is on tablets: time on pump + time on tablets = 20 y
    assert tally.itb_years[0] + tally.oral_years[0] == pytest.approx(n * 20.0, rel=1e-12)
    assert tally.oral_years[0] > 0


@pytest.mark.parametrize("risk", ["pocket_fill", "programming_error", "missed_refill"])
def test_per_visit_risks_are_binomial_over_visits(risk):
    n, p = 300, 0.02
    key = {
        "pocket_fill": "pocket_fill_probability",
        "missed_refill": "missed_probability",
        "programming_error": "programming_error_probability",
    }[risk]
    doc = _itb(silent_document(), n, **{f"refill__{key}": p})
    tally = tally_of(doc)
    visits = count(tally, 0, "refill_visit")
    k = count(tally, 0, risk)
    # each refill falling due is one trial; a missed refill adds one late visit that is
    # not a trial (and, at the horizon, may not happen): trials = visits within k.
    assert abs(k - p * visits) < Z * math.sqrt(visits * p * (1 - p)) + p * k
    if risk != "missed_refill":
        assert count(tally, 0, "any_overdose") == k  # each leads to an overdose


def test_withdrawal_after_a_cause_and_its_severity_mix():
    n = 1000
    doc = _itb(
        silent_document(),
        n,
        pump__failure_rate_per_year=0.3,
        pump__failure_withdrawal_probability=0.5,
    )
    tally = tally_of(doc)
    failures = count(tally, 0, "pump_failure")
    withdrawals = count(tally, 0, "any_withdrawal")
    assert abs(withdrawals - 0.5 * failures) < Z * math.sqrt(failures * 0.25)
    shares = doc["strategies"]["itb"]["withdrawal"]
    for level in ("mild", "moderate", "severe"):
        share = shares[level]["share"]
        k = count(tally, 0, f"withdrawal_{level}")
        assert abs(k - share * withdrawals) < Z * math.sqrt(withdrawals * share * (1 - share))


def test_itb_side_effects_rescale_with_dose_growth():
    # dose grows 25% a year for one year, side effects scale with the dose (exponent 1)
    n = 400
    doc = _itb(
        silent_document(),
        n,
        dose__annual_growth=0.25,
        dose__growth_years=1.0,
        side_effects__dose_exponent=1.0,
    )
    doc["strategies"]["itb"]["side_effects"]["events"]["headache"]["rate_per_year"] = 0.5
    scenario, people = _patients(doc, n)
    reference = doc["strategies"]["itb"]["side_effects"]["reference_dose_mcg_per_day"]
    tally = runner.run(scenario, ROOT / "scenarios")
    # The dose is set at each fill: expected count = 0.5 * integral of dose / reference.
    expected = 0.5 * tally.itb_dose[0] / reference
    observed = count(tally, 0, "headache")
    assert abs(observed - expected) < Z * math.sqrt(expected)
    # and the dose integral itself grows: above the no-growth integral
    assert tally.itb_dose[0] > sum(p.itb_dose_mcg_per_day for p in people) * 20.0


# ----------------------------------------------------------------- common random numbers


def test_common_random_numbers_across_strategies():
    doc = with_values(only(base_document(), "oral", "none", "itb"), horizon_years=20.0)

    def no_event_death(node):
        if isinstance(node, dict):
            for key in node:
                if key == "death_probability":
                    node[key] = 0.0
                else:
                    no_event_death(node[key])

    no_event_death(doc["strategies"])
    scenario, people = _patients(doc, 40)
    for person in people:
        outs = [des.simulate(scenario, name, person) for name in scenario.strategy_names()]
        assert {o.life_years for o in outs} == {min(person.background_death_years, 20.0)}


def test_changing_one_strategy_leaves_the_others_untouched():
    doc = only(base_document(), "oral", "none", "itb")
    changed = with_values(doc, strategies__itb__pump__failure_rate_per_year=0.5)
    scenario_a, people = _patients(doc, 30)
    scenario_b, _ = _patients(changed, 30)
    differs = 0
    for person in people:
        for name in ("none", "oral"):
            a, b = des.simulate(scenario_a, name, person), des.simulate(scenario_b, name, person)
            assert (a.cost, a.qaly, a.counts.tolist()) == (b.cost, b.qaly, b.counts.tolist())
        differs += (
            des.simulate(scenario_a, "itb", person).cost
            != des.simulate(scenario_b, "itb", person).cost
        )
    assert differs > 0


def test_a_run_is_deterministic():
    doc = with_values(base_document(), patients=150)
    first, second = tally_of(doc), tally_of(doc)
    for name, value in vars(first).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, getattr(second, name)), name
    changed = tally_of(with_values(doc, seed=1))
    assert not np.array_equal(first.sum_v, changed.sum_v)


# ----------------------------------------------------------------- sources


def _numeric_leaves(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _numeric_leaves(v, f"{path}{k}.")]
    if isinstance(node, bool) or not isinstance(node, (int, float, list)):
        return []
    return [path[:-1]]


def test_every_default_of_the_base_scenario_is_cited():
    doc = base_document()
    sources = doc["sources"]
    body = {k: v for k, v in doc.items() if k not in ("sources", "uncertainty")}
    uncited = [
        leaf
        for leaf in _numeric_leaves(body)
        if not any(leaf == key or leaf.startswith(key + ".") for key in sources)
    ]
    assert uncited == []
    # an assumption says it is one; a citation names something to look up
    for key, text in sources.items():
        assert len(text) > 8, key


def test_a_life_table_with_a_byte_order_mark_reads_as_without(tmp_path):
    rows = "".join(
        f"{age},{sex},0.0{1 + age % 7}\n" for sex in ("female", "male") for age in range(111)
    )
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text("age,sex,qx\n" + rows, encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # as spreadsheets save CSV
    assert np.array_equal(lifetable.load(str(marked)).qx, lifetable.load(str(plain)).qx)
