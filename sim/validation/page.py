"""validation.html: the checks and the base scenario's assumptions, on one page."""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path

import pandas as pd

from sim import scenario
from sim.output import files, tables
from sim.output.report.methods import is_assumption
from sim.validation.checks import PUBLISHED, SET_UPS, Check
from sim.validation.studies import Figure
from sim.validation.suite import run, table


def plain(x: float) -> str:
    """A number as a reader writes it: thousands separated, no exponent."""
    if x != x:
        return ""
    if math.isinf(x):
        return "never" if x > 0 else "-inf"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _interval(model: float, low: float, high: float) -> str:
    return plain(model) + (f" ({plain(low)} to {plain(high)})" if high > low else "")


def page(
    checks: list[Check],
    figures: list[Figure],
    costs: pd.DataFrame,
    base: scenario.Scenario,
) -> str:
    """A short self-contained HTML page: the checks, the published evaluations study by
    study, the ITB arm's costs after implant by item beside the cited totals, then the
    assumptions."""
    sections = []
    for kind, title in (
        ("internal", "Internal (analytic)"),
        ("external", "External (published outcomes)"),
    ):
        sections.append(_checks_section(checks, (kind,), title))
    sections.append(_studies_section(figures))
    sections.append(
        _checks_section(
            checks,
            NOT_VALIDATION,
            "Calibration and derivation targets (a default derived from them; never counted "
            "as validation)",
        )
    )
    sections.append(_costs_section(costs, base))
    assumptions = "".join(
        f"<li><code>{html.escape(k)}</code>"
        + (" (varied in the PSA)" if k in base.uncertainty else "")
        + f": {html.escape(v)}</li>"
        for k, v in base.sources.items()
        if is_assumption(v)
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;"
        "width:100%}td,th{border:1px solid #ccc;padding:4px;font-size:90%;vertical-align:top}"
        "tr.fail td{background:#fde2e2}tr.pass td.result{color:#1a7f37}"
        "tr.none td{background:#f3f3f3}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>baclofen-sim validation"
        f"</title><style>{style}</style></head><body><h1>Model validation</h1>"
        "<p>Internal checks compare the model with closed forms and must all pass. External "
        "checks set the model beside published outcomes. Published economic evaluations "
        "are run from set-ups built with each study's own inputs where they could be read; "
        "where a figure is not reproduced, the study's structural difference is removed in "
        "a run of its own, to show how much of the gap it explains (such a run explains; it "
        "is not a validation). The shipped base case is not tuned to any of them. A "
        "calibration target (fitted by a calibration step) or a derivation target (a "
        "published figure a default was computed from) is a figure a default was derived "
        "from: it shows the derivation holds and is never counted as a validation.</p>"
        + "".join(sections)
        + "<h2>Assumptions of the base scenario (weakest evidence)</h2>"
        "<p>Every default the base scenario's sources mark as an assumption: the inputs "
        "with the weakest evidence (PARAMETERS.md found no published figure for them).</p>"
        f"<ul>{assumptions}</ul></body></html>\n"
    )


#: The kinds of check that are no validation, shown together.
NOT_VALIDATION = ("calibration", "derivation")


def _checks_section(checks: list[Check], kinds: tuple[str, ...], title: str) -> str:
    rows = "".join(
        "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class='result'>{}</td><td>{}</td></tr>".format(
            "pass" if c.passed else "fail",
            html.escape(c.check),
            plain(c.reference),
            html.escape(c.reference_source),
            _interval(c.model, c.model_low, c.model_high),
            plain(c.difference),
            html.escape(c.tolerance),
            "pass" if c.passed else "FAIL",
            html.escape(c.note),
        )
        for c in checks
        if c.kind in kinds
    )
    passed = sum(c.passed for c in checks if c.kind in kinds)
    total = sum(c.kind in kinds for c in checks)
    return (
        f"<h2>{title}: {passed} of {total} pass</h2><table><tr><th>check</th>"
        "<th>reference</th><th>source</th><th>model (95% MC interval)</th>"
        "<th>difference</th><th>tolerance</th><th>result</th><th>why it may differ</th>"
        f"</tr>{rows}</table>"
    )


