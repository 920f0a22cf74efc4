"""The rules both engines call, against their closed forms (DESIGN §4.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engines import rules
from sim.numerics import discount


def test_refill_interval_is_whole_days_to_the_alarm_capped_by_stability():
    # 18 mL usable at 2000 mcg/mL = 36,000 mcg; at 400 mcg/day: 90 days
    assert rules.refill_interval_days(400.0, 36_000.0, 180.0) == 90.0
    assert rules.refill_interval_days(401.0, 36_000.0, 180.0) == 89.0  # floor
    assert rules.refill_interval_days(100.0, 36_000.0, 180.0) == 180.0  # stability
    assert rules.refill_interval_days(1e9, 36_000.0, 180.0) == 1.0  # at least a day
    assert rules.refill_interval_days(0.0, 36_000.0, 180.0) == 180.0


def test_a_refill_replaces_the_drug_used_at_most_a_reservoir():
    # 400 mcg/day for 90 days = 36 mg at $50/mg; the visit's own fee is costed apart
    assert rules.drug_cost(400.0, 90.0, 40_000.0, 50.0) == pytest.approx(36 * 50)
    assert rules.drug_used_mg(400.0, 200.0, 40_000.0) == 40.0  # the reservoir was empty


def test_the_reserve_after_a_missed_visit_is_what_is_left_at_the_dose():
    # 40 mg reservoir, 400 mcg/day, missed on day 90: 4 mg left, 10 days
    assert rules.reserve_years(400.0, 90.0, 40_000.0) == pytest.approx(10 / 365.25)
    assert rules.reserve_years(400.0, 120.0, 40_000.0) == 0.0  # already empty
    assert rules.reserve_years(0.0, 90.0, 40_000.0) == math.inf


def test_dose_grows_for_its_years_then_stays():
    assert rules.dose_need(400.0, 0.25, 1.0, 0.5) == pytest.approx(400 * 1.25**0.5)
    assert rules.dose_need(400.0, 0.25, 1.0, 7.0) == pytest.approx(500.0)
    assert rules.dose_need(400.0, 0.0, 1.0, 7.0) == 400.0


def test_side_effect_rate_scales_with_the_dose():
    assert rules.side_effect_rate(120.0, 60.0, 1.0, 0.3) == pytest.approx(0.6)
    assert rules.side_effect_rate(120.0, 60.0, 0.0, 0.3) == 0.3
    assert rules.side_effect_rate(120.0, 60.0, 2.0, 0.3) == pytest.approx(1.2)


def test_severity_and_side_effect_choice_follow_the_shares():
    assert [rules.severity_level(0.6, 0.3, u) for u in (0.1, 0.59, 0.6, 0.89, 0.9, 0.99)] == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]
    table = np.array([[0.0], [1.0], [3.0], [0.0]])
    total = rules.rate_sum(table)
    assert total == 4.0
    picks = [rules.pick_side_effect(table, total, u) for u in np.linspace(0.001, 0.999, 1000)]
    assert set(picks) == {1, 2}
    assert abs(picks.count(2) / 1000 - 0.75) < 0.002
    assert rules.pick_side_effect(table, total, 1.0) == 2  # rounding at the top


def test_a_run_of_visits_is_the_sum_of_its_discount_factors():
    none = (discount.cost_weights(0.035), 1)
    m, factor = rules.settle_run(1.0, 0.25, 10.0, 2.3, *none)
    assert m == 5  # 1.25, 1.5, 1.75, 2.0, 2.25 (before 2.3)
    assert factor == pytest.approx(sum(discount.factor(0.035, 1 + 0.25 * k) for k in range(1, 6)))
    assert rules.settle_run(1.0, 0.25, 10.0, 2.25, *none)[0] == 4  # not at the end
    assert rules.settle_run(1.0, 0.25, 2.0, 9.0, *none)[0] == 2  # the run's own end
    assert rules.settle_run(1.0, 0.25, 10.0, 1.0, *none) == (0, 0.0)
    # with a cost trend, each visit's weight is its grown and discounted price
    trend = (discount.cost_weights(0.035, [0.1, 0.04]), 2)
    m, factor = rules.settle_run(0.5, 0.25, 10.0, 2.3, *trend)
    expected = sum(discount.weight(*trend, 0.5 + 0.25 * k) for k in range(1, 8))
    assert m == 7 and factor == pytest.approx(expected, rel=1e-13)


def test_a_rescaled_waiting_time_keeps_the_hazard_left():
    # 2 years left at rate 0.5 (hazard 1.0) becomes 1 year at rate 1.0
    assert rules.rescaled_time(3.0, 5.0, 0.5, 1.0) == 4.0


def test_qaly_loss_is_utility_loss_times_duration():
    assert rules.qaly_loss(0.2, 365.25) == pytest.approx(0.2)
    assert rules.qaly_loss(0.1, 0.0) == 0.0
