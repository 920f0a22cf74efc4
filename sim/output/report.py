"""The report of one scenario run: `report.html` and `results.xlsx`, rebuilt from its tables.

`write(folder)` only reads the CSV tables and `manifest.json` that a run left in `folder`,
so a report can be rebuilt at any time (`baclofen-sim report RESULTS_DIR`). The HTML file
is self-contained (no scripts, no external CSS or fonts; each plot an embedded PNG) so it
can be mailed or archived alone. Both outputs are byte-identical when rebuilt from the same
tables: PNG metadata, workbook properties and zip entry times are fixed, and nothing
depends on the clock, the folder's path or the order in which the file system lists it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import html
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Tables a run may write, in report and workbook order (other CSV files follow, by name).
TABLES = (
    "summary",
    "events",
    "cumulative_incidence",
    "psa",
    "ceac",
    "evppi",
    "tornado",
    "threshold",
    "convergence",
)

#: The ids of the report's sections and plots (a test and a reader can rely on them).
SECTION_IDS = (
    "headline",
    "ce-plane",
    "ceac",
    "evpi",
    "evppi",
    "tornado",
    "threshold",
    "cumulative-incidence",
    "forest",
    "events",
    "convergence",
    "methods",
)
PLOT_IDS = (
    "plot-ce-plane",
    "plot-ceac",
    "plot-evpi",
    "plot-tornado",
    "plot-cumulative-incidence",
    "plot-forest",
    "plot-convergence",
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
        "icer_note",
        "frontier_status",
        "range_source",
        "note",
        "axis",
        "quantity",
    }
)

#: Fixed time of the workbook's properties and of every zip entry (the zip format's epoch).
FIXED_TIME = dt.datetime(1980, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
DPI = 100
#: Rows of a tornado panel: the rest have smaller swings and stay in the workbook.
TORNADO_ROWS = 20
#: Excel's row limit, header included.
EXCEL_ROWS = 1_048_576
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


# ------------------------------------------------------------------------------ input


def _read_table(path: Path) -> pd.DataFrame:
    """A result table; only empty fields are missing, so a strategy named "NA" survives."""
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if not header:
        return pd.DataFrame()
    dtypes = {column: str for column in header if column in TEXT_COLUMNS}
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtypes, encoding="utf-8")


@dataclass(frozen=True)
class Results:
    """The tables and manifest of one run, as read from its folder."""

    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    problems: list[str]

    @classmethod
    def read(cls, folder: Path) -> Results:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such results folder")
        problems: list[str] = []
        manifest: dict[str, Any] = {}
        path = folder / "manifest.json"
        if path.is_file():
            loaded = json.loads(path.read_text(encoding="utf-8"))
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
        tables = {name: _read_table(folder / f"{name}.csv") for name in ordered}
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
                if match and _is_float(match.group(1)):
                    tags.append(match.group(1))
        if not tags:
            tags = [f"{float(w):.10g}" for w in self.scenario.get("wtp") or []]
        return [(tag, float(tag)) for tag in tags]

    def color(self, strategy: str) -> str:
        names = self.strategies
        index = names.index(strategy) if strategy in names else len(names)
        return PALETTE[index % len(PALETTE)]


# ------------------------------------------------------------------------- formatting


class _Html(str):
    """Text that is already HTML: passed through unescaped."""


def _e(value: object) -> _Html:
    """Escape a value from the data for HTML (already-built HTML passes through)."""
    if isinstance(value, _Html):
        return value
    return _Html(html.escape(_text(value), quote=True))


def _is_float(text: str) -> bool:
    """Whether a column suffix is a number (nmb_50000 is a WTP column, nmb_x is not)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _finite(value: object) -> bool:
    """A real number that can be shown (not missing, not infinite, not text)."""
    if isinstance(value, bool) or value is None:
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str:
    """A cell as text: missing values are empty, whole numbers have no decimals."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else _auto(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _auto(value: object) -> str:
    """A number of unknown kind, readable: thousands separators, about 4 digits."""
    if not _finite(value):
        return "" if value is None or _isnan(value) else str(value)
    x = float(value)  # type: ignore[arg-type]
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _isnan(value: object) -> bool:
    """Missing, for values of any type."""
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


DASH = "–"


def _unsigned_zero(text: str) -> str:
    """ "-0" and "-0.000" (a tiny negative number, rounded) read as 0."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _money(value: object) -> str:
    return _unsigned_zero(f"{float(value):,.0f}") if _finite(value) else DASH  # type: ignore[arg-type]


def _qaly(value: object) -> str:
    return _unsigned_zero(f"{float(value):,.3f}") if _finite(value) else DASH  # type: ignore[arg-type]


def _pct(value: object, digits: int = 1) -> str:
    """A share as a percentage."""
    return f"{100 * float(value):.{digits}f}%" if _finite(value) else DASH  # type: ignore[arg-type]


def _rate(value: object) -> str:
    """A rate per 100 patient-years: rare events need more decimals than common ones."""
    if not _finite(value):
        return DASH
    x = float(value)  # type: ignore[arg-type]
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    # three significant digits, never in exponent notation
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def _interval(fmt: Callable[[object], str], mean: object, low: object, high: object) -> str:
    """Mean with its interval: "12 (10 to 14)"; the mean alone when there is none."""
    if _finite(low) and _finite(high):
        return f"{fmt(mean)} ({fmt(low)} to {fmt(high)})"
    return fmt(mean)


def _wtp_label(value: float) -> str:
    """A willingness to pay as people write it: 50,000."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def _plain(value: object) -> str:
    """A value from the scenario, for prose: numbers without trailing zeros."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _tex(text: object) -> str:
    """A data string safe for matplotlib: no mathtext, no legend-hiding leading '_'."""
    value = str(text).replace("$", r"\$")
    return f" {value}" if value.startswith("_") else value


def _table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; every cell is escaped unless it is already _Html."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        attr = ""
        if row_classes is not None and row_classes[i]:
            attr = f' class="{_e(row_classes[i])}"'
        cells = "".join(f"<td>{_e(c)}</td>" for c in row)
        body.append(f"<tr{attr}>{cells}</tr>")
    klass = f' class="{_e(cls)}"' if cls else ""
    return (
        f'<div class="scroll"><table{klass}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _absent(what: str, file: str, why: str = "") -> str:
    """The text of a section whose table the run did not write."""
    reason = f" ({why})" if why else ""
    return f'<p class="not-run">{_e(what)} not run: no {_e(file)} in this folder{_e(reason)}.</p>'


def _note(text: str) -> str:
    """A remark in a section that ran but has nothing to draw."""
    return f'<p class="note">{_e(text)}</p>'


def _image(plot_id: str, alt: str, png: str, caption: str) -> str:
    """An embedded PNG plot: the page needs no other file."""
    return (
        f'<figure><img id="{_e(plot_id)}" alt="{_e(alt)}" '
        f'src="data:image/png;base64,{png}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _names(values: Sequence[str]) -> str:
    """A list for prose: "a, b and c"."""
    values = list(values)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]


# ---------------------------------------------------------------------------- plotting


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: pyplot's global state is never touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> str:
    """The figure as base64 PNG, without the metadata that names the software version."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _thousands(axis: Any) -> None:
    """Tick labels with thousands separators (costs, WTP)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.0f}"))


