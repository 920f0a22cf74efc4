"""The report's sections on uncertainty: the cost-effectiveness plane, acceptability
curves, the value of information (EVPI, EVPPI, for a patient and a population), the
tornado and the threshold searches. Each takes the result folder and returns its HTML."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.output.report import formats as f
from sim.output.report import plots
from sim.output.report.folder import ResultFolder

#: Rows of a tornado panel: the rest have smaller swings and stay in the workbook.
TORNADO_ROWS = 20


def incremental_psa(r: ResultFolder) -> tuple[pd.DataFrame, pd.DataFrame, list[str]] | None:
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


def ce_plane(r: ResultFolder) -> str:
    """PSA scatter of incremental cost and QALYs against the comparator, with WTP lines."""
    if r.table("psa") is None:
        return f.absent("The probabilistic sensitivity analysis", "psa.csv")
    incremental = incremental_psa(r)
    comp, cur = r.comparator, r.currency
    if incremental is None or not incremental[2]:
        return f.note(f"No strategy to compare with {comp}: the plane needs two strategies.")
    d_cost, d_qaly, others = incremental
    figure = plots.ce_plane(r, d_cost, d_qaly, others)
    n = len(d_cost.index)
    alt = (
        f"Cost-effectiveness plane: incremental cost against incremental QALYs of "
        f"{f.names(others)} versus {comp} in {n:,} PSA iterations, with the base-case point "
        f"of each and willingness-to-pay lines at "
        f"{f.names([f.wtp_label(w) for _t, w in r.wtps])} {cur} per QALY."
    )
    caption = (
        "Each dot is one PSA iteration (paired with the comparator in the same iteration); "
        "a cross is the base case and a diamond the PSA mean. Below a WTP line a strategy is "
        "cost-effective at that WTP."
    )
    return plots.figure(r, "plot-ce-plane", alt, figure, caption)


def ceac(r: ResultFolder) -> str:
    """Acceptability curves per strategy, with the frontier (CEAF) marked."""
    ceac = r.table("ceac")
    if ceac is None:
        return f.absent("The cost-effectiveness acceptability curve", "ceac.csv")
    cur = r.currency
    present = [s for s in r.strategies if s in set(ceac["strategy"].unique())]
    figure = plots.ceac(r, ceac, present)
    alt = (
        f"Cost-effectiveness acceptability curves of {f.names(present)} against willingness "
        f"to pay from {f.wtp_label(float(ceac['wtp'].min()))} to "
        f"{f.wtp_label(float(ceac['wtp'].max()))} {cur} per QALY; the frontier (CEAF) marks "
        f"the strategy with the highest expected net monetary benefit."
    )
    caption = (
        "Share of PSA iterations in which each strategy has the highest net monetary benefit. "
        "The grey band with circles is the acceptability frontier (CEAF): the strategy a "
        "decision-maker would choose at each WTP. Dotted lines: the scenario's WTPs."
    )
    return plots.figure(r, "plot-ceac", alt, figure, caption)


def evpi(r: ResultFolder) -> str:
    """EVPI per patient against WTP with its Monte Carlo band, and a table at the WTPs."""
    ceac = r.table("ceac")
    if ceac is None or "evpi" not in ceac.columns:
        return f.absent("The expected value of perfect information", "ceac.csv")
    cur = r.currency
    per = ceac.sort_values("wtp", kind="mergesort").drop_duplicates("wtp")
    w = per["wtp"].to_numpy(float)
    evpi = per["evpi"].to_numpy(float)
    se = np.nan_to_num(per["evpi_se"].to_numpy(float)) if "evpi_se" in per else np.zeros_like(w)
    figure = plots.evpi(r, w, evpi, se)
    rows = [[f.wtp_label(value), f.interval(f.money, *se_band(per, value))] for _t, value in r.wtps]
    header = [f"WTP ({cur}/QALY)", f"EVPI per patient ({cur}, ±1.96 SE)"]
    whom = population(r)
    if whom and "population_evpi" in per.columns:
        header.append(f"EVPI for {whom} ({cur}, ±1.96 SE)")
        for row, (_t, value) in zip(rows, r.wtps, strict=True):
            row.append(f.interval(f.money, *se_band(per, value, "population_evpi")))
    alt = (
        f"Expected value of perfect information per patient against willingness to pay, "
        f"with a band of plus or minus 1.96 Monte Carlo standard errors; maximum "
        f"{f.money(np.nanmax(evpi)) if np.isfinite(evpi).any() else f.DASH} {cur}."
    )
    caption = (
        "What removing all parameter uncertainty would be worth per patient: the expected "
        "loss of choosing on current information."
    )
    table = f.table(header, rows)
    return plots.figure(r, "plot-evpi", alt, figure, caption) + table


def population(r: ResultFolder) -> str:
    """The scenario's population in words ("4,000 patients a year for 10 years"), or ""."""
    population = (r.scenario.get("analysis") or {}).get("population")
    if not isinstance(population, dict):
        return ""
    per_year, years = population.get("patients_per_year"), population.get("years")
    return f"{f.auto(per_year)} patients a year for {f.auto(years)} years"


