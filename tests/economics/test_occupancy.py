"""State occupancy (issue 17): where the patients are at the start of each month."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT, build, silent_document, with_values

from sim.engines.rules import grid_months
from sim.execution import runner
from sim.model.events import OCCUPANCY_STATES
from sim.output import tables
from sim.validation.setups import only


def test_grid_months_are_the_grid_points_a_stay_covers():
    assert grid_months(0.0, 1.0, 100) == (0, 12)  # months 0..11: t = 0, 1/12, ... 11/12
    assert grid_months(0.05, 0.25, 100) == (1, 3)  # 1/12 and 2/12; 3/12 is not before 0.25
    assert grid_months(2.0, 50.0, 30) == (24, 30)  # clipped to the grid
    assert grid_months(0.3, 0.31, 100) == (4, 4)  # between two grid points: none


def test_tablets_stopped_at_a_constant_rate_leave_an_exponential_trace():
    """No death, tablets stopped at rate 0.5 a year: on tablets at month m with
    probability exp(-0.5 m / 12), within 4 binomial standard errors at every month."""
    rate, n = 0.5, 4000
    doc = with_values(
        only(silent_document(), "oral"),
        strategies__oral__discontinuation_rate_per_year=rate,
        patients=n,
        horizon_years=5,
    )
    sc = build(doc)
    tally = runner.run(sc, ROOT / "scenarios")
    table = tables.state_occupancy(sc, tally)
    years = table.years.to_numpy()
    expected = np.exp(-rate * years)
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(table.on_tablets.to_numpy() - expected) <= 4 * se + 1e-12)
    assert np.allclose(table.on_tablets + table.untreated, 1.0)
    assert (table.dead == 0).all() and (table.on_pump == 0).all()


def test_shares_add_up_and_the_trace_sums_to_the_years_in_each_state():
    doc = with_values(
        silent_document(),
        horizon_years=30,
        patients=3000,
        strategies__oral__discontinuation_rate_per_year=0.3,
        strategies__itb__explant_rate_per_year=0.05,
    )
    for indication in doc["cohort"]["indications"].values():
        indication["mortality_multiplier"] = 3.0
    sc = build(doc)
    tally = runner.run(sc, ROOT / "scenarios")
    table = tables.state_occupancy(sc, tally)
    shares = table[list(OCCUPANCY_STATES)].sum(axis=1)
    assert np.allclose(shares, 1.0)
    names = sc.strategy_names()
    for s, name in enumerate(names):
        mine = table[table.strategy == name]
        # a month's share stands for the month: the sum is the years, to a month a stay
        assert mine.on_pump.sum() / 12 == pytest.approx(
            tally.itb_years[s] / tally.patients, abs=0.1
        )
        assert mine.on_tablets.sum() / 12 == pytest.approx(
            tally.oral_years[s] / tally.patients, abs=0.1
        )
        alive = 1.0 - mine.dead.to_numpy()
        followup = tally.followup[s] / tally.patients
        assert alive.sum() / 12 == pytest.approx(followup, abs=0.1)
    assert math.isclose(table[table.month == 0].dead.sum(), 0.0)


def test_subgroups_partition_the_cohort_and_add_up_to_the_whole():
    """Each dimension (indication, sex, age band) splits the same patients: the subgroups'
    patients add up to all, and their patient-weighted means to the summary's."""
    from conftest import base_document

    doc = with_values(base_document(), patients=3000, psa_iterations=0, horizon_years=20)
    sc = build(doc)
    tally = runner.run(sc, ROOT / "scenarios")
    table = tables.subgroups(sc, tally)
    summary = tables.summary(sc, tally).set_index("strategy")
    for _dimension, part in table.groupby("dimension"):
        for name, rows in part.groupby("strategy"):
            assert rows.patients.sum() == tally.patients
            for column in ("cost", "qaly", "incremental_cost", "incremental_nmb_50000"):
                weighted = (rows[column] * rows.patients).sum() / tally.patients
                assert weighted == pytest.approx(summary.loc[name, column], rel=1e-9, abs=1e-9)
    assert set(table.dimension) == {"indication", "sex", "age_band"}