def _log_if_wide(ax: Axes, n: np.ndarray) -> None:
    """A log x axis when n spans more than a factor of 20 (1 to 1,000 iterations)."""
    if len(n) and np.nanmin(n) > 0 and np.nanmax(n) / np.nanmin(n) >= 20:
        ax.set_xscale("log")


# ---------------------------------------------------------------------------- sections


def _warnings(r: Results, problems: list[str]) -> str:
    """The run's warnings and the report's own problems, at the top where they are seen."""
    items = [str(w) for w in r.manifest.get("warnings") or []]
    items += problems
    if not items:
        return ""
    lis = "".join(f"<li>{_e(w)}</li>" for w in items)
    return (
        '<section id="warnings" class="warnings" role="alert">'
        f"<h2>Warnings ({len(items)})</h2><ul>{lis}</ul></section>"
    )


def _headline(r: Results) -> str:
    """Base-case table, NMB table, PSA table and every summary column."""
    summary = r.table("summary")
    if summary is None:
        return _absent("The base case", "summary.csv")
    cur = r.currency
    comp = r.comparator
    records = summary.to_dict("records")
    rows = []
    for row in records:
        name = str(row.get("strategy"))
        note = _text(row.get("icer_note"))
        icer = note or DASH
        if _finite(row.get("icer")):
            icer = _money(row.get("icer")) + (f" ({note})" if note else "")
        frontier = _text(row.get("frontier_status")) or DASH
        if _finite(row.get("frontier_icer")):
            frontier += f" (ICER {_money(row.get('frontier_icer'))})"
        rows.append(
            [
                f"{name}{' (comparator)' if name == comp else ''}",
                _text(row.get("type")),
                _interval(_money, row.get("cost"), row.get("cost_ci_low"), row.get("cost_ci_high")),
                _interval(_qaly, row.get("qaly"), row.get("qaly_ci_low"), row.get("qaly_ci_high")),
                _interval(
                    _money,
                    row.get("incremental_cost"),
                    row.get("incremental_cost_ci_low"),
                    row.get("incremental_cost_ci_high"),
                ),
                _interval(
                    _qaly,
                    row.get("incremental_qaly"),
                    row.get("incremental_qaly_ci_low"),
                    row.get("incremental_qaly_ci_high"),
                ),
                icer,
                frontier,
            ]
        )
    parts = [
        f"<p>Mean per patient over the horizon, discounted, in {_e(cur)}; 95% Monte Carlo "
        f"intervals in brackets (paired against the comparator <b>{_e(comp)}</b>).</p>",
        _table(
            [
                "Strategy",
                "Type",
                f"Cost ({cur})",
                "QALYs",
                f"Incremental cost ({cur})",
                "Incremental QALYs",
                f"ICER ({cur}/QALY)",
                "Efficiency frontier",
            ],
            rows,
            cls="headline",
        ),
    ]
    wtps = r.wtps
    if wtps:
        header = ["Strategy"]
        for _tag, w in wtps:
            header += [f"NMB at {_wtp_label(w)}", f"Incremental NMB at {_wtp_label(w)}"]
        nmb_rows = []
        for row in records:
            cells: list[object] = [row.get("strategy")]
            for tag, _w in wtps:
                cells.append(_money(row.get(f"nmb_{tag}")))
                key = f"incremental_nmb_{tag}"
                cells.append(
                    _interval(
                        _money, row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
                    )
                )
            nmb_rows.append(cells)
        parts.append(
            f"<h3>Net monetary benefit ({_e(cur)}, willingness to pay per QALY)</h3>"
            + _table(header, nmb_rows)
        )
    if "psa_cost_mean" in summary.columns:
        parts.append(_psa_headline(r, records))
    parts.append(_all_columns(summary))
    return "".join(parts)


def _psa_headline(r: Results, records: list[dict[str, Any]]) -> str:
    """PSA means with 2.5 and 97.5 percentiles, and the probability of cost-effectiveness."""
    cur = r.currency
    wtps = r.wtps

    def spread(row: dict[str, Any], key: str, fmt: Callable[[object], str]) -> str:
        return _interval(
            fmt, row.get(f"psa_{key}_mean"), row.get(f"psa_{key}_p2_5"), row.get(f"psa_{key}_p97_5")
        )

    header = ["Strategy", f"Cost ({cur})", "QALYs", "Incremental cost", "Incremental QALYs"]
    header += [f"Incremental NMB at {_wtp_label(w)}" for _t, w in wtps]
    header += [f"P(cost-effective) at {_wtp_label(w)}" for _t, w in wtps]
    rows = []
    for row in records:
        cells: list[object] = [
            row.get("strategy"),
            spread(row, "cost", _money),
            spread(row, "qaly", _qaly),
            spread(row, "incremental_cost", _money),
            spread(row, "incremental_qaly", _qaly),
        ]
        cells += [spread(row, f"incremental_nmb_{tag}", _money) for tag, _w in wtps]
        cells += [_pct(row.get(f"probability_cost_effective_{tag}")) for tag, _w in wtps]
        rows.append(cells)
    iterations = int(r.manifest.get("psa_iterations") or 0)
    count = f"{iterations:,} iterations; " if iterations else ""
    return (
        "<h3>Probabilistic sensitivity analysis</h3>"
        f"<p>{_e(count)}mean over iterations with the 2.5th to 97.5th percentiles.</p>"
        + _table(header, rows)
    )


def _all_columns(summary: pd.DataFrame) -> str:
    """Every column of summary.csv, strategies side by side (nothing is hard-coded)."""
    names = [str(s) for s in summary["strategy"]] if "strategy" in summary else []
    rows = []
    for column in summary.columns:
        if column == "strategy":
            continue
        rows.append([column, *[_text(v) for v in summary[column].tolist()]])
    return (
        "<details><summary>Every column of summary.csv</summary>"
        + _table(["Column", *names], rows)
        + "</details>"
    )


