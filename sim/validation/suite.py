"""The whole validation: every check (internal, external, cross-model, calibration) and
the tables `baclofen-sim validation` writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from sim.validation.calibration import costs_after_implant
from sim.validation.checks import Check, Validator


def run(
    base_file: Path,
    folder: Path,
    patients: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Check], pd.DataFrame]:
    """Every check, and the table of the ITB arm's costs after implant by component."""
    validator = Validator(base_file, patients, progress)
    calibration, costs = costs_after_implant(validator)
    checks = [
        *validator.internal(),
        *validator.external(folder),
        *validator.cross_model(folder),
        calibration,
    ]
    return checks, costs


def table(checks: list[Check]) -> pd.DataFrame:
    rows = []
    for c in checks:
        row = asdict(c)
        row["difference"] = c.difference
        rows.append(row)
    columns = [
        "kind",
        "check",
        "reference",
        "model",
        "model_low",
        "model_high",
        "difference",
        "passed",
        "tolerance",
        "reference_source",
        "note",
    ]
    return pd.DataFrame(rows)[columns]