def _studies_section(figures: list[Figure]) -> str:
    """Per study: its set-up's inputs, each headline figure beside the model's, and the
    runs without each structural difference."""
    parts = []
    compared = [f for f in figures if f.compared]
    parts.append(
        "<h2>Published evaluations reproduced: "
        f"{sum(f.passed for f in compared)} of {len(compared)} figures</h2>"
    )
    for entry in PUBLISHED["cross_model"]:
        mine = [f for f in figures if f.study == entry["study"]]
        shown = [f for f in mine if f.compared]
        rows = "".join(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td class='result'>{}</td><td>{}</td></tr>".format(
                ("pass" if f.passed else "fail") if f.compared else "none",
                html.escape(f.check),
                plain(f.reference),
                html.escape(f.reference_source),
                _interval(f.model, f.model_low, f.model_high) if f.compared else "",
                plain(f.difference) if f.compared else "",
                html.escape(f.tolerance),
                ("reproduced" if f.passed else "not reproduced") if f.compared else "",
                "<br>".join(
                    f"{html.escape(what)}: <b>{plain(value)}</b>" for what, value in f.explained
                )
                or html.escape(f.note if not f.compared else ""),
            )
            for f in mine
        )
        why = " ".join(entry.get("why", "").split())
        parts.append(
            f"<h3>{html.escape(entry['study'])}: {sum(f.passed for f in shown)} of "
            f"{len(shown)} figures reproduced (set-up "
            f"<code>scenarios/validation/{html.escape(entry['set_up'])}</code>)</h3>"
            f"<p>Inputs: {html.escape(' '.join(entry['inputs'].split()))}.</p>"
            + (f"<p>Why the model differs: {html.escape(why)}.</p>" if why else "")
            + "<table><tr><th>figure</th><th>published</th><th>source</th>"
            "<th>model (95% MC interval)</th><th>difference</th><th>tolerance</th>"
            "<th>result</th><th>without the structural difference (a run each)</th></tr>"
            f"{rows}</table>"
        )
    return "".join(parts)


def _costs_section(costs: pd.DataFrame, base: scenario.Scenario) -> str:
    """The explicit ITB items and care per patient-year beside the cited all-cause totals:
    a reader sees that no yearly care cost holds what the model costs explicitly."""

    def money(x: float) -> str:
        return "" if x != x else f"{x:,.0f}"

    items = costs[costs.component != "cited"]
    cited = costs[costs.component == "cited"]
    rows = "".join(
        f"<tr><td>{html.escape(r.component.replace('_', ' '))}</td>"
        f"<td>{money(r.itb_per_patient_year)}</td><td>{money(r.cmm_per_patient_year)}</td></tr>"
        for r in items.itertuples()
    )
    cited_rows = "".join(
        f"<tr><td>{html.escape(r.cited_total)}</td><td>{money(r.cited_value)}</td>"
        f"<td>{html.escape(r.cited_price_year)}</td></tr>"
        for r in cited.itertuples()
    )
    return (
        "<h2>Costs per patient-year in years 2-3 after implant</h2>"
        f"<p>The base case ({html.escape(base.currency)} {base.price_year}, undiscounted), "
        "every patient implanted and none dying or explanted: background care (at ITB's "
        "multiplier in the ITB arm) and each item the model costs explicitly. The cited "
        "totals are all-cause claims, which hold the device, refills, drug and "
        "complications: they compare with the total, never with care alone.</p>"
        "<table><tr><th>component</th><th>ITB</th><th>conventional management</th></tr>"
        f"{rows}</table><table><tr><th>cited all-cause total</th><th>value</th>"
        f"<th>price year</th></tr>{cited_rows}</table>"
    )


def write(scenarios: Path, out_dir: Path, patients: int) -> tuple[list[Check], list[Figure], Path]:
    """Run every check on `scenarios`/base.yaml and the set-ups in `scenarios`/validation/,
    and write OUT/validation/ (validation.csv, validation.html, manifest.json) at once."""
    base_file, folder = Path(scenarios) / "base.yaml", Path(scenarios) / "validation"
    base = scenario.load(base_file)
    for name in SET_UPS:
        scenario.load(folder / name)  # a bad set-up is reported before minutes of checks
    start = time.perf_counter()
    checks, figures, costs = run(base_file, folder, patients)
    target = Path(out_dir) / "validation"
    with files.atomic_folder(target) as tmp:
        tables.write_csv(table(checks, figures), tmp / "validation.csv")
        tables.write_csv(costs, tmp / "costs_after_implant.csv")
        (tmp / "validation.html").write_text(page(checks, figures, costs, base), encoding="utf-8")
        manifest = {
            "patients_per_check": patients,
            "base_scenario_sha256": scenario.sha256(base),
            "run_seconds": round(time.perf_counter() - start, 3),
            "versions": tables.versions(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return checks, figures, target