def _incremental_psa(r: Results) -> tuple[pd.DataFrame, pd.DataFrame, list[str]] | None:
    """(incremental cost, incremental QALYs, strategies) per PSA iteration, or None."""
    psa = r.table("psa")
    if psa is None:
        return None
    cost = psa.pivot(index="iteration", columns="strategy", values="cost")
    qaly = psa.pivot(index="iteration", columns="strategy", values="qaly")
    comp = r.comparator
    others = [s for s in r.strategies if s != comp and s in cost.columns]
    if comp not in cost.columns:
        return None
    return cost.sub(cost[comp], axis=0), qaly.sub(qaly[comp], axis=0), others


def _ce_plane(r: Results) -> str:
    """PSA scatter of incremental cost and QALYs against the comparator, with WTP lines."""
    if r.table("psa") is None:
        return _absent("The probabilistic sensitivity analysis", "psa.csv")
    incremental = _incremental_psa(r)
    comp, cur = r.comparator, r.currency
    if incremental is None or not incremental[2]:
        return _note(f"No strategy to compare with {comp}: the plane needs two strategies.")
    d_cost, d_qaly, others = incremental
    from matplotlib.lines import Line2D

    figure = _figure(9.5, 6.0)
    ax = figure.add_subplot()
    xs: list[np.ndarray] = [np.zeros(1)]
    ys: list[np.ndarray] = [np.zeros(1)]
    summary = r.table("summary")
    base: dict[str, tuple[object, object]] = {}
    if summary is not None and {"incremental_cost", "incremental_qaly"} <= set(summary.columns):
        for row in summary.to_dict("records"):
            base[str(row["strategy"])] = (row["incremental_qaly"], row["incremental_cost"])
    handles = []
    for name in others:
        x, y = d_qaly[name].to_numpy(float), d_cost[name].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        color = r.color(name)
        ax.scatter(x[ok], y[ok], s=8, alpha=0.35, color=color, linewidths=0)
        handles.append(
            Line2D(
                [], [], ls="", marker="o", color=color, label=f"{_tex(name)} ({ok.sum():,} draws)"
            )
        )
        xs.append(x[ok])
        ys.append(y[ok])
        point = base.get(name)
        if point is not None and _finite(point[0]) and _finite(point[1]):
            ax.scatter(
                [point[0]],
                [point[1]],
                marker="X",
                s=140,
                color=color,
                edgecolors="black",
                linewidths=1.2,
                zorder=5,
            )
            xs.append(np.array([point[0]]))
            ys.append(np.array([point[1]]))
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="X",
            markersize=10,
            color="white",
            markeredgecolor="black",
            label="base case (summary.csv)",
        )
    )
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    xlim = _padded(x_all)
    ylim = _padded(y_all)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    styles = ("--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
    line_x = np.array(xlim)
    for i, (_tag, w) in enumerate(r.wtps):
        ax.plot(line_x, w * line_x, color="#555555", lw=1.1, ls=styles[i % len(styles)])
        handles.append(
            Line2D(
                [],
                [],
                color="#555555",
                ls=styles[i % len(styles)],
                label=f"WTP {_wtp_label(w)} {_tex(cur)}/QALY",
            )
        )
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    _thousands(ax.yaxis)
    ax.set_xlabel(f"Incremental QALYs vs {_tex(comp)}")
    ax.set_ylabel(f"Incremental cost vs {_tex(comp)} ({_tex(cur)})")
    ax.grid(True, lw=0.3, alpha=0.5)
    figure.legend(handles=handles, loc="outside right upper", fontsize=8)
    n = len(d_cost.index)
    alt = (
        f"Cost-effectiveness plane: incremental cost against incremental QALYs of "
        f"{_names(others)} versus {comp} in {n:,} PSA iterations, with the base-case point "
        f"of each and willingness-to-pay lines at "
        f"{_names([_wtp_label(w) for _t, w in r.wtps])} {cur} per QALY."
    )
    caption = (
        "Each dot is one PSA iteration (paired with the comparator in the same iteration); "
        "a cross is the base case. Below a WTP line a strategy is cost-effective at that WTP."
    )
    return _image("plot-ce-plane", alt, _png(figure), caption)


def _padded(values: np.ndarray) -> tuple[float, float]:
    """Axis limits around the data with a margin (and some room when all values are equal)."""
    low, high = float(np.min(values)), float(np.max(values))
    span = high - low
    pad = 0.06 * span if span > 0 else max(abs(high), 1.0) * 0.1
    return low - pad, high + pad


def _ceac(r: Results) -> str:
    """Acceptability curves per strategy, with the frontier (CEAF) marked."""
    ceac = r.table("ceac")
    if ceac is None:
        return _absent("The cost-effectiveness acceptability curve", "ceac.csv")
    cur = r.currency
    figure = _figure(9.5, 5.0)
    ax = figure.add_subplot()
    present = [s for s in r.strategies if s in set(ceac["strategy"])]
    few = ceac["wtp"].nunique() <= 12
    for name in present:
        part = ceac[ceac["strategy"] == name].sort_values("wtp", kind="mergesort")
        ax.plot(
            part["wtp"],
            part["probability_cost_effective"],
            color=r.color(name),
            marker="o" if few else None,
            ms=3,
            lw=1.6,
            label=_tex(name),
        )
    if "on_frontier" in ceac.columns:
        front = ceac[ceac["on_frontier"] == 1].sort_values("wtp", kind="mergesort")
        front = front.drop_duplicates("wtp")
        if len(front):
            ax.plot(
                front["wtp"],
                front["probability_cost_effective"],
                color="black",
                lw=7,
                alpha=0.18,
                solid_capstyle="round",
                label="CEAF (highest expected NMB)",
                zorder=1,
            )
            ax.scatter(
                front["wtp"],
                front["probability_cost_effective"],
                s=22,
                facecolors="none",
                edgecolors="black",
                linewidths=0.8,
                zorder=4,
            )
    for _tag, w in r.wtps:
        ax.axvline(w, color="#999999", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"Willingness to pay ({_tex(cur)} per QALY)")
    ax.set_ylabel("Probability cost-effective")
    _thousands(ax.xaxis)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="center right")
    alt = (
        f"Cost-effectiveness acceptability curves of {_names(present)} against willingness "
        f"to pay from {_wtp_label(float(ceac['wtp'].min()))} to "
        f"{_wtp_label(float(ceac['wtp'].max()))} {cur} per QALY; the frontier (CEAF) marks "
        f"the strategy with the highest expected net monetary benefit."
    )
    caption = (
        "Share of PSA iterations in which each strategy has the highest net monetary benefit. "
        "The grey band with circles is the acceptability frontier (CEAF): the strategy a "
        "decision-maker would choose at each WTP. Dotted lines: the scenario's WTPs."
    )
    return _image("plot-ceac", alt, _png(figure), caption)


