"""Cross-references of a scenario: paths named in `sources`, `uncertainty` and `analysis`
must exist, and the distributions put on them must fit what they name."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.model.events import COUNTERS
from sim.scenario import prices
from sim.scenario.marginals import fit
from sim.scenario.messages import MISSING, ScenarioError, did_you_mean, short
from sim.scenario.schema import Scenario, Uncertain, UncertainShares
from sim.scenario.uncertainty import beta_problem

RUN_SETTINGS = frozenset({"seed", "patients", "psa_iterations", "horizon_years", "price_year"})


def check_references(scenario: Scenario, data: dict[str, Any], file: str | Path) -> None:
    """Paths named in `uncertainty` and `sources` must exist; distributions must fit."""
    for key in scenario.sources:
        if lookup(data, key) is MISSING:
            raise ScenarioError(file, f"sources.{key}", "names no key of the scenario")
    for key, entry in scenario.uncertainty.items():
        target = lookup(data, key)
        if target is MISSING:
            hint = did_you_mean(key, _parameter_paths(data))
            raise ScenarioError(
                file, f"uncertainty.{key}", f"names no parameter of the scenario{hint}"
            )
        if isinstance(entry, UncertainShares):
            if not isinstance(target, dict) or not all(
                isinstance(v, dict) and "share" in v for v in target.values()
            ):
                raise ScenarioError(
                    file,
                    f"uncertainty.{key}",
                    "dirichlet needs a set of shares (a mapping "
                    "whose entries have a share), such as cohort.indications",
                )
            if set(entry.counts) != set(target):
                raise ScenarioError(
                    file,
                    f"uncertainty.{key}.counts",
                    f"names {sorted(entry.counts)}; must name exactly {sorted(target)}",
                )
            total = sum(entry.counts.values())
            for part, count in entry.counts.items():
                mean, share = count / total, float(target[part]["share"])
                sd = math.sqrt(count * (total - count) / (total * total * (total + 1)))
                if abs(mean - share) > sd + 1e-12:
                    raise ScenarioError(
                        file,
                        f"uncertainty.{key}.counts.{part}",
                        f"gives a mean share {mean:.4g}, {abs(mean - share):.4g} from the "
                        f"share {share:g}, more than its standard error {sd:.4g}: make the "
                        "counts proportional to the shares",
                    )
            continue
        if key in RUN_SETTINGS:
            raise ScenarioError(
                file,
                f"uncertainty.{key}",
                f"{key} is a run setting, not a model parameter: it cannot be uncertain "
                "(run the scenario again with another value instead)",
            )
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise ScenarioError(
                file,
                f"uncertainty.{key}",
                f"the parameter is {short(target)}, not a number: only numeric parameters "
                "can be uncertain",
            )
        leaf = key.rsplit(".", 1)[-1]
        bounded = (
            leaf.endswith(("probability", "share"))
            or leaf.startswith("utility")
            or (leaf.endswith("utility") or leaf == "utility_loss")
        )
        if entry.dist == "beta" and not bounded:
            raise ScenarioError(
                file,
                f"uncertainty.{key}",
                "beta fits probabilities, shares and utilities only (values in [0, 1]); "
                "use gamma or lognormal for a cost or a rate",
            )
        if entry.dist in ("gamma", "lognormal") and target < 0:
            raise ScenarioError(
                file, f"uncertainty.{key}", f"{entry.dist} needs a non-negative parameter"
            )
        if entry.dist == "beta" and entry.relative_se is not None:
            se = entry.relative_se * abs(target)
            problem = beta_problem(float(target), se)
            if problem == "mean":
                raise ScenarioError(
                    file,
                    f"uncertainty.{key}",
                    f"the parameter is {target:g}: a beta around it needs a value strictly "
                    "within (0, 1); give it mean/se or alpha/beta, or another distribution",
                )
            if problem == "se":
                raise ScenarioError(
                    file,
                    f"uncertainty.{key}.relative_se",
                    f"{entry.relative_se:g} gives se {se:.4g}, too large for a beta of mean "
                    f"{target:g}: relative_se must be below "
                    f"{math.sqrt(target * (1 - target)) / target:.4g}",
                )
        if entry.relative_se is not None and target == 0:
            raise ScenarioError(
                file,
                f"uncertainty.{key}.relative_se",
                "the parameter is 0, so a standard error relative to it is 0 too: give "
                "mean and se (or the distribution's own parameters), or remove the entry "
                "(null in a variant)",
            )
        _centred(entry, float(target), f"uncertainty.{key}", file)
    costs = [path for path, _ in prices.cost_paths(data)]
    for key in scenario.cost_years:
        if lookup(data, key) is MISSING:
            raise ScenarioError(file, f"cost_years.{key}", "names no key of the scenario")
        if not any(path == key or path.startswith(key + ".") for path in costs):
            raise ScenarioError(
                file,
                f"cost_years.{key}",
                "names no cost: give a cost (a key with 'cost' in its name) or a block "
                "that holds costs",
            )


def _centred(entry: Uncertain, base: float, where: str, file: str | Path) -> None:
    """A distribution must be centred on the parameter's base value: its mean no further
    from it than its own standard error (DESIGN §4.7), or the PSA answers another question
    than the base case (a variant that changes a value without its uncertainty, say)."""
    marginal = fit(entry, base)
    mean, sd = marginal.mean(), marginal.sd()
    if abs(mean - base) > sd + 1e-9 * max(1.0, abs(base)):
        raise ScenarioError(
            file,
            where,
            f"the distribution's mean {mean:.6g} lies {abs(mean - base):.6g} from the "
            f"parameter's value {base:.6g}, more than its standard error {sd:.6g}: centre it "
            "on the value, or give relative_se (a share of the value) instead of mean and se",
        )


def check_analysis(scenario: Scenario, data: dict[str, Any], file: str | Path) -> None:
    """Parameters named in `analysis` must be uncertain (or, for a threshold, numeric)."""
    analysis = scenario.analysis
    scalar = {k for k, e in scenario.uncertainty.items() if isinstance(e, Uncertain)}
    correlated: list[str] = []
    pairs: dict[frozenset[str], int] = {}
    for i, pair in enumerate(analysis.correlations):
        where = f"analysis.correlations[{i}].parameters"
        key = frozenset(pair.parameters)
        if key in pairs:
            raise ScenarioError(
                file,
                where,
                f"the pair is also analysis.correlations[{pairs[key]}]: give each pair one rho",
            )
        pairs[key] = i
        for p in pair.parameters:
            if p not in scalar:
                raise ScenarioError(
                    file, where, f"{p!r} is not a (non-Dirichlet) parameter of `uncertainty`"
                )
        if pair.parameters[0] == pair.parameters[1]:
            raise ScenarioError(file, where, "names the same parameter twice")
        correlated.extend(p for p in pair.parameters if p not in correlated)
    if correlated:
        matrix = [[1.0 if a == b else 0.0 for b in correlated] for a in correlated]
        for pair in analysis.correlations:
            i, j = (correlated.index(p) for p in pair.parameters)
            matrix[i][j] = matrix[j][i] = pair.rho
        if np.linalg.eigvalsh(np.array(matrix)).min() <= 1e-10:
            raise ScenarioError(
                file,
                "analysis.correlations",
                "the correlations are inconsistent (the matrix is not positive definite)",
            )
    for name, members in analysis.evppi_groups.items():
        for p in members:
            if p not in scenario.uncertainty:
                raise ScenarioError(
                    file, f"analysis.evppi_groups.{name}", f"{p!r} is not a key of `uncertainty`"
                )
    for path, span in analysis.thresholds.items():
        where = f"analysis.thresholds.{path}"
        target = lookup(data, path)
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise ScenarioError(file, where, "names no numeric parameter of the scenario")
        if (span.low is None or span.high is None) and path not in scalar:
            raise ScenarioError(
                file, where, "give low and high (the parameter is not in `uncertainty`)"
            )
        if span.low is not None and span.high is not None and not span.low < span.high:
            raise ScenarioError(file, where, f"low {span.low:g} must be below high {span.high:g}")


def lookup(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def expand(data: Any, dotted: str) -> list[str]:
    """The paths a path with `*` (each key at its level) names, in the document's order."""
    paths = [""]
    for part in dotted.split("."):
        grown = []
        for prefix in paths:
            node = lookup(data, prefix) if prefix else data
            if not isinstance(node, dict):
                continue
            keys = [k for k, v in node.items() if v is not None] if part == "*" else [part]
            grown += [f"{prefix}.{k}" if prefix else str(k) for k in keys if k in node]
        paths = grown
    return paths


