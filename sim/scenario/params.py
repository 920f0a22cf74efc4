"""Uncertain parameters (DESIGN §3 `uncertainty`): fitted distributions, PSA and DSA values.

A PSA iteration k draws every uncertain parameter from uniforms keyed by (seed, k, the
parameter's path), so an iteration can be recomputed alone, and adding or removing one
uncertain parameter leaves the draws of the others as they were. Each uniform becomes a
value by the inverse CDF of the parameter's distribution; correlated parameters go through
a Gaussian copula first. Dirichlet shares are normalised gamma quantiles.

The base case uses the values written in the model section; the one-way analysis (DSA)
uses each parameter's `low`/`high`, or the 2.5th and 97.5th percentiles.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from sim import scenario as sc
from sim.model.streams import STREAM, STREAM_KEY
from sim.numerics.rng import uniform, uniforms
from sim.scenario import prices
from sim.scenario.marginals import Marginal, fit  # noqa: F401 - fit is part of params' API

_PARAMETERS = STREAM_KEY[STREAM["parameters"]]


def path_key(path: str) -> int:
    """A stable 48-bit number of a parameter path: the 'patient' index of its draws."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:6], "big")


def draw_uniform(seed: int, iteration: int, path: str) -> float:
    return uniform(seed, iteration, path_key(path), _PARAMETERS, 0)


def columns(scenario: sc.Scenario) -> list[str]:
    """Names of the drawn values, in scenario order (a Dirichlet gives one per share)."""
    names: list[str] = []
    for path, entry in scenario.uncertainty.items():
        if isinstance(entry, sc.UncertainShares):
            names.extend(f"{path}.{part}.share" for part in entry.counts)
        else:
            names.append(path)
    return names


def correlation_factor(scenario: sc.Scenario) -> tuple[list[str], np.ndarray]:
    """Correlated parameters and the Cholesky factor of their correlation matrix."""
    names: list[str] = []
    for pair in scenario.analysis.correlations:
        for p in pair.parameters:
            if p not in names:
                names.append(p)
    matrix = np.eye(len(names))
    for pair in scenario.analysis.correlations:
        i, j = (names.index(p) for p in pair.parameters)
        matrix[i, j] = matrix[j, i] = pair.rho
    return names, np.linalg.cholesky(matrix) if names else matrix


def draw(scenario: sc.Scenario, iteration: int) -> dict[str, float]:
    """The values of every uncertain parameter in PSA iteration `iteration` (1, 2, ...)."""
    seed = scenario.seed
    doc = scenario.model_dump()
    u = {
        path: draw_uniform(seed, iteration, path)
        for path, entry in scenario.uncertainty.items()
        if not isinstance(entry, sc.UncertainShares)
    }
    correlated, factor = correlation_factor(scenario)
    if correlated:  # Gaussian copula: correlated normal scores, back to uniforms
        z = factor @ special.ndtri(np.array([u[p] for p in correlated]))
        for p, value in zip(correlated, special.ndtr(z), strict=True):
            u[p] = float(min(max(value, 1e-300), 1.0 - 2.0**-53))
    values: dict[str, float] = {}
    for path, entry in scenario.uncertainty.items():
        if isinstance(entry, sc.UncertainShares):
            gammas = [
                float(special.gammaincinv(count, draw_uniform(seed, iteration, f"{path}.{part}")))
                for part, count in entry.counts.items()
            ]
            total = math.fsum(gammas)
            for part, g in zip(entry.counts, gammas, strict=True):
                values[f"{path}.{part}.share"] = g / total
        else:
            values[path] = fit(entry, _value(doc, path)).ppf(u[path])
    return values


def extreme_iterations(scenario: sc.Scenario, iterations: int) -> list[int]:
    """The PSA iterations (of 1 .. `iterations`) that draw some uncertain value's lowest or
    highest value: every marginal's inverse CDF increases with its uniform, so they are the
    iterations of its extreme uniforms (after the copula, for correlated values). A value
    outside what its parameter allows is drawn in one of them, if in any (Dirichlet shares
    always lie in [0, 1])."""
    if iterations < 1:
        return []
    seed = scenario.seed
    u = {
        path: uniforms(seed, iterations, path_key(path), _PARAMETERS, 0)
        for path, entry in scenario.uncertainty.items()
        if not isinstance(entry, sc.UncertainShares)
    }
    correlated, factor = correlation_factor(scenario)
    if correlated:  # as in draw(); ndtr is increasing, so the clipping changes no order
        z = factor @ special.ndtri(np.stack([u[p] for p in correlated]))
        for p, row in zip(correlated, special.ndtr(z), strict=True):
            u[p] = row
    return sorted({int(f(x)) + 1 for x in u.values() for f in (np.argmin, np.argmax)})


def dsa_range(entry: sc.Uncertain, base: float) -> tuple[float, float, str]:
    """Low and high of the one-way analysis: explicit, or the 2.5th/97.5th percentiles."""
    if entry.low is not None and entry.high is not None:
        return entry.low, entry.high, "explicit"
    marginal = fit(entry, base)
    return marginal.ppf(0.025), marginal.ppf(0.975), "percentiles"


def apply(
    scenario: sc.Scenario,
    values: dict[str, float],
    file: str | Path,
    index: prices.PriceIndex | None = None,
) -> sc.Scenario:
    """The scenario with some parameters replaced (dotted paths), validated again; with a
    price index, every cost is also inflated to the price year (what the engines run)."""
    doc = scenario.model_dump()
    for path, value in values.items():
        node: Any = doc
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = float(value)
    if index is not None:
        doc = prices.priced_document(doc, index)
    try:
        changed = sc.validate(doc, file)
    except sc.ScenarioError as exc:
        if not values:  # the costs in the price year's prices: checked by load() already
            raise
        # the drawn values at the key path, or named by the message (a cross-check)
        culprits = {
            p: v for p, v in values.items() if exc.path.startswith(p) or p in exc.message
        } or values
        named = ", ".join(f"{p} = {v:.6g}" for p, v in culprits.items())
        raise sc.ScenarioError(
            file, exc.path, f"{exc.message} (with the uncertain value {named})"
        ) from None
    return changed if scenario.source is None else changed.with_source(scenario.source)


def value_at(scenario: sc.Scenario, path: str) -> float:
    """The base-case value of a numeric parameter."""
    return _value(scenario.model_dump(), path)


def _value(doc: dict[str, Any], path: str) -> float:
    node: Any = doc
    for part in path.split("."):
        node = node[part]
    return float(node)