def _evpi(r: Results) -> str:
    """EVPI per patient against WTP with its Monte Carlo band, and a table at the WTPs."""
    ceac = r.table("ceac")
    if ceac is None or "evpi" not in ceac.columns:
        return _absent("The expected value of perfect information", "ceac.csv")
    cur = r.currency
    per = ceac.sort_values("wtp", kind="mergesort").drop_duplicates("wtp")
    w = per["wtp"].to_numpy(float)
    evpi = per["evpi"].to_numpy(float)
    se = np.nan_to_num(per["evpi_se"].to_numpy(float)) if "evpi_se" in per else np.zeros_like(w)
    figure = _figure(9.5, 4.5)
    ax = figure.add_subplot()
    ax.fill_between(
        w,
        np.maximum(evpi - 1.96 * se, 0.0),
        evpi + 1.96 * se,
        color="#1f77b4",
        alpha=0.2,
        lw=0,
        label="±1.96 SE (Monte Carlo)",
    )
    ax.plot(w, evpi, color="#1f77b4", lw=1.8, label="EVPI per patient")
    for _tag, value in r.wtps:
        ax.axvline(value, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel(f"Willingness to pay ({_tex(cur)} per QALY)")
    ax.set_ylabel(f"EVPI per patient ({_tex(cur)})")
    _thousands(ax.xaxis)
    _thousands(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="upper left")
    rows = [[_wtp_label(value), _interval(_money, *_se_band(per, value))] for _t, value in r.wtps]
    alt = (
        f"Expected value of perfect information per patient against willingness to pay, "
        f"with a band of plus or minus 1.96 Monte Carlo standard errors; maximum "
        f"{_money(np.nanmax(evpi)) if np.isfinite(evpi).any() else DASH} {cur}."
    )
    caption = (
        "What removing all parameter uncertainty would be worth per patient: the expected "
        "loss of choosing on current information."
    )
    table = _table([f"WTP ({cur}/QALY)", f"EVPI per patient ({cur}, ±1.96 SE)"], rows)
    return _image("plot-evpi", alt, _png(figure), caption) + table


def _se_band(per: pd.DataFrame, wtp: float) -> tuple[object, object, object]:
    """EVPI at one WTP with its ±1.96 SE interval."""
    row = per[np.isclose(per["wtp"].to_numpy(float), wtp)]
    if not len(row):
        return math.nan, math.nan, math.nan
    evpi = float(row["evpi"].iloc[0])
    se = float(row["evpi_se"].iloc[0]) if "evpi_se" in row else math.nan
    return evpi, evpi - 1.96 * se, evpi + 1.96 * se


def _evppi(r: Results) -> str:
    """EVPPI per parameter or group, one column per WTP."""
    evppi = r.table("evppi")
    if evppi is None:
        return _absent("The expected value of partial perfect information", "evppi.csv")
    cur = r.currency
    wtps = [float(w) for w in dict.fromkeys(evppi["wtp"]) if _finite(w)]
    cells: dict[tuple[str, float], dict[str, Any]] = {}
    labels: dict[str, object] = {}
    kinds: dict[str, str] = {}
    for row in evppi.to_dict("records"):
        name = _text(row.get("parameter"))
        members = _text(row.get("members"))
        kinds.setdefault(name, _text(row.get("kind")))
        label: object = name
        if members and members != name:
            label = _Html(f"{_e(name)}<br><small>{_e(members.replace(';', '; '))}</small>")
        labels.setdefault(name, label)
        if _finite(row.get("wtp")):
            cells[(name, float(row["wtp"]))] = row

    def value(name: str, w: float) -> float:
        row = cells.get((name, w))
        return float(row["evppi"]) if row is not None and _finite(row.get("evppi")) else -math.inf

    first = wtps[0] if wtps else math.nan
    names = sorted(labels, key=lambda n: -value(n, first))  # stable: file order on ties
    evpi_row: list[object] = ["EVPI: all parameters", ""]
    for w in wtps:
        evpi = next((c.get("evpi") for (n, x), c in cells.items() if x == w), None)
        evpi_row.append(_money(evpi))
    rows: list[list[object]] = [evpi_row]
    for name in names:
        row_cells: list[object] = [labels[name], kinds[name]]
        for w in wtps:
            row = cells.get((name, w))
            if row is None:
                row_cells.append(DASH)
                continue
            main = f"{_money(row.get('evppi'))} ({_pct(row.get('share_of_evpi'))})"
            se = row.get("evppi_se")
            detail = f"SE {_money(se)}" if _finite(se) else ""
            row_cells.append(_Html(f"{_e(main)}<br><small>{_e(detail)}</small>"))
        rows.append(row_cells)
    return (
        f"<p>Per patient, in {_e(cur)}, by regression on the PSA draws: the value of learning "
        "a parameter (or group) exactly, with its share of the EVPI and Monte Carlo SE; "
        "largest first at the first WTP.</p>"
        + _table(
            ["Parameter or group", "Kind", *[f"EVPPI at {_wtp_label(w)}" for w in wtps]],
            rows,
            row_classes=["total", *[""] * len(names)],
        )
    )


def _tornado(r: Results) -> str:
    """One panel per non-comparator strategy: incremental NMB at the first WTP."""
    tornado = r.table("tornado")
    if tornado is None:
        return _absent(
            "The one-way sensitivity analysis",
            "tornado.csv",
            "the scenario has no uncertain parameter with a range",
        )
    cur, comp = r.currency, r.comparator
    wtp_values = tornado["wtp"].to_numpy(float)
    first = [w for _t, w in r.wtps if np.isclose(wtp_values, w).any()]
    w0 = first[0] if first else float(wtp_values[0])
    at_wtp = tornado[np.isclose(wtp_values, w0)]
    names = [s for s in r.strategies if s != comp and s in set(at_wtp["strategy"])]
    if not names:
        return _note("No strategy other than the comparator in tornado.csv.")
    panels = []
    for name in names:
        part = at_wtp[at_wtp["strategy"] == name].sort_values(
            "swing", ascending=False, kind="mergesort"
        )
        panels.append((name, part.head(TORNADO_ROWS), len(part)))
    heights = [0.32 * len(p) + 1.3 for _n, p, _t in panels]
    figure = _figure(11.0, sum(heights) + 0.6)
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (name, part, total) in zip(axes, panels, strict=True):
        y = np.arange(len(part))[::-1].astype(float)
        base = float(part["base_incremental_nmb"].iloc[0])
        low = np.nan_to_num(part["incremental_nmb_low"].to_numpy(float) - base)
        high = np.nan_to_num(part["incremental_nmb_high"].to_numpy(float) - base)
        ax.barh(y, low, left=base, height=0.7, color="#4c72b0", label="parameter at low value")
        ax.barh(y, high, left=base, height=0.7, color="#dd8452", label="parameter at high value")
        ax.axvline(base, color="black", lw=1.0)
        ax.axvline(0.0, color="#888888", lw=0.8, ls=":")
        labels = [
            f"{_tex(p)}  [{_auto(lo)} to {_auto(hi)}]"
            for p, lo, hi in zip(
                part["parameter"], part["low_value"], part["high_value"], strict=True
            )
        ]
        ax.set_yticks(y, labels=labels, fontsize=8)
        ax.set_ylim(-0.6, len(part) - 0.4)
        more = f"; {total - len(part)} smaller swings not shown" if total > len(part) else ""
        ax.set_title(
            f"{_tex(name)} vs {_tex(comp)}: base incremental NMB {_money(base)}{more}", fontsize=10
        )
        ax.set_xlabel(f"Incremental NMB at WTP {_wtp_label(w0)} {_tex(cur)}/QALY ({_tex(cur)})")
        _thousands(ax.xaxis)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        ax.legend(fontsize=8, loc="lower right")
    alt = (
        f"Tornado diagram: incremental net monetary benefit at {_wtp_label(w0)} {cur} per QALY "
        f"of {_names(names)} versus {comp} when each uncertain parameter is set to its low "
        f"and high value, largest swing first."
    )
    caption = (
        "Bars run from the base-case incremental NMB (black line) to its value at the "
        "parameter's low and high values (in brackets); the dotted line is zero, where the "
        "decision changes."
    )
    return _image("plot-tornado", alt, _png(figure), caption)


def _threshold(r: Results) -> str:
    """Where each searched parameter changes the decision."""
    threshold = r.table("threshold")
    if threshold is None:
        return _absent("The threshold analysis", "threshold.csv")
    cur = r.currency
    rows = []
    for row in threshold.to_dict("records"):
        rows.append(
            [
                row.get("parameter"),
                f"{_text(row.get('strategy'))} vs {_text(row.get('comparator'))}",
                _wtp_label(float(row["wtp"])) if _finite(row.get("wtp")) else DASH,
                _auto(row.get("threshold")) if _finite(row.get("threshold")) else "none",
                f"{_auto(row.get('searched_low'))} to {_auto(row.get('searched_high'))}",
                _text(row.get("note")),
            ]
        )
    return (
        "<p>The value of each parameter at which the incremental net monetary benefit crosses "
        "zero (the decision changes), searched within the range shown.</p>"
        + _table(
            ["Parameter", "Comparison", f"WTP ({cur}/QALY)", "Threshold", "Searched", "Note"],
            rows,
        )
    )


def _cumulative(r: Results) -> str:
    """One panel per event group, one line per strategy."""
    ci = r.table("cumulative_incidence")
    if ci is None:
        return _absent("Cumulative incidence", "cumulative_incidence.csv")
    from matplotlib.ticker import PercentFormatter

    groups = [str(g) for g in dict.fromkeys(ci["group"])]
    present = [s for s in r.strategies if s in set(ci["strategy"])]
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    figure = _figure(11.0, 2.7 * nrows + 0.7)
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    years = "years" if "years" in ci.columns else None
    for ax, group in zip(axes, groups, strict=False):
        part = ci[ci["group"] == group]
        for name in present:
            line = part[part["strategy"] == name]
            x = line[years] if years else line["month"] / 12.0
            order = np.argsort(x.to_numpy(float), kind="mergesort")
            ax.plot(
                x.to_numpy(float)[order],
                line["cumulative_incidence"].to_numpy(float)[order],
                color=r.color(name),
                lw=1.5,
                drawstyle="steps-post",
                label=_tex(name),
            )
        ax.set_title(_tex(group.replace("_", " ")), fontsize=10)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(bottom=0)
        ax.grid(True, lw=0.3, alpha=0.5)
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    for ax in axes[max(0, len(groups) - ncols) : len(groups)]:
        ax.set_xlabel("Years from start")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(6, len(present)))
    alt = (
        f"Cumulative incidence of the first event, by strategy ({_names(present)}), one panel "
        f"per group: {_names([g.replace('_', ' ') for g in groups])}."
    )
    caption = (
        "Share of patients whose first event of the group has happened, month by month; "
        "death competes (a patient who died first never counts)."
    )
    return _image("plot-cumulative-incidence", alt, _png(figure), caption)


