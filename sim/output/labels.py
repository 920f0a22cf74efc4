"""A parameter's label and unit for readers, from its dotted path in the scenario.

`strategies.itb.surgery.implant.cost` reads "itb implant: cost (USD)" in the report's
tornado, EVPPI and threshold rows and the workbook; the path stays beside it, as it is
what the scenario file and the CSV tables call the parameter. The label is made from
the path itself, so a parameter of a new scenario (a strategy or indication of its own
name) has one without a table to keep up to date.
"""

from __future__ import annotations

#: Parts of a path that only say where a value sits, not what it is about.
_PLACES = frozenset({"strategies", "cohort", "indications", "surgery", "events"})
#: Name endings that are units, read out (the unit of a cost is the scenario's currency).
_UNITS = (
    ("_mcg_per_day", "mcg/day"),
    ("_mg_per_day", "mg/day"),
    ("_per_mg", "per mg"),
    ("_per_year", "per year"),
    ("_years", "years"),
    ("_days", "days"),
    ("_ml", "mL"),
)


def label(path: str, currency: str = "") -> str:
    """ "itb implant: cost (USD)" for strategies.itb.surgery.implant.cost: where (the
    strategy, indication or part of the pump), what, and its unit."""
    parts = [p for p in str(path).split(".") if p]
    if not parts:
        return str(path)
    *where, what = parts
    unit = ""
    for ending, name in _UNITS:
        if what.endswith(ending) and what != ending.lstrip("_"):
            what, unit = what[: -len(ending)], name
            break
    words = what.replace("_", " ")
    if what.startswith("cost_"):  # cost_visit: a cost per visit
        words = f"cost per {words[len('cost ') :]}"
    if (
        currency
        and (what.endswith("cost") or what.startswith("cost_"))
        and unit
        in (
            "",
            "per year",
            "per mg",
        )
    ):
        unit = f"{currency} {unit}".strip() if unit != "per mg" else f"{currency} per mg"
    context = " ".join(p.replace("_", " ") for p in where if p not in _PLACES)
    text = f"{context}: {words}" if context else words
    return f"{text} ({unit})" if unit else text
