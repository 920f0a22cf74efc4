import math

import pytest
from conftest import build, silent_document, with_values

from sim.analysis import econ
from sim.engines import des
from sim.engines.cohort import Patient
from sim.numerics import discount
from sim.validation.setups import only


def test_factor_and_flow_closed_forms():
    assert discount.factor(0.03, 10.0) == pytest.approx(1.03**-10, rel=1e-15)
    assert discount.factor(0.0, 10.0) == 1.0
    r, a, b = 0.035, 2.0, 7.5
    closed = (1.035**-a - 1.035**-b) / math.log(1.035)
    assert discount.flow(r, a, b) == pytest.approx(closed, rel=1e-14)
    assert discount.flow(0.0, a, b) == b - a
    assert discount.flow(r, b, a) == 0.0
    # additivity over a split interval
    assert discount.flow(r, 0, 3) + discount.flow(r, 3, 9) == pytest.approx(discount.flow(r, 0, 9))


@pytest.mark.parametrize("rate", [0.0, 0.015, 0.03, 0.035, 1e-12])
def test_the_log_forms_give_the_rate_forms_to_the_bit(rate):
    # the compiled engine takes ln(1 + rate) once per block; the SimPy engine passes the rate
    delta = math.log1p(rate)
    for a, b in [(0.0, 20.0), (3.25, 3.25 + 1e-9), (7.0, 2.0), (0.5, 119.5)]:
        assert discount.flow_log(delta, a, b) == discount.flow(rate, a, b)
    for first, step, n in [(0.1, 0.25, 1), (2.0, 90 / 365.25, 57), (5.0, 1.0, 0)]:
        assert discount.periodic_log(delta, first, step, n) == discount.periodic(
            rate, first, step, n
        )


@pytest.mark.parametrize("rate", [5e-324, 1e-300, 1e-16, 2e-15])
def test_a_negligible_rate_discounts_nothing_and_never_divides_by_zero(rate):
    """A rate the loader accepts but too small to discount (5e-324 made the expm1
    quotients 0/0, found by the engine fuzzer) weighs every amount 1, and the weights stay
    continuous across the cut-off (within 1e-12 just above it)."""
    for a, b in [(0.0, 20.0), (3.25, 3.25 + 1e-9), (0.5, 119.5)]:
        assert discount.flow(rate, a, b) == pytest.approx(b - a, rel=1e-12)
    for first, step, n in [(0.1, 0.25, 1), (2.0, 90 / 365.25, 57)]:
        assert discount.periodic(rate, first, step, n) == pytest.approx(n, rel=1e-12)


def _patient(age=50.0):
    return Patient(
        0, age, True, "multiple_sclerosis", 400.0, 60.0, 0.5, 0.5, math.inf, 0.5, BASELINE
    )


BASELINE = 0.25


@pytest.mark.parametrize(
    ("rate_costs", "rate_effects", "horizon"),
    [(0.03, 0.03, 20.0), (0.035, 0.015, 7.25), (0.0, 0.0, 12.0)],
)
def test_constant_state_matches_closed_form(rate_costs, rate_effects, horizon):
    doc = with_values(
        only(silent_document(), "none", "oral"),
        discount={"costs": rate_costs, "effects": rate_effects},
        horizon_years=horizon,
    )
    doc["strategies"]["none"].update(utility_change=-0.05, care_cost_multiplier=1.2)
    scenario = build(doc)
    out = des.simulate(scenario, "none", _patient())
    u = BASELINE - 0.05  # the patient's baseline utility and the strategy's change
    c = scenario.cohort.care_cost_per_year * 1.2

    def pv(r):
        return horizon if r == 0 else (1 - (1 + r) ** -horizon) / math.log1p(r)

    assert out.qaly == pytest.approx(u * pv(rate_effects), rel=1e-13)
    assert out.cost == pytest.approx(c * pv(rate_costs), rel=1e-13)
    assert out.life_years == horizon
    assert out.life_years_discounted == pytest.approx(pv(rate_effects), rel=1e-13)


def test_icer_and_frontier_worked_example():
    # Drummond et al. style example: A (ref), B extendedly dominated by A-C, E (22000, 1.5)
    # dominated by C (20000, 1.8).
    costs = [10000, 15000, 20000, 25000, 22000]
    effects = [1.0, 1.2, 1.8, 2.0, 1.5]
    rows = econ.frontier(costs, effects)
    assert [r.status for r in rows] == [
        "frontier",
        "extendedly dominated",
        "frontier",
        "frontier",
        "dominated",
    ]
    assert math.isnan(rows[0].icer)
    assert rows[2].icer == pytest.approx(10000 / 0.8)
    assert rows[3].icer == pytest.approx(5000 / 0.2)
    assert econ.icer(100.0, 0.0)[1] == "equal effect"
    value, note = econ.icer(100.0, -1.0)  # (nan, ...) == (nan, ...) is False: check apart
    assert math.isnan(value) and note == "dominated"
    value, note = econ.icer(-100.0, 1.0)  # dominant: a negative ratio would rank nothing
    assert math.isnan(value) and note == "dominant"


def test_mean_ci_and_poisson_ci_closed_forms():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, _low, high = econ.mean_ci(sum(values), sum(v * v for v in values), 4)
    sd = math.sqrt(sum((v - 2.5) ** 2 for v in values) / 3)
    assert mean == 2.5
    assert high - mean == pytest.approx(econ.Z95 * sd / 2)
    # Garwood interval for 0 events in 1 unit: upper = chi2(0.975, 2)/2 = 3.6889
    assert econ.poisson_rate_ci(0, 1.0) == pytest.approx((0.0, 3.688879), abs=1e-6)
    # 10 events: (4.7954, 18.3904)
    assert econ.poisson_rate_ci(10, 1.0) == pytest.approx((4.795389, 18.390356), abs=1e-5)
    assert econ.dispersion(4, 4, 4, 4, 4, 4) == 1.0  # one event per patient-year each


def test_paired_risk_matched_pairs():
    # 100 pairs: 10 both, 20 A only, 5 B only -> RR = 30/15 = 2; RD = 15/100
    out = econ.paired_risk(100, 30, 15, 10)
    assert out["rr"] == 2.0
    assert out["rd"] == pytest.approx(0.15)
    se = math.sqrt(25 / (30 * 15))
    assert out["rr_low"] == pytest.approx(2 * math.exp(-econ.Z95 * se))
    assert out["nnh"] == pytest.approx(1 / 0.15)
    assert math.isnan(out["nnt"])