def _forest(r: Results) -> str:
    """Rate ratios against the comparator (log scale), events seen in both arms only."""
    events = r.table("events")
    if events is None:
        return _absent("The event-rate comparison", "events.csv")
    comp = r.comparator
    needed = {"rate_ratio", "rate_ratio_ci_low", "rate_ratio_ci_high"}
    if not needed <= set(events.columns):
        return _note("events.csv has no rate ratios.")
    others = [s for s in r.strategies if s != comp and s in set(events["strategy"])]
    ratio = events["rate_ratio"].to_numpy(float)
    usable = events[np.isfinite(ratio) & (ratio > 0) & events["strategy"].isin(others)]
    order = [str(e) for e in dict.fromkeys(events["event"]) if e in set(usable["event"])]
    if not order:
        return _note(f"No event happened under both {comp} and another strategy.")
    labels = {}
    for e, label in zip(events["event"], events.get("label", events["event"]), strict=True):
        labels.setdefault(str(e), _text(label) or str(e))
    index = {e: i for i, e in enumerate(order)}
    k = len(others)
    offsets = np.linspace(-0.25, 0.25, k) if k > 1 else np.zeros(1)
    figure = _figure(9.5, 0.3 * len(order) + 1.6)
    ax = figure.add_subplot()
    for i in range(0, len(order), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2", lw=0, zorder=0)
    shown = []
    for j, name in enumerate(others):
        part = usable[usable["strategy"] == name]
        if not len(part):
            continue
        y = np.array([index[str(e)] for e in part["event"]], dtype=float) + offsets[j]
        rr = part["rate_ratio"].to_numpy(float)
        lo = part["rate_ratio_ci_low"].to_numpy(float)
        hi = part["rate_ratio_ci_high"].to_numpy(float)
        err = np.vstack(
            [
                np.clip(np.nan_to_num(rr - lo), 0.0, None),
                np.clip(np.nan_to_num(hi - rr), 0.0, None),
            ]
        )
        ax.errorbar(
            rr,
            y,
            xerr=err,
            fmt="o",
            ms=4,
            color=r.color(name),
            capsize=2,
            lw=1.0,
            label=f"{_tex(name)} vs {_tex(comp)}",
            zorder=3,
        )
        shown.append(name)
    ax.axvline(1.0, color="#555555", lw=0.9, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(order)), labels=[_tex(labels[e]) for e in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlabel(f"Rate ratio vs {_tex(comp)} (95% CI, log scale)")
    ax.grid(True, axis="x", which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="lower right")
    alt = (
        f"Forest plot of event rate ratios with 95% confidence intervals of {_names(shown)} "
        f"versus {comp}, on a log scale, for the {len(order)} events that happened in both arms."
    )
    caption = (
        "Rate ratio per event against the comparator, with a 95% interval widened for "
        "over-dispersion; right of the dashed line the event is more frequent than under "
        "the comparator. Events absent from either arm are left out."
    )
    return _image("plot-forest", alt, _png(figure), caption)


def _events_table(r: Results) -> str:
    """Rates per 100 patient-years with intervals, strategies side by side."""
    events = r.table("events")
    if events is None:
        return _absent("The event table", "events.csv")
    present = [s for s in r.strategies if s in set(events["strategy"])]
    by_key = {(str(row["strategy"]), str(row["event"])): row for row in events.to_dict("records")}
    rows = []
    for event in dict.fromkeys(events["event"]):
        event = str(event)
        first = next(by_key[(s, event)] for s in present if (s, event) in by_key)
        cells: list[object] = [_text(first.get("label")) or event]
        for name in present:
            row = by_key.get((name, event))
            if row is None:
                cells.append(DASH)
                continue
            rate = _interval(
                _rate,
                row.get("rate_per_100py"),
                row.get("rate_per_100py_ci_low"),
                row.get("rate_per_100py_ci_high"),
            )
            count = row.get("events")
            detail = f"{_auto(count) or 0} event{'' if _finite(count) and count == 1 else 's'}"
            if _finite(row.get("share_with_event")):
                detail += f"; {_pct(row.get('share_with_event'))} of patients"
            cells.append(_Html(f"{_e(rate)}<br><small>{_e(detail)}</small>"))
        rows.append(cells)
    return (
        "<p>Events per 100 patient-years with 95% intervals (widened for over-dispersion); "
        "below, the count and the share of patients with at least one.</p>"
        + _table(["Event", *present], rows, cls="events")
    )


def _convergence(r: Results) -> str:
    """Running means with ±1.96 MCSE bands: one row per quantity, one column per axis."""
    conv = r.table("convergence")
    if conv is None:
        return _absent("The convergence analysis", "convergence.csv")
    kinds = [a for a in ("patients", "iterations") if a in set(conv["axis"])]
    kinds += [str(a) for a in dict.fromkeys(conv["axis"]) if a not in kinds]
    quantities = [str(q) for q in dict.fromkeys(conv["quantity"])]
    present = [s for s in r.strategies if s in set(conv["strategy"])]
    figure = _figure(5.2 * len(kinds) + 1.0, 2.6 * len(quantities) + 0.8)
    axes = figure.subplots(len(quantities), len(kinds), squeeze=False)
    for qi, quantity in enumerate(quantities):
        for ai, kind in enumerate(kinds):
            ax = axes[qi, ai]
            part = conv[(conv["quantity"] == quantity) & (conv["axis"] == kind)]
            if not len(part):
                ax.set_axis_off()
                continue
            for name in present:
                line = part[part["strategy"] == name].sort_values("n", kind="mergesort")
                if not len(line):
                    continue
                n = line["n"].to_numpy(float)
                mean = line["running_mean"].to_numpy(float)
                band = 1.96 * np.nan_to_num(line["mcse"].to_numpy(float))
                color = r.color(name)
                ax.fill_between(n, mean - band, mean + band, color=color, alpha=0.2, lw=0)
                ax.plot(n, mean, color=color, lw=1.3, label=_tex(name))
            _log_if_wide(ax, part["n"].to_numpy(float))
            ax.set_title(f"{_tex(quantity)} by {_tex(kind)}", fontsize=10)
            ax.set_xlabel(
                {"patients": "patients per strategy", "iterations": "PSA iterations"}.get(
                    kind, _tex(kind)
                )
            )
            ax.grid(True, lw=0.3, alpha=0.5)
            if abs(float(np.nanmax(np.abs(part["running_mean"].to_numpy(float))))) >= 1000:
                _thousands(ax.yaxis)
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes.ravel():
        h, lab = ax.get_legend_handles_labels()
        for handle, text in zip(h, lab, strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)))
    alt = (
        f"Convergence: running means with bands of plus or minus 1.96 Monte Carlo standard "
        f"errors of {_names(quantities)} against {_names(kinds)}, by strategy."
    )
    caption = (
        "Running mean as patients (base case, block by block) and PSA iterations accumulate; "
        "the band is ±1.96 Monte Carlo standard errors. Flat lines with narrow bands mean "
        "enough patients or iterations."
    )
    return _image("plot-convergence", alt, _png(figure), caption)


