"""results.xlsx: a headline sheet, every table of a run (one sheet each), the inputs and
the manifest, written with XlsxWriter as the same bytes on every rebuild. A table on a
monthly grid of more than 20 years shows whole years; the manifest sheet says so.

A sheet looks finished when it opens: a bold frozen header row with an autofilter, column
widths from the contents, and number formats from what a column holds (currency, QALYs,
percentages, counts). Numbers are stored as numbers; text is always text, never a formula
or a link; missing values are empty cells.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Fixed creation time of the workbook (its properties; XlsxWriter fixes zip entry times).
FIXED_TIME = dt.datetime(1980, 1, 1)
#: Excel's row limit, header included.
EXCEL_ROWS = 1_048_576
#: Widest column, in characters (long dotted parameter paths wrap in the header).
MAX_WIDTH = 40
#: Number formats by what a column holds.
FORMATS = {
    "money": "#,##0",
    "qaly": "0.000",
    "percent": "0.0%",
    "count": "#,##0",
    "number": "#,##0.####",
}
#: Manifest fields that say how a run went, not what it found (the time it took, where the
#: scenario file was, the backend and its workers): left out, so that a rerun rebuilds the
#: same bytes on any backend and any number of workers.
MACHINE_DEPENDENT = frozenset({"run_seconds", "source", "backend", "workers"})
#: A table on a monthly grid longer than this many months shows whole years in the
#: workbook (a lifetime grid is 1,441 months: 17,000 rows of cumulative incidence that
#: took most of the workbook's time, and that nobody reads month by month in a sheet).
MONTHLY_UP_TO = 240
#: The tables on a monthly grid (a row per month from 0 to the horizon).
MONTHLY_GRIDS = frozenset({"cumulative_incidence", "state_occupancy"})
#: Characters XML 1.0 (and so Excel) refuses.
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def _sheet_name(stem: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    base = re.sub(r"[\[\]:*?/\\]", "_", stem)[:31] or "sheet"
    name, k = base, 1
    while name.lower() in used:
        k += 1
        suffix = f"_{k}"
        name = base[: 31 - len(suffix)] + suffix
    used.add(name.lower())
    return name


def column_kind(name: str) -> str:
    """The number format a column's name calls for (money, qaly, percent, count, number):
    its confidence bounds and standard errors take the format of the quantity."""
    n = name.lower()
    if re.search(
        r"probability|share|cumulative_incidence|^(on_pump|on_tablets|untreated|dead)$", n
    ):
        return "percent"
    if re.search(r"cost|nmb|icer|evpi|evppi|swing|price", n):
        return "money"
    if re.search(r"qaly|life_years|utility", n):
        return "qaly"
    if re.fullmatch(r"patients|events|iteration|month|n|psa_iterations|patients_with_event", n):
        return "count"
    return "number"


def _value(value: object) -> object:
    """A table value as a cell: native numbers, text, or None for missing."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return None
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
    return _ILLEGAL.sub("", str(value))


def _write(sheet: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
    """One cell of a value made by _value: a number as a number, text as text (never a
    formula), None as blank."""
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value, fmt)
    else:
        sheet.write_string(row, col, value, fmt)


