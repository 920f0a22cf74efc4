"""The report (sim.report): built from synthetic result folders in the documented formats.

The fixtures write the tables a run writes (same columns, same number format, missing
values as empty fields), so these tests need no simulation and run in seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.model.events import COST_CATEGORIES
from sim.output import report

FLOAT_FORMAT = "%.10g"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"
#: Sections that need a PSA or uncertain parameters: absent from the minimal fixture.
OPTIONAL_SECTIONS = ("ce-plane", "ceac", "evpi", "evppi", "tornado", "threshold", "convergence")
OPTIONAL_PLOTS = ("plot-ce-plane", "plot-ceac", "plot-evpi", "plot-tornado", "plot-convergence")
TYPES = {"none": "untreated", "oral": "oral", "itb": "itb"}
EVENTS = {
    "catheter_failure": ("Catheter failure", {"itb": 4.0}),
    "pump_failure": ("Pump failure", {"itb": 0.9}),
    "withdrawal": ("Withdrawal", {"itb": 2.0, "oral": 1.0, "untreated": 0.2}),
    "drowsiness": ("Drowsiness", {"itb": 7.0, "oral": 30.0}),
    "infection": ("Infection", {"itb": 1.5}),
    "death": ("Death", {"itb": 2.6, "oral": 2.7, "untreated": 2.9}),
}
GROUPS = ("any_device_failure", "any_serious_adverse_event", "withdrawal", "death")
PARAMETERS = (
    "strategies.itb.utility_change",
    "strategies.itb.care_cost_multiplier",
    "cohort.care_cost_per_year",
    "strategies.itb.pump.failure_rate_per_year",
    "strategies.itb.surgery.implant.cost",
)
SHARES = ("cerebral_palsy", "multiple_sclerosis")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """As sim.tables writes: 10 significant digits, missing values as empty fields."""
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def make_results(
    folder: Path,
    *,
    strategies: Sequence[str] = ("none", "oral", "itb"),
    comparator: str = "oral",
    psa_iterations: int = 200,
    uncertain: bool = True,
    wtp: Sequence[float] = (50000.0, 100000.0),
    title: str = "ITB pump vs oral baclofen, synthetic",
    warnings: Sequence[str] = (),
    horizon: float | str = 5.0,
) -> Path:
    """A result folder in the formats of a real run, with made-up but plausible numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    names = list(strategies)
    types = {s: TYPES.get(s, ("untreated", "oral", "itb")[i % 3]) for i, s in enumerate(names)}
    cost = {s: 800_000.0 + 20_000.0 * i for i, s in enumerate(names)}
    qaly = {s: 6.0 + 0.6 * i for i, s in enumerate(names)}
    tags = [f"{w:.10g}" for w in wtp]
    n = 1000
    rows = []
    for s in names:
        d_cost, d_qaly = cost[s] - cost[comparator], qaly[s] - qaly[comparator]
        row: dict[str, Any] = {"strategy": s, "type": types[s], "patients": n}
        for key, mean, half in (
            ("cost", cost[s], 9000.0),
            ("qaly", qaly[s], 0.05),
            ("life_years", 12.0, 0.1),
            ("life_years_discounted", 10.0, 0.1),
        ):
            row.update({key: mean, f"{key}_ci_low": mean - half, f"{key}_ci_high": mean + half})
        for key, mean, half in (("cost", d_cost, 3000.0), ("qaly", d_qaly, 0.02)):
            row[f"incremental_{key}"] = mean
            row[f"incremental_{key}_ci_low"] = mean - half if s != comparator else 0.0
            row[f"incremental_{key}_ci_high"] = mean + half if s != comparator else 0.0
        if s == comparator:
            row["icer"], row["icer_note"] = math.nan, "comparator"
        elif d_qaly > 0:
            row["icer"] = d_cost / d_qaly
            row["icer_note"] = "more costly, more effective" if d_cost > 0 else "dominant"
        else:
            row["icer"], row["icer_note"] = math.nan, "dominated"
        row["frontier_status"] = "frontier" if s != names[0] or len(names) == 1 else "dominated"
        row["frontier_icer"] = 33_333.3 if s == names[-1] and len(names) > 1 else math.nan
        for w, tag in zip(wtp, tags, strict=True):
            row[f"nmb_{tag}"] = w * qaly[s] - cost[s]
            inc = w * d_qaly - d_cost
            row[f"incremental_nmb_{tag}"] = inc
            row[f"incremental_nmb_{tag}_ci_low"] = inc - 5000.0 if s != comparator else 0.0
            row[f"incremental_nmb_{tag}_ci_high"] = inc + 5000.0 if s != comparator else 0.0
        row.update(
            person_years=n * 4.5,
            mean_itb_dose_mcg_per_day=420 if types[s] == "itb" else math.nan,
            mean_oral_dose_mg_per_day=60.0 if types[s] != "untreated" else math.nan,
            years_on_pump_per_patient=3.9 if types[s] == "itb" else 0.0,
            years_on_tablets_per_patient=0.5 if types[s] == "itb" else 4.0,
            refill_visits_per_patient_year=4.1 if types[s] == "itb" else math.nan,
            mean_refill_interval_days=88.0 if types[s] == "itb" else math.nan,
            pump_replacements_per_patient=0.2 if types[s] == "itb" else 0.0,
        )
        rows.append(row)
    summary = pd.DataFrame(rows)

    # events.csv: the comparator's ratios are empty, as are ratios of events absent in an arm
    event_rows = []
    years = n * 4.5
    for s in names:
        for event, (label, rates) in EVENTS.items():
            rate = rates.get(types[s], 0.0)
            count = round(rate / 100 * years)
            ref = round(rates.get(types[comparator], 0.0) / 100 * years)
            rr = (count / ref) if s != comparator and count and ref else math.nan
            se = math.sqrt(1 / count + 1 / ref) if not math.isnan(rr) else math.nan
            event_rows.append(
                {
                    "strategy": s,
                    "event": event,
                    "label": label,
                    "events": count,
                    "person_years": years,
                    "rate_per_100py": 100 * count / years,
                    "rate_per_100py_ci_low": max(0.0, 100 * (count - 2 * math.sqrt(count)) / years),
                    "rate_per_100py_ci_high": 100 * (count + 2 * math.sqrt(count) + 1) / years,
                    "dispersion": 1.2,
                    "patients_with_event": min(n, count),
                    "share_with_event": min(n, count) / n,
                    "mean_per_patient": count / n,
                    "rate_ratio": rr,
                    "rate_ratio_ci_low": rr * math.exp(-1.96 * se),
                    "rate_ratio_ci_high": rr * math.exp(1.96 * se),
                    "relative_risk": rr,
                    "relative_risk_ci_low": rr * 0.8,
                    "relative_risk_ci_high": rr * 1.25,
                    "risk_difference": math.nan if s == comparator else (count - ref) / n,
                    "risk_difference_ci_low": math.nan,
                    "risk_difference_ci_high": math.nan,
                    "number_needed_to_harm": math.nan,
                    "number_needed_to_treat": math.nan,
                }
            )
    events = pd.DataFrame(event_rows)

    months = round(float(horizon) * 12) if horizon != "lifetime" else 120
    ci_rows = []
    for i, s in enumerate(names):
        for g, group in enumerate(GROUPS):
            hazard = 0.002 * (g + 1) * (1 + 0.3 * i)
            for month in range(months + 1):
                ci_rows.append(
                    {
                        "strategy": s,
                        "group": group,
                        "month": month,
                        "years": month / 12,
                        "cumulative_incidence": 1 - math.exp(-hazard * month),
                    }
                )
    breakdown_rows = []
    for s in names:
        weights = np.arange(1.0, len(COST_CATEGORIES) + 1.0)
        for category, w in zip(COST_CATEGORIES, weights / weights.sum(), strict=True):
            breakdown_rows.append(
                {
                    "strategy": s,
                    "component": category,
                    "kind": "cost",
                    "discounted": cost[s] * w,
                    "undiscounted": cost[s] * w * 1.3,
                    "share_of_discounted": w,
                }
            )
        for component, value in (("qaly_of_states", qaly[s] + 0.1), ("qaly_lost_to_events", -0.1)):
            breakdown_rows.append(
                {
                    "strategy": s,
                    "component": component,
                    "kind": "qaly",
                    "discounted": value,
                    "undiscounted": math.nan,
                    "share_of_discounted": math.nan,
                }
            )
    tables = {
        "summary": summary,
        "events": events,
        "cost_breakdown": pd.DataFrame(breakdown_rows),
        "cumulative_incidence": pd.DataFrame(ci_rows),
    }

    uncertainty: dict[str, Any] = {}
    if uncertain:
        uncertainty = {
            "strategies.itb.utility_change": {"dist": "normal", "relative_se": 0.7},
            "strategies.itb.care_cost_multiplier": {"dist": "gamma", "relative_se": 0.17},
            "cohort.care_cost_per_year": {"dist": "gamma", "mean": 54900, "se": 1e4},
            "strategies.itb.pump.failure_rate_per_year": {"dist": "gamma", "mean": 0.009},
            "strategies.itb.surgery.implant.cost": {"dist": "uniform", "low": 2e4, "high": 4e4},
            "cohort.indications": {"dist": "dirichlet", "counts": {"cerebral_palsy": 131}},
        }
    if psa_iterations:
        k = psa_iterations
        draws = {p: rng.normal(1.0, 0.1, k) for p in PARAMETERS}
        draws.update(
            {f"cohort.indications.{x}.share": rng.dirichlet([5, 5], k)[:, 0] for x in SHARES}
        )
        psa_rows = []
        shared = rng.normal(0.0, 1.0, (k, 2))
        for it in range(k):
            for i, s in enumerate(names):
                psa_rows.append(
                    {
                        "iteration": it + 1,
                        "strategy": s,
                        "cost": cost[s] + 15000 * shared[it, 0] + 8000 * rng.normal() * (i > 0),
                        "qaly": qaly[s] + 0.2 * shared[it, 1] + 0.1 * rng.normal() * (i > 0),
                        "life_years": 12 + rng.normal(0, 0.1),
                        "life_years_discounted": 10 + rng.normal(0, 0.1),
                        **{p: v[it] for p, v in draws.items()},
                    }
                )
        psa = pd.DataFrame(psa_rows)
        grid = np.unique(np.concatenate([np.linspace(0, 2 * max(wtp), 21), wtp]))
        ceac_rows = []
        for w in grid:
            nmb = w * psa.pivot(index="iteration", columns="strategy", values="qaly") - psa.pivot(
                index="iteration", columns="strategy", values="cost"
            )
            nmb = nmb[names]
            best = nmb.to_numpy().argmax(axis=1)
            expected = nmb.mean().to_numpy()
            evpi = float(nmb.max(axis=1).mean() - expected.max())
            for i, s in enumerate(names):
                ceac_rows.append(
                    {
                        "wtp": float(w),
                        "strategy": s,
                        "expected_nmb": expected[i],
                        "probability_cost_effective": float(np.mean(best == i)),
                        "on_frontier": int(i == int(expected.argmax())),
                        "evpi": evpi,
                        "evpi_se": 0.05 * evpi + 10,
                    }
                )
        evppi_rows = []
        for w in wtp:
            for p in (*PARAMETERS, "cohort.indications"):
                group = p == "cohort.indications"
                members = ";".join(f"{p}.{x}.share" for x in SHARES) if group else p
                evppi_rows.append(
                    {
                        "parameter": p,
                        "kind": "group" if group else "parameter",
                        "members": members,
                        "wtp": w,
                        "evppi": 100.0 * len(p),
                        "evppi_se": 12.5,
                        "evpi": 9000.0,
                        "share_of_evpi": 100.0 * len(p) / 9000,
                    }
                )
        conv_rows = []
        for axis, ns in (("patients", [4096, 8192, 12288, 16384]), ("iterations", range(1, k + 1))):
            for i, s in enumerate(names):
                quantities = ["cost", "qaly"] + ([f"incremental_nmb_{tags[0]}"] * (s != comparator))
                for q in quantities:
                    for m in ns:
                        conv_rows.append(
                            {
                                "axis": axis,
                                "n": m,
                                "strategy": s,
                                "quantity": q,
                                "running_mean": (cost[s] if q == "cost" else qaly[s] + i)
                                * (1 + 0.1 / math.sqrt(m)),
                                "mcse": math.nan if m == 1 else 0.2 * qaly[s] / math.sqrt(m),
                            }
                        )
        for s in names:
            row = summary.index[summary["strategy"] == s][0]
            part = psa[psa["strategy"] == s]
            ref = psa[psa["strategy"] == comparator]
            series = {
                "cost": part["cost"].to_numpy(),
                "qaly": part["qaly"].to_numpy(),
                "incremental_cost": part["cost"].to_numpy() - ref["cost"].to_numpy(),
                "incremental_qaly": part["qaly"].to_numpy() - ref["qaly"].to_numpy(),
            }
            for w, tag in zip(wtp, tags, strict=True):
                inc = w * series["incremental_qaly"] - series["incremental_cost"]
                series[f"incremental_nmb_{tag}"] = inc
            for key, x in series.items():
                summary.loc[row, f"psa_{key}_mean"] = x.mean()
                summary.loc[row, f"psa_{key}_p2_5"] = np.percentile(x, 2.5)
                summary.loc[row, f"psa_{key}_p97_5"] = np.percentile(x, 97.5)
            for tag in tags:
                summary.loc[row, f"probability_cost_effective_{tag}"] = 1 / len(names)
        tables.update(
            psa=psa,
            ceac=pd.DataFrame(ceac_rows),
            evppi=pd.DataFrame(evppi_rows),
            convergence=pd.DataFrame(conv_rows),
        )
    if uncertain and len(names) > 1:
        tornado_rows = []
        threshold_rows = []
        for s in names:
            if s == comparator:
                continue
            base = float(
                summary.loc[summary["strategy"] == s, f"incremental_nmb_{tags[0]}"].iloc[0]
            )
            for j, p in enumerate(PARAMETERS):
                swing = 40_000.0 / (j + 1)
                tornado_rows.append(
                    {
                        "strategy": s,
                        "comparator": comparator,
                        "wtp": wtp[0],
                        "parameter": p,
                        "base_value": 1.0,
                        "low_value": 0.8,
                        "high_value": 1.2,
                        "range_source": "percentiles",
                        "base_incremental_nmb": base,
                        "incremental_nmb_low": base - 0.6 * swing,
                        "incremental_nmb_high": base + 0.4 * swing,
                        "base_icer": 20000.0,
                        "icer_low": 15000.0,
                        "icer_high": 25000.0,
                        "swing": swing,
                    }
                )
            threshold_rows.append(
                {
                    "parameter": PARAMETERS[0],
                    "strategy": s,
                    "comparator": comparator,
                    "wtp": wtp[0],
                    "threshold": 0.61,
                    "searched_low": 0.5,
                    "searched_high": 0.8,
                    "note": "",
                }
            )
        tables.update(tornado=pd.DataFrame(tornado_rows), threshold=pd.DataFrame(threshold_rows))
    for name, frame in tables.items():
        write_csv(frame, folder / f"{name}.csv")

    scenario = {
        "name": "synthetic",
        "title": title,
        "seed": 20261123,
        "currency": "USD",
        "price_year": 2024,
        "horizon_years": horizon,
        "patients": n,
        "psa_iterations": psa_iterations,
        "discount": {"costs": 0.03, "effects": 0.015},
        "wtp": list(wtp),
        "comparator": comparator,
        "cohort": {
            "age_years": {"dist": "normal", "mean": 45.0, "sd": 15.0, "low": 18.0, "high": 80.0},
            "male_share": 0.532,
            "life_table": "us-ssa-2019",
            "indications": {
                "cerebral_palsy": {"share": 0.6, "mortality_multiplier": 2.0},
                "multiple_sclerosis": {"share": 0.4, "mortality_multiplier": 2.5},
                "brain_injury": None,
            },
        },
        "strategies": {s: {"type": types[s]} for s in names},
        "uncertainty": uncertainty,
        "sources": {
            "currency": "Assumption: US payer perspective",
            "discount": "US convention, 3% (Sanders 2016, JAMA 316:1093)",
            "strategies.itb.utility": "Assumption: ITB +0.05 over controlled tablets",
            "cohort.male_share": "Schiess 2020 PSR: 46.8% female",
        },
    }
    manifest: dict[str, Any] = {
        "scenario": "synthetic",
        "source": "scenarios/synthetic.yaml",
        "scenario_sha256": hashlib.sha256(json.dumps(scenario).encode()).hexdigest(),
        "seed": 20261123,
        "patients_per_strategy": n,
        "strategies": names,
        "engine": "fast",
        "run_seconds": 12.345,
        "python": "3.11.2",
        "platform": "Linux-test",
        "versions": {"baclofen-sim": "0.1.0", "numpy": "2.4.6"},
        "resolved_scenario": scenario,
    }
    if psa_iterations:
        manifest["psa_iterations"] = psa_iterations
    if warnings:
        manifest["warnings"] = list(warnings)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, flags=re.DOTALL)
    assert match, f"section {section_id} missing"
    return match.group(1)


