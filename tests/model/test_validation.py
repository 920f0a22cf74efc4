"""The validation report (issue 7): its references are right, its internal checks pass and
can fail, and `baclofen-sim validation` writes the same bytes twice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import BASE, ROOT, cli_in_process, console_finish, console_start

from sim.model.events import COST_CATEGORIES
from sim.validation import calibration, studies
from sim.validation import checks as validation

FOLDER = ROOT / "scenarios" / "validation"


def test_renewal_function_of_an_exponential_is_linear() -> None:
    # Poisson process: M(t) = t / scale exactly, whatever the grid.
    assert validation.weibull_renewals(1.0, 5.0, 20.0, 200) == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("shape", [0.7, 2.0])
def test_renewal_function_matches_an_independent_simulation(shape: float) -> None:
    scale, horizon, reps = 5.0, 20.0, 400_000
    rng = np.random.default_rng(11)
    t, renewals = np.zeros(reps), np.zeros(reps)
    alive = np.ones(reps, dtype=bool)
    while alive.any():
        t[alive] += scale * rng.weibull(shape, alive.sum())
        alive &= t < horizon
        renewals += alive
    se = renewals.std() / math.sqrt(reps)
    assert abs(validation.weibull_renewals(shape, scale, horizon) - renewals.mean()) < 4 * se


def test_renewal_function_converges_with_the_square_of_the_step() -> None:
    coarse, fine, finer = (
        validation.weibull_renewals(0.7, 5.0, 20.0, n) for n in (500, 1000, 2000)
    )
    assert abs(finer - fine) < abs(fine - coarse) / 2.5
    assert abs(finer - fine) < 1e-5


@pytest.mark.parametrize(
    ("values", "year"),
    [([5.0, 1.0, -3.0], 2.25), ([-1.0, -2.0], 1.0), ([3.0, 0.0], 2.0), ([1.0, 2.0], math.inf)],
)
def test_crossing_year_is_interpolated(values: list[float], year: float) -> None:
    assert studies.crossing(values) == pytest.approx(year)


def test_every_internal_check_passes() -> None:
    checks = validation.Validator(BASE, 4000).internal()
    assert len(checks) >= 15
    failed = [
        f"{c.check}: model {c.model}, reference {c.reference}" for c in checks if not c.passed
    ]
    assert not failed, failed


def test_a_wrong_reference_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: a life-table expectancy off by two years is caught."""
    real = validation.lifetable.LifeTable.life_expectancy

    def off(self, sex: int, age: float, multiplier: float = 1.0) -> float:
        return real(self, sex, age, multiplier) + 2.0

    monkeypatch.setattr(validation.lifetable.LifeTable, "life_expectancy", off)
    checks = validation.Validator(BASE, 4000).life_expectancy()
    assert not any(c.passed for c in checks)


def test_external_checks_state_reference_and_reason() -> None:
    validator = validation.Validator(BASE, 2000)
    checks = validator.external(FOLDER)
    assert {c.kind for c in checks} == {"external", "derivation"}
    for c in checks:
        assert c.reference_source and c.tolerance
        assert math.isfinite(c.reference)
        assert c.passed or c.note, f"{c.check} differs without a reason"
        if c.kind == "derivation":
            assert c.note.startswith("a derivation, not a validation: the base case's ")


def test_a_figure_an_input_was_derived_from_is_no_validation() -> None:
    """A published figure that a default of the base case was computed from checks the
    derivation, not the model (issue 16): its entry names that input, whose citation in
    base.yaml names the same source, and it is a derivation check; every other entry is
    an external check."""
    import yaml

    sources = yaml.safe_load(BASE.read_text(encoding="utf-8"))["sources"]
    entries = validation.PUBLISHED["external"]
    derived = {k: e for k, e in entries.items() if "derived_input" in e}
    assert set(derived) == {"pump_per_pump_year", "catheter_free", "median_battery"}
    for entry in derived.values():
        author = entry["source"].split()[0]
        assert author in sources[entry["derived_input"]], entry["derived_input"]
    validator = validation.Validator(BASE, 1000)
    kinds = {c.check: c.kind for c in validator.external(FOLDER)}
    for key, entry in entries.items():
        shown = next(k for k in kinds if k.startswith(entry["check"].split("{")[0]))
        assert kinds[shown] == ("derivation" if key in derived else "external"), key


