"""The methods appendix: the CHEERS 2022 items the scenario answers, its parameters and
their sources, generated from the resolved scenario in the manifest."""

from __future__ import annotations

import re
from typing import Any

from sim.output.report import formats as f
from sim.output.report.folder import ResultFolder


def is_assumption(source: str) -> bool:
    """Whether a `sources:` entry marks its value as an assumption: it starts with the word
    (the convention of the shipped scenarios). The one definition the report and the
    validation page both use."""
    return source.lstrip().lower().startswith("assumption")


def _describe(dist: object) -> str:
    """A distribution from the scenario in words: "normal (mean 45, sd 15, low 18)"."""
    if not isinstance(dist, dict):
        return f.plain(dist)
    kind = str(dist.get("dist", "value"))
    if kind == "dirichlet" and isinstance(dist.get("counts"), dict):
        counts = ", ".join(f"{k} {f.plain(v)}" for k, v in sorted(dist["counts"].items()))
        return f"dirichlet (counts: {counts})"
    if kind == "fixed":
        value = dist.get("value", dist.get("mean"))
        return f"fixed at {f.plain(value)}"
    parts = []
    for key in ("mean", "sd", "se", "alpha", "beta", "shape", "scale", "meanlog", "sdlog"):
        if key in dist and dist[key] is not None:
            parts.append(f"{key} {f.plain(dist[key])}")
    for key in ("low", "mode", "high"):
        value = dist.get(key)
        if value is not None and f.finite(value) and abs(float(value)) < 1e299:
            parts.append(f"{key} {f.plain(value)}")
    for key, value in sorted(dist.items()):
        known = ("dist", "mean", "sd", "se", "alpha", "beta", "shape", "scale", "meanlog")
        if key in (*known, "sdlog", "low", "mode", "high", "counts") or value is None:
            continue
        parts.append(f"{key} {f.plain(value)}")
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
    if f.finite(horizon):
        return f"{f.plain(float(horizon))} years"  # type: ignore[arg-type]
    return "not stated"


def methods(r: ResultFolder) -> str:
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
        return f"{100 * float(value):g}%" if f.finite(value) else "not stated"  # type: ignore[arg-type]

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
        f"{name.replace('_', ' ')} {f.pct(spec.get('share'))}"
        for name, spec in sorted(indications.items())
        if isinstance(spec, dict)
    ]
    male = cohort.get("male_share")
    population = (
        f"Age (years): {_describe(cohort.get('age_years'))}; "
        f"{f.pct(male)} male; indications: {', '.join(shares) or 'not stated'}; "
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
            f"{f.names([f.wtp_label(float(w)) for w in wtp if f.finite(w)])} {cur} per QALY."
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
            f"{f.auto(m.get('patients_per_strategy') or s.get('patients')) or 'not stated'} "
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
        f.table(["CHEERS 2022 item", "This analysis"], items, cls="text"),
        "<h3>Run</h3>",
        f.table(["Field", "Value"], _run_rows(r), cls="text"),
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
            rows.append([name.replace("_", " "), f.pct(spec.get("share")), "; ".join(rest)])
        parts += [
            "<h3>Population by indication</h3>",
            f.table(["Indication", "Share", "Inputs"], rows, cls="text"),
        ]
    parts.append("<h3>Uncertain parameters</h3>")
    if uncertainty:
        rows = [[path, _describe(dist)] for path, dist in sorted(uncertainty.items())]
        parts.append(f.table(["Parameter (dotted path)", "Distribution"], rows, cls="text"))
    else:
        parts.append(f.note("The scenario has no uncertain parameters."))
    inflated = m.get("inflation") or []
    if inflated:
        rows = [
            [
                str(x.get("path")),
                f.auto(x.get("amount")),
                str(x.get("year")),
                f"{float(x.get('factor')):.4f}" if f.finite(x.get("factor")) else f.DASH,
                f.auto(x.get("priced")),
            ]
            for x in inflated
            if isinstance(x, dict)
        ]
        parts += [
            "<h3>Costs inflated to the price year</h3>",
            f"<p>With {f.e(str(m.get('price_index') or s.get('price_index') or ''))}: every "
            f"cost as its source states it, its price year and the factor to "
            f"{f.e(str(s.get('price_year', '')))}.</p>",
            f.table(
                ["Cost (dotted path)", "As stated", "Price year", "Factor", "In the results"],
                rows,
                cls="text",
            ),
        ]
    parts.append("<h3>Parameter sources</h3>")
    if sources:
        keys = sorted(sources)
        flags = [is_assumption(sources[k]) for k in keys]
        parts.append(
            f"<p>{len(keys)} entries; <b>{sum(flags)}</b> are assumptions (highlighted).</p>"
        )
        rows = [
            [k, _value_at(s, k), sources[k], "Assumption" if f else ""]
            for k, f in zip(keys, flags, strict=True)
        ]
        parts.append(
            f.table(
                ["Parameter (dotted path)", "Value used", "Source", "Flag"],
                rows,
                cls="text sources",
                row_classes=["assumption" if f else "" for f in flags],
            )
        )
    else:
        parts.append(f.note("The scenario cites no sources."))
    return "".join(parts)


def _value_at(scenario: dict[str, Any], path: str) -> str:
    """The scenario's value at a dotted path, in words (a distribution described, a list
    joined); empty for a group of values or a path the scenario does not have."""
    node: Any = scenario
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, dict):
        return _describe(node) if "dist" in node else ""
    if isinstance(node, list):
        flat = all(not isinstance(v, dict | list) for v in node)
        return "; ".join(f.plain(v) for v in node) if flat else ""
    return f.plain(node)


def _run_rows(r: ResultFolder) -> list[list[object]]:
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
        "source_sha256",
        "python",
        "platform",
    ):
        if key in m:
            rows.append([key, str(m[key])])
    versions = m.get("versions")
    if isinstance(versions, dict):
        rows += [[f"version of {k}", str(v)] for k, v in sorted(versions.items())]
    return rows
