"""Set-ups of the model for a check: documents made from a scenario with processes switched
off or on (the tests build their scenarios with these too)."""

from __future__ import annotations

import copy
from typing import Any


def base_case_only(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy without uncertainty, analyses or citations: a set-up for one base-case run."""
    doc = copy.deepcopy(doc)
    doc["uncertainty"], doc["sources"] = {}, {}
    doc.pop("analysis", None)
    doc["psa_iterations"] = 0
    return doc


def silent(doc: dict[str, Any]) -> dict[str, Any]:
    """The scenario with no death and every event off (screening always succeeds, the
    battery outlives any horizon): one process at a time can then be switched on."""
    doc = base_case_only(doc)

    def zero(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(("rate_per_year", "_probability")) and key != (
                    "response_probability"
                ):
                    node[key] = 0.0
                else:
                    zero(value)

    zero(doc["strategies"])
    for indication in doc["cohort"]["indications"].values():
        indication["mortality_multiplier"] = 0.0
    itb = doc["strategies"].get("itb")
    if itb is not None:
        itb["pump"]["battery_life_years"] = 100.0
        itb["pump"]["battery_cap_years"] = 100.0
        itb["catheter"]["time_to_failure_years"] = {"dist": "exponential", "rate_per_year": 0.0}
        itb["screening"]["response_probability"] = 1.0
        itb["dose"]["annual_growth"] = 0.0
    return doc


def with_values(doc: dict[str, Any], **dotted: Any) -> dict[str, Any]:
    """Copy of `doc` with values set at dotted paths (`__` for the dots of a keyword)."""
    doc = copy.deepcopy(doc)
    for path, value in dotted.items():
        *keys, last = path.split("__")
        node = doc
        for key in keys:
            node = node[key]
        node[last] = value
    return doc


def only(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    """Keep the named strategies, in this order; the first is the comparator. "none" is an
    untreated strategy (the baseline utility and care) when the document has none."""
    doc = copy.deepcopy(doc)
    doc["strategies"].setdefault("none", {"type": "untreated"})
    doc["strategies"] = {k: doc["strategies"][k] for k in names}
    doc["comparator"] = names[0]
    return doc


def one_indication(doc: dict[str, Any], multiplier: float) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    ms = doc["cohort"]["indications"]["multiple_sclerosis"]
    doc["cohort"]["indications"] = {
        "multiple_sclerosis": {**ms, "share": 1.0, "mortality_multiplier": multiplier}
    }
    return doc