def test_every_study_figure_is_reproduced_or_explained() -> None:
    """A study's figure passes within its range or 15%; one that does not says why, and
    each explanation was run (a value that differs from the set-up's own)."""
    validator = validation.Validator(BASE, 2000)
    runs = studies.Studies(FOLDER, 2000, validator.table, lambda _: None)
    for entry in validation.PUBLISHED["cross_model"]:
        assert (FOLDER / entry["set_up"]).is_file() and entry["inputs"]
        for f in runs.study(entry):
            assert f.reference_source and f.tolerance
            if not f.compared:
                assert f.note, f"{f.check}: not compared without saying why"
            elif not f.passed:
                assert f.note and f.explained, f"{f.check} differs without a run explaining it"
                assert any(value != f.model for _, value in f.explained)


def test_the_saulino_set_up_reproduces_its_comparator_from_the_studys_inputs() -> None:
    """Saulino's CMM arm is the pre-implant run rate, trended and discounted, with nobody
    dying: the set-up gives the study's totals within 1% at every year reported, and
    break-even falls in years 2-3 (its inputs are the claims of years 1-3)."""
    validator = validation.Validator(BASE, 2000)
    runs = studies.Studies(FOLDER, 2000, validator.table, lambda _: None)
    for year, published in ((1, 61922), (10, 659839), (30, 2196635)):
        sc, tally = runs._run("saulino-2015.yaml", float(year), {})
        cmm = tally.means()[sc.strategy_names().index("cmm"), 0]
        # the study's year 0 is the month of implant (4,575), before the model's year 1
        assert cmm + 4575 == pytest.approx(published, rel=0.01)
        assert tally.count[sc.strategy_names().index("cmm")].sum() == 0  # no deaths, no events
    entry = next(e for e in validation.PUBLISHED["cross_model"] if e["study"] == "Saulino 2015")
    break_even = runs.value("saulino-2015.yaml", entry["figures"][0], {})
    assert 2.0 <= break_even[0] <= 3.0


TABLES = ("costs_after_implant.csv", "validation.csv", "validation.html")


def test_validation_command_writes_the_same_bytes_twice(tmp_path: Path) -> None:
    """Once in a fresh interpreter, once in this process beside it: the same bytes."""
    args = ["validation", "--patients", "1000", "--out"]
    fresh = console_start(*args, tmp_path / "one", cwd=ROOT)
    try:
        here = cli_in_process(*args, tmp_path / "two", cwd=ROOT)
    finally:
        there = console_finish(fresh)
    outputs = []
    for ran, out in ((there, tmp_path / "one"), (here, tmp_path / "two")):
        assert ran.code == 0, ran.err
        assert "internal: 17 of 17 checks pass" in ran.out
        folder = out / "validation"
        assert sorted(p.name for p in folder.iterdir()) == [
            "costs_after_implant.csv",
            "manifest.json",
            "validation.csv",
            "validation.html",
        ]
        outputs.append({n: (folder / n).read_bytes() for n in TABLES})
    assert outputs[0] == outputs[1]


def test_the_costs_after_implant_show_every_item_of_the_care_target() -> None:
    """The care multiplier's calibration target is a ratio of all costs: the table holds
    care and each explicit item per patient-year, adding up to the total; the calibration
    targets are shown apart (kind calibration, never validation)."""
    validator = validation.Validator(BASE, 2000)
    costs = calibration.costs_after_implant(validator, ROOT / "scenarios" / "calibration")
    items = costs[~costs.component.isin(["total", "cited"])].set_index("component")
    assert list(items.index) == list(COST_CATEGORIES)
    total = costs.set_index("component").loc["total"]
    assert items.itb_per_patient_year.sum() == pytest.approx(total.itb_per_patient_year)
    # every patient implanted: no screening in years 2-3, refills and drug in the ITB arm only
    assert items.loc["screening"].tolist()[:2] == [0.0, 0.0]
    for item in ("drug_intrathecal", "refill_visits"):
        assert (
            items.loc[item, "itb_per_patient_year"] > 0 == items.loc[item, "cmm_per_patient_year"]
        )
    # the ITB arm's care is the comparator's at the multiplier (nobody explanted or dying)
    multiplier = validation.scenario.load(BASE).strategies["itb"].care_cost_multiplier
    ratio = items.loc["care", "itb_per_patient_year"] / items.loc["care", "cmm_per_patient_year"]
    assert ratio == pytest.approx(multiplier, abs=0.02)  # infection explants: a few on tablets
    assert (costs.component == "cited").sum() >= 3
    targets = calibration.targets(validator, ROOT / "scenarios" / "calibration")
    assert {c.kind for c in targets} == {"calibration"}
    assert all("calibration target, not a validation" in c.note for c in targets)
    # the care target's ratio is the table's total ratio (the same set-up, 1 and 3 years)
    care = next(c for c in targets if c.check.startswith("cost_ratio_years_2_3"))
    assert care.model == pytest.approx(
        total.itb_per_patient_year / total.cmm_per_patient_year, rel=0.01
    )
