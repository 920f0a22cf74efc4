"""validation.html: the checks and the base scenario's assumptions, on one page."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from sim import scenario
from sim.output import files, tables
from sim.output.report.methods import is_assumption
from sim.validation.checks import SET_UPS, Check, run, table


def page(checks: list[Check], base: scenario.Scenario) -> str:
    """A short self-contained HTML page: the checks, then the assumptions."""

    def fmt(x: float) -> str:
        return "" if x != x else f"{x:.4g}"

    sections = []
    for kind, title in (
        ("internal", "Internal (analytic)"),
        ("external", "External (published outcomes)"),
        ("cross-model", "Cross-model (published economic evaluations)"),
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
        "case is not tuned to them: a difference is reported with its likely reason.</p>"
        + "".join(sections)
        + "<h2>Assumptions of the base scenario (weakest evidence)</h2>"
        "<p>Every default the base scenario's sources mark as an assumption: the inputs "
        "with the weakest evidence (PARAMETERS.md found no published figure for them).</p>"
        f"<ul>{assumptions}</ul></body></html>\n"
    )


def write(scenarios: Path, out_dir: Path, patients: int) -> tuple[list[Check], Path]:
    """Run every check on `scenarios`/base.yaml and the set-ups in `scenarios`/validation/,
    and write OUT/validation/ (validation.csv, validation.html, manifest.json) at once."""
    base_file, folder = Path(scenarios) / "base.yaml", Path(scenarios) / "validation"
    base = scenario.load(base_file)
    for name in SET_UPS:
        scenario.load(folder / name)  # a bad set-up is reported before minutes of checks
    start = time.perf_counter()
    checks = run(base_file, folder, patients)
    target = Path(out_dir) / "validation"
    with files.atomic_folder(target) as tmp:
        tables.write_csv(table(checks), tmp / "validation.csv")
        (tmp / "validation.html").write_text(page(checks, base), encoding="utf-8")
        manifest = {
            "patients_per_check": patients,
            "base_scenario_sha256": scenario.sha256(base),
            "run_seconds": round(time.perf_counter() - start, 3),
            "versions": tables.versions(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return checks, target
