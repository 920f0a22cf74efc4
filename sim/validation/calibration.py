"""Calibration targets (DESIGN §4.7): figures a default of the base case was derived from,
shown beside what the model makes of that default. A calibration target is never counted
as a validation; the validation page shows these apart."""

from __future__ import annotations

import math

import pandas as pd

from sim import scenario
from sim.engines.tally import Tally
from sim.model.events import COST_CATEGORIES
from sim.validation.checks import PUBLISHED, Check, Validator
from sim.validation.setups import base_case_only, with_values


def _first_years(validator: Validator, horizon: float) -> tuple[scenario.Scenario, Tally]:
    """The base case with every patient implanted and nobody dying or losing the pump
    for a reason of its own (a claims cohort of survivors), over `horizon` years."""
    doc = base_case_only(validator.base)
    for indication in doc["cohort"]["indications"].values():
        indication["mortality_multiplier"] = 0.0
    doc = with_values(
        doc,
        patients=validator.patients,
        horizon_years=horizon,
        strategies__itb__screening__response_probability=1.0,
        strategies__itb__explant_rate_per_year=0.0,
    )
    return validator.simulate(doc)


def costs_after_implant(validator: Validator) -> tuple[Check, pd.DataFrame]:
    """The ITB arm's costs per patient-year in years 2-3 after implant, item by item
    (undiscounted, in the price year), beside conventional management's and the cited
    all-cause totals: what the care multiplier was derived from, checked in the model."""
    (sc, one), (_, three) = _first_years(validator, 1.0), _first_years(validator, 3.0)
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
    ref = PUBLISHED["calibration"]["itb_cost_ratio_years_2_3"]
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
    ratio = total_itb / total_cmm
    low, high = ref["interval"]
    check = Check(
        "calibration",
        ref["check"],
        ref["value"],
        " ".join(ref["source"].split()) + f"; published 95% limits {low:g}-{high:g}",
        ratio,
        ratio,
        ratio,
        "within the published 95% limits",
        low <= ratio <= high,
        " ".join(ref["note"].split()),
    )
    validator.progress("costs after implant")
    return check, pd.DataFrame(rows)
