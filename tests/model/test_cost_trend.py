"""A yearly cost trend and care that changes with the time since implant, against closed
forms: what actuarial projections (Saulino 2015) do by year, the engines do in continuous
time, year by year."""

import math

import numpy as np
import pytest
from conftest import build, silent_document, with_values
from scipy import integrate

from sim.engines import des, rules
from sim.engines.cohort import Patient
from sim.numerics import discount
from sim.validation.setups import only

TREND = [0.10, 0.085, 0.07, 0.055, 0.04]  # Saulino 2015's medical trend, years 1-5+
RATE = 0.03


def _growth(t: float, trend: list[float]) -> float:
    """G(t) written out: each whole year at its rate, the part year at the year's rate."""
    g, k = 1.0, 0
    while k + 1 <= t:
        g *= 1.0 + trend[min(k, len(trend) - 1)]
        k += 1
    return g * (1.0 + trend[min(k, len(trend) - 1)]) ** (t - k)


def _weight(t: float, trend: list[float]) -> float:
    return _growth(t, trend) * (1.0 + RATE) ** -t


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.75, 4.0, 4.999, 5.0, 12.3, 40.0])
def test_a_trended_amount_is_grown_then_discounted(t):
    table, nt = discount.cost_weights(RATE, TREND), len(TREND)
    assert discount.weight(table, nt, t) == pytest.approx(_weight(t, TREND), rel=1e-13)
    # at whole years the growth is the product of the years' rates
    assert discount.weight(table, nt, 3.0) == pytest.approx(1.1 * 1.085 * 1.07 / 1.03**3, rel=1e-13)


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (0.3, 0.7), (0.5, 6.5), (2.0, 30.0), (7.0, 9.5)])
def test_a_trended_flow_is_the_integral_of_its_weight(a, b):
    table, nt = discount.cost_weights(RATE, TREND), len(TREND)
    points = [k for k in range(1, len(TREND)) if a < k < b]
    expected, _err = integrate.quad(_weight, a, b, args=(TREND,), points=points or None)
    assert discount.weight_flow(table, nt, a, b) == pytest.approx(expected, rel=1e-11)
    # additive over a split, and empty when reversed
    mid = (a + b) / 2
    assert discount.weight_flow(table, nt, a, mid) + discount.weight_flow(
        table, nt, mid, b
    ) == pytest.approx(discount.weight_flow(table, nt, a, b), rel=1e-13)
    assert discount.weight_flow(table, nt, b, a) == 0.0


@pytest.mark.parametrize(("first", "step", "n"), [(0.1, 0.25, 40), (0.9, 0.2, 1), (3.0, 1.0, 5)])
def test_trended_visits_are_the_sum_of_their_weights(first, step, n):
    table, nt = discount.cost_weights(RATE, TREND), len(TREND)
    expected = sum(_weight(first + i * step, TREND) for i in range(n))
    got = discount.weight_periodic(table, nt, first, step, n)
    assert got == pytest.approx(expected, rel=1e-12)


def test_one_constant_rate_is_discounting_at_the_net_rate():
    """A constant trend g is discounting at (1 + r) / (1 + g) - 1 (the textbook result)."""
    g = 0.04
    net = (1 + RATE) / (1 + g) - 1
    table = discount.cost_weights(RATE, [g])
    assert discount.weight_flow(table, 1, 0.0, 30.0) == pytest.approx(
        discount.flow(net, 0.0, 30.0), rel=1e-12
    )
    # and no trend at all is plain discounting, to the bit
    none = discount.cost_weights(RATE)
    assert discount.weight(none, 1, 7.3) == discount.factor(RATE, 7.3)
    assert discount.weight_flow(none, 1, 1.0, 4.0) == discount.flow(RATE, 1.0, 4.0)
    assert discount.weight_periodic(none, 1, 0.2, 0.25, 9) == discount.periodic(RATE, 0.2, 0.25, 9)
    assert discount.weight(discount.cost_weights(0.0), 1, 5.0) == 1.0


def test_early_care_is_the_extra_rate_over_each_year_after_implant():
    table, n = discount.cost_weights(RATE, TREND), len(TREND)
    early = np.array([1.5, 1.2])
    # on the pump from 0.5 to 10 years, implanted at 0.25: year 1 is [0.25, 1.25)
    und, disc = rules.early_care(0.5, 10.0, 0.25, 1000.0, 0.6, early, 2, table, n)
    assert und == pytest.approx(1000.0 * (0.9 * 0.75 + 0.6 * 1.0))
    w = discount.weight_flow
    expected = 1000.0 * (0.9 * w(table, n, 0.5, 1.25) + 0.6 * w(table, n, 1.25, 2.25))
    assert disc == pytest.approx(expected, rel=1e-13)
    # a stay that ends within year 1 has only year 1's extra
    und, _ = rules.early_care(0.3, 0.8, 0.25, 1000.0, 0.6, early, 2, table, n)
    assert und == pytest.approx(1000.0 * 0.9 * 0.5)


def test_an_untreated_life_with_a_trend_matches_the_closed_form():
    horizon = 7.5
    doc = with_values(
        only(silent_document(), "none", "oral"),
        discount={"costs": RATE, "effects": RATE, "cost_trend": TREND},
        horizon_years=horizon,
    )
    scenario = build(doc)
    patient = Patient(
        0, 50.0, True, "multiple_sclerosis", 400.0, 60.0, 0.5, 0.5, math.inf, 0.5, 0.25
    )
    out = des.simulate(scenario, "none", patient)
    care = scenario.cohort.care_cost_per_year
    expected, _ = integrate.quad(_weight, 0.0, horizon, args=(TREND,), points=[1, 2, 3, 4])
    assert out.cost == pytest.approx(care * expected, rel=1e-11)
    # the undiscounted cost is in constant prices: the trend is a weight, like discounting
    assert out.undiscounted_cost_by_category.sum() == pytest.approx(care * horizon)
