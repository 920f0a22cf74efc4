"""Scenario files: schema, loading with ``extends:``, messages, cross-references."""

from sim.scenario.schema import *  # noqa: F403
