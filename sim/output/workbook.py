"""results.xlsx: every table of a run, one sheet each, and the manifest, as the same bytes
on every rebuild."""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import re
import zipfile
from typing import Any

import numpy as np
import pandas as pd

#: Fixed time of the workbook's properties and of every zip entry (the zip format's epoch).
FIXED_TIME = dt.datetime(1980, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Excel's row limit, header included.
EXCEL_ROWS = 1_048_576


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


def _cell_value(value: object) -> object:
    """A pandas value as openpyxl wants it: native types, None for missing."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return None
        return x if math.isfinite(x) else str(x)
    return str(value)


def workbook(tables: dict[str, pd.DataFrame], manifest: dict[str, Any]) -> bytes:
    """results.xlsx: one sheet per table and a manifest sheet, as deterministic bytes.

    openpyxl lays out the package (workbook, styles, bold frozen header rows, manifest
    sheet); the tables' data rows are then written into each sheet's XML directly, as
    openpyxl's pure-Python XML writer would take seconds for a 1,000-iteration PSA."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    book.properties.creator = "baclofen-sim"
    book.properties.created = FIXED_TIME
    book.properties.modified = FIXED_TIME
    used: set[str] = set()
    bold = Font(bold=True)

    def cell(sheet: Any, value: object, header: bool = False) -> Any:
        value = _cell_value(value)
        if isinstance(value, str):
            value = _xml_safe(value)
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str) and value.startswith("="):
            c.data_type = "s"  # text, never a formula
        if header:
            c.font = bold
        return c

    rows: dict[str, bytes] = {}
    notes: list[tuple[str, object]] = []
    for stem, frame in tables.items():
        title = _sheet_name(stem, used)
        sheet = book.create_sheet(title=title)
        sheet.freeze_panes = "A2"
        sheet.append([cell(sheet, str(c), header=True) for c in frame.columns])
        if len(frame) > EXCEL_ROWS - 1:
            frame = frame.head(EXCEL_ROWS - 1)
            notes.append((f"{stem}.csv", f"truncated to the first {EXCEL_ROWS - 1:,} rows"))
        rows[title] = _rows_xml(frame)
    sheet = book.create_sheet(title=_sheet_name("manifest", used))
    sheet.append([cell(sheet, "field", header=True), cell(sheet, "value", header=True)])
    for key, value in _manifest_rows(manifest) + notes:
        sheet.append([cell(sheet, key), cell(sheet, value)])
    buffer = io.BytesIO()
    book.save(buffer)
    return _normalise_zip(buffer.getvalue(), rows)


def _xml_safe(text: str) -> str:
    """Text without the control characters that XML 1.0 (and so Excel) refuses."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", text)


def _rows_xml(frame: pd.DataFrame) -> bytes:
    """SpreadsheetML rows 2.. of a table: numbers as numbers, text as inline strings (never
    formulas), missing values as absent cells."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(i + 1) for i in range(len(frame.columns))]
    columns = [frame.iloc[:, i].tolist() for i in range(len(frame.columns))]
    out: list[str] = []
    for index, values in enumerate(zip(*columns, strict=True)):
        r = index + 2
        cells = []
        for letter, raw in zip(letters, values, strict=True):
            value = _cell_value(raw)
            if value is None:
                continue
            if isinstance(value, bool):
                cells.append(f'<c r="{letter}{r}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float):
                cells.append(f'<c r="{letter}{r}" t="n"><v>{value!r}</v></c>')
            else:
                text = html.escape(_xml_safe(str(value)), quote=False)
                space = ' xml:space="preserve"' if text != text.strip() else ""
                cells.append(f'<c r="{letter}{r}" t="inlineStr"><is><t{space}>{text}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return "".join(out).encode("utf-8")


#: Manifest fields that say how a run went, not what it found (the time it took, where the
#: scenario file was, the backend and its workers): left out, so that a rerun rebuilds the
#: same bytes on any backend and any number of workers.
MACHINE_DEPENDENT = frozenset({"run_seconds", "source", "backend", "workers"})


def _manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, object]]:
    """The manifest's scalar fields; a dict of scalars (versions) and lists are flattened."""
    rows: list[tuple[str, object]] = []
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


def _sheet_paths(source: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> its XML file in the package, from the workbook and its relations."""
    import xml.etree.ElementTree as ET

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    package = "{http://schemas.openxmlformats.org/package/2006/relationships}"
    targets = {}
    for node in ET.fromstring(source.read("xl/_rels/workbook.xml.rels")).iter(
        f"{package}Relationship"
    ):
        target = node.attrib["Target"]
        targets[node.attrib["Id"]] = (
            target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        )
    workbook_xml = ET.fromstring(source.read("xl/workbook.xml"))
    return {
        node.attrib["name"]: targets[node.attrib[f"{rel}id"]]
        for node in workbook_xml.iter(f"{main}sheet")
    }


def _normalise_zip(data: bytes, rows: dict[str, bytes]) -> bytes:
    """Rewrite an xlsx with the data rows in place, fixed entry times, a fixed entry order
    and fixed core dates."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        extra = {path: rows[title] for title, path in _sheet_paths(source).items() if title in rows}
        names = sorted(source.namelist(), key=lambda n: (n != "[Content_Types].xml", n))
        for name in names:
            content = source.read(name)
            if name == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<3>",
                    content,
                )
            if name in extra:
                if content.count(b"</sheetData>") != 1:
                    raise RuntimeError(f"unexpected layout of {name} written by openpyxl")
                content = content.replace(b"</sheetData>", extra.pop(name) + b"</sheetData>")
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            target.writestr(info, content, compresslevel=6)
        if extra:
            raise RuntimeError(f"sheets not found in the workbook: {sorted(extra)}")
    return out.getvalue()
