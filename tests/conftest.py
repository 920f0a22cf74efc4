"""Shared helpers: scenarios with every process switched off, then one switched on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from hypothesis import strategies as st

from sim import scenario
from sim.execution import runner
from sim.model.events import COUNTERS
from sim.validation import setups
from sim.validation.setups import with_values

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
    return setups.silent(base_document())


def build(doc: dict[str, Any]) -> scenario.Scenario:
    return scenario.validate(doc, "test")


def tally_of(doc: dict[str, Any]):
    return runner.run(build(doc), ROOT / "scenarios")


def count(tally, strategy_index: int, event: str) -> int:
    return int(tally.count[strategy_index, COUNTERS.index(event)])


@pytest.fixture
def silent() -> dict[str, Any]:
    return silent_document()


# ------------------------------------------- perturbed scenarios (property-based tests)

RATES = (
    "strategies__itb__pump__failure_rate_per_year",
    "strategies__itb__explant_rate_per_year",
    "strategies__oral__discontinuation_rate_per_year",
    "strategies__oral__withdrawal_rate_per_year",
    "strategies__itb__side_effects__events__seizure__rate_per_year",
    "strategies__oral__side_effects__events__drowsiness__rate_per_year",
)
PROBABILITIES = (
    "strategies__itb__screening__response_probability",
    "strategies__itb__refill__missed_probability",
    "strategies__itb__refill__pocket_fill_probability",
    "strategies__itb__refill__programming_error_probability",
    "strategies__itb__refill__missed_withdrawal_probability",
    "strategies__itb__surgery__implant__infection_probability",
    "strategies__itb__surgery__pump_replacement__death_probability",
    "strategies__itb__infection__explant_probability",
    "strategies__itb__infection__meningitis_probability",
    "strategies__itb__infection__reimplant_probability",
    "strategies__itb__catheter__withdrawal_probability",
    "strategies__itb__pump__depletion_withdrawal_probability",
    "strategies__oral__response_probability",
)
OTHERS: dict[str, Any] = {
    "strategies__itb__side_effects__dose_exponent": st.sampled_from([0.0, 1.0, 2.5]),
    "strategies__oral__side_effects__dose_exponent": st.sampled_from([0.0, 1.0, 3.0]),
    "strategies__itb__dose__annual_growth": st.sampled_from([0.0, 0.25, 3.0]),
    "strategies__itb__dose__growth_years": st.sampled_from([0.0, 1.0, 30.0]),
    "strategies__itb__pump__stability_days": st.sampled_from([1.0, 30.0, 180.0]),
    "strategies__itb__pump__battery_alarm_lead_days": st.sampled_from([0.0, 90.0, 2000.0]),
    "strategies__itb__refill__missed_delay_days": st.sampled_from([0.0, 5.0, 400.0]),
    "strategies__itb__infection__reimplant_delay_days": st.sampled_from([0.0, 180.0]),
    "discount__costs": st.sampled_from([0.0, 0.03, 0.5]),
    "discount__effects": st.sampled_from([0.0, 0.015]),
}


@st.composite
def perturbed(draw: st.DrawFn) -> dict[str, Any]:
    doc = base_document()
    changes: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(RATES), max_size=3, unique=True)):
        changes[path] = draw(st.sampled_from([0.0, 0.05, 5.0]))
    for path in draw(st.lists(st.sampled_from(PROBABILITIES), max_size=4, unique=True)):
        changes[path] = draw(st.sampled_from([0.0, 0.5, 1.0]))
    for path in draw(st.lists(st.sampled_from(sorted(OTHERS)), max_size=3, unique=True)):
        changes[path] = draw(OTHERS[path])
    changes["horizon_years"] = draw(st.sampled_from([0.25, 3.0, 20.0, "lifetime"]))
    doc = with_values(doc, **changes)
    keep = draw(st.sampled_from([("oral",), ("none", "oral", "itb"), ("oral", "itb")]))
    doc["strategies"] = {k: v for k, v in doc["strategies"].items() if k in keep}
    doc["comparator"] = "oral"
    doc["seed"] = draw(st.integers(0, 2**40))
    return doc
