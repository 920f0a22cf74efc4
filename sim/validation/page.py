"""validation.html: the checks and the base scenario's assumptions, on one page."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pandas as pd

from sim import scenario
from sim.output import files, tables
from sim.output.report.methods import is_assumption
from sim.validation.checks import SET_UPS, Check
from sim.validation.suite import run, table


def page(checks: list[Check], costs: pd.DataFrame, base: scenario.Scenario) -> str:
    """A short self-contained HTML page: the checks, the ITB arm's costs after implant by
    item beside the cited totals, then the assumptions."""

    def fmt(x: float) -> str:
        return "" if x != x else f"{x:.4g}"

    sections = []
    for kind, title in (
        ("internal", "Internal (analytic)"),
        ("external", "External (published outcomes)"),
        ("cross-model", "Cross-model (published economic evaluations)"),
        ("calibration", "Calibration targets (a default derived from them; not validation)"),
    ):
        rows = "".join(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>".format(
                "pass" if c.passed else "fail",
                html.escape(c.check),
                fmt(c.reference),
                html.escape(c.reference_source),
                fmt(c.model)
                + (
                    f" ({fmt(c.model_low)}-{fmt(c.model_high)})"
                    if c.model_high > c.model_low
                    else ""
                ),
                fmt(c.difference),
                html.escape(c.tolerance),
                "pass" if c.passed else "FAIL",
                html.escape(c.note),
            )
            for c in checks
            if c.kind == kind
        )
        passed = sum(c.passed for c in checks if c.kind == kind)
        total = sum(c.kind == kind for c in checks)
        sections.append(
            f"<h2>{title}: {passed} of {total} pass</h2><table><tr><th>check</th>"
            "<th>reference</th><th>source</th><th>model (95% MC interval)</th>"
            "<th>difference</th><th>tolerance</th><th>result</th><th>why it may differ</th>"
            f"</tr>{rows}</table>"
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
        "tr.fail td{background:#fde2e2}tr.pass td:nth-child(7){color:#1a7f37}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>baclofen-sim validation"
        f"</title><style>{style}</style></head><body><h1>Model validation</h1>"
        "<p>Internal checks compare the model with closed forms and must all pass. External "
        "checks set the model beside published outcomes, and cross-model checks beside "
        "published economic evaluations run with the base case's inputs. The shipped base "
        "case is not tuned to them: a difference is reported with its likely reason. A "
        "calibration target is a figure a default was derived from: it shows the "
        "derivation holds and is never counted as a validation.</p>"
        + "".join(sections)
        + "<h2>Assumptions of the base scenario (weakest evidence)</h2>"
        "<p>Every default the base scenario's sources mark as an assumption: the inputs "
        "with the weakest evidence (PARAMETERS.md found no published figure for them).</p>"
        f"<ul>{assumptions}</ul></body></html>\n"
    )


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


def write(scenarios: Path, out_dir: Path, patients: int) -> tuple[list[Check], Path]:
    """Run every check on `scenarios`/base.yaml and the set-ups in `scenarios`/validation/,
    and write OUT/validation/ (validation.csv, validation.html, manifest.json) at once."""
    base_file, folder = Path(scenarios) / "base.yaml", Path(scenarios) / "validation"
    base = scenario.load(base_file)
    for name in SET_UPS:
        scenario.load(folder / name)  # a bad set-up is reported before minutes of checks
    start = time.perf_counter()
    checks, costs = run(base_file, folder, patients)
    target = Path(out_dir) / "validation"
    with files.atomic_folder(target) as tmp:
        tables.write_csv(table(checks), tmp / "validation.csv")
        tables.write_csv(costs, tmp / "costs_after_implant.csv")
        (tmp / "validation.html").write_text(page(checks, costs, base), encoding="utf-8")
        manifest = {
            "patients_per_check": patients,
            "base_scenario_sha256": scenario.sha256(base),
            "run_seconds": round(time.perf_counter() - start, 3),
            "versions": tables.versions(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return checks, target
