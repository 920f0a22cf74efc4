"""A result folder as the report reads it: its tables and manifest, nothing else.

The report and the workbook are rebuilt from these files alone (`baclofen-sim report`),
so a folder whose tables were edited or damaged still gives a report that says what is
missing.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from sim.output.report.formats import is_float

#: Tables a run may write, in report and workbook order (other CSV files follow, by name).
TABLES = (
    "summary",
    "events",
    "cost_breakdown",
    "cumulative_incidence",
    "subgroups",
    "state_occupancy",
    "psa",
    "ceac",
    "evppi",
    "tornado",
    "threshold",
    "convergence",
)

#: Columns read as text whatever they hold (a strategy named "1" stays a name).
TEXT_COLUMNS = frozenset(
    {
        "strategy",
        "type",
        "comparator",
        "event",
        "label",
        "group",
        "parameter",
        "kind",
        "members",
        "component",
        "icer_note",
        "frontier_status",
        "range_source",
        "note",
        "axis",
        "quantity",
    }
)

#: Strategy colours (matplotlib's tab10), by the strategy's position in the manifest.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _read_table(path: Path) -> pd.DataFrame:
    """A result table; only empty fields are missing, so a strategy named "NA" survives."""
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if not header:
        return pd.DataFrame()
    dtypes = {column: str for column in header if column in TEXT_COLUMNS}
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtypes, encoding="utf-8")


class DamagedTable(ValueError):
    """A file of a result folder that cannot be read as `run` writes it."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedTable(f"{path.name}: cannot be read ({_reason(exc)})") from None


def _read_checked(path: Path) -> pd.DataFrame:
    try:
        return _read_table(path)
    except (UnicodeDecodeError, csv.Error, pd.errors.ParserError) as exc:
        raise DamagedTable(f"{path.name}: cannot be read ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: byte {exc.start}"
    return " ".join(str(exc).split())[:200]


@dataclass(frozen=True)
class ResultFolder:
    """The tables and manifest of one run, as read from its folder."""

    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    problems: list[str]
    #: With a dict, the report also keeps each plot as SVG here (by plot id).
    svg: dict[str, bytes] | None = None

    @classmethod
    def read(cls, folder: Path) -> ResultFolder:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such results folder")
        problems: list[str] = []
        manifest: dict[str, Any] = {}
        path = folder / "manifest.json"
        if path.is_file():
            loaded = _read_json(path)
            if isinstance(loaded, dict):
                manifest = loaded
            else:
                problems.append("manifest.json does not hold an object: ignored")
        else:
            problems.append("manifest.json is missing: the methods appendix is incomplete")
        names = sorted(
            p.stem for p in folder.glob("*.csv") if p.is_file() and not p.name.startswith(".")
        )
        ordered = [n for n in TABLES if n in names] + [n for n in names if n not in TABLES]
        tables = {name: _read_checked(folder / f"{name}.csv") for name in ordered}
        return cls(manifest, tables, problems)

    def table(self, name: str) -> pd.DataFrame | None:
        """The table, or None when the run did not write it (or wrote no rows)."""
        frame = self.tables.get(name)
        return None if frame is None or frame.empty else frame

    @property
    def scenario(self) -> dict[str, Any]:
        value = self.manifest.get("resolved_scenario")
        return value if isinstance(value, dict) else {}

    @cached_property
    def strategies(self) -> list[str]:
        """Strategy names in the scenario's order, then any others the tables name."""
        names = [str(s) for s in self.manifest.get("strategies") or []]
        for frame in self.tables.values():
            if "strategy" in frame.columns:
                for name in frame["strategy"].dropna().unique():
                    if str(name) not in names:
                        names.append(str(name))
        return names

    @cached_property
    def comparator(self) -> str:
        value = self.scenario.get("comparator")
        if value:
            return str(value)
        summary = self.table("summary")
        if summary is not None and "icer_note" in summary.columns:
            match = summary.loc[summary["icer_note"] == "comparator", "strategy"]
            if len(match):
                return str(match.iloc[0])
        return self.strategies[0] if self.strategies else ""

    @property
    def currency(self) -> str:
        return str(self.scenario.get("currency") or "")

    @cached_property
    def wtps(self) -> list[tuple[str, float]]:
        """(column tag, value) of each willingness-to-pay, from the summary's columns."""
        summary = self.table("summary")
        tags: list[str] = []
        if summary is not None:
            for column in summary.columns:
                match = re.fullmatch(r"nmb_(.+)", str(column))
                if match and is_float(match.group(1)):
                    tags.append(match.group(1))
        if not tags:
            tags = [f"{float(w):.10g}" for w in self.scenario.get("wtp") or []]
        return [(tag, float(tag)) for tag in tags]

    def color(self, strategy: str) -> str:
        names = self.strategies
        index = names.index(strategy) if strategy in names else len(names)
        return PALETTE[index % len(PALETTE)]
