"""Costs counted once at one price year, and reported as an analyst reads them (issue 15,
DESIGN §4.7): inflation by the price index, the cost breakdown adding up to the total,
device events per pump-year, the ITB arm's fallback tablets apart, NNH only for harms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT, base_document, build, count, silent_document, tally_of

from sim.engines.tally import OUTCOMES
from sim.execution import runner
from sim.model.events import ADVERSE_COUNTERS, COST_CATEGORIES, PUMP_COUNTERS, on_fallback
from sim.output import tables
from sim.scenario import prices
from sim.validation.setups import only, with_values

US = prices.load_index("us-cpi-medical-care", ROOT / "scenarios", "test")


def test_a_cost_is_inflated_by_the_ratio_of_the_index_values():
    # CPI-U medical care annual averages: 2008 364.065, 2024 563.841 (bundled table)
    assert US.factor(2008, 2024) == pytest.approx(563.841 / 364.065, rel=1e-15)
    assert US.factor(2024, 2024) == 1.0
    assert US.factor(2008, 2013) * US.factor(2013, 2024) == pytest.approx(US.factor(2008, 2024))


def test_the_longest_prefix_gives_a_cost_its_year():
    years = {"strategies.itb": 2024, "strategies.itb.surgery.implant.cost": 2008}
    assert prices.year_of("strategies.itb.surgery.implant.cost", years) == 2008
    assert prices.year_of("strategies.itb.refill.cost_visit", years) == 2024
    assert prices.year_of("strategies.oral.drug_cost_per_mg", years) is None


def test_every_cost_of_the_base_case_is_priced_from_its_own_year():
    doc = base_document()
    priced = prices.priced_document(doc, US)
    for path, amount in prices.cost_paths(doc):
        year = prices.year_of(path, doc["cost_years"])
        node = priced
        for part in path.split("."):
            node = node[part]
        assert node == pytest.approx(amount * US.factor(year, doc["price_year"]), rel=1e-15)
    assert priced["cohort"]["care_cost_per_year"] == pytest.approx(54_900 * 563.841 / 364.065)
    # a multiplier is not money: untouched
    itb = priced["strategies"]["itb"]
    assert itb["care_cost_multiplier"] == doc["strategies"]["itb"]["care_cost_multiplier"]
    assert itb["refill"]["cost_visit"] == doc["strategies"]["itb"]["refill"]["cost_visit"]


def test_the_engines_see_the_priced_costs():
    """A constant stream of care, undiscounted: its cost is the priced yearly amount."""
    doc = with_values(only(silent_document(), "oral"), patients=50)
    doc["discount"] = {"costs": 0.0, "effects": 0.0}
    tally = tally_of(doc)
    care = COST_CATEGORIES.index("care")
    expected = 54_900 * US.factor(2008, 2024) * 20.0 * 50
    assert tally.undiscounted_cost_by_category[0, care] == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def base_tally():
    sc = build(with_values(base_document(), patients=1500, psa_iterations=0))
    return sc, runner.run(sc, ROOT / "scenarios")


def test_the_cost_breakdown_adds_up_to_the_total_cost(base_tally):
    sc, tally = base_tally
    frame = tables.cost_breakdown(sc, tally)
    summary = tables.summary(sc, tally).set_index("strategy")
    for s, name in enumerate(sc.strategy_names()):
        mine = frame[frame.strategy == name]
        costs = mine[mine.kind == "cost"]
        assert list(costs.component) == list(COST_CATEGORIES)
        total = tally.sum_v[tally.index(s, "cost")] / tally.patients
        assert costs.discounted.sum() == pytest.approx(total, rel=1e-12)
        assert summary.loc[name, "cost"] == pytest.approx(total, rel=1e-9)
        assert costs.share_of_discounted.sum() == pytest.approx(1.0)
        # discounting at 3% lowers every component over a lifetime
        assert (costs.undiscounted >= costs.discounted - 1e-9).all()
        # QALYs: the states lived in less the losses to events
        qalys = mine[mine.kind == "qaly"].set_index("component").discounted
        expected = tally.sum_v[tally.index(s, "qaly")] / tally.patients
        assert qalys.sum() == pytest.approx(expected, rel=1e-12)
        assert qalys["qaly_lost_to_events"] < 0 < qalys["qaly_of_states"]
    # what only a pump costs is never in the comparator's breakdown
    cmm = frame[(frame.strategy == sc.comparator) & (frame.kind == "cost")].set_index("component")
    for category in ("drug_intrathecal", "refill_visits", "screening", "surgery_device"):
        assert cmm.loc[category, "discounted"] == 0.0


def test_device_events_are_rates_per_pump_year(base_tally):
    sc, tally = base_tally
    frame = tables.events(sc, tally)
    itb = sc.strategy_names().index("itb")
    rows = frame[(frame.strategy == "itb") & frame.event.isin(PUMP_COUNTERS)]
    assert len(rows) == len(PUMP_COUNTERS)
    pump_years = float(tally.itb_years[itb])
    assert 0 < pump_years < float(tally.followup[itb])
    for row in rows.itertuples():
        assert row.pump_years == pytest.approx(pump_years)
        assert row.rate_per_100_pump_years == pytest.approx(100 * row.events / pump_years)
        if row.events:
            assert row.rate_per_100_pump_years_ci_low < row.rate_per_100_pump_years
            assert row.rate_per_100_pump_years < row.rate_per_100_pump_years_ci_high
    others = frame[~frame.event.isin(PUMP_COUNTERS)]
    assert others.rate_per_100_pump_years.isna().all()


def test_a_number_needed_to_harm_only_for_a_harm_whose_difference_is_clear(base_tally):
    sc, tally = base_tally
    frame = tables.events(sc, tally)
    given = frame[frame.number_needed_to_harm.notna() | frame.number_needed_to_treat.notna()]
    assert len(given) > 0, "no number needed at all: the check below would be vacuous"
    assert set(given.event) <= ADVERSE_COUNTERS
    for row in given.itertuples():
        low, high = row.risk_difference_ci_low, row.risk_difference_ci_high
        assert low > 0 or high < 0, row.event
    # procedures are not harms: screening and implant never get one
    procedures = frame[frame.event.isin(["screening", "implant"])]
    assert procedures.number_needed_to_harm.isna().all()


def test_tablet_events_of_the_itb_arm_on_fallback_are_counted_apart():
    """Nobody responds to screening: the ITB arm lives on its fallback tablets, and their
    side effects count under the fallback names, never under the tablets' own."""
    doc = only(silent_document(), "oral", "itb")
    doc["patients"] = 300
    doc["strategies"]["itb"]["screening"]["response_probability"] = 0.0
    effects = doc["strategies"]["oral"]["side_effects"]
    effects["dose_exponent"] = 0.0
    effects["events"]["drowsiness"]["rate_per_year"] = 0.5
    tally = tally_of(doc)
    sc = build(doc)
    oral, itb = sc.strategy_names().index("oral"), sc.strategy_names().index("itb")
    assert count(tally, itb, "drowsiness") == 0
    assert count(tally, oral, on_fallback("drowsiness")) == 0
    on_tablets, on_fallback_tablets = (
        count(tally, oral, "drowsiness"),
        count(tally, itb, on_fallback("drowsiness")),
    )
    # the same patients, the same tablets, 20 years: Poisson counts of the same mean
    expected = 0.5 * 20.0 * 300
    for observed in (on_tablets, on_fallback_tablets):
        assert abs(observed - expected) < 4 * math.sqrt(expected), observed
    assert np.isfinite(tally.sum_v[tally.index(itb, OUTCOMES[0])])
    # compared like with like only: the any_ group holds both periods; the split rows
    # carry no ratio, difference or number needed
    assert count(tally, itb, "any_drowsiness") == on_fallback_tablets
    frame = tables.events(sc, tally).set_index(["strategy", "event"])
    for event in ("drowsiness", on_fallback("drowsiness")):
        row = frame.loc[("itb", event)]
        assert math.isnan(row.rate_ratio) and math.isnan(row.risk_difference), event
        assert math.isnan(row.number_needed_to_treat) and math.isnan(row.number_needed_to_harm)
    group = frame.loc[("itb", "any_drowsiness")]
    assert group.rate_ratio == pytest.approx(on_fallback_tablets / on_tablets, rel=1e-9)
