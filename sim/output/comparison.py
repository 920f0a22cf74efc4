"""Scenarios side by side (issue 17): `baclofen-sim compare RESULTS...`, and the end of
every `batch`. One tidy table of scenario x strategy x willingness to pay (costs, QALYs,
increments with their intervals, ICER, incremental net monetary benefit, probability
cost-effective when the scenario ran a PSA), as CSV, a sheet and a page with a plot of
the increments. Each scenario keeps its own currency, price year and comparator: the
table says them, and never converts one into another."""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.econ import wtp_tag
from sim.output import files, tables
from sim.output.workbook import workbook

COLUMNS = [
    "scenario",
    "title",
    "currency",
    "price_year",
    "horizon_years",
    "comparator",
    "strategy",
    "cost",
    "qaly",
    "life_years",
    "incremental_cost",
    "incremental_cost_ci_low",
    "incremental_cost_ci_high",
    "incremental_qaly",
    "incremental_qaly_ci_low",
    "incremental_qaly_ci_high",
    "icer",
    "icer_note",
    "wtp",
    "incremental_nmb",
    "incremental_nmb_ci_low",
    "incremental_nmb_ci_high",
    "probability_cost_effective",
]


class NotAResult(Exception):
    """A folder given to compare that holds no results of a run."""


def _read(folder: Path) -> pd.DataFrame:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        summary = pd.read_csv(folder / "summary.csv")
        resolved = manifest["resolved_scenario"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotAResult(
            f"{folder}: not a result folder of a run (needs manifest.json and summary.csv: {exc})"
        ) from None
    try:
        return _rows(summary, resolved)
    except (KeyError, TypeError, ValueError) as exc:  # a table or manifest edited or cut
        raise NotAResult(
            f"{folder}: summary.csv or manifest.json is not as `baclofen-sim run` wrote it "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); run it again"
        ) from None


def _rows(summary: pd.DataFrame, resolved: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for r in summary.to_dict("records"):
        for wtp in resolved["wtp"]:
            tag = wtp_tag(wtp)
            rows.append(
                {
                    "scenario": resolved["name"],
                    "title": resolved.get("title", ""),
                    "currency": resolved["currency"],
                    "price_year": resolved["price_year"],
                    "horizon_years": resolved["horizon_years"],
                    "comparator": resolved["comparator"],
                    **{k: r[k] for k in COLUMNS[6:18]},
                    "wtp": float(wtp),
                    "incremental_nmb": r[f"incremental_nmb_{tag}"],
                    "incremental_nmb_ci_low": r[f"incremental_nmb_{tag}_ci_low"],
                    "incremental_nmb_ci_high": r[f"incremental_nmb_{tag}_ci_high"],
                    "probability_cost_effective": r.get(
                        f"probability_cost_effective_{tag}", math.nan
                    ),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def compare(folders: list[Path]) -> pd.DataFrame:
    """The comparison table of the given result folders, in the order given."""
    return pd.concat([_read(Path(f)) for f in folders], ignore_index=True)


def _plot(frame: pd.DataFrame) -> str:
    """The increments of every scenario's strategies against its comparator, as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = frame[frame.strategy != frame.comparator].drop_duplicates(["scenario", "strategy"])
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for currency, part in points.groupby("currency", sort=True):
        ax.scatter(part.incremental_qaly, part.incremental_cost, label=currency, s=24)
    # labels of points close together alternate above and below, by their cost
    ordered = points.sort_values("incremental_cost").reset_index(drop=True)
    for k, r in enumerate(ordered.itertuples()):
        ax.annotate(
            f"{r.scenario}: {r.strategy}",
            (r.incremental_qaly, r.incremental_cost),
            fontsize=7,
            xytext=(5, 4 if k % 2 else -10),
            textcoords="offset points",
        )
    ax.axhline(0, color="#888", lw=0.8)
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_xlabel("incremental QALYs (against each scenario's comparator)")
    ax.set_ylabel("incremental cost\n(each scenario's currency and price year)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.legend(title="currency", fontsize=8)
    fig.tight_layout()
    out = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "baclofen-sim", "svg.fonttype": "none"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def _money(x: float) -> str:
    return "" if x != x else f"{x:,.0f}"


def page(frame: pd.DataFrame) -> str:
    """comparison.html: the table, one row per scenario and strategy, and the plot."""
    rows = []
    for (scenario, strategy), part in frame.groupby(["scenario", "strategy"], sort=False):
        r = part.iloc[0]
        icer = _money(r.icer) if r.icer == r.icer else html.escape(str(r.icer_note))
        by_wtp = "<br>".join(
            f"{w.wtp:,.0f}: {_money(w.incremental_nmb)}"
            + (
                f" ({w.probability_cost_effective:.1%})"
                if w.probability_cost_effective == w.probability_cost_effective
                else ""
            )
            for w in part.itertuples()
        )
        rows.append(
            f"<tr><td>{html.escape(scenario)}</td><td>{html.escape(strategy)}</td>"
            f"<td>{html.escape(str(r.currency))} {r.price_year}</td>"
            f"<td>{_money(r.cost)}</td><td>{r.qaly:.3f}</td>"
            f"<td>{_money(r.incremental_cost)}</td><td>{r.incremental_qaly:.3f}</td>"
            f"<td>{icer}</td><td>{by_wtp}</td></tr>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:90%;text-align:right}"
        "td:nth-child(-n+3){text-align:left}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>baclofen-sim: scenarios "
        f"compared</title><style>{style}</style></head><body><h1>Scenarios compared</h1>"
        "<p>Each scenario against its own comparator, in its own currency and price year "
        "(never converted). Incremental net monetary benefit at each willingness to pay, "
        "with the probability that the strategy is cost-effective there when the scenario "
        "ran a PSA.</p><table><tr><th>scenario</th><th>strategy</th><th>prices</th>"
        "<th>cost</th><th>QALYs</th><th>incr. cost</th><th>incr. QALYs</th><th>ICER</th>"
        "<th>incr. NMB at WTP (P cost-effective)</th></tr>"
        + "".join(rows)
        + f"</table>{_plot(frame)}</body></html>\n"
    )


def write(frame: pd.DataFrame, out_dir: Path) -> Path:
    """OUT/comparison/: comparison.csv, comparison.xlsx and comparison.html, at once."""
    target = Path(out_dir) / "comparison"
    manifest = {"scenarios": list(dict.fromkeys(frame.scenario)), "versions": tables.versions()}
    with files.atomic_folder(target) as tmp:
        tables.write_csv(frame, tmp / "comparison.csv")
        (tmp / "comparison.xlsx").write_bytes(workbook({"comparison": frame}, manifest))
        (tmp / "comparison.html").write_text(page(frame), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target
