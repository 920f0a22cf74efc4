"""Calibration targets (DESIGN §4.7, issue 16): the targets of the calibration steps in
scenarios/calibration/, each evaluated at the base case's values of the parameters fitted
to it (the base case carries what the fit found). A calibration target is never counted
as a validation; the validation page shows these apart. Beside them, the ITB arm's costs
after implant item by item: what the care multiplier's target is made of."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sim import scenario
from sim.analysis.calibration import Calibration
from sim.model.events import COST_CATEGORIES
from sim.validation.checks import PUBLISHED, Check, Validator

#: The calibration step whose target the cost table takes apart.
CARE_STEP = "itb-care.yaml"


def costs_after_implant(validator: Validator, folder: Path) -> pd.DataFrame:
    """The ITB arm's costs per patient-year in years 2-3 after implant, item by item
    (undiscounted, in the price year), beside conventional management's and the cited
    all-cause totals: what the care multiplier was calibrated to, in the model. The runs
    are those of the calibration step (`folder`/CARE_STEP: its set-up, a claims cohort of
    implanted survivors) at the base case's values."""
    step = _step(validator, folder / CARE_STEP)
    values = step.at(scenario.load(validator.base_file))
    (sc, one), (_, three) = step.simulate(values, 1.0), step.simulate(values, 3.0)
    names = sc.strategy_names()
    itb, cmm = names.index("itb"), names.index(sc.comparator)
    window = (three.undiscounted_cost_by_category - one.undiscounted_cost_by_category) / (
        2.0 * validator.patients
    )
    rows = [
        {
            "component": category,
            "itb_per_patient_year": window[itb, k],
            "cmm_per_patient_year": window[cmm, k],
            "cited_total": "",
            "cited_value": math.nan,
            "cited_price_year": "",
        }
        for k, category in enumerate(COST_CATEGORIES)
    ]
    total_itb, total_cmm = float(window[itb].sum()), float(window[cmm].sum())
    rows.append(
        {
            "component": "total",
            "itb_per_patient_year": total_itb,
            "cmm_per_patient_year": total_cmm,
            "cited_total": "",
            "cited_value": math.nan,
            "cited_price_year": "",
        }
    )
    for cited in PUBLISHED["calibration"]["cited_totals"]:
        rows.append(
            {
                "component": "cited",
                "itb_per_patient_year": math.nan,
                "cmm_per_patient_year": math.nan,
                "cited_total": cited["total"],
                "cited_value": float(cited["value"]),
                "cited_price_year": cited["year"],
            }
        )
    validator.progress("costs after implant")
    return pd.DataFrame(rows)


def _step(validator: Validator, path: Path) -> Calibration:
    return Calibration(scenario.load(path).model_copy(update={"patients": validator.patients}))


def targets(validator: Validator, folder: Path) -> list[Check]:
    """Each calibration step's targets at the base case's values of its parameters."""
    base = scenario.load(validator.base_file)
    checks = []
    for path in sorted(folder.glob("*.yaml")):
        step = _step(validator, path)
        found = step.outputs_at(step.at(base))
        fitted = ", ".join(step.step.parameters)
        for name, target in step.step.targets.items():
            model = found[name]
            z = (model - target.value) / target.se
            checks.append(
                Check(
                    "calibration",
                    f"{name} ({target.output.replace('_', ' ')}, {target.strategy})",
                    target.value,
                    " ".join(target.source.split()) + f"; standard error {target.se:g}",
                    model,
                    model,
                    model,
                    "within 2 standard errors of the target (the fit's own tolerance)",
                    abs(z) <= 2.0,
                    f"a calibration target, not a validation: {fitted} fitted to it "
                    f"(scenarios/calibration/{path.name}); the base case's values give "
                    f"z = {z:+.2f}",
                )
            )
    validator.progress("calibration targets")
    return checks
