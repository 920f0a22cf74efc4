"""Scenario files (DESIGN §3): schema, loading with ``extends:``, messages, cross-references,
and the uncertain parameters of a scenario (:mod:`sim.scenario.params`)."""

from sim.scenario.loading import deep_merge, load, read_yaml, resolve, validate
from sim.scenario.messages import LIMIT_REASONS, ScenarioError
from sim.scenario.references import RUN_SETTINGS
from sim.scenario.schema import (
    INDICATIONS,
    MAX_PATIENTS,
    MAX_PSA_ITERATIONS,
    Consequence,
    Itb,
    Oral,
    Scenario,
    Severity,
    Surgery,
    Uncertain,
    UncertainShares,
    Untreated,
    canonical_json,
    distribution_params,
    distribution_support,
    json_schema,
    sha256,
)

__all__ = [
    "INDICATIONS",
    "LIMIT_REASONS",
    "MAX_PATIENTS",
    "MAX_PSA_ITERATIONS",
    "RUN_SETTINGS",
    "Consequence",
    "Itb",
    "Oral",
    "Scenario",
    "ScenarioError",
    "Severity",
    "Surgery",
    "Uncertain",
    "UncertainShares",
    "Untreated",
    "canonical_json",
    "deep_merge",
    "distribution_params",
    "distribution_support",
    "json_schema",
    "load",
    "read_yaml",
    "resolve",
    "sha256",
    "validate",
]
