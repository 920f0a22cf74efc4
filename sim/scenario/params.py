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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from sim import scenario as sc
from sim.model.streams import STREAM, STREAM_KEY
from sim.numerics.rng import uniform
from sim.scenario import prices

_PARAMETERS = STREAM_KEY[STREAM["parameters"]]


@dataclass(frozen=True)
class Marginal:
    """A fitted univariate distribution: kind and its natural parameters."""

    kind: str  # beta, gamma, lognormal, normal, uniform, triangular, fixed
    a: float
    b: float = 0.0
    c: float = 0.0

    def ppf(self, u: float) -> float:
        """Value at cumulative probability u (inverse CDF)."""
        k, a, b, c = self.kind, self.a, self.b, self.c
        if k == "beta":
            return float(special.betaincinv(a, b, u))
        if k == "gamma":  # shape a, scale b
            return float(special.gammaincinv(a, u) * b)
        if k == "lognormal":  # meanlog a, sdlog b
            return math.exp(a + b * float(special.ndtri(u)))
        if k == "normal":  # mean a, sd b
            return a + b * float(special.ndtri(u))
        if k == "uniform":  # low a, high b
            return a + u * (b - a)
        if k == "triangular":  # low a, mode b, high c
            if c == a:
                return a
            split = (b - a) / (c - a)
            if u < split:
                return a + math.sqrt(u * (c - a) * (b - a))
            return c - math.sqrt((1.0 - u) * (c - a) * (c - b))
        return a  # fixed

    def mean(self) -> float:
        k, a, b, c = self.kind, self.a, self.b, self.c
        if k == "beta":
            return a / (a + b)
        if k == "gamma":
            return a * b
        if k == "lognormal":
            return math.exp(a + b * b / 2)
        if k == "uniform":
            return (a + b) / 2
        if k == "triangular":
            return (a + b + c) / 3
        return a  # normal, fixed

    def sd(self) -> float:
        k, a, b, c = self.kind, self.a, self.b, self.c
        if k == "beta":
            return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        if k == "gamma":
            return math.sqrt(a) * b
        if k == "lognormal":
            return math.sqrt(math.expm1(b * b)) * math.exp(a + b * b / 2)
        if k == "normal":
            return b
        if k == "uniform":
            return (b - a) / math.sqrt(12)
        if k == "triangular":
            return math.sqrt((a * a + b * b + c * c - a * b - a * c - b * c) / 18)
        return 0.0


def fit(entry: sc.Uncertain, base: float) -> Marginal:
    """The distribution of an `uncertainty` entry on a parameter whose base value is `base`:
    from mean/se by the method of moments (the convention for beta, gamma and lognormal),
    from a standard error relative to the base value (the mean is then the base value), or
    from its own parameters."""
    d = entry.dist
    mean, se = entry.mean, entry.se
    if entry.relative_se is not None:
        mean, se = base, entry.relative_se * abs(base)
    by_moments = mean is not None and se is not None
    if d == "fixed" or (by_moments and se == 0.0 and d != "uniform"):
        return Marginal("fixed", float(mean))  # type: ignore[arg-type]
    if d == "beta":
        if by_moments:
            common = mean * (1.0 - mean) / (se * se) - 1.0  # type: ignore[operator]
            return Marginal("beta", mean * common, (1.0 - mean) * common)  # type: ignore[operator]
        return Marginal("beta", float(entry.alpha), float(entry.beta))  # type: ignore[arg-type]
    if d == "gamma":
        if by_moments:
            return Marginal("gamma", (mean / se) ** 2, se * se / mean)  # type: ignore[operator]
        return Marginal("gamma", float(entry.shape), float(entry.scale))  # type: ignore[arg-type]
    if d == "lognormal":
        if by_moments:
            sigma2 = math.log1p((se / mean) ** 2)  # type: ignore[operator]
            return Marginal("lognormal", math.log(mean) - sigma2 / 2, math.sqrt(sigma2))  # type: ignore[arg-type]
        return Marginal("lognormal", float(entry.meanlog), float(entry.sdlog))  # type: ignore[arg-type]
    if d == "normal":
        return Marginal("normal", float(mean), float(se))  # type: ignore[arg-type]
    if d == "uniform":
        return Marginal("uniform", float(entry.low), float(entry.high))  # type: ignore[arg-type]
    return Marginal("triangular", float(entry.low), float(entry.mode), float(entry.high))  # type: ignore[arg-type]


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
        return sc.validate(doc, file)
    except sc.ScenarioError as exc:
        culprits = {p: v for p, v in values.items() if exc.path.startswith(p)} or values
        named = ", ".join(f"{p} = {v:.6g}" for p, v in culprits.items())
        raise sc.ScenarioError(
            file, exc.path, f"{exc.message} (with the uncertain value {named})"
        ) from None


def value_at(scenario: sc.Scenario, path: str) -> float:
    """The base-case value of a numeric parameter."""
    return _value(scenario.model_dump(), path)


def _value(doc: dict[str, Any], path: str) -> float:
    node: Any = doc
    for part in path.split("."):
        node = node[part]
    return float(node)