# --------------------------------------------------------------------- methods appendix


def _describe(dist: object) -> str:
    """A distribution from the scenario in words: "normal (mean 45, sd 15, low 18)"."""
    if not isinstance(dist, dict):
        return _plain(dist)
    kind = str(dist.get("dist", "value"))
    if kind == "dirichlet" and isinstance(dist.get("counts"), dict):
        counts = ", ".join(f"{k} {_plain(v)}" for k, v in sorted(dist["counts"].items()))
        return f"dirichlet (counts: {counts})"
    if kind == "fixed":
        value = dist.get("value", dist.get("mean"))
        return f"fixed at {_plain(value)}"
    parts = []
    for key in ("mean", "sd", "se", "alpha", "beta", "shape", "scale", "meanlog", "sdlog"):
        if key in dist and dist[key] is not None:
            parts.append(f"{key} {_plain(dist[key])}")
    for key in ("low", "mode", "high"):
        value = dist.get(key)
        if value is not None and _finite(value) and abs(float(value)) < 1e299:
            parts.append(f"{key} {_plain(value)}")
    for key, value in sorted(dist.items()):
        known = ("dist", "mean", "sd", "se", "alpha", "beta", "shape", "scale", "meanlog")
        if key in (*known, "sdlog", "low", "mode", "high", "counts") or value is None:
            continue
        parts.append(f"{key} {_plain(value)}")
    return f"{kind} ({', '.join(parts)})" if parts else kind


def _perspective(scenario: dict[str, Any]) -> str:
    """The perspective named in the currency's source, e.g. "US payer perspective"."""
    source = str((scenario.get("sources") or {}).get("currency") or "")
    match = re.search(r"([^:;,.()]*\bperspective\b[^:;,.()]*)", source, flags=re.IGNORECASE)
    if match and match.group(1).strip():
        return match.group(1).strip()
    currency = scenario.get("currency") or "the scenario's currency"
    return f"not stated in the scenario's sources; costs are counted in {currency}"


