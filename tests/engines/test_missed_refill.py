"""A missed refill behaves like a pump (DESIGN §4.5): the pump goes on from what is left in
the reservoir until the late refill, and delivery stops (a withdrawal may follow) only if
the refill comes after the reservoir is empty, at that moment."""

from __future__ import annotations

import pytest
from conftest import ROOT, build, silent_document

from sim.engines import cohort, des
from sim.numerics import lifetable
from sim.validation.setups import only, with_values

DOSE = 400.0  # mcg/day: 36,000 usable mcg last 90 days, the 4,000 left (2 mL) 10 more
RESERVE_DAYS = 10.0


def _missed_refills(delay_days: float, probability: float, horizon: float) -> dict:
    """The silent set-up with missed refills alone: each visit missed with `probability`,
    refilled `delay_days` late, a withdrawal with `probability` once the pump runs dry."""
    return with_values(
        only(silent_document(), "oral", "itb"),
        horizon_years=horizon,
        strategies__itb__refill__missed_probability=probability,
        strategies__itb__refill__missed_delay_days=delay_days,
        strategies__itb__refill__missed_withdrawal_probability=probability,
    )


def _history(delay_days: float) -> list[des.TraceRow]:
    doc = _missed_refills(delay_days, 1.0, 2.0)
    for indication in doc["cohort"]["indications"].values():
        indication["itb_dose_mcg_per_day"] = DOSE
    sc = build(doc)
    table = lifetable.load(sc.cohort.life_table, ROOT / "scenarios")
    arrays = cohort.CohortArrays.of(sc, table)
    rows: list[des.TraceRow] = []
    des.simulate(sc, "itb", cohort.draw(arrays, sc.seed, 0, 0), 0, rows)
    return rows


def test_no_withdrawal_while_the_reserve_lasts():
    rows = _history(RESERVE_DAYS - 3.0)
    events = [r.event for r in rows]
    assert events.count("missed_refill") >= 5  # every visit is missed (then refilled late)
    assert "reservoir_empty" not in events
    assert not [e for e in events if e.startswith("withdrawal")]
    assert all(r.volume_left_ml >= 0 for r in rows if r.event == "refill_visit")


@pytest.mark.parametrize("delay_days", [RESERVE_DAYS + 0.5, 40.0])
def test_a_refill_later_than_the_reserve_runs_the_pump_dry_then(delay_days: float):
    rows = _history(delay_days)
    missed = [r.time_years for r in rows if r.event == "missed_refill"]
    empty = [r.time_years for r in rows if r.event == "reservoir_empty"]
    withdrawals = [r.time_years for r in rows if r.event.startswith("withdrawal")]
    assert missed and len(empty) == len(missed) == len(withdrawals)
    for t_missed, t_empty, t_withdrawal in zip(missed, empty, withdrawals, strict=True):
        assert t_empty == pytest.approx(t_missed + RESERVE_DAYS / 365.25, abs=1e-12)
        assert t_withdrawal == t_empty  # at the moment it runs dry, not at the missed visit
    late = [r for r in rows if r.event == "refill_visit"]
    assert all(r.volume_left_ml < 0 for r in late)  # the late refills find it dry


def test_the_engines_agree_on_missed_refills():
    from test_engines import assert_same_patients

    for delay in (RESERVE_DAYS - 3.0, RESERVE_DAYS + 0.5):
        assert_same_patients(build(_missed_refills(delay, 0.5, 3.0)), range(20))
