"""Result tables from a tally (DESIGN §5), and writing them atomically.

Tables have a stable column order and numbers written with a fixed format (10
significant digits), so the same scenario and seed give the same bytes. Timings and
versions go to manifest.json only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import econ
from sim.analysis.econ import wtp_tag
from sim.engines.rules import AGE_BANDS, INDICATION_SLOTS
from sim.engines.tally import OUTCOMES, Tally
from sim.model.events import (
    ADVERSE_COUNTERS,
    COST_CATEGORIES,
    COUNTERS,
    CUMULATIVE_GROUPS,
    GROUP_ID,
    OCCUPANCY_STATES,
    PUMP_COUNTERS,
    SPLIT_BY_PERIOD,
    label,
)
from sim.model.units import MONTHS_PER_YEAR
from sim.scenario import Scenario, canonical_json, sha256

FLOAT_FORMAT = "%.10g"
nan = math.nan


def _combination_ci(tally: Tally, weights: dict[int, float]) -> tuple[float, float, float]:
    """Mean and 95% CI of a per-patient linear combination (Tally.combination)."""
    return econ.mean_ci(*tally.combination(weights), tally.patients)


def _mcse(low: float, high: float) -> float:
    """Monte Carlo standard error behind a normal 95% interval."""
    return (high - low) / (2 * econ.Z95)


def _paired(
    row: dict[str, Any], name: str, tally: Tally, weights: dict[int, float], zero: bool
) -> None:
    """A paired difference of per-patient outcomes with its interval and MCSE (all 0 for
    the comparator's own row)."""
    mean, low, high = (0.0, 0.0, 0.0) if zero else _combination_ci(tally, weights)
    row[name] = mean
    row[f"{name}_ci_low"] = low
    row[f"{name}_ci_high"] = high
    row[f"{name}_mcse"] = _mcse(low, high)


def _increments(row: dict[str, Any], tally: Tally, s: int, comparator: int) -> None:
    """Incremental cost and QALYs of strategy s against the comparator, and the ICER."""
    for outcome in ("cost", "qaly"):
        w = {tally.index(s, outcome): 1.0, tally.index(comparator, outcome): -1.0}
        _paired(row, f"incremental_{outcome}", tally, w, s == comparator)
    if s == comparator:
        row["icer"], row["icer_note"] = math.nan, "comparator"
    else:
        row["icer"], row["icer_note"] = econ.icer(row["incremental_cost"], row["incremental_qaly"])


def summary(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    names = scenario.strategy_names()
    n = tally.patients
    comparator = names.index(scenario.comparator)
    rows: list[dict[str, Any]] = []
    means = {
        (s, o): tally.sum_v[tally.index(s, o)] / n for s in range(len(names)) for o in OUTCOMES
    }
    status = econ.frontier(
        [means[s, "cost"] for s in range(len(names))], [means[s, "qaly"] for s in range(len(names))]
    )
    for s, name in enumerate(names):
        row: dict[str, Any] = {
            "strategy": name,
            "type": scenario.strategies[name].type,
            "patients": n,
        }
        for outcome in OUTCOMES:
            k = tally.index(s, outcome)
            mean, low, high = econ.mean_ci(tally.sum_v[k], tally.sum_vv[k, k], n)
            row[outcome] = mean
            row[f"{outcome}_ci_low"] = low
            row[f"{outcome}_ci_high"] = high
            row[f"{outcome}_mcse"] = _mcse(low, high)
        _increments(row, tally, s, comparator)
        row["frontier_status"] = status[s].status
        row["frontier_icer"] = status[s].icer
        for wtp in scenario.wtp:
            tag = wtp_tag(wtp)
            row[f"nmb_{tag}"] = wtp * row["qaly"] - row["cost"]
            nmb = tally.incremental_nmb_weights(s, wtp)
            _paired(row, f"incremental_nmb_{tag}", tally, nmb, s == comparator)
        years = tally.followup[s]
        row["person_years"] = years
        row["mean_itb_dose_mcg_per_day"] = (  # mcg/day, as ITB doses are everywhere
            tally.itb_dose[s] / tally.itb_years[s] if tally.itb_years[s] > 0 else math.nan
        )
        row["mean_oral_dose_mg_per_day"] = (
            tally.oral_dose[s] / tally.oral_years[s] if tally.oral_years[s] > 0 else math.nan
        )
        row["years_on_pump_per_patient"] = tally.itb_years[s] / n
        row["years_on_tablets_per_patient"] = tally.oral_years[s] / n
        visits = tally.count[s, COUNTERS.index("refill_visit")]
        row["refill_visits_per_patient_year"] = visits / years if years > 0 else math.nan
        row["mean_refill_interval_days"] = tally.refill_days[s] / visits if visits else math.nan
        row["pump_replacements_per_patient"] = tally.count[s, GROUP_ID["any_pump_replacement"]] / n
        rows.append(row)
    return pd.DataFrame(rows)


def events(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    names = scenario.strategy_names()
    n = tally.patients
    comparator = names.index(scenario.comparator)
    rows = []

    def dispersion(s: int, c: int) -> float:
        return econ.dispersion(
            n,
            float(tally.count[s, c]),
            tally.count_sq[s, c],
            tally.count_followup[s, c],
            tally.followup[s],
            tally.followup_sq[s],
        )

    for s, name in enumerate(names):
        years = tally.followup[s]
        for c, counter in enumerate(COUNTERS):
            count = float(tally.count[s, c])
            phi = dispersion(s, c)
            low, high = econ.poisson_rate_ci(count, years, phi)
            rate = count / years if years > 0 else math.nan
            row = {
                "strategy": name,
                "event": counter,
                "label": label(counter),
                "events": int(count),
                "person_years": years,
                "rate_per_100py": 100 * rate,
                "rate_per_100py_ci_low": 100 * low,
                "rate_per_100py_ci_high": 100 * high,
                "dispersion": phi,
                "patients_with_event": int(tally.with_event[s, c]),
                "share_with_event": tally.with_event[s, c] / n,
                "mean_per_patient": count / n,
            }
            ref = float(tally.count[comparator, c])
            ref_years = tally.followup[comparator]
            rate_ratio = rr_low = rr_high = math.nan
            # a counter split by period compares only through its any_ group (like with like)
            compared = s != comparator and counter not in SPLIT_BY_PERIOD
            if compared and count > 0 and ref > 0:
                ref_phi = dispersion(comparator, c)
                rate_ratio = rate / (ref / ref_years)
                se = math.sqrt(phi / count + ref_phi / ref)
                rr_low, rr_high = (
                    rate_ratio * math.exp(-econ.Z95 * se),
                    rate_ratio * math.exp(econ.Z95 * se),
                )
            row.update(rate_ratio=rate_ratio, rate_ratio_ci_low=rr_low, rate_ratio_ci_high=rr_high)
            pump_years = float(tally.itb_years[s])
            per_pump = counter in PUMP_COUNTERS and pump_years > 0
            p_low, p_high = econ.poisson_rate_ci(count, pump_years) if per_pump else (nan, nan)
            row.update(
                pump_years=pump_years if per_pump else nan,
                rate_per_100_pump_years=100 * count / pump_years if per_pump else nan,
                rate_per_100_pump_years_ci_low=100 * p_low,
                rate_per_100_pump_years_ci_high=100 * p_high,
            )
            paired = (
                econ.paired_risk(
                    n,
                    int(tally.with_event[s, c]),
                    int(tally.with_event[comparator, c]),
                    int(tally.with_event_and_comparator[s, c]),
                )
                if compared
                else dict.fromkeys(econ.PAIRED_RISK_KEYS, nan)
            )
            harm = counter in ADVERSE_COUNTERS
            row.update(
                relative_risk=paired["rr"],
                relative_risk_ci_low=paired["rr_low"],
                relative_risk_ci_high=paired["rr_high"],
                risk_difference=paired["rd"],
                risk_difference_ci_low=paired["rd_low"],
                risk_difference_ci_high=paired["rd_high"],
                number_needed_to_harm=paired["nnh"] if harm else nan,
                number_needed_to_harm_ci_low=paired["nnh_low"] if harm else nan,
                number_needed_to_harm_ci_high=paired["nnh_high"] if harm else nan,
                number_needed_to_treat=paired["nnt"] if harm else nan,
                number_needed_to_treat_ci_low=paired["nnt_low"] if harm else nan,
                number_needed_to_treat_ci_high=paired["nnt_high"] if harm else nan,
            )
            rows.append(row)
    return pd.DataFrame(rows)


def cost_breakdown(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    """Mean cost per patient by category (DESIGN §4.7: every cost counted once, in the
    category of what it pays for), discounted and undiscounted, with its share of the
    strategy's discounted total; and the QALYs of the states lived in against those lost
    to events."""
    n = tally.patients
    rows = []
    for s, name in enumerate(scenario.strategy_names()):
        total = float(tally.cost_by_category[s].sum())
        for k, category in enumerate(COST_CATEGORIES):
            discounted = float(tally.cost_by_category[s, k])
            rows.append(
                {
                    "strategy": name,
                    "component": category,
                    "kind": "cost",
                    "discounted": discounted / n,
                    "undiscounted": float(tally.undiscounted_cost_by_category[s, k]) / n,
                    "share_of_discounted": discounted / total if total else nan,
                }
            )
        for component, value in (
            ("qaly_of_states", tally.qaly_state[s]),
            ("qaly_lost_to_events", -tally.qaly_lost[s]),
        ):
            rows.append(
                {
                    "strategy": name,
                    "component": component,
                    "kind": "qaly",
                    "discounted": float(value) / n,
                    "undiscounted": nan,
                    "share_of_discounted": nan,
                }
            )
    return pd.DataFrame(rows)


def cumulative_incidence(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    """Share of patients whose first event of a group happened by the end of each month,
    death competing: a patient who died first never counts (no censoring but the horizon,
    so the empirical cumulative incidence is exact, Aalen-Johansen reduces to it)."""
    names = scenario.strategy_names()
    n = tally.patients
    rows = []
    for s, name in enumerate(names):
        for g, group in enumerate(CUMULATIVE_GROUPS):
            cumulative = 0
            rows.append(
                {
                    "strategy": name,
                    "group": group,
                    "month": 0,
                    "years": 0.0,
                    "cumulative_incidence": 0.0,
                }
            )
            for month in range(tally.months):
                cumulative += int(tally.first_month[s, g, month])
                rows.append(
                    {
                        "strategy": name,
                        "group": group,
                        "month": month + 1,
                        "years": min((month + 1) / MONTHS_PER_YEAR, scenario.horizon),
                        "cumulative_incidence": cumulative / n,
                    }
                )
    return pd.DataFrame(rows)


def subgroups(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    """The summary's cost-effectiveness figures within each subgroup (hesim's
    `cea(grp=)`): by indication, sex and age band at the start, from the same run (the
    same patients, their sums kept apart). Subgroups without patients are left out."""
    names = scenario.strategy_names()
    comparator = names.index(scenario.comparator)
    indications = [n for n, _ in scenario.cohort.indications.present()]
    labels = [("indication", n) for n in indications]
    labels += [("indication", "")] * (INDICATION_SLOTS - len(indications))
    labels += [("sex", "female"), ("sex", "male")]
    labels += [("age_band", band) for band in AGE_BANDS]
    rows: list[dict[str, Any]] = []
    for g, (dimension, group) in enumerate(labels):
        n = int(tally.group_patients[g])
        if n == 0:
            continue
        part = Tally(len(names), comparator, 1)
        part.patients = n
        part.sum_v, part.sum_vv = tally.group_sum_v[g], tally.group_sum_vv[g]
        for s, name in enumerate(names):
            row: dict[str, Any] = {
                "dimension": dimension,
                "subgroup": group,
                "patients": n,
                "strategy": name,
            }
            for outcome in ("cost", "qaly", "life_years"):
                k = part.index(s, outcome)
                row[outcome] = part.sum_v[k] / n
            _increments(row, part, s, comparator)
            for wtp in scenario.wtp:
                nmb = part.incremental_nmb_weights(s, wtp)
                _paired(row, f"incremental_nmb_{wtp_tag(wtp)}", part, nmb, s == comparator)
            rows.append(row)
    return pd.DataFrame(rows)


def state_occupancy(scenario: Scenario, tally: Tally) -> pd.DataFrame:
    """Share of patients in each state (on the pump, on tablets, on no antispastic drug,
    dead) at the start of each month: the picture of a Markov trace. The shares of a
    month add up to 1 (a patient is in one state at a time)."""
    counts = tally.occupancy_counts()
    names = scenario.strategy_names()
    months = np.arange(tally.months)
    frames = []
    for s, name in enumerate(names):
        frame = pd.DataFrame({"strategy": name, "month": months, "years": months / MONTHS_PER_YEAR})
        for k, state in enumerate(OCCUPANCY_STATES):
            frame[state] = counts[s, k] / tally.patients
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


#: The large tables also written as Parquet (full precision, typed columns), for pandas,
#: polars or R arrow; the CSV files stay the reference.
PARQUET_TABLES = ("psa", "state_occupancy", "subgroups")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """A table as Parquet, the same bytes on every run (no timestamps are written)."""
    frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")


#: The package whose code makes a result folder (see source_sha256).
PACKAGE = Path(__file__).resolve().parents[1]
#: Its files that make results: code and the data it reads.
SOURCE_FILES = ("*.py", "*.csv", "*.yaml")


@functools.cache
def source_sha256() -> str:
    """SHA-256 of the package's source and data files, in path order: the code that made a
    result folder. Its version string does not change with every change of its code, so
    a batch could otherwise keep results (or a report) made by an older model."""
    digest = hashlib.sha256()
    paths = sorted(p for pattern in SOURCE_FILES for p in PACKAGE.rglob(pattern))
    for path in paths:
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE).as_posix()).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """The package and the numerical libraries whose versions can change the numbers."""
    from importlib import metadata

    found = {}
    for package in ("baclofen-sim", "simpy", "numpy", "numba", "pandas", "scipy", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def up_to_date(target: Path, scenario: Scenario, one_way: bool = True) -> bool:
    """Whether `target` holds the complete results of this very scenario (same resolved
    scenario, overrides included) made by the same versions and the same code, with the
    one-way analyses if they are asked for, and every file its manifest lists still there
    (a table deleted by hand is rerun): a batch can skip it."""
    try:
        made = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = made.get("files") if isinstance(made, dict) else None
    return (
        isinstance(made, dict)
        and made.get("scenario_sha256") == sha256(scenario)
        and made.get("versions") == versions()
        and made.get("source_sha256") == source_sha256()
        and (made.get("one_way_analyses", True) or not one_way)
        and isinstance(files, list)
        and all(isinstance(f, str) and (target / f).is_file() for f in files)
    )


def manifest(
    scenario: Scenario,
    source: Path | None,
    engine: str,
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "source": str(source) if source is not None else "",
        "scenario_sha256": sha256(scenario),
        "seed": scenario.seed,
        "patients_per_strategy": scenario.patients,
        "strategies": scenario.strategy_names(),
        "engine": engine,
        "run_seconds": round(seconds, 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "source_sha256": source_sha256(),
        "resolved_scenario": json.loads(canonical_json(scenario)),
        **(extra or {}),
    }
