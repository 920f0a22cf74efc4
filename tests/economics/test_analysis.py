"""PSA, one-way analysis, thresholds and convergence on small runs of the base scenario."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT, base_document, build

from sim.analysis import convergence
from sim.analysis import one_way as one_way_module
from sim.analysis import psa as analysis_psa
from sim.analysis.one_way import one_way
from sim.engines.tally import OUTCOMES
from sim.execution import runner
from sim.numerics import lifetable
from sim.scenario import params
from sim.validation.setups import only


def small(patients: int = 300, iterations: int = 12, **changes):
    doc = base_document()
    doc.update(patients=patients, psa_iterations=iterations, **changes)
    return build(doc)


@pytest.fixture(scope="module")
def table() -> lifetable.LifeTable:
    return lifetable.load("us-ssa-2019", ROOT / "scenarios")


def test_psa_is_reproducible_and_an_iteration_can_be_recomputed_alone(table) -> None:
    sc = small()
    first = analysis_psa.psa(sc, table, "base.yaml")
    again = analysis_psa.psa(sc, table, "base.yaml")
    assert analysis_psa.psa_table(first).to_csv() == analysis_psa.psa_table(again).to_csv()
    k = 7  # iteration 7 on its own: its draws, its patients (parameter set 7)
    drawn = params.apply(sc, params.draw(sc, k), "base.yaml")
    alone = runner.simulate(drawn, table, k).means()
    assert np.array_equal(alone, first.means[k - 1])
    assert np.array_equal(first.values[k - 1], [params.draw(sc, k)[c] for c in first.parameters])
    # iterations differ from each other and from the base case
    assert not np.array_equal(first.means[0], first.means[1])


def test_psa_tables_have_one_row_per_iteration_and_strategy(table) -> None:
    sc = small()
    result = analysis_psa.psa(sc, table, "base.yaml")
    frame = analysis_psa.psa_table(result)
    assert len(frame) == 12 * len(sc.strategies)
    assert list(frame.columns[:6]) == ["iteration", "strategy", *OUTCOMES]
    assert set(result.parameters) <= set(frame.columns)
    ceac = analysis_psa.ceac_table(sc, result)
    sums = ceac.groupby("wtp")["probability_cost_effective"].sum()
    assert np.allclose(sums, 1.0)
    assert (ceac.groupby("wtp")["on_frontier"].sum() == 1).all()
    assert set(sc.wtp) <= set(ceac["wtp"])
    summary = analysis_psa.psa_summary_columns(sc, result)
    itb = summary.set_index("strategy").loc["itb"]
    costs = result.costs[:, sc.strategy_names().index("itb")]
    assert itb["psa_cost_mean"] == pytest.approx(costs.mean())
    assert itb["psa_cost_p2_5"] == pytest.approx(np.percentile(costs, 2.5))


def test_one_way_uses_the_base_case_patients(table) -> None:
    """With common random numbers a parameter of the ITB strategy cannot move 'none'
    against 'oral' at all: its swing is exactly 0. A parameter the comparator uses moves
    both, and the base value reproduces the base case exactly."""
    doc = only(base_document(), "oral", "none", "itb")
    doc.update(patients=300, psa_iterations=0)
    sc = build(doc)
    base = runner.simulate(sc, table, 0)
    result = one_way(sc, table, base, "base.yaml")
    every = result.tornado
    tornado = every[every.wtp == sc.wtp[0]]
    none = tornado[tornado.strategy == "none"].set_index("parameter")
    assert none.loc["strategies.itb.care_cost_multiplier", "swing"] == 0.0
    assert none.loc["strategies.itb.utility_change", "swing"] == 0.0
    assert none.loc["strategies.oral.drug_cost_per_mg", "swing"] > 0.0
    itb = tornado[tornado.strategy == "itb"]
    assert list(itb.swing) == sorted(itb.swing, reverse=True)
    assert (itb.base_incremental_nmb == itb.base_incremental_nmb.iloc[0]).all()
    # every WTP from the same runs: incremental NMB is linear in the WTP
    assert sorted(set(every.wtp)) == sorted(sc.wtp) and len(every) == len(tornado) * len(sc.wtp)
    w1, w2, w3 = sc.wtp[:3]
    for column in ("base_incremental_nmb", "incremental_nmb_low", "incremental_nmb_high"):
        at = {
            w: every[(every.strategy == "itb") & (every.wtp == w)].set_index("parameter")[column]
            for w in (w1, w2, w3)
        }
        slope_12 = (at[w2] - at[w1]) / (w2 - w1)
        slope_23 = (at[w3] - at[w2]) / (w3 - w2)
        assert np.allclose(slope_12, slope_23, rtol=1e-9, atol=1e-9), column


def test_threshold_of_a_cost_is_where_the_linear_nmb_crosses_zero(table) -> None:
    """ITB's multiplier of background care enters incremental NMB linearly (it changes no
    trajectory), so the threshold is base + INMB(base) / slope, the slope read off the two
    ends."""
    path = "strategies.itb.care_cost_multiplier"
    low, high = 0.3, 2.0
    sc = small(iterations=0, analysis={"thresholds": {path: {"low": low, "high": high}}})
    base = runner.simulate(sc, table, 0)
    row = one_way(sc, table, base, "base.yaml").threshold
    row = row[row.strategy == "itb"].iloc[0]

    def inmb(x: float) -> float:
        changed = params.apply(sc, {path: x}, "t")
        return one_way_module._incremental(changed, runner.simulate(changed, table, 0))["itb"][0]

    slope = (inmb(high) - inmb(low)) / (high - low)
    at = params.value_at(sc, path)
    expected = at - inmb(at) / slope
    assert low < expected < high
    assert row.threshold == pytest.approx(expected, rel=1e-6)


def test_noise_warning_when_patients_are_too_few_for_the_parameter_uncertainty(table) -> None:
    narrow = {
        "strategies.itb.pump.failure_rate_per_year": {"dist": "gamma", "mean": 0.009, "se": 1e-4}
    }
    noisy = small(patients=40, iterations=30, uncertainty=narrow, analysis={})
    warnings = convergence.noise_warnings(noisy, analysis_psa.psa(noisy, table, "t"))
    assert any("itb vs oral" in w and "raise `patients`" in w for w in warnings), warnings
    wide = {"strategies.itb.care_cost_multiplier": {"dist": "gamma", "relative_se": 0.3}}
    calm = small(patients=400, iterations=30, uncertainty=wide, analysis={})
    assert not [
        w
        for w in convergence.noise_warnings(calm, analysis_psa.psa(calm, table, "t"))
        if "itb" in w
    ]


def test_convergence_ends_at_the_reported_means(table) -> None:
    sc = small(patients=5000, iterations=10)
    running = convergence.Running()
    base = runner.simulate(sc, table, 0, observe=lambda t: running.observe(sc, t))
    result = analysis_psa.psa(sc, table, "t")
    frame = convergence.convergence_table(sc, running, result)
    patients = frame[(frame.axis == "patients") & (frame.quantity == "cost")]
    assert sorted(set(patients.n)) == [runner.BLOCK_SIZE, 5000]
    last = patients[(patients.n == 5000) & (patients.strategy == "itb")].iloc[0]
    itb, oral = sc.strategy_names().index("itb"), sc.strategy_names().index("oral")
    assert last.running_mean == pytest.approx(base.means()[itb, 0], rel=1e-12)
    iterations = frame[(frame.axis == "iterations") & (frame.quantity == "qaly")]
    last = iterations[(iterations.n == 10) & (iterations.strategy == "oral")].iloc[0]
    assert last.running_mean == pytest.approx(result.qalys[:, oral].mean(), rel=1e-12)
    assert math.isfinite(last.mcse) and last.mcse > 0


def test_population_value_of_information_is_the_discounted_population_times_per_patient(
    table,
) -> None:
    doc = base_document()
    analysis = {**doc.get("analysis", {}), "population": {"patients_per_year": 1200, "years": 10}}
    sc = small(iterations=40, analysis=analysis)
    result = analysis_psa.psa(sc, table, "base.yaml")
    factor = sum(1200 * (1 + sc.discount.costs) ** -t for t in range(10))
    ceac = analysis_psa.ceac_table(sc, result)
    assert np.allclose(ceac["population_evpi"], factor * ceac["evpi"], rtol=1e-12)
    assert np.allclose(ceac["population_evpi_se"], factor * ceac["evpi_se"], rtol=1e-12)
    evppi = analysis_psa.evppi_table(sc, result)
    assert np.allclose(evppi["population_evppi"], factor * evppi["evppi"], rtol=1e-12)
    # without a population the tables are as before: no population columns
    plain = analysis_psa.ceac_table(small(iterations=40), result)
    assert not [c for c in plain.columns if c.startswith("population")]
