"""The building blocks of the scenario format: the strict base of every block, the
numeric types with their ranges, and patient distributions (a number, or a distribution
drawn per patient by inverse CDF)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from sim.numerics import distributions
from sim.scenario.messages import did_you_mean

# ----------------------------------------------------------------------------- types

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Cost = Annotated[float, Field(ge=0.0, le=1e9)]
Utility = Annotated[float, Field(ge=-1.0, le=1.0)]
UtilityLoss = Annotated[float, Field(ge=0.0, le=2.0)]
#: A change of utility from the patient's baseline (negative: worse).
UtilityChange = Annotated[float, Field(ge=-2.0, le=1.0)]
#: A multiplier on the background care cost (1: unchanged).
CareMultiplier = Annotated[float, Field(ge=0.0, le=100.0)]
Rate = Annotated[float, Field(ge=0.0, le=1e4)]
Days = Annotated[float, Field(ge=0.0, le=36525.0)]


class Strict(BaseModel):
    """Base of every block: frozen, no NaN or infinities, no silent type coercion, and
    unknown keys refused with the closest known key as a hint."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=False
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # the class's own dict, not model_fields: a PSA validates a thousand scenarios
            # of about a hundred blocks each, and that property costs more than the check
            fields = cls.__pydantic_fields__
            for key in data:
                if key not in fields:
                    allowed = list(fields)
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key {key}{hint}; allowed: {allowed}",
                        {
                            "key": repr(key),
                            "bad_key": str(key),
                            "hint": did_you_mean(str(key), allowed),
                            "allowed": ", ".join(allowed),
                        },
                    )
        return data


# ------------------------------------------------------------- patient distributions


class Fixed(Strict):
    dist: Literal["fixed"]
    value: float


class Normal(Strict):
    """Normal, truncated to [low, high]: the truncation must keep some probability."""

    dist: Literal["normal"]
    mean: float
    sd: NonNegative
    low: float = -1e300
    high: float = 1e300

    @model_validator(mode="after")
    def _mass(self) -> Normal:
        if self.low > self.high:
            raise ValueError(f"low {self.low} must not exceed high {self.high}")
        if self.sd > 0:
            mass = distributions.normal_cdf((self.high - self.mean) / self.sd) - (
                distributions.normal_cdf((self.low - self.mean) / self.sd)
            )
            if mass < 1e-12:
                raise ValueError(
                    f"bounds [{self.low}, {self.high}] exclude all the mass of "
                    f"normal(mean {self.mean}, sd {self.sd}): widen them"
                )
        elif not self.low <= self.mean <= self.high:
            raise ValueError(f"mean {self.mean} lies outside [{self.low}, {self.high}]")
        return self


class LogNormal(Strict):
    dist: Literal["lognormal"]
    mean: Positive
    sd: NonNegative


class Gamma(Strict):
    dist: Literal["gamma"]
    mean: Positive
    sd: NonNegative

    @model_validator(mode="after")
    def _shape(self) -> Gamma:
        if self.sd > 0 and (self.mean / self.sd) ** 2 < 0.05:
            raise ValueError("sd more than 4.5 times the mean: the gamma is degenerate")
        if self.sd > 0 and self.sd < self.mean / 1000:
            # shape (mean/sd)^2 above 1e6: the compiled quantile loses digits, and
            # beyond 1e15 divides by zero (found by the engine fuzzer)
            raise ValueError(
                "sd less than 1/1000 of the mean: the gamma is all but a point; give "
                "dist: fixed (or a normal)"
            )
        return self


class Uniform(Strict):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low {self.low} must not exceed high {self.high}")
        return self


class Weibull(Strict):
    dist: Literal["weibull"]
    shape: Annotated[float, Field(gt=0.0, le=100.0)]
    scale: Positive


class Exponential(Strict):
    dist: Literal["exponential"]
    rate_per_year: NonNegative


DistributionBlock = Annotated[
    Union[Fixed, Normal, LogNormal, Gamma, Uniform, Weibull, Exponential],  # noqa: UP007
    Field(discriminator="dist"),
]
PatientDistribution = Union[float, DistributionBlock]  # noqa: UP007


def distribution_params(value: PatientDistribution) -> tuple[int, float, float, float, float]:
    """(kind, a, b, c, d) for :func:`sim.distributions.quantile`."""
    if isinstance(value, (int, float)):
        return distributions.FIXED, float(value), 0.0, 0.0, 0.0
    if isinstance(value, Fixed):
        return distributions.FIXED, value.value, 0.0, 0.0, 0.0
    if isinstance(value, Normal):
        return distributions.NORMAL, value.mean, value.sd, value.low, value.high
    if isinstance(value, (LogNormal, Gamma)):
        return distributions.KIND[value.dist], value.mean, value.sd, 0.0, 0.0
    if isinstance(value, Uniform):
        return distributions.UNIFORM, value.low, value.high, 0.0, 0.0
    if isinstance(value, Weibull):
        return distributions.WEIBULL, value.shape, value.scale, 0.0, 0.0
    return distributions.EXPONENTIAL, value.rate_per_year, 0.0, 0.0, 0.0


def distribution_support(value: PatientDistribution) -> tuple[float, float]:
    """Smallest and largest value the distribution can take."""
    kind, a, b, c, d = distribution_params(value)
    if kind == distributions.FIXED:
        return a, a
    if kind == distributions.NORMAL:
        return (a, a) if b == 0 else (c, d)
    if kind == distributions.UNIFORM:
        return a, b
    if kind in (distributions.LOGNORMAL, distributions.GAMMA):
        return (a, a) if b == 0 else (0.0, math.inf)
    return 0.0, math.inf


def _non_negative(value: PatientDistribution, what: str) -> PatientDistribution:
    low, _ = distribution_support(value)
    if low < 0:
        bound = "give it low: 0 or more" if isinstance(value, Normal) else "use a positive one"
        reach = "has no lower bound" if low <= -1e300 else f"reaches {low:g}"
        raise ValueError(f"{what} must not be negative, but this distribution {reach}: {bound}")
    return value
