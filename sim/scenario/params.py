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
from pydantic import BaseModel, ValidationError
from scipy import special

from sim import scenario as sc
from sim.model.streams import STREAM, STREAM_KEY
from sim.numerics.rng import uniform, uniforms
from sim.scenario import prices
from sim.scenario.marginals import Marginal, fit

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
    return Variants(scenario, "").draw(iteration)


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
    return Variants(scenario, file, index).apply(values)


class Variants:
    """The scenarios a PSA or a one-way analysis makes of one scenario, each the same, to
    the bit, as the scenario's document with the values set, priced and validated, at a
    fraction of the cost (a PSA makes a thousand): the scenario is priced and validated
    once, and a variant is built from its validated blocks with only the blocks on the way
    to its values given as mappings (pydantic takes a validated block as it is, and
    validates the mappings and every check of the blocks above them). A drawn cost is read
    in its source's prices and inflated by the factor the whole document's pricing gives
    it. Each uncertain value's distribution is fitted once."""

    def __init__(
        self, scenario: sc.Scenario, file: str | Path, index: prices.PriceIndex | None = None
    ) -> None:
        self.scenario, self.file, self.index = scenario, file, index
        self._dumped = scenario.model_dump()
        self._marginals: dict[str, Marginal] = {}
        self._priced: sc.Scenario | None = None if index is not None else scenario

    def draw(self, iteration: int) -> dict[str, float]:
        """The values of every uncertain parameter in PSA iteration `iteration` (1, 2, ...)."""
        scenario = self.scenario
        seed = scenario.seed
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
                    float(
                        special.gammaincinv(count, draw_uniform(seed, iteration, f"{path}.{part}"))
                    )
                    for part, count in entry.counts.items()
                ]
                total = math.fsum(gammas)
                for part, g in zip(entry.counts, gammas, strict=True):
                    values[f"{path}.{part}.share"] = g / total
            else:
                if path not in self._marginals:
                    self._marginals[path] = fit(entry, _value(self._dumped, path))
                values[path] = self._marginals[path].ppf(u[path])
        return values

    def apply(self, values: dict[str, float]) -> sc.Scenario:
        """The scenario with `values` at their dotted paths (costs inflated as the rest),
        validated; a value that breaks a rule is named in the error."""
        if values and not any(p.split(".")[0] in _PRICING for p in values):
            try:
                changed = sc.Scenario.model_validate(_replaced(self._base(), values, self._factor))
            except ValidationError:  # told as the whole document's validation tells it
                changed = self._validated(values)
        elif values:  # a value of the pricing itself: the document priced again
            changed = self._validated(values)
        else:
            changed = self._base()
        source = self.scenario.source
        return changed if source is None else changed.with_source(source)

    def _base(self) -> sc.Scenario:
        """The scenario in the price year's prices, validated (load() has checked it)."""
        if self._priced is None:
            self._priced = self._validated({})
        return self._priced

    def _validated(self, values: dict[str, float]) -> sc.Scenario:
        """The scenario's document with `values` set, priced and validated: what a variant
        is, with the values that break a rule named."""
        doc = _replaced(self._dumped, values)
        if self.index is not None:
            doc = prices.priced_document(doc, self.index)
        try:
            return sc.validate(doc, self.file)
        except sc.ScenarioError as exc:
            if not values:  # the costs in the price year's prices: checked by load() already
                raise
            # the drawn values at the key path, or named by the message (a cross-check)
            culprits = {
                p: v for p, v in values.items() if exc.path.startswith(p) or p in exc.message
            } or values
            named = ", ".join(f"{p} = {v:.6g}" for p, v in culprits.items())
            raise sc.ScenarioError(
                self.file, exc.path, f"{exc.message} (with the uncertain value {named})"
            ) from None

    def _factor(self, path: str, value: float) -> float:
        """The value as the engines see it: a cost in the price year's prices."""
        if self.index is None:
            return value
        factor = prices.factor_at(self._dumped, path, self.index)
        return value if factor is None or value == 0 else value * factor


#: Top-level keys that decide how costs are priced.
_PRICING = ("price_year", "cost_years", "price_index")


def _replaced(
    doc: dict[str, Any] | BaseModel,
    values: dict[str, float],
    convert: Any = lambda _path, value: value,
) -> dict[str, Any]:
    """`doc` (a document, or a validated scenario) as a mapping with `values` (converted)
    at their dotted paths: only the blocks on the way become new mappings, the rest is
    shared with `doc`, which is left as it is."""
    out = _mapping(doc)
    copied = {""}
    for path, value in values.items():
        node, prefix = out, ""
        *parents, leaf = path.split(".")
        for part in parents:
            prefix = f"{prefix}.{part}"
            if prefix not in copied:
                node[part] = _mapping(node[part])
                copied.add(prefix)
            node = node[part]
        node[leaf] = convert(path, float(value))
    return out


def _mapping(node: dict[str, Any] | BaseModel) -> dict[str, Any]:
    """A block as a new mapping of its fields (a validated block's are validated)."""
    if isinstance(node, BaseModel):
        return {name: getattr(node, name) for name in type(node).__pydantic_fields__}
    return dict(node)


def value_at(scenario: sc.Scenario, path: str) -> float:
    """The base-case value of a numeric parameter."""
    return _value(scenario.model_dump(), path)


def _value(doc: dict[str, Any], path: str) -> float:
    node: Any = doc
    for part in path.split("."):
        node = node[part]
    return float(node)
