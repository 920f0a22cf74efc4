"""Shared helpers: scenarios with every process switched off, then one switched on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

from sim import runner, scenario
from sim.events import COUNTERS

# Property-based tests: the same examples every run (a test never flakes), and no deadline
# (the first call of a compiled function compiles it).
settings.register_profile("baclofen", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("baclofen")

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "base.yaml"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the engines once, before any test times a subprocess: a cold Numba compile
    takes over a minute; later processes load the compiled code from the cache."""
    small = scenario.load(BASE).model_copy(update={"patients": 10})
    runner.run(small, BASE.parent)


def base_document() -> dict[str, Any]:
    return yaml.safe_load(BASE.read_text())


def silent_document() -> dict[str, Any]:
    """Base scenario with no death and every event off: one process at a time goes on."""
    doc = copy.deepcopy(base_document())
    doc["uncertainty"] = {}
    doc["sources"] = {}

    def zero(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(("rate_per_year", "_probability")) and key not in (
                    "response_probability",
                ):
                    node[key] = 0.0
                else:
                    zero(value)

    zero(doc["strategies"])
    for ind in doc["cohort"]["indications"].values():
        ind["mortality_multiplier"] = 0.0
    pump = doc["strategies"]["itb"]["pump"]
    pump["battery_life_years"] = 100.0
    pump["battery_cap_years"] = 100.0
    doc["strategies"]["itb"]["catheter"]["time_to_failure_years"] = {
        "dist": "exponential",
        "rate_per_year": 0.0,
    }
    doc["strategies"]["itb"]["screening"]["response_probability"] = 1.0
    doc["strategies"]["itb"]["dose"]["annual_growth"] = 0.0
    return doc


def with_values(doc: dict[str, Any], **dotted: Any) -> dict[str, Any]:
    """Copy of `doc` with values set at dotted paths (use __ for dots in keyword names)."""
    doc = copy.deepcopy(doc)
    for path, value in dotted.items():
        keys = path.split("__")
        node = doc
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return doc


def build(doc: dict[str, Any]) -> scenario.Scenario:
    return scenario.validate(doc, "test")


def tally_of(doc: dict[str, Any]):
    return runner.run(build(doc), ROOT / "scenarios")


def count(tally, strategy_index: int, event: str) -> int:
    return int(tally.count[strategy_index, COUNTERS.index(event)])


@pytest.fixture
def silent() -> dict[str, Any]:
    return silent_document()
