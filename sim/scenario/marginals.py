"""Fitted univariate distributions of uncertain parameters: by the method of moments from a
mean and standard error, from a standard error relative to the base value, or from their
own parameters (DESIGN §3 `uncertainty`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from sim.scenario.uncertainty import Uncertain


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


#: A standard error this small relative to the mean is fitted as a fixed value.
NEGLIGIBLE_SE = 1e-12


def fit(entry: Uncertain, base: float) -> Marginal:
    """The distribution of an `uncertainty` entry on a parameter whose base value is `base`:
    from mean/se by the method of moments (the convention for beta, gamma and lognormal),
    from a standard error relative to the base value (the mean is then the base value), or
    from its own parameters."""
    d = entry.dist
    mean, se = entry.mean, entry.se
    if entry.relative_se is not None:
        mean, se = base, entry.relative_se * abs(base)
    by_moments = mean is not None and se is not None
    # A standard error below 1e-12 of the mean is none: its draws would differ from the
    # mean in the twelfth digit, and the moments (mean/se)^2 would overflow.
    negligible = by_moments and se <= NEGLIGIBLE_SE * abs(mean)  # type: ignore[operator]
    if d == "fixed" or (negligible and d != "uniform"):
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