def _column(series: pd.Series) -> tuple[list[object], tuple[float, int]]:
    """A table column as cell values, with what its width needs: the largest magnitude of
    its numbers and the longest of its texts."""
    if series.dtype.kind in "iuf":
        x = series.to_numpy(float)
        finite = np.isfinite(x)
        biggest = float(np.abs(x[finite]).max()) if finite.any() else 0.0
        if series.dtype.kind in "iu":
            return [int(v) for v in series.tolist()], (biggest, 0)
        values = [_value(v) for v in x.tolist()] if not finite.all() else x.tolist()
        return values, (biggest, 0 if finite.all() else 4)
    values = [_value(v) for v in series.tolist()]
    numbers = [abs(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    texts = [len(v) for v in values if isinstance(v, str)]
    return values, (max(numbers, default=0.0), max(texts, default=0))


def _width(header: str, needs: tuple[float, int], kind: str) -> float:
    """A column's width in characters: its header, its widest number or its longest text."""
    biggest, text = needs
    digits = len(f"{biggest:,.0f}") + 1 + {"qaly": 4, "percent": 3, "number": 5}.get(kind, 0)
    return float(min(MAX_WIDTH, max(8, len(header), digits, text) + 2))


class _Book:
    """An XlsxWriter workbook with the formats every sheet shares."""

    def __init__(self, buffer: io.BytesIO) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            buffer,
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "nan_inf_to_errors": False,
            },
        )
        self.book.set_properties({"author": "baclofen-sim", "created": FIXED_TIME})
        self.header = self.book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self.bold = self.book.add_format({"bold": True})
        self.wrap = self.book.add_format({"text_wrap": True, "valign": "top"})
        self.formats = {k: self.book.add_format({"num_format": v}) for k, v in FORMATS.items()}
        self.used: set[str] = set()

    def sheet(self, stem: str) -> Any:
        return self.book.add_worksheet(_sheet_name(stem, self.used))

    def cell(self, sheet: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
        """One cell of any table value (see _write)."""
        _write(sheet, row, col, _value(value), fmt)

    def table(self, stem: str, frame: pd.DataFrame) -> str | None:
        """A table on its own sheet; a note when Excel's row limit cut it."""
        note = None
        if len(frame) > EXCEL_ROWS - 1:
            frame = frame.head(EXCEL_ROWS - 1)
            note = f"truncated to the first {EXCEL_ROWS - 1:,} rows"
        sheet = self.sheet(stem)
        columns = [str(c) for c in frame.columns]
        kinds = [column_kind(c) for c in columns]
        data = [_column(frame.iloc[:, i]) for i in range(len(columns))]
        for col, (name, kind, (_values, width)) in enumerate(
            zip(columns, kinds, data, strict=True)
        ):
            sheet.set_column(col, col, _width(name, width, kind), self.formats[kind])
            sheet.write_string(0, col, name, self.header)
        for row, cells in enumerate(zip(*(values for values, _ in data), strict=True), start=1):
            for col, value in enumerate(cells):
                _write(sheet, row, col, value)
        sheet.freeze_panes(1, 0)
        if columns:
            sheet.autofilter(0, 0, max(1, len(frame)), len(columns) - 1)
        return note

    def pairs(self, stem: str, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
        """A sheet of labelled values (headline, inputs, manifest), text wrapped."""
        sheet = self.sheet(stem)
        for col, name in enumerate(header):
            sheet.write_string(0, col, name, self.header)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                self.cell(sheet, r, c, value, self.wrap if isinstance(value, str) else None)
        for col, name in enumerate(header):
            values = pd.Series([row[col] if col < len(row) else None for row in rows], dtype=object)
            width = _width(name, _column(values)[1], "number")
            sheet.set_column(col, col, 70.0 if width >= MAX_WIDTH and col else width)
        sheet.freeze_panes(1, 0)

    def close(self) -> None:
        self.book.close()


def workbook(tables: dict[str, pd.DataFrame], manifest: dict[str, Any]) -> bytes:
    """results.xlsx as deterministic bytes: the headline (when the run has a summary and
    its scenario), one sheet per table, the inputs, and the manifest."""
    buffer = io.BytesIO()
    book = _Book(buffer)
    scenario = manifest.get("resolved_scenario")
    if isinstance(scenario, dict) and "summary" in tables:
        _headline(book, scenario, manifest, tables["summary"])
    notes: list[tuple[object, ...]] = []
    currency = str(scenario.get("currency") or "") if isinstance(scenario, dict) else ""
    for stem, frame in tables.items():
        frame, thinned = _yearly(frame) if stem in MONTHLY_GRIDS else (frame, None)
        note = book.table(stem, _labelled(frame, currency))
        for said in (thinned, note):
            if said:
                notes.append((f"{stem}.csv", said))
    if isinstance(scenario, dict):
        book.pairs("inputs", ("parameter", "value", "distribution", "source"), inputs(scenario))
    book.pairs("manifest", ("field", "value"), _manifest_rows(manifest) + notes)
    book.close()
    return buffer.getvalue()


def _yearly(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """A table on a monthly grid of more than MONTHLY_UP_TO months as whole years (every
    12th month, and the grid's last), with a note saying so; the CSV keeps every month.
    A table without whole months (edited by hand) is shown as it is."""
    if "month" not in frame.columns or frame["month"].dtype.kind not in "iu":
        return frame, None
    month = frame["month"].to_numpy()
    last = int(month.max()) if len(month) else 0
    if last <= MONTHLY_UP_TO:
        return frame, None
    kept = frame[(month % 12 == 0) | (month == last)]
    return kept, f"whole years here (every 12th month and month {last:,}); every month in the CSV"


def _labelled(frame: pd.DataFrame, currency: str) -> pd.DataFrame:
    """A table with a parameter column gets its readers' label beside it (the sheet only:
    the CSV keeps the dotted paths scripts use)."""
    if "parameter" not in frame.columns or "label" in frame.columns:
        return frame
    from sim.output.labels import label

    frame = frame.copy()
    at = list(frame.columns).index("parameter") + 1
    frame.insert(at, "label", [label(str(p), currency) for p in frame["parameter"]])
    return frame


def _headline(book: _Book, s: dict[str, Any], m: dict[str, Any], summary: pd.DataFrame) -> None:
    """What the run answers, on the first sheet: the set-up in words, then per strategy its
    cost, QALYs, increments, ICER and, with a PSA, the probability of being cost-effective."""
    from sim.output.report import formats as f

    sheet = book.sheet("headline")
    cur = str(s.get("currency") or "")
    discount = s.get("discount") or {}
    horizon = s.get("horizon_years")
    wtp = [float(w) for w in s.get("wtp") or [] if f.finite(w)]
    facts: list[tuple[str, object]] = [
        ("Scenario", s.get("title") or s.get("name")),
        ("Name", s.get("name")),
        ("Currency", cur),
        ("Price year", s.get("price_year")),
        ("Price index", m.get("price_index") or s.get("price_index")),
        ("Time horizon", "lifetime" if horizon == "lifetime" else f"{horizon} years"),
        ("Discount rate, costs", discount.get("costs")),
        ("Discount rate, effects", discount.get("effects")),
        ("Comparator", s.get("comparator")),
        ("Patients per strategy", m.get("patients_per_strategy")),
        ("Seed", m.get("seed")),
        ("PSA iterations", m.get("psa_iterations") or 0),
        (f"Willingness to pay ({cur}/QALY)", "; ".join(f"{w:,.0f}" for w in wtp)),
    ]
    sheet.write_string(0, 0, "Headline", book.header)
    for r, (label, value) in enumerate(facts, start=1):
        sheet.write_string(r, 0, label, book.bold)
        fmt = book.formats["percent"] if label.startswith("Discount") else None
        book.cell(sheet, r, 1, value, fmt)
    columns = [
        ("strategy", "Strategy", "number"),
        ("cost", f"Cost ({cur})", "money"),
        ("qaly", "QALYs", "qaly"),
        ("life_years", "Life-years", "qaly"),
        ("incremental_cost", f"Incremental cost ({cur})", "money"),
        ("incremental_qaly", "Incremental QALYs", "qaly"),
        ("icer", f"ICER ({cur}/QALY)", "money"),
        ("icer_note", "ICER note", "number"),
        ("frontier_status", "Frontier", "number"),
    ]
    columns += [
        (f"probability_cost_effective_{w:g}", f"P(cost-effective) at {w:,.0f}", "percent")
        for w in wtp
    ]
    columns = [c for c in columns if c[0] in summary.columns]
    top = len(facts) + 2
    for col, (_key, label, _kind) in enumerate(columns):
        sheet.write_string(top, col, label, book.header)
    for r, row in enumerate(summary.to_dict("records"), start=top + 1):
        for col, (key, _label, kind) in enumerate(columns):
            book.cell(sheet, r, col, row.get(key), book.formats[kind])
    sheet.set_column(0, 0, 28.0)
    sheet.set_column(1, max(1, len(columns) - 1), 16.0)


def _leaves(value: object, path: str) -> Iterable[tuple[str, object]]:
    """Every scalar of a nested scenario with its dotted path (lists as one value, a
    distribution such as the cohort's ages in words)."""
    if isinstance(value, dict) and "dist" in value:
        from sim.output.report.methods import _describe

        yield path, _describe(value)
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            yield path, "; ".join(str(v) for v in value)
        else:
            for i, v in enumerate(value):
                yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _nearest(table: dict[str, Any], path: str) -> tuple[str, Any] | None:
    """The entry of `table` for `path` or its nearest parent (a source cited for a group)."""
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in table:
            return key, table[key]
    return None


def inputs(scenario: dict[str, Any]) -> list[tuple[object, ...]]:
    """Every parameter of the resolved scenario: its value, its distribution in the PSA (or
    the parent's it is drawn with) and its source (or the parent's that covers it)."""
    from sim.output.report.methods import _describe

    sources = {str(k): str(v) for k, v in (scenario.get("sources") or {}).items()}
    uncertainty = scenario.get("uncertainty") or {}
    skip = ("sources", "uncertainty", "calibrate", "analysis", "extends", "title", "name")
    rows: list[tuple[object, ...]] = []
    for path, value in _leaves({k: v for k, v in scenario.items() if k not in skip}, ""):
        if value is None or value == "":
            continue
        dist = _nearest(uncertainty, path)
        described = ""
        if dist is not None and dist[0] == path:
            described = _describe(dist[1])
        elif dist is not None and path.endswith(".share") and dist[1].get("dist") == "dirichlet":
            described = f"with {dist[0]}: {_describe(dist[1])}"  # the shares drawn together
        source = _nearest(sources, path)
        cited = "" if source is None else source[1]
        if source is not None and source[0] != path:
            cited = f"{source[0]}: {cited}"
        shown = value if isinstance(value, int | float | bool) else str(value)
        rows.append((path, shown, described, cited))
    return rows


def _manifest_rows(manifest: dict[str, Any]) -> list[tuple[object, ...]]:
    """The manifest's scalar fields; a dict of scalars (versions) and lists are flattened."""
    rows: list[tuple[object, ...]] = []
    scalar = (str, int, float, bool)
    for key, value in manifest.items():
        if key in MACHINE_DEPENDENT:
            continue
        if value is None or isinstance(value, scalar):
            rows.append((key, value))
        elif isinstance(value, list) and all(isinstance(v, scalar) for v in value):
            rows.append((key, "; ".join(str(v) for v in value)))
        elif (
            isinstance(value, dict)
            and key != "resolved_scenario"
            and all(isinstance(v, scalar) or v is None for v in value.values())
        ):
            rows += [(f"{key}.{k}", v) for k, v in sorted(value.items())]
    return rows


def write(folder: Path) -> None:
    """`folder/results.xlsx` from the run's tables there (CSV) and its manifest."""
    from sim.output.files import atomic_write
    from sim.output.report.folder import ResultFolder

    results = ResultFolder.read(folder)
    atomic_write(folder / "results.xlsx", workbook(results.tables, results.manifest))


def _main(argument: str) -> None:
    """The writer's process: the folder as an argument, or with "-" on a line of stdin."""
    if argument == "-":
        from sim.output.beside import WORKBOOK, serve

        serve(WORKBOOK.imports, write)  # (run as __main__: its own write, not a second import)
    else:
        write(Path(argument))


if __name__ == "__main__":
    _main(sys.argv[1])
