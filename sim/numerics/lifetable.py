"""Life tables and background mortality (DESIGN §4.2).

Bundled: the US Social Security period life tables of 2019 and 2020 (public domain),
copied into the package so that a run never depends on files outside it. A user table is
a CSV with columns ``age, sex, qx`` (ages 0..N consecutive, both sexes).

The hazard is constant within each year of age, mu(x) = -ln(1 - q(x)), multiplied by the
indication's mortality multiplier; the table is closed with q = 1 at age 120.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numba import njit

MAX_AGE = 120
BUNDLED: dict[str, int] = {"us-ssa-2019": 2019, "us-ssa-2020": 2020}


class LifeTableError(ValueError):
    """A life table that cannot be used; the message names the row and the problem."""


@dataclass(frozen=True)
class LifeTable:
    """Annual death probabilities q[sex, age] for ages 0..119 (sex 0 = female, 1 = male)."""

    name: str
    qx: np.ndarray  # shape (2, MAX_AGE), float64

    def hazards(self) -> np.ndarray:
        """mu[sex, age] = -ln(1 - q), with +inf where q = 1 (certain death in that year)."""
        with np.errstate(divide="ignore"):
            return -np.log1p(-self.qx)

    def life_expectancy(self, sex: int, age: float, multiplier: float = 1.0) -> float:
        """Complete expectation of life at `age` under the piecewise-constant hazard."""
        mu = self.hazards()[sex] * multiplier
        alive, total, x = 1.0, 0.0, age
        while x < MAX_AGE and alive > 0.0:
            year = int(x)
            width = min(year + 1.0, MAX_AGE) - x
            h = mu[year]
            if h == 0.0:
                total += alive * width
            elif math.isinf(h):
                break
            else:
                total += alive * (1.0 - math.exp(-h * width)) / h
                alive *= math.exp(-h * width)
            x = year + 1.0
        return total


def bundled_path() -> Path:
    return Path(str(resources.files("sim") / "data" / "us_ssa_period_life_tables.csv"))


def load(spec: str, base_dir: Path | None = None) -> LifeTable:
    """A bundled table by name, or a CSV path (relative to the scenario's folder)."""
    if spec in BUNDLED:
        return _read(bundled_path(), spec, year=BUNDLED[spec])
    path = Path(spec)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise LifeTableError(
            f"no such life table {spec!r}: use one of {', '.join(BUNDLED)} or a CSV file "
            "with columns age, sex, qx"
        )
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise LifeTableError(
            f"{path}: {path.stat().st_size:,} bytes: a life table has at most "
            f"{MAX_TABLE_BYTES:,} (one row per age and sex)"
        )
    return _read(path, spec, year=None)


#: The largest life table read (a table of ages 0-119 for two sexes is a few kilobytes).
MAX_TABLE_BYTES = 10_000_000


def _read(path: Path, name: str, year: int | None) -> LifeTable:
    qx = np.full((2, MAX_AGE), np.nan)
    sexes = {"female": 0, "f": 0, "male": 1, "m": 1}
    try:
        # utf-8-sig: a byte-order mark (spreadsheets write one) is not part of the header
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"age", "sex", "qx"} - set(reader.fieldnames or ())
            if missing:
                raise LifeTableError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                if None in (row["age"], row["sex"], row["qx"]):  # a short row
                    raise LifeTableError(f"{path}: line {line}: needs values for age, sex and qx")
                if year is not None and int(row["year"]) != year:
                    continue
                try:
                    age = int(row["age"])
                    q = float(row["qx"])
                except ValueError:
                    raise LifeTableError(
                        f"{path}: line {line}: age must be an integer and qx a number"
                    ) from None
                sex = sexes.get(row["sex"].strip().lower())
                if sex is None:
                    raise LifeTableError(f"{path}: line {line}: sex must be female or male")
                if not 0 <= age < MAX_AGE:
                    raise LifeTableError(f"{path}: line {line}: age {age} outside 0..119")
                if not (0.0 <= q <= 1.0):
                    raise LifeTableError(f"{path}: line {line}: qx = {q} must be in [0, 1]")
                if not np.isnan(qx[sex, age]):
                    raise LifeTableError(
                        f"{path}: line {line}: a second row for age {age}, {row['sex'].strip()}"
                        + (f" in {year}" if year is not None else "")
                    )
                qx[sex, age] = q
    except UnicodeDecodeError:
        raise LifeTableError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:  # a field beyond the csv module's limit, a NUL byte
        raise LifeTableError(f"{path}: line {reader.line_num + 1}: {exc}") from None
    except OSError as exc:
        raise LifeTableError(f"{path}: cannot read: {exc.strerror or exc}") from None
    for sex, sex_name in enumerate(("female", "male")):
        gaps = np.flatnonzero(np.isnan(qx[sex]))
        if gaps.size == MAX_AGE:
            raise LifeTableError(f"{path}: no rows for sex {sex_name}")
        last = int(np.flatnonzero(~np.isnan(qx[sex]))[-1])
        holes = gaps[gaps < last]
        if holes.size:
            raise LifeTableError(f"{path}: sex {sex_name}: missing age {int(holes[0])}")
        qx[sex, last + 1 :] = 1.0  # a table that stops early closes with certain death
    return LifeTable(name=name, qx=qx)


@njit(cache=True)
def death_time(hazard_by_age: np.ndarray, multiplier: float, age: float, u: float) -> float:
    """Years until background death for a patient aged `age`, by inverting the cumulative
    hazard at the unit exponential -ln(u). Infinite when the multiplier is 0."""
    if multiplier <= 0.0:
        return math.inf
    if not age < MAX_AGE:
        return 0.0
    target = -math.log(u)
    # the rest of the current year of age, then whole years (width 1: the same
    # arithmetic as h * width, with nothing but the hazard in the loop's chain). An
    # infinite hazard (a table that closes) ends life at the start of its year: target / h
    # is then 0.
    now = int(age)
    width = now + 1.0 - age
    h = hazard_by_age[now] * multiplier
    if h * width >= target:
        return target / h
    target -= h * width
    elapsed = width
    for year in range(now + 1, MAX_AGE):
        h = hazard_by_age[year] * multiplier
        if h >= target:
            return elapsed + target / h
        target -= h
        elapsed += 1.0
    return elapsed