def se_band(per: pd.DataFrame, wtp: float, column: str = "evpi") -> tuple[object, object, object]:
    """EVPI (or the column's value) at one WTP with its ±1.96 SE interval."""
    row = per[np.isclose(per["wtp"].to_numpy(float), wtp)]
    if not len(row):
        return math.nan, math.nan, math.nan
    evpi = float(row[column].iloc[0])
    se = float(row[f"{column}_se"].iloc[0]) if f"{column}_se" in row else math.nan
    return evpi, evpi - 1.96 * se, evpi + 1.96 * se


def evppi(r: ResultFolder) -> str:
    """EVPPI per parameter or group, one column per WTP."""
    evppi = r.table("evppi")
    if evppi is None:
        return f.absent("The expected value of partial perfect information", "evppi.csv")
    cur = r.currency
    wtps = [float(w) for w in dict.fromkeys(evppi["wtp"]) if f.finite(w)]
    cells: dict[tuple[str, float], dict[str, Any]] = {}
    labels: dict[str, object] = {}
    kinds: dict[str, str] = {}
    for row in evppi.to_dict("records"):
        name = f.text(row.get("parameter"))
        members = f.text(row.get("members"))
        kinds.setdefault(name, f.text(row.get("kind")))
        label: object = f.parameter(r.currency, name)
        if members and members != name:
            label = f.Html(f"{f.e(name)}<br><small>{f.e(members.replace(';', '; '))}</small>")
        labels.setdefault(name, label)
        if f.finite(row.get("wtp")):
            cells[(name, float(row["wtp"]))] = row

    def value(name: str, w: float) -> float:
        row = cells.get((name, w))
        return float(row["evppi"]) if row is not None and f.finite(row.get("evppi")) else -math.inf

    first = wtps[0] if wtps else math.nan
    names = sorted(labels, key=lambda n: -value(n, first))  # stable: file order on ties
    evpi_row: list[object] = ["EVPI: all parameters", ""]
    for w in wtps:
        evpi = next((c.get("evpi") for (n, x), c in cells.items() if x == w), None)
        evpi_row.append(f.money(evpi))
    rows: list[list[object]] = [evpi_row]
    for name in names:
        row_cells: list[object] = [labels[name], kinds[name]]
        for w in wtps:
            row = cells.get((name, w))
            if row is None:
                row_cells.append(f.DASH)
                continue
            main = f"{f.money(row.get('evppi'))} ({f.pct(row.get('share_of_evpi'))})"
            se = row.get("evppi_se")
            detail = f"SE {f.money(se)}" if f.finite(se) else ""
            if f.finite(row.get("population_evppi")):
                detail += f"; population {f.money(row['population_evppi'])}"
            row_cells.append(f.Html(f"{f.e(main)}<br><small>{f.e(detail)}</small>"))
        rows.append(row_cells)
    return (
        f"<p>Per patient, in {f.e(cur)}, by regression on the PSA draws: the value of learning "
        "a parameter (or group) exactly, with its share of the EVPI and Monte Carlo SE"
        + (f", and for the population ({f.e(population(r))})" if population(r) else "")
        + "; largest first at the first WTP.</p>"
        + f.table(
            ["Parameter or group", "Kind", *[f"EVPPI at {f.wtp_label(w)}" for w in wtps]],
            rows,
            row_classes=["total", *[""] * len(names)],
        )
    )