def _horizon(scenario: dict[str, Any]) -> str:
    """The time horizon in words."""
    horizon = scenario.get("horizon_years")
    if horizon == "lifetime":
        return "lifetime: each patient is followed until death"
    if _finite(horizon):
        return f"{_plain(float(horizon))} years"  # type: ignore[arg-type]
    return "not stated"


def _methods(r: Results) -> str:
    """The CHEERS 2022 items the scenario answers, then its parameters and sources."""
    s = r.scenario
    m = r.manifest
    sources = {str(k): str(v) for k, v in (s.get("sources") or {}).items()}
    cur = s.get("currency") or ""
    cohort = s.get("cohort") or {}
    strategies = s.get("strategies") or {}
    names = r.strategies
    comp = r.comparator
    discount = s.get("discount") or {}
    uncertainty = s.get("uncertainty") or {}
    psa_iterations = int(m.get("psa_iterations") or s.get("psa_iterations") or 0)

    def src(key: str) -> str:
        return f" Source: {sources[key]}." if key in sources else ""

    def rate(value: object) -> str:
        return f"{100 * float(value):g}%" if _finite(value) else "not stated"  # type: ignore[arg-type]

    kinds = {
        "untreated": "no treatment for spasticity",
        "oral": "oral baclofen tablets",
        "itb": "intrathecal baclofen pump (screening test, implant, refills)",
    }
    described = []
    for name in names:
        spec = strategies.get(name) or {}
        kind = str(spec.get("type", ""))
        text = f"{name} ({kinds.get(kind, kind or 'type not stated')}"
        if spec.get("fallback"):
            text += f"; non-responders and explanted patients move to {spec['fallback']}"
        described.append(text + (", the comparator)" if name == comp else ")"))
    indications = cohort.get("indications") or {}
    shares = [
        f"{name.replace('_', ' ')} {_pct(spec.get('share'))}"
        for name, spec in sorted(indications.items())
        if isinstance(spec, dict)
    ]
    male = cohort.get("male_share")
    population = (
        f"Age (years): {_describe(cohort.get('age_years'))}; "
        f"{_pct(male)} male; indications: {', '.join(shares) or 'not stated'}; "
        f"background mortality from the life table {cohort.get('life_table', 'not stated')}, "
        f"multiplied by each indication's mortality multiplier."
        + src("cohort.age_years")
        + src("cohort.male_share")
    )
    outputs = [
        name for name in ("psa", "ceac", "evppi", "tornado", "threshold") if name in r.tables
    ]
    uncertainty_text = (
        "Monte Carlo 95% intervals of every mean (patient-level sampling, paired between "
        "strategies for increments)."
    )
    if psa_iterations:
        uncertainty_text += (
            f" Probabilistic sensitivity analysis: {psa_iterations:,} iterations, each "
            f"drawing the {len(uncertainty)} uncertain parameter entries below and simulating "
            "its own patients under every strategy; cost-effectiveness plane, acceptability "
            "curves and frontier, EVPI"
            + (" and EVPPI (regression meta-model)" if "evppi" in outputs else "")
            + "."
        )
    else:
        uncertainty_text += " No probabilistic sensitivity analysis (psa_iterations = 0)."
    if "tornado" in outputs:
        uncertainty_text += (
            " One-way sensitivity analysis (tornado) over each scalar uncertain parameter"
        )
        uncertainty_text += " and threshold searches." if "threshold" in outputs else "."
    wtp = s.get("wtp") or []
    items = [
        ("5 Study population", population),
        (
            "7 Comparators",
            f"{len(names)} strategies: {'; '.join(described) or 'not stated'}. "
            f"Increments, ICERs and rate ratios are against {comp}.",
        ),
        ("8 Perspective", _perspective(s) + "." + src("currency")),
        ("9 Time horizon", _horizon(s) + "." + src("horizon_years")),
        (
            "10 Discount rate",
            f"{rate(discount.get('costs'))} per year for costs and "
            f"{rate(discount.get('effects'))} for effects (QALYs, discounted life-years), "
            "in continuous time: an amount at time t years is weighted by (1 + r)^-t and a "
            "flow over [a, b] by ((1 + r)^-a - (1 + r)^-b) / ln(1 + r)." + src("discount"),
        ),
        (
            "11 Selection of outcomes",
            "Quality-adjusted life-years (benefit), costs, life-years (undiscounted and "
            "discounted), event rates and cumulative incidence (harms); incremental "
            "cost-effectiveness ratios, efficiency frontier (strong and extended dominance) and "
            "net monetary benefit at willingness to pay "
            f"{_names([_wtp_label(float(w)) for w in wtp if _finite(w)])} {cur} per QALY."
            + src("wtp"),
        ),
        (
            "15 Currency, price date",
            f"{cur or 'not stated'}, price year {s.get('price_year', 'not stated')}."
            + src("price_year"),
        ),
        (
            "16 Rationale and description of model",
            "Individual-level discrete-event simulation (patient-level Monte Carlo "
            "microsimulation): each simulated patient's events are drawn in continuous time "
            "until death or the horizon. Common random numbers: every patient has the same "
            "attributes and the same random streams under every strategy, so differences "
            f"between strategies are the strategies'. Engine: {m.get('engine', 'not stated')}.",
        ),
        (
            "17 Analytics and assumptions",
            f"{_auto(m.get('patients_per_strategy') or s.get('patients')) or 'not stated'} "
            f"patients per strategy; seed {m.get('seed', s.get('seed', 'not stated'))}; "
            f"{psa_iterations:,} PSA iterations. Assumptions are flagged in the table of "
            "sources below.",
        ),
        ("20 Characterising uncertainty", uncertainty_text),
        (
            "22 Study parameters",
            f"{len(sources)} cited parameter sources and {len(uncertainty)} uncertain "
            "parameter entries, listed below.",
        ),
    ]
    parts = [
        "<p>Generated from the scenario in manifest.json: the answers to the CHEERS 2022 "
        "items that the model itself can give. The other items (title, abstract, background, "
        "analysis plan, setting, measurement and valuation of outcomes and costs, "
        "heterogeneity, distributional effects, engagement, discussion, funding, conflicts "
        "of interest) are the authors' to report.</p>",
        _table(["CHEERS 2022 item", "This analysis"], items, cls="text"),
        "<h3>Run</h3>",
        _table(["Field", "Value"], _run_rows(r), cls="text"),
    ]
    if indications:
        rows = []
        for name, spec in sorted(indications.items()):
            if not isinstance(spec, dict):
                continue
            rest = [
                f"{k.replace('_', ' ')}: {_describe(v)}"
                for k, v in sorted(spec.items())
                if k != "share"
            ]
            rows.append([name.replace("_", " "), _pct(spec.get("share")), "; ".join(rest)])
        parts += [
            "<h3>Population by indication</h3>",
            _table(["Indication", "Share", "Inputs"], rows, cls="text"),
        ]
    parts.append("<h3>Uncertain parameters</h3>")
    if uncertainty:
        rows = [[path, _describe(dist)] for path, dist in sorted(uncertainty.items())]
        parts.append(_table(["Parameter (dotted path)", "Distribution"], rows, cls="text"))
    else:
        parts.append(_note("The scenario has no uncertain parameters."))
    parts.append("<h3>Parameter sources</h3>")
    if sources:
        keys = sorted(sources)
        flags = [sources[k].lstrip().lower().startswith("assumption") for k in keys]
        parts.append(
            f"<p>{len(keys)} entries; <b>{sum(flags)}</b> are assumptions (highlighted).</p>"
        )
        rows = [
            [k, sources[k], "Assumption" if f else ""] for k, f in zip(keys, flags, strict=True)
        ]
        parts.append(
            _table(
                ["Parameter (dotted path)", "Source", "Flag"],
                rows,
                cls="text sources",
                row_classes=["assumption" if f else "" for f in flags],
            )
        )
    else:
        parts.append(_note("The scenario cites no sources."))
    return "".join(parts)