def check_calibration(scenario: Scenario, data: dict[str, Any], file: str | Path) -> None:
    """A calibration names numeric parameters, strategies, event counters and set-up keys
    that exist, and each target the outputs it needs."""
    step = scenario.calibrate
    if step is None:
        return
    for path, span in step.parameters.items():
        where = f"calibrate.parameters.{path}"
        found = expand(data, path)
        if not found:
            raise ScenarioError(file, where, "names no parameter of the scenario")
        for p in found:
            value = lookup(data, p)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScenarioError(file, where, f"{p} is {short(value)}, not a number")
        if "*" in path and not span.scale:
            raise ScenarioError(file, where, "a path with * names several values: give scale: true")
    for name, target in step.targets.items():
        where = f"calibrate.targets.{name}"
        if target.strategy not in scenario.strategies:
            raise ScenarioError(
                file,
                f"{where}.strategy",
                f"names no strategy; allowed: {', '.join(scenario.strategy_names())}",
            )
        for event in target.events:
            if event not in COUNTERS:
                raise ScenarioError(file, f"{where}.events", f"{event!r} is no event counter")
        needs_events = target.output in ("events_per_pump_year", "event_free_share")
        if needs_events and not target.events:
            raise ScenarioError(file, f"{where}.events", f"{target.output} needs events")
        if target.output == "cost_ratio" and (
            target.years is None or not target.years[0] < target.years[1]
        ):
            raise ScenarioError(
                file, f"{where}.years", "cost_ratio needs years [a, b] with a below b"
            )
    for path in step.set_up:
        if lookup(data, path) is MISSING:
            raise ScenarioError(file, f"calibrate.set_up.{path}", "names no key of the scenario")


def _parameter_paths(data: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the document's parameters (numbers and distributions), for a
    'did you mean' of a mistyped path."""
    found = []
    if isinstance(data, dict):
        if prefix and "dist" in data:
            return [prefix]
        for key, value in data.items():
            if prefix == "" and key in ("uncertainty", "sources", "cost_years", "analysis"):
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append(path)
            else:
                found += _parameter_paths(value, path)
    return found
