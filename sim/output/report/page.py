"""report.html: the sections of the page, from a result folder's tables.

A section that cannot be drawn from the tables says why in its place; a missing table is
named, so a reader knows what the run did not do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from sim.output.beside import in_two
from sim.output.report import formats as f
from sim.output.report import methods, plots, uncertainty
from sim.output.report.folder import ResultFolder

#: The ids of the report's sections and plots (a test and a reader can rely on them).
SECTION_IDS = (
    "headline",
    "costs",
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


def _warnings(r: ResultFolder, problems: list[str]) -> str:
    """The run's warnings and the report's own problems, at the top where they are seen."""
    items = [str(w) for w in r.manifest.get("warnings") or []]
    items += problems
    if not items:
        return ""
    lis = "".join(f"<li>{f.e(w)}</li>" for w in items)
    return (
        '<section id="warnings" class="warnings" role="alert">'
        f"<h2>Warnings ({len(items)})</h2><ul>{lis}</ul></section>"
    )


def _headline(r: ResultFolder) -> str:
    """Base-case table, NMB table, PSA table and every summary column."""
    summary = r.table("summary")
    if summary is None:
        return f.absent("The base case", "summary.csv")
    cur = r.currency
    comp = r.comparator
    records = summary.to_dict("records")
    rows = []
    for row in records:
        name = str(row.get("strategy"))
        note = f.text(row.get("icer_note"))
        icer = note or f.DASH
        if f.finite(row.get("icer")):
            icer = f.money(row.get("icer")) + (f" ({note})" if note else "")
        frontier = f.text(row.get("frontier_status")) or f.DASH
        if f.finite(row.get("frontier_icer")):
            frontier += f" (ICER {f.money(row.get('frontier_icer'))})"
        rows.append(
            [
                f"{name}{' (comparator)' if name == comp else ''}",
                f.text(row.get("type")),
                f.ci(f.money, row, "cost"),
                f.ci(f.qaly, row, "qaly"),
                f.ci(f.money, row, "incremental_cost"),
                f.ci(f.qaly, row, "incremental_qaly"),
                icer,
                frontier,
            ]
        )
    parts = [
        f"<p>Mean per patient over the horizon, discounted, in {f.e(cur)}; 95% Monte Carlo "
        f"intervals in brackets (paired against the comparator <b>{f.e(comp)}</b>).</p>",
        f.table(
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
            header += [f"NMB at {f.wtp_label(w)}", f"Incremental NMB at {f.wtp_label(w)}"]
        nmb_rows = []
        for row in records:
            cells: list[object] = [row.get("strategy")]
            for tag, _w in wtps:
                cells.append(f.money(row.get(f"nmb_{tag}")))
                key = f"incremental_nmb_{tag}"
                cells.append(f.ci(f.money, row, key))
            nmb_rows.append(cells)
        parts.append(
            f"<h3>Net monetary benefit ({f.e(cur)}, willingness to pay per QALY)</h3>"
            + f.table(header, nmb_rows)
        )
    if "psa_cost_mean" in summary.columns:
        parts.append(_psa_headline(r, records))
    parts.append(_all_columns(summary))
    return "".join(parts)


def _psa_headline(r: ResultFolder, records: list[dict[str, Any]]) -> str:
    """PSA means with 2.5 and 97.5 percentiles, and the probability of cost-effectiveness."""
    cur = r.currency
    wtps = r.wtps

    def spread(row: dict[str, Any], key: str, fmt: Callable[[object], str]) -> str:
        return f.interval(
            fmt, row.get(f"psa_{key}_mean"), row.get(f"psa_{key}_p2_5"), row.get(f"psa_{key}_p97_5")
        )

    header = ["Strategy", f"Cost ({cur})", "QALYs", "Incremental cost", "Incremental QALYs"]
    header += [f"Incremental NMB at {f.wtp_label(w)}" for _t, w in wtps]
    header += [f"P(cost-effective) at {f.wtp_label(w)}" for _t, w in wtps]
    rows = []
    for row in records:
        cells: list[object] = [
            row.get("strategy"),
            spread(row, "cost", f.money),
            spread(row, "qaly", f.qaly),
            spread(row, "incremental_cost", f.money),
            spread(row, "incremental_qaly", f.qaly),
        ]
        cells += [spread(row, f"incremental_nmb_{tag}", f.money) for tag, _w in wtps]
        cells += [f.pct(row.get(f"probability_cost_effective_{tag}")) for tag, _w in wtps]
        rows.append(cells)
    iterations = int(r.manifest.get("psa_iterations") or 0)
    count = f"{iterations:,} iterations; " if iterations else ""
    return (
        "<h3>Probabilistic sensitivity analysis</h3>"
        f"<p>{f.e(count)}mean over iterations with the 2.5th to 97.5th percentiles.</p>"
        + f.table(header, rows)
    )


def _all_columns(summary: pd.DataFrame) -> str:
    """Every column of summary.csv, strategies side by side (nothing is hard-coded)."""
    names = [str(s) for s in summary["strategy"]] if "strategy" in summary else []
    rows = []
    for column in summary.columns:
        if column == "strategy":
            continue
        rows.append([column, *[f.text(v) for v in summary[column].tolist()]])
    return (
        "<details><summary>Every column of summary.csv</summary>"
        + f.table(["Column", *names], rows)
        + "</details>"
    )


def _costs(r: ResultFolder) -> str:
    """Mean cost per patient by component, strategies side by side: each cost is counted
    once, in the category of what it pays for; then the QALYs of states and events."""
    table = r.table("cost_breakdown")
    if table is None:
        return f.absent("The cost breakdown", "cost_breakdown.csv")
    cur = r.currency
    present = [s for s in r.strategies if s in set(table["strategy"].unique())]
    by_key = {(str(x["strategy"]), str(x["component"])): x for x in table.to_dict("records")}
    rows = []
    for component in dict.fromkeys(table["component"]):
        component = str(component)
        qalys = component.startswith("qaly")
        cells: list[object] = [component.replace("_", " ")]
        for name in present:
            row = by_key.get((name, component))
            if row is None:
                cells.append(f.DASH)
            elif qalys:
                cells.append(f.qaly(row.get("discounted")))
            else:
                detail = f"undiscounted {f.money(row.get('undiscounted'))}; "
                detail += f"{f.pct(row.get('share_of_discounted'))} of the total"
                main = f.money(row.get("discounted"))
                cells.append(f.Html(f"{f.e(main)}<br><small>{f.e(detail)}</small>"))
        rows.append(cells)
    return (
        f"<p>Mean per patient, discounted, in {f.e(cur)} at the scenario's price year (below: "
        "undiscounted, and the share of the strategy's discounted cost). Background care is "
        "the care the model does not cost explicitly; the pump's refills, drug, surgery and "
        "complications are costed as they happen, so nothing is counted twice.</p>"
        + f.table(["Component", *present], rows)
    )


def _subgroups(r: ResultFolder) -> str:
    """Incremental results within each subgroup of the same run (indication, sex, age
    band at the start), one table per strategy against the comparator."""
    table = r.table("subgroups")
    if table is None:
        return f.absent("The subgroup analysis", "subgroups.csv")
    cur, comp = r.currency, r.comparator
    tags = [t for t, _w in r.wtps if f"incremental_nmb_{t}" in table.columns]
    w0 = next((w for t, w in r.wtps if t in tags[:1]), None)
    parts = [
        f"<p>The same patients as the whole cohort, grouped by what they had at the start; "
        f"increments against {f.e(comp)} with paired 95% intervals (patient-level Monte "
        "Carlo), in "
        f"{f.e(cur)}. A subgroup's figures answer for its patients under this scenario's "
        "inputs: no input differs by subgroup beyond what the scenario gives each "
        "indication, sex and age.</p>"
    ]
    others = [s for s in r.strategies if s != comp and s in set(table["strategy"].unique())]
    for name in others:
        rows = []
        for row in table[table["strategy"] == name].to_dict("records"):
            icer = f.money(row.get("icer")) if f.finite(row.get("icer")) else f.DASH
            note = f.text(row.get("icer_note"))
            cells: list[object] = [
                f.text(row.get("dimension")).replace("_", " "),
                f.text(row.get("subgroup")).replace("_", " "),
                f.text(row.get("patients")),
                f.ci(f.money, row, "incremental_cost"),
                f.ci(f.qaly, row, "incremental_qaly"),
                f"{icer} ({note})" if note and icer != f.DASH else note or icer,
            ]
            if tags:
                key = f"incremental_nmb_{tags[0]}"
                cells.append(f.ci(f.money, row, key))
            rows.append(cells)
        header = [
            "By",
            "Subgroup",
            "Patients",
            f"Incremental cost ({cur})",
            "Incremental QALYs",
            f"ICER ({cur}/QALY)",
        ]
        if tags and w0 is not None:
            header.append(f"Incremental NMB at {f.wtp_label(w0)}")
        parts += [f"<h3>{f.e(name)} vs {f.e(comp)}</h3>", f.table(header, rows)]
    return "".join(parts)


def _cumulative(r: ResultFolder) -> str:
    """One panel per event group, one line per strategy."""
    ci = r.table("cumulative_incidence")
    if ci is None:
        return f.absent("Cumulative incidence", "cumulative_incidence.csv")
    groups = [str(g) for g in dict.fromkeys(ci["group"])]
    present = [s for s in r.strategies if s in set(ci["strategy"].unique())]
    figure = plots.cumulative(r, ci, groups, present)
    alt = (
        f"Cumulative incidence of the first event, by strategy ({f.names(present)}), one panel "
        f"per group: {f.names([g.replace('_', ' ') for g in groups])}."
    )
    caption = (
        "Share of patients whose first event of the group has happened, month by month; "
        "death competes (a patient who died first never counts)."
    )
    return plots.figure(r, "plot-cumulative-incidence", alt, figure, caption)


def _occupancy(r: ResultFolder) -> str:
    """The state-occupancy trace: one stacked panel per strategy."""
    table = r.table("state_occupancy")
    states = ["on_pump", "on_tablets", "untreated", "dead"]
    if table is None or not set(states) <= set(table.columns):
        return f.absent("State occupancy", "state_occupancy.csv")
    present = [s for s in r.strategies if s in set(table["strategy"].unique())]
    figure = plots.occupancy(r, table, present, states)
    alt = (
        f"Share of patients on the pump, on tablets, on no antispastic drug and dead, year "
        f"by year, one panel per strategy ({f.names(present)})."
    )
    caption = (
        "Where the patients are at the start of each month (state_occupancy.csv): the "
        "picture of a Markov trace. On no drug: tablets stopped, an untreated strategy, or "
        "after an explant without tablets."
    )
    return plots.figure(r, "plot-state-occupancy", alt, figure, caption)


def _forest(r: ResultFolder) -> str:
    """Rate ratios against the comparator (log scale), events seen in both arms only."""
    events = r.table("events")
    if events is None:
        return f.absent("The event-rate comparison", "events.csv")
    comp = r.comparator
    needed = {"rate_ratio", "rate_ratio_ci_low", "rate_ratio_ci_high"}
    if not needed <= set(events.columns):
        return f.note("events.csv has no rate ratios.")
    others = [s for s in r.strategies if s != comp and s in set(events["strategy"].unique())]
    ratio = events["rate_ratio"].to_numpy(float)
    usable = events[np.isfinite(ratio) & (ratio > 0) & events["strategy"].isin(others)]
    order = [str(e) for e in dict.fromkeys(events["event"]) if e in set(usable["event"].unique())]
    if not order:
        return f.note(f"No event happened under both {comp} and another strategy.")
    figure, shown = plots.forest(r, events, usable, order, others)
    alt = (
        f"Forest plot of event rate ratios with 95% confidence intervals of {f.names(shown)} "
        f"versus {comp}, on a log scale, for the {len(order)} events that happened in both arms."
    )
    caption = (
        "Rate ratio per event against the comparator, with a 95% interval widened for "
        "over-dispersion; right of the dashed line the event is more frequent than under "
        f"the comparator. {_one_arm_only(r, events, comp, others, order)}"
    )
    return plots.figure(r, "plot-forest", alt, figure, caption)


def _one_arm_only(
    r: ResultFolder, events: pd.DataFrame, comp: str, others: list[str], shown: list[str]
) -> str:
    """The events the forest plot cannot show: those of one arm only (a pump's device
    complications have no ratio against tablets), counted, the most frequent named."""
    rates = events[events["strategy"].isin(others) & ~events["event"].astype(str).isin(shown)]
    rates = rates[rates["rate_per_100py"].to_numpy(float) > 0]
    if rates.empty:
        return "Events absent from either arm are left out."
    top = rates.sort_values("rate_per_100py", ascending=False, kind="mergesort")
    first = top.drop_duplicates("event").head(ONE_ARM_NAMED)
    named = "; ".join(
        f"{f.text(row.get('label')) or row['event']} ({row['strategy']} "
        f"{f.auto(float(row['rate_per_100py']))})"
        for row in first.to_dict("records")
    )
    n = rates["event"].nunique()
    return (
        f"{n} events happen under another strategy but never under {comp}: they have no "
        f"ratio and are left out (every rate is in the event table below). The most "
        f"frequent, per 100 patient-years: {named}."
    )


#: How many of the events seen under one arm only the forest plot's caption names.
ONE_ARM_NAMED = 6


def _events_table(r: ResultFolder) -> str:
    """Rates per 100 patient-years with intervals, strategies side by side."""
    events = r.table("events")
    if events is None:
        return f.absent("The event table", "events.csv")
    present = [s for s in r.strategies if s in set(events["strategy"].unique())]
    by_key = {(str(row["strategy"]), str(row["event"])): row for row in events.to_dict("records")}
    rows = []
    for event in dict.fromkeys(events["event"]):
        event = str(event)
        first = next(by_key[(s, event)] for s in present if (s, event) in by_key)
        cells: list[object] = [f.text(first.get("label")) or event]
        for name in present:
            row = by_key.get((name, event))
            if row is None:
                cells.append(f.DASH)
                continue
            rate = f.interval(
                f.rate,
                row.get("rate_per_100py"),
                row.get("rate_per_100py_ci_low"),
                row.get("rate_per_100py_ci_high"),
            )
            count = row.get("events")
            detail = f"{f.auto(count) or 0} event{'' if f.finite(count) and count == 1 else 's'}"
            if f.finite(row.get("share_with_event")):
                detail += f"; {f.pct(row.get('share_with_event'))} of patients"
            cells.append(f.Html(f"{f.e(rate)}<br><small>{f.e(detail)}</small>"))
        rows.append(cells)
    return (
        "<p>Events per 100 patient-years with 95% intervals (widened for over-dispersion); "
        "below, the count and the share of patients with at least one.</p>"
        + f.table(["Event", *present], rows, cls="events")
    )


def _convergence(r: ResultFolder) -> str:
    """Running means with ±1.96 MCSE bands: one row per quantity, one column per axis."""
    conv = r.table("convergence")
    if conv is None:
        return f.absent("The convergence analysis", "convergence.csv")
    kinds = [a for a in ("patients", "iterations") if a in set(conv["axis"].unique())]
    kinds += [str(a) for a in dict.fromkeys(conv["axis"]) if a not in kinds]
    points = {k: conv.loc[conv["axis"] == k, "n"].nunique() for k in kinds}
    few = [k for k in kinds if points[k] < CONVERGENCE_POINTS]
    kinds = [k for k in kinds if k not in few]  # a line of a few points shows little
    unplotted = "".join(
        f" By {k}: only {points[k]} running mean{'s' if points[k] != 1 else ''} (one per "
        f"{'block of patients' if k == 'patients' else 'iteration'}), not plotted; "
        f"{'they are' if points[k] != 1 else 'it is'} in convergence.csv."
        for k in few
    )
    if not kinds:  # a base case of up to four blocks: its precision is in the headline
        return f'<p class="note">{f.e("No plot." + unplotted)}</p>'
    quantities = [str(q) for q in dict.fromkeys(conv["quantity"])]
    present = [s for s in r.strategies if s in set(conv["strategy"].unique())]
    figure = plots.convergence(r, conv, kinds, quantities, present)
    alt = (
        f"Convergence: running means with bands of plus or minus 1.96 Monte Carlo standard "
        f"errors of {f.names(quantities)} against {f.names(kinds)}, by strategy."
    )
    caption = (
        "Running mean as patients (base case, block by block) and PSA iterations accumulate; "
        "the band is ±1.96 Monte Carlo standard errors. Flat lines with narrow bands mean "
        "enough patients or iterations." + unplotted
    )
    return plots.figure(r, "plot-convergence", alt, figure, caption)


#: Fewer running means than this on an axis make no convergence line worth a panel.
CONVERGENCE_POINTS = 5


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

SECTIONS: tuple[tuple[str, str, Callable[[ResultFolder], str]], ...] = (
    ("headline", "Headline results", _headline),
    ("costs", "Costs and QALYs by component", _costs),
    ("subgroups", "Subgroups", _subgroups),
    ("ce-plane", "Cost-effectiveness plane", uncertainty.ce_plane),
    ("ceac", "Cost-effectiveness acceptability (CEAC and CEAF)", uncertainty.ceac),
    ("evpi", "Expected value of perfect information (EVPI)", uncertainty.evpi),
    ("evppi", "Expected value of partial perfect information (EVPPI)", uncertainty.evppi),
    ("tornado", "One-way sensitivity analysis (tornado)", uncertainty.tornado),
    ("threshold", "Threshold analysis", uncertainty.threshold),
    ("cumulative-incidence", "Cumulative incidence", _cumulative),
    ("state-occupancy", "State occupancy", _occupancy),
    ("forest", "Event rate ratios (forest plot)", _forest),
    ("events", "Event rates", _events_table),
    ("convergence", "Convergence", _convergence),
    ("methods", "Methods appendix (CHEERS 2022)", methods.methods),
)


#: Sections built by a second process beside the first (their figures are about half of
#: the page's time, in a base case as in a whole study): see render.
BUILT_BESIDE = frozenset({"tornado", "cumulative-incidence", "convergence"})


def _built(
    results: ResultFolder, sections: Iterable[tuple[str, str, Callable[[ResultFolder], str]]]
) -> tuple[list[tuple[str, str | None]], dict[str, bytes]]:
    """Each section's body, with the problem when it could not be built (the body then
    says why), and the SVGs its plots kept."""
    built: list[tuple[str, str | None]] = []
    for _section_id, title, build in sections:
        try:
            built.append((build(results), None))
        except (KeyError, ValueError, TypeError, IndexError) as error:
            message = (
                f"{title}: could not be built from the tables ({type(error).__name__}: {error})"
            )
            built.append((f'<p class="error">{f.e(message)}</p>', message))
    return built, dict(results.svg or {})


def render(results: ResultFolder) -> str:
    """The whole HTML page. A section that cannot be built says why; the rest still shows.
    The sections of BUILT_BESIDE are built by a process forked for them where that is
    possible (sim.output.beside.in_two): the same page, on two cores."""
    here = [s for s in SECTIONS if s[0] not in BUILT_BESIDE]
    there = [s for s in SECTIONS if s[0] in BUILT_BESIDE]
    (mine, _), (theirs, svgs) = in_two(
        lambda: _built(results, here), lambda: _built(results, there)
    )
    if results.svg is not None:
        results.svg.update(svgs)
    by_id = dict(zip([s[0] for s in here + there], mine + theirs, strict=True))
    problems = list(results.problems)
    bodies = []
    for section_id, title, _build in SECTIONS:
        body, problem = by_id[section_id]
        if problem is not None:
            problems.append(problem)
        bodies.append(f'<section id="{section_id}"><h2>{f.e(title)}</h2>{body}</section>')
    s, m = results.scenario, results.manifest
    name = str(m.get("scenario") or s.get("name") or "scenario")
    title = str(s.get("title") or name)
    meta = [f"scenario <code>{f.e(name)}</code>"]
    if "seed" in m:
        meta.append(f"seed {f.e(str(m['seed']))}")
    if m.get("patients_per_strategy") is not None:
        meta.append(f"{f.e(m['patients_per_strategy'])} patients per strategy")
    if m.get("psa_iterations"):
        meta.append(f"{f.e(m['psa_iterations'])} PSA iterations")
    if m.get("scenario_sha256"):
        meta.append(f"SHA-256 <code>{f.e(m['scenario_sha256'])}</code>")
    nav = "".join(f'<li><a href="#{sid}">{f.e(t)}</a></li>' for sid, t, _b in SECTIONS)
    tables = ", ".join(f"{n}.csv" for n in results.tables) or "none"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{f.e(title)} - baclofen-sim report</title><style>{STYLE}</style></head>\n"
        f"<body><header><h1>{f.e(title)}</h1>"
        f'<p class="meta">{" · ".join(meta)}</p></header>\n'
        f"{_warnings(results, problems)}"
        f"<nav><ol>{nav}</ol></nav>\n"
        + "\n".join(bodies)
        + f'\n<footer><p class="meta">Built by baclofen-sim from the tables in its folder '
        f"({f.e(tables)}, manifest.json); results.xlsx holds the same tables (a monthly grid "
        "of more than 20 years by whole years).</p></footer>"
        "</body></html>\n"
    )