def embedded_png(page: str, plot_id: str) -> bytes | None:
    match = re.search(
        rf'<img id="{plot_id}" alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page
    )
    return None if match is None else base64.b64decode(match.group(2))


@pytest.fixture(scope="module")
def full_written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The full result folder with its report, and its files before the report was written."""
    folder = make_results(
        tmp_path_factory.mktemp("full") / "synthetic",
        warnings=["patient-level noise is 40% of the parameter uncertainty"],
    )
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report.write(folder)
    return folder, before


@pytest.fixture(scope="module")
def full(full_written: tuple[Path, dict[str, bytes]]) -> Path:
    return full_written[0]


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_results(
        tmp_path_factory.mktemp("minimal") / "synthetic", psa_iterations=0, uncertain=False
    )
    report.write(folder)
    return folder


def test_write_makes_both_files_and_only_reads_the_tables(
    full_written: tuple[Path, dict[str, bytes]],
) -> None:
    folder, before = full_written
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert set(after) == set(before) | {"report.html", "results.xlsx"}  # no temporary left
    assert {p.name for p in folder.iterdir() if p.is_dir()} == {"plots"}  # the plots as PNG
    assert all(after[name] == data for name, data in before.items())
    assert after["report.html"].startswith(b"<!DOCTYPE html>")
    assert zipfile.is_zipfile(folder / "results.xlsx")


def test_full_report_embeds_every_plot(full: Path) -> None:
    page = (full / "report.html").read_text(encoding="utf-8")
    for plot_id in report.PLOT_IDS:
        png = embedded_png(page, plot_id)
        assert png is not None, f"{plot_id} is not an embedded PNG"
        assert png.startswith(PNG_SIGNATURE) and len(png) > 5000, plot_id
    for section_id in report.SECTION_IDS:
        assert "not run" not in section(page, section_id), section_id
    assert 'class="error"' not in page
    # self-contained: nothing fetched from elsewhere, no script
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page


def test_full_report_contents(full: Path) -> None:
    page = (full / "report.html").read_text(encoding="utf-8")
    assert 'id="warnings"' in page and "patient-level noise is 40%" in page
    headline = section(page, "headline")
    assert "more costly, more effective" in headline and "(comparator)" in headline
    assert "NMB at 50,000" in headline and "P(cost-effective) at 100,000" in headline
    assert "Probabilistic sensitivity analysis" in headline
    methods = section(page, "methods")
    assert "US payer perspective" in methods
    assert "3% per year for costs and 1.5% for effects" in methods
    assert "(1 + r)^-t" in methods and "Common random numbers" in methods
    assert "USD, price year 2024" in methods and "5 years" in methods
    assert "20261123" in methods and "200 PSA iterations" in methods
    assert "cerebral palsy 60.0%" in methods and "53.2% male" in methods
    assert "Age (years): normal (mean 45, sd 15, low 18, high 80)" in methods
    assert "dirichlet (counts: cerebral_palsy 131)" in methods
    assert methods.count('<tr class="assumption">') == 2
    assert "<b>2</b> are assumptions" in methods
    events = section(page, "events")
    assert "Catheter failure" in events and "events" in events
    # device complications have no ratio against tablets: named, not silently dropped
    caption = re.search(r'id="plot-forest".*?<figcaption>(.*?)</figcaption>', page, re.S)
    assert caption is not None
    assert re.search(r"\b3 events happen under another strategy but never under \w+", caption[1])
    assert "Catheter failure (itb 4" in caption[1] and "Pump failure (itb 0.9" in caption[1]
    assert "strategies.itb.utility" in section(page, "evppi")
    assert "0.61" in section(page, "threshold")


def test_minimal_report_says_not_run(minimal: Path) -> None:
    page = (minimal / "report.html").read_text(encoding="utf-8")
    for section_id in OPTIONAL_SECTIONS:
        assert "not run" in section(page, section_id), section_id
    for plot_id in OPTIONAL_PLOTS:
        assert embedded_png(page, plot_id) is None, plot_id
    for plot_id in ("plot-cumulative-incidence", "plot-forest"):
        assert embedded_png(page, plot_id) is not None, plot_id
    assert 'id="warnings"' not in page and 'class="error"' not in page
    assert "No probabilistic sensitivity analysis" in section(page, "methods")
    from openpyxl import load_workbook

    book = load_workbook(minimal / "results.xlsx", read_only=True)
    try:
        tables = [n for n in report.TABLES if (minimal / f"{n}.csv").exists()]
        assert book.sheetnames == ["headline", *tables, "inputs", "manifest"]
    finally:
        book.close()


def test_too_few_running_means_draw_no_convergence_plot(tmp_path: Path, minimal: Path) -> None:
    """A base case of one block has one running mean per series: an empty plot (lines of
    one point) is not drawn, the page says why, and a plot from an earlier build goes."""
    folder = tmp_path / "one-block"
    shutil.copytree(minimal, folder)
    (folder / "plots" / "plot-convergence.png").write_bytes(PNG_SIGNATURE)
    rows = [
        {"axis": "patients", "n": 1000, "strategy": s, "quantity": q, "running_mean": 1.0}
        | {"mcse": 0.1}
        for s in ("oral", "itb")
        for q in ("cost", "qaly")
    ]
    write_csv(pd.DataFrame(rows), folder / "convergence.csv")
    report.write_page(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    text = section(page, "convergence")
    assert "No plot. By patients: only 1 running mean (one per block of patients)" in text
    assert embedded_png(page, "plot-convergence") is None
    assert not (folder / "plots" / "plot-convergence.png").exists()
    # five running means make a line worth a plot
    rows = [r | {"n": n} for r in rows for n in range(1000, 6000, 1000)]
    write_csv(pd.DataFrame(rows), folder / "convergence.csv")
    report.write_page(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert embedded_png(page, "plot-convergence") is not None


def test_svg_plots_when_asked_for(tmp_path: Path) -> None:
    """`report --svg`: every plot also as SVG, text kept as text, the same bytes on a
    rebuild; a rebuild without it leaves only the PNG files."""
    folder = make_results(tmp_path / "svg" / "synthetic")
    report.write(folder, svg=True)
    pngs = sorted(p.stem for p in (folder / "plots").glob("*.png"))
    svgs = {p.stem: p.read_bytes() for p in (folder / "plots").glob("*.svg")}
    assert pngs and sorted(svgs) == pngs
    ceac = svgs["plot-ceac"].decode("utf-8")
    assert ceac.startswith("<?xml") and "<svg" in ceac
    assert "Probability cost-effective" in ceac  # text as text (svg.fonttype none)
    assert "<dc:date>" not in ceac
    report.write(folder, svg=True)
    assert {p.stem: p.read_bytes() for p in (folder / "plots").glob("*.svg")} == svgs
    report.write(folder)
    assert not list((folder / "plots").glob("*.svg"))


def test_rebuild_is_byte_identical(full: Path, tmp_path: Path) -> None:
    html_bytes = (full / "report.html").read_bytes()
    xlsx_bytes = (full / "results.xlsx").read_bytes()
    report.write(full)
    assert (full / "report.html").read_bytes() == html_bytes
    assert (full / "results.xlsx").read_bytes() == xlsx_bytes
    # elsewhere, from the tables alone: no path, time or listing order gets in
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    for name in sorted((p.name for p in full.iterdir()), reverse=True):
        if name.endswith(".csv"):
            shutil.copy2(full / name, copy / name)
    # a rerun takes another time and may start from another path: the report is the same
    manifest = json.loads((full / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(run_seconds=99.9, source="/elsewhere/synthetic.yaml")
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    report.write(copy)
    assert (copy / "report.html").read_bytes() == html_bytes
    assert (copy / "results.xlsx").read_bytes() == xlsx_bytes
    with zipfile.ZipFile(copy / "results.xlsx") as book:
        infos = book.infolist()
        assert infos[0].filename == "[Content_Types].xml"
        assert len({i.date_time for i in infos}) == 1 and infos[0].date_time[0] == 1980
        core = book.read("docProps/core.xml").decode()
        assert core.count("1980-01-01T00:00:00Z") == 2


def test_xlsx_has_one_sheet_per_table(full: Path) -> None:
    from openpyxl import load_workbook

    stems = [n for n in report.TABLES if (full / f"{n}.csv").exists()]
    assert len(stems) == 10
    book = load_workbook(full / "results.xlsx", read_only=True)
    try:
        assert book.sheetnames == ["headline", *stems, "inputs", "manifest"]
    finally:
        book.close()
    sheets = pd.read_excel(full / "results.xlsx", sheet_name=None, engine="openpyxl")
    for stem in stems:
        csv = pd.read_csv(full / f"{stem}.csv", keep_default_na=False, na_values=[""])
        sheet = sheets[stem].copy()
        if "parameter" in csv.columns:  # the sheet adds the readers' label beside the path
            labels = sheet.pop("label")
            assert list(sheet.columns).index("parameter") == list(csv.columns).index("parameter")
            assert labels.map(lambda x: isinstance(x, str) and x != "").all(), stem
        assert sheet.shape == csv.shape, stem
        assert list(sheet.columns) == list(csv.columns), stem
    tornado = sheets["tornado"].set_index("parameter")
    assert tornado.loc["strategies.itb.care_cost_multiplier", "label"].iloc[0] == (
        "itb: care cost multiplier"
    )
    summary = sheets["summary"].set_index("strategy")
    assert summary.loc["itb", "cost"] == pytest.approx(840_000.0)
    assert summary.loc["oral", "icer_note"] == "comparator"
    assert math.isnan(summary.loc["oral", "icer"])
    events = sheets["events"]
    first = events[(events["strategy"] == "itb") & (events["event"] == "catheter_failure")]
    assert int(first["events"].iloc[0]) == 180
    psa = sheets["psa"]
    assert len(psa) == 600 and psa["iteration"].max() == 200
    manifest = dict(zip(sheets["manifest"]["field"], sheets["manifest"]["value"], strict=True))
    assert int(manifest["seed"]) == 20261123
    assert manifest["strategies"] == "none; oral; itb"
    assert manifest["versions.numpy"] == "2.4.6"
    assert "resolved_scenario" not in manifest


def test_xlsx_shows_a_long_monthly_grid_by_whole_years() -> None:
    """A lifetime grid (1,441 months) shows months 0, 12, ... and the last, and the manifest
    sheet says so; a grid of 20 years or less keeps every month."""
    from openpyxl import load_workbook

    from sim.output.workbook import MONTHLY_UP_TO, workbook

    def grid(months: int) -> pd.DataFrame:
        month = np.arange(months + 1)
        return pd.DataFrame(
            {"strategy": "itb", "month": month, "years": month / 12, "dead": month / months}
        )

    tables = {"state_occupancy": grid(1441), "cumulative_incidence": grid(MONTHLY_UP_TO)}
    data = workbook(tables | {"trace": grid(1441)}, {"seed": 1})  # (not a grid: every row)
    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        rows = list(book["state_occupancy"].iter_rows(min_row=2, values_only=True))
        assert [r[1] for r in rows] == [*range(0, 1441, 12), 1441]
        assert rows[-1][3] == 1.0
        assert len(list(book["cumulative_incidence"].iter_rows(min_row=2))) == MONTHLY_UP_TO + 1
        assert len(list(book["trace"].iter_rows(min_row=2))) == 1442
        notes = {r[0]: r[1] for r in book["manifest"].iter_rows(values_only=True)}
        assert notes["state_occupancy.csv"] == (
            "whole years here (every 12th month and month 1,441); every month in the CSV"
        )
        assert "cumulative_incidence.csv" not in notes and "trace.csv" not in notes
    finally:
        book.close()


def test_xlsx_looks_finished(full: Path) -> None:
    """Number formats, frozen headers, filters and widths read back; a headline and an
    inputs sheet state the set-up; numbers are numbers."""
    from openpyxl import load_workbook

    book = load_workbook(full / "results.xlsx")
    try:
        summary = book["summary"]
        header = {c.value: c.column_letter for c in summary[1]}
        assert summary.freeze_panes == "A2" and summary.auto_filter.ref.startswith("A1:")
        assert summary[1][0].font.b
        formats = {
            "cost": "#,##0",
            "incremental_nmb_50000_ci_low": "#,##0",
            "qaly": "0.000",
            "life_years": "0.000",
            "probability_cost_effective_50000": "0.0%",
            "patients": "#,##0",
        }
        for column, number_format in formats.items():
            cell = summary[f"{header[column]}2"]
            assert cell.number_format == number_format, column
            assert isinstance(cell.value, int | float), column
        assert summary.column_dimensions[header["cost"]].width >= len("840,000")
        assert summary.column_dimensions[header["incremental_nmb_50000_ci_low"]].width >= 28
        facts = {row[0]: row[1] for row in book["headline"].iter_rows(values_only=True)}
        assert facts["Currency"] == "USD" and facts["Price year"] == 2024
        assert facts["Time horizon"] == "5.0 years"
        assert facts["Discount rate, effects"] == 0.015
        assert book["headline"]["B8"].number_format == "0.0%"
        strategies = [
            row for row in book["headline"].iter_rows(values_only=True) if row[0] == "itb"
        ]
        assert strategies and strategies[0][1] == pytest.approx(840_000.0)
        inputs = {row[0]: row[1:] for row in book["inputs"].iter_rows(values_only=True)}
        assert inputs["cohort.male_share"] == (0.532, "", "Schiess 2020 PSR: 46.8% female")
        age = inputs["cohort.age_years"]
        assert age[0] == "normal (mean 45, sd 15, low 18, high 80)"
        care = inputs["cohort.indications.cerebral_palsy.mortality_multiplier"]
        assert care[0] == 2.0
        assert inputs["discount.costs"][2].startswith("discount: US convention")
    finally:
        book.close()


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    folder = make_results(
        tmp_path / "hostile",
        title=HOSTILE,
        warnings=[f"warning {HOSTILE}"],
        strategies=("none", "oral", "<b>itb</b>"),
        psa_iterations=20,
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["resolved_scenario"]["sources"]["price_year"] = f'=cmd|"{HOSTILE}"'
    manifest["engine"] = "=1+1"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    threshold = pd.read_csv(folder / "threshold.csv", keep_default_na=False)
    threshold["note"] = f'=HYPERLINK("http://example.invalid","{HOSTILE}")'
    write_csv(threshold, folder / "threshold.csv")
    report.write(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>itb</b>" not in page and "&lt;b&gt;itb&lt;/b&gt;" in page
    assert 'class="error"' not in page
    for plot_id in report.PLOT_IDS:
        assert embedded_png(page, plot_id) is not None, plot_id
    # in the workbook, text that looks like a formula stays text
    from openpyxl import load_workbook

    book = load_workbook(folder / "results.xlsx")
    try:
        sheet = book["threshold"]
        column = next(c.column_letter for c in sheet[1] if c.value == "note")
        note = sheet[f"{column}2"]
        assert note.data_type == "s" and note.value.startswith("=HYPERLINK(")
        engine = next(row for row in book["manifest"].iter_rows() if row[0].value == "engine")
        assert engine[1].data_type == "s" and engine[1].value == "=1+1"
    finally:
        book.close()


@pytest.mark.parametrize("strategies", [("itb",), ("s1", "s2", "s3", "s4", "s5", "s6")])
def test_any_number_of_strategies(tmp_path: Path, strategies: tuple[str, ...]) -> None:
    folder = make_results(
        tmp_path / "n", strategies=strategies, comparator=strategies[0], psa_iterations=30,
        wtp=(30000.0, 60000.0, 90000.0), horizon="lifetime",
    )  # fmt: skip
    report.write(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert 'class="error"' not in page
    assert "lifetime" in section(page, "methods")
    expected = report.PLOT_IDS if len(strategies) > 1 else ("plot-ceac", "plot-evpi")
    for plot_id in expected:
        assert embedded_png(page, plot_id) is not None, plot_id


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_report_opens_in_a_browser(full: Path, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    shot = tmp_path / "screenshot.png"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,4000",
        f"--screenshot={shot}",
        (full / "report.html").resolve().as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{browser} did not finish in 60 s: {error.stderr!r}")
    assert done.returncode == 0, f"{browser} failed ({done.returncode}): {done.stderr}"
    assert shot.is_file(), f"no screenshot; stderr: {done.stderr}"
    pixels = _png_pixels(shot.read_bytes())
    assert pixels.shape[:2] == (4000, 1280)
    assert pixels.std() > 20, "the screenshot is blank"
    rgb = pixels.astype(np.int32)
    colours = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(colours)) > 200, "the screenshot is blank"
    # plots drawn: saturated pixels of the strategy colours (text alone is grey)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 80).sum() > 5000, "no plot visible in the screenshot"


def test_subgroup_section_of_a_real_run(tmp_path: Path) -> None:
    """The report's subgroup tables are subgroups.csv's rows: each indication, sex and age
    band with its patients and its increments against the comparator."""
    from conftest import BASE

    import sim

    results = sim.run(sim.load(BASE, patients=400, psa_iterations=0), one_way_analyses=False)
    folder = results.write(tmp_path)
    page = section((folder / "report.html").read_text(encoding="utf-8"), "subgroups")
    table = results.tables["subgroups"]
    itb = table[table["strategy"] == "itb"]
    assert "<h3>itb vs oral</h3>" in page
    for row in itb.to_dict("records"):
        assert f"<td>{str(row['subgroup']).replace('_', ' ')}</td><td>{row['patients']:,}" in page
    assert page.count("<tr>") >= len(itb) + 1
    minimal = make_results(tmp_path / "minimal" / "s")
    report.write(minimal)
    assert "was not run" in section((minimal / "report.html").read_text("utf-8"), "subgroups")


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_processes_started_ahead_write_the_same_bytes(
    full: Path, tmp_path: Path, start: str
) -> None:
    """The command line starts the report's and the workbook's processes before it reads
    the scenario, forked (they share this process's libraries) or as fresh interpreters:
    either way they write the same bytes as this process draws, folder after folder (a
    batch starts them once); a process never given a folder (the run stopped first) ends
    when its input does (a writer forked after another holds none of its pipes, or the
    first would wait for ever and be killed); a failure is one line, with its errno when
    it has one."""
    from sim.output.beside import REPORT, Writer, Writers

    outputs = [
        "report.html",
        "results.xlsx",
        *(f"plots/{p.name}" for p in (full / "plots").iterdir()),
    ]
    folders = [tmp_path / "first", tmp_path / "second"]
    with Writers(start) as writers:
        for folder in folders:
            shutil.copytree(full, folder)
            shutil.rmtree(folder / "plots")
            (folder / "report.html").unlink()
            (folder / "results.xlsx").unlink()
            writers.start(folder)
            writers.finish()
    for folder in folders:
        for name in outputs:
            assert (folder / name).read_bytes() == (full / name).read_bytes(), name
    with Writers(start) as unused:
        pass
    assert [w._child.returncode for w in unused.each] == [0, 0]  # ended, not killed
    folder = folders[0]
    (folder / "results.xlsx").unlink()
    (folder / "results.xlsx").mkdir()  # the workbook cannot be put in place: its error here
    with pytest.raises(IsADirectoryError), Writer(start=start) as writer:
        report.write(folder, writer=writer)
    (folder / "manifest.json").write_text("{")  # damaged: the child's last line, not a hang
    failing = pytest.raises(RuntimeError, match=r"report\.html: not written \(.+DamagedTable")
    with failing as caught, Writer(REPORT, start) as writer:
        writer.start(folder)
        writer.finish()
    assert "\n" not in str(caught.value)  # one line; the child's traceback for --debug:
    assert "Traceback" in caught.value.__notes__[0]


def test_writers_are_forked_only_from_a_process_of_one_thread() -> None:
    """A fork copies only the calling thread: beside another thread (a notebook's kernel,
    a pool left running) the writers start as fresh interpreters."""
    import threading

    from sim.output.beside import Writer, can_fork

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        with Writer() as writer:
            assert isinstance(writer._child, subprocess.Popen)
    finally:
        stop.set()
        other.join()
    if can_fork():  # Linux, this thread alone
        with Writer() as writer:
            assert not isinstance(writer._child, subprocess.Popen)


def test_in_two_gives_what_two_calls_give() -> None:
    """`in_two` runs its second call in a forked process (Linux, one thread) and returns
    what the two calls return; a second call that fails there (an exception, a result
    that does not pickle) runs again here and raises here, as it would have alone."""
    import os
    import threading

    from sim.output.beside import can_fork, in_two

    here, there = in_two(lambda: ("here", os.getpid()), lambda: ("there", os.getpid()))
    assert here == ("here", os.getpid()) and there[0] == "there"
    assert (there[1] != os.getpid()) == can_fork()
    calls = []

    def failing() -> None:
        calls.append(os.getpid())
        raise ValueError("bad table")

    with pytest.raises(ValueError, match="bad table"):
        in_two(lambda: 1, failing)
    assert calls == [os.getpid()]  # (the forked attempt's append stayed in its process)
    lock = in_two(lambda: 1, threading.Lock)[1]  # no pickle of a lock: made here
    assert isinstance(lock, type(threading.Lock()))


def test_the_page_is_the_same_built_on_one_core(
    full: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sections built beside the page by a forked process (page.BUILT_BESIDE) give the
    page built in one process, byte for byte; the SVGs they keep come back with them."""
    from sim.output import beside
    from sim.output.report import page

    results = dataclasses.replace(report.ResultFolder.read(full), svg={})
    forked = page.render(results)
    monkeypatch.setattr(beside, "can_fork", lambda: False)
    alone = dataclasses.replace(report.ResultFolder.read(full), svg={})
    assert page.render(alone) == forked
    assert results.svg is not None and alone.svg is not None
    assert results.svg and results.svg == alone.svg
    assert page.BUILT_BESIDE.issubset(report.SECTION_IDS)
