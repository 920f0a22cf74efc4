"""Calibration as a step of its own (issue 16): deterministic fits with common random
numbers, the base case carrying what its calibration steps find, and the variant scenario
a calibration writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BASE, ROOT, cli_in_process

import sim
from sim import scenario
from sim.analysis.calibration import Calibration

CALIBRATION = ROOT / "scenarios" / "calibration"


def test_a_fit_is_deterministic_and_meets_its_target() -> None:
    sc = sim.load(CALIBRATION / "mortality.yaml", patients=3000)
    one, two = Calibration(sc).fit(), Calibration(sc).fit()
    assert one.values() == two.values()  # common random numbers: the same objective
    assert abs(one.targets.z.iloc[0]) < 0.05
    # one factor on the four SMRs: their ratios stay as cited
    ratios = one.parameters.calibrated / one.parameters.cited
    assert ratios.max() == pytest.approx(ratios.min())


@pytest.mark.parametrize(
    ("file", "tolerance"),
    [("mortality.yaml", 5e-5 * 6.5), ("itb-care.yaml", 5e-5)],
)
def test_the_base_case_carries_what_its_calibrations_find(file: str, tolerance: float) -> None:
    """Re-run the fit at its own patients and seed: the base case holds the fitted values
    (to the digits it gives). A change elsewhere in the base case that moves the fit
    fails here, so the calibration is re-run rather than left stale."""
    fit = Calibration(sim.load(CALIBRATION / file)).fit()
    base = scenario.load(BASE).model_dump()
    for path, value in fit.values().items():
        node = base
        for part in path.split("."):
            node = node[part]
        assert node == pytest.approx(value, abs=tolerance), path


def test_the_validation_never_counts_a_calibration_target() -> None:
    """Targets of a calibration step are not external checks: no published figure is
    both (the registry's death rate moved to the calibration when the SMRs were fitted)."""
    from sim.validation.checks import PUBLISHED

    external = {str(ref.get("source")) for ref in PUBLISHED["external"].values()}
    for path in CALIBRATION.glob("*.yaml"):
        for target in scenario.load(path).calibrate.targets.values():
            assert not any(target.source.split(":")[0] in s for s in external), target.source


def test_calibrate_writes_the_fit_and_a_variant_that_runs(tmp_path: Path) -> None:
    ran = cli_in_process(
        "calibrate",
        CALIBRATION / "itb-care.yaml",
        "--patients",
        "2000",
        "--out",
        tmp_path,
        cwd=ROOT,
    )
    assert ran.code == 0, ran.err
    folder = tmp_path / "calibration" / "calibration-itb-care"
    assert sorted(p.name for p in folder.iterdir()) == [
        "calibration-itb-care-calibrated.yaml",
        "calibration.csv",
        "fit.csv",
        "manifest.json",
    ]
    variant = scenario.load(folder / "calibration-itb-care-calibrated.yaml")
    fitted = float(variant.strategies["itb"].care_cost_multiplier)
    assert f"-> {fitted:.6g}" in ran.out
    assert variant.calibrate is None
    assert "CALIBRATED" in variant.sources["strategies.itb.care_cost_multiplier"]


def test_calibrate_refuses_a_scenario_without_a_calibration(tmp_path: Path) -> None:
    ran = cli_in_process("calibrate", BASE, "--out", tmp_path, cwd=ROOT)
    assert ran.code == 2
    assert ran.err.strip().endswith("has no calibrate: block (nothing to fit)")
    assert not (tmp_path / "calibration").exists()