def tornado(r: ResultFolder) -> str:
    """One panel per non-comparator strategy: incremental NMB at the first WTP."""
    tornado = r.table("tornado")
    if tornado is None:
        return f.absent(
            "The one-way sensitivity analysis",
            "tornado.csv",
            "the scenario has no uncertain parameter with a range",
        )
    cur, comp = r.currency, r.comparator
    wtp_values = tornado["wtp"].to_numpy(float)
    first = [w for _t, w in r.wtps if np.isclose(wtp_values, w).any()]
    w0 = first[0] if first else float(wtp_values[0])
    at_wtp = tornado[np.isclose(wtp_values, w0)]
    names = [s for s in r.strategies if s != comp and s in set(at_wtp["strategy"].unique())]
    if not names:
        return f.note("No strategy other than the comparator in tornado.csv.")
    panels = []
    still = []
    for name in names:
        part = at_wtp[at_wtp["strategy"] == name].sort_values(
            "swing", ascending=False, kind="mergesort"
        )
        moving = part[part["swing"].to_numpy(float) > 0]  # a bar of no length says nothing
        if len(moving) < len(part):
            still.append(f"{len(part) - len(moving)} for {name}")
        if len(moving):
            panels.append((name, moving.head(TORNADO_ROWS), len(moving)))
    if not panels:
        return f.note("No uncertain parameter moves the incremental NMB of any strategy.")
    panels.sort(key=lambda p: -float(p[1]["swing"].sum()))  # the widest panel first
    figure = plots.tornado(r, panels, w0)
    alt = (
        f"Tornado diagram: incremental net monetary benefit at {f.wtp_label(w0)} {cur} per QALY "
        f"of {f.names(names)} versus {comp} when each uncertain parameter is set to its low "
        f"and high value, largest swing first."
    )
    caption = (
        "Bars run from the base-case incremental NMB (black line) to its value at the "
        "parameter's low and high values (in brackets); the dotted line is zero, where the "
        "decision changes."
        + (
            f" Parameters that do not move a comparison at all are left out ({', '.join(still)})."
            if still
            else ""
        )
    )
    return plots.figure(r, "plot-tornado", alt, figure, caption) + _other_wtps(r, tornado, w0)


#: Parameters listed per strategy at each further WTP (the rest: tornado.csv).
SWINGS_LISTED = 5


def _other_wtps(r: ResultFolder, tornado: pd.DataFrame, w0: float) -> str:
    """The largest swings at each WTP after the first, from the same runs: the order of
    the parameters can change with the WTP (a cost parameter's swing does not grow with
    it, a utility's does)."""
    rows = []
    for _tag, w in r.wtps:
        if np.isclose(w, w0):
            continue
        part = tornado[np.isclose(tornado["wtp"].to_numpy(float), w)]
        for name in [s for s in r.strategies if s in set(part["strategy"].unique())]:
            mine = part[part["strategy"] == name].sort_values(
                "swing", ascending=False, kind="mergesort"
            )
            for row in mine.head(SWINGS_LISTED).to_dict("records"):
                rows.append(
                    [
                        f.wtp_label(w),
                        f"{name} vs {r.comparator}",
                        f.parameter(r.currency, f.text(row.get("parameter"))),
                        f.money(row.get("swing")),
                        f"{f.money(row.get('incremental_nmb_low'))} to "
                        f"{f.money(row.get('incremental_nmb_high'))}",
                    ]
                )
    if not rows:
        return ""
    cur = r.currency
    return (
        f"<h3>At the other willingness-to-pay values</h3><p>The {SWINGS_LISTED} largest "
        "swings of each comparison at each further WTP (tornado.csv and the workbook hold "
        "them all).</p>"
        + f.table(
            [
                f"WTP ({cur}/QALY)",
                "Comparison",
                "Parameter",
                f"Swing ({cur})",
                "Incremental NMB, low to high value",
            ],
            rows,
        )
    )


def threshold(r: ResultFolder) -> str:
    """Where each searched parameter changes the decision."""
    threshold = r.table("threshold")
    if threshold is None:
        return f.absent("The threshold analysis", "threshold.csv")
    cur = r.currency
    rows = []
    for row in threshold.to_dict("records"):
        rows.append(
            [
                f.parameter(r.currency, f.text(row.get("parameter"))),
                f"{f.text(row.get('strategy'))} vs {f.text(row.get('comparator'))}",
                f.wtp_label(float(row["wtp"])) if f.finite(row.get("wtp")) else f.DASH,
                f.auto(row.get("threshold")) if f.finite(row.get("threshold")) else "none",
                f"{f.auto(row.get('searched_low'))} to {f.auto(row.get('searched_high'))}",
                f.text(row.get("note")),
            ]
        )
    return (
        "<p>The value of each parameter at which the incremental net monetary benefit crosses "
        "zero (the decision changes), searched within the range shown.</p>"
        + f.table(
            ["Parameter", "Comparison", f"WTP ({cur}/QALY)", "Threshold", "Searched", "Note"],
            rows,
        )
    )
