"""The whole validation: every check (internal, external, calibration), the published
evaluations reproduced, and the tables `baclofen-sim validation` writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from sim.validation import calibration
from sim.validation.checks import PUBLISHED, Check, Validator
from sim.validation.studies import Figure, Studies


def run(
    base_file: Path,
    folder: Path,
    patients: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Check], list[Figure], pd.DataFrame]:
    """Every check, every study's figures, and the ITB arm's costs after implant by item."""
    validator = Validator(base_file, patients, progress)
    steps = folder.parent / "calibration"
    costs = calibration.costs_after_implant(validator, steps)
    checks = [
        *validator.internal(),
        *validator.external(folder),
        *calibration.targets(validator, steps),
    ]
    studies = Studies(folder, patients, validator.table, validator.progress)
    figures = [f for entry in PUBLISHED["cross_model"] for f in studies.study(entry)]
    return checks, figures, costs


COLUMNS = [
    "kind",
    "study",
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
    "explained",
]


def table(checks: list[Check], figures: list[Figure]) -> pd.DataFrame:
    """One row per check and per study figure (`explained`: each explanation's value)."""
    rows = []
    for c in checks:
        row = asdict(c)
        row.update(difference=c.difference, study="", explained="")
        rows.append(row)
    for f in figures:
        row = asdict(f)
        row.update(
            kind="cross-model" if f.compared else "cross-model (not compared)",
            difference=f.difference,
            explained="; ".join(f"{what}: {value:.6g}" for what, value in f.explained),
        )
        rows.append(row)
    return pd.DataFrame(rows)[COLUMNS]