def _run_rows(r: Results) -> list[list[object]]:
    """What identifies the run: hash, seed, sizes, engine, versions."""
    m = r.manifest
    rows: list[list[object]] = []
    for key in (
        "scenario",
        "scenario_sha256",
        "seed",
        "patients_per_strategy",
        "psa_iterations",
        "engine",
        "python",
        "platform",
    ):
        if key in m:
            rows.append([key, str(m[key])])
    versions = m.get("versions")
    if isinstance(versions, dict):
        rows += [[f"version of {k}", str(v)] for k, v in sorted(versions.items())]
    return rows


# ------------------------------------------------------------------------------ page

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 2rem 3rem;color:#1a1a1a;line-height:1.45;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;
margin-top:2.2rem}h3{margin-top:1.4rem}.meta{color:#555;font-size:.9rem}
code{font-size:.85em;word-break:break-all}nav ol{columns:3;font-size:.9rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .5rem;vertical-align:top}
th{background:#f3f5f8;text-align:left}td{text-align:right}td:first-child{text-align:left}
table.text td{text-align:left}tr.assumption td{background:#fff6db}
tr.total td{font-weight:600;background:#f8f9fb}
small{color:#555}.not-run{color:#8a5a00;background:#fff8e6;border-left:4px solid #e0a000;
padding:.5rem .8rem}.note{color:#444}.error{color:#a00;background:#fdecec;
border-left:4px solid #c00;padding:.5rem .8rem}
.warnings{background:#fdecec;border:2px solid #c00;padding:.4rem 1rem;margin:1rem 0}
.warnings h2{color:#a00;border:none;margin-top:.4rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}details{margin:.8rem 0}
summary{cursor:pointer;color:#1f4e99}
"""

SECTIONS: tuple[tuple[str, str, Callable[[Results], str]], ...] = (
    ("headline", "Headline results", _headline),
    ("ce-plane", "Cost-effectiveness plane", _ce_plane),
    ("ceac", "Cost-effectiveness acceptability (CEAC and CEAF)", _ceac),
    ("evpi", "Expected value of perfect information (EVPI)", _evpi),
    ("evppi", "Expected value of partial perfect information (EVPPI)", _evppi),
    ("tornado", "One-way sensitivity analysis (tornado)", _tornado),
    ("threshold", "Threshold analysis", _threshold),
    ("cumulative-incidence", "Cumulative incidence", _cumulative),
    ("forest", "Event rate ratios (forest plot)", _forest),
    ("events", "Event rates", _events_table),
    ("convergence", "Convergence", _convergence),
    ("methods", "Methods appendix (CHEERS 2022)", _methods),
)


def render(results: Results) -> str:
    """The whole HTML page. A section that cannot be built says why; the rest still shows."""
    problems = list(results.problems)
    bodies = []
    for section_id, title, build in SECTIONS:
        try:
            body = build(results)
        except (KeyError, ValueError, TypeError, IndexError) as error:
            message = (
                f"{title}: could not be built from the tables ({type(error).__name__}: {error})"
            )
            problems.append(message)
            body = f'<p class="error">{_e(message)}</p>'
        bodies.append(f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>')
    s, m = results.scenario, results.manifest
    name = str(m.get("scenario") or s.get("name") or "scenario")
    title = str(s.get("title") or name)
    meta = [f"scenario <code>{_e(name)}</code>"]
    if "seed" in m:
        meta.append(f"seed {_e(str(m['seed']))}")
    if m.get("patients_per_strategy") is not None:
        meta.append(f"{_e(m['patients_per_strategy'])} patients per strategy")
    if m.get("psa_iterations"):
        meta.append(f"{_e(m['psa_iterations'])} PSA iterations")
    if m.get("scenario_sha256"):
        meta.append(f"SHA-256 <code>{_e(m['scenario_sha256'])}</code>")
    nav = "".join(f'<li><a href="#{sid}">{_e(t)}</a></li>' for sid, t, _b in SECTIONS)
    tables = ", ".join(f"{n}.csv" for n in results.tables) or "none"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - baclofen-sim report</title><style>{STYLE}</style></head>\n"
        f"<body><header><h1>{_e(title)}</h1>"
        f'<p class="meta">{" · ".join(meta)}</p></header>\n'
        f"{_warnings(results, problems)}"
        f"<nav><ol>{nav}</ol></nav>\n"
        + "\n".join(bodies)
        + f'\n<footer><p class="meta">Built by baclofen-sim from the tables in its folder '
        f"({_e(tables)}, manifest.json); results.xlsx holds the same tables.</p></footer>"
        "</body></html>\n"
    )


# ------------------------------------------------------------------------------ workbook


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


def workbook(results: Results) -> bytes:
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
    for stem, frame in results.tables.items():
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
    for key, value in _manifest_rows(results.manifest) + notes:
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


# ------------------------------------------------------------------------------ output


def _atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename it into place: a
    reader never sees half a file, and an earlier file survives a failure."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write(folder: Path) -> None:
    """Build `folder/report.html` and `folder/results.xlsx` from the run's tables there."""
    folder = Path(folder)
    results = Results.read(folder)
    page = render(results).encode("utf-8")
    book = workbook(results)
    _atomic_write(folder / "report.html", page)
    _atomic_write(folder / "results.xlsx", book)
