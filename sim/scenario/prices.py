"""Costs at one price year (DESIGN §4.7): every cost carries the price year of its source, and
the engines see it inflated to the scenario's `price_year` with a price index.

A scenario states its costs as its sources give them, and in `cost_years` the price year of
each (a dotted path, or a prefix that covers every cost beneath it: the longest prefix
wins). `price_index` names a bundled index (US CPI-U medical care; the UK NHS cost
inflation index) or a CSV file of its own (columns ``year,index``). The engines run
:func:`priced` copies, so a PSA draw or a one-way value of a cost is read in its source's
prices and inflated like the base value; the report lists every inflated cost.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sim.scenario.messages import ScenarioError

#: Bundled price indices: name -> (file in sim/data, what it is).
BUNDLED: dict[str, str] = {
    "us-cpi-medical-care": "US BLS CPI-U, medical care (CUUR0000SAM), annual averages",
    "uk-nhs-cost-inflation": "UK NHS cost inflation index (PSSRU Unit Costs; HCHS before 2015)",
}
BUNDLED_FILE = "price_indices.csv"


def is_cost(key: str) -> bool:
    """Whether a scenario key holds an amount of money (care_cost_multiplier does not)."""
    words = key.split("_")
    return "cost" in words and "multiplier" not in words


@dataclass(frozen=True)
class PriceIndex:
    name: str
    values: dict[int, float]  # year -> index

    def factor(self, from_year: int, to_year: int) -> float:
        """What an amount in `from_year` prices is worth in `to_year` prices."""
        return self.values[to_year] / self.values[from_year]


@functools.cache
def _bundled() -> dict[str, dict[int, float]]:
    path = resources.files("sim") / "data" / BUNDLED_FILE
    found: dict[str, dict[int, float]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            found.setdefault(row["index"], {})[int(row["year"])] = float(row["value"])
    return found


def load_index(spec: str, base_dir: Path, file: str | Path) -> PriceIndex:
    """A bundled index by name, or a CSV (year,index) relative to the scenario's folder."""
    if spec in BUNDLED:
        return PriceIndex(spec, _bundled()[spec])
    path = Path(spec) if Path(spec).is_absolute() else base_dir / spec
    where = "price_index"
    allowed = f"a bundled index ({', '.join(BUNDLED)}) or a CSV file with columns year,index"
    if not path.is_file():
        raise ScenarioError(file, where, f"{spec!r}: no such file; give {allowed}")
    values: dict[int, float] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    year, value = int(row["year"]), float(row["index"])
                except (KeyError, TypeError, ValueError):
                    raise ScenarioError(
                        file, where, f"{path}: line {line}: needs a year and a number index"
                    ) from None
                if not value > 0:
                    raise ScenarioError(file, where, f"{path}: line {line}: index must be > 0")
                if year in values:
                    raise ScenarioError(file, where, f"{path}: line {line}: year {year} twice")
                values[year] = value
    except UnicodeDecodeError:
        raise ScenarioError(file, where, f"{path}: not UTF-8 text") from None
    return PriceIndex(str(path), values)


#: Blocks whose numbers are not amounts of money (a cost's distribution, its source).
_NOT_COSTS = ("uncertainty", "sources", "cost_years")


def cost_paths(node: Any, prefix: str = "") -> list[tuple[str, float]]:
    """Every cost of a scenario document: (dotted path, amount), in document order."""
    found: list[tuple[str, float]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and is_cost(str(key)):
                found.append((path, float(value)))
            elif isinstance(value, dict) and key not in _NOT_COSTS:
                found += cost_paths(value, path)
    return found


def year_of(path: str, cost_years: dict[str, int]) -> int | None:
    """The price year of a cost: its own entry, or the longest prefix that covers it."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in cost_years:
            return cost_years[key]
    return None


def factor_at(document: dict[str, Any], path: str, index: PriceIndex) -> float | None:
    """The factor that :func:`priced_document` inflates a non-zero amount at `path` by
    (None: not a cost, or one without a price year, left as it is)."""
    *parents, leaf = path.split(".")
    if not is_cost(leaf) or any(part in _NOT_COSTS for part in parents):
        return None
    year = year_of(path, document.get("cost_years") or {})
    return None if year is None else index.factor(year, document["price_year"])


def check(document: dict[str, Any], index: PriceIndex, file: str | Path) -> None:
    """Every cost has a price year the index knows, and so has the results' price year."""
    cost_years = document.get("cost_years") or {}
    price_year = document.get("price_year")
    for key, year in cost_years.items():
        if year not in index.values:
            raise ScenarioError(file, f"cost_years.{key}", _outside(year, index))
    if price_year not in index.values:
        raise ScenarioError(file, "price_year", _outside(price_year, index))
    for path, amount in cost_paths(document):
        if amount != 0 and year_of(path, cost_years) is None:
            raise ScenarioError(
                file,
                path,
                "a cost needs the price year of its source: give it in cost_years (for "
                f"example cost_years: {{{path}: 2019}}, or a prefix of the path that covers it)",
            )


def _outside(year: object, index: PriceIndex) -> str:
    return f"{year}: the price index {index.name} has no value for it; it has {_spans(index)}"


def _spans(index: PriceIndex) -> str:
    """The index's years as runs ("1999-2020, 2023-2024"): a gap is visible."""
    runs: list[list[int]] = []
    for year in sorted(index.values):
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)


@dataclass(frozen=True)
class Inflated:
    """One cost as stated and in the results' prices."""

    path: str
    amount: float
    year: int
    factor: float

    @property
    def priced(self) -> float:
        return self.amount * self.factor


def inflation(document: dict[str, Any], index: PriceIndex) -> list[Inflated]:
    """Every non-zero cost with its source's year and its factor to the price year."""
    cost_years = document.get("cost_years") or {}
    to_year = document["price_year"]
    rows = []
    for path, amount in cost_paths(document):
        year = year_of(path, cost_years)
        if amount != 0 and year is not None:
            rows.append(Inflated(path, amount, year, index.factor(year, to_year)))
    return rows


def priced_document(document: dict[str, Any], index: PriceIndex) -> dict[str, Any]:
    """The document with every cost in the price year's prices (and no cost years left).
    Only the mappings on the way to a cost are copied (the rest is shared with
    `document`, which is left as it is): a PSA prices every iteration's document."""
    doc = dict(document)
    copied = {""}
    for row in inflation(document, index):
        *parents, leaf = row.path.split(".")
        node, prefix = doc, ""
        for part in parents:
            prefix = f"{prefix}.{part}"
            if prefix not in copied:
                node[part] = dict(node[part])
                copied.add(prefix)
            node = node[part]
        node[leaf] = row.priced
    doc["cost_years"] = {}
    return doc
