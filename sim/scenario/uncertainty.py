"""The uncertainty of a scenario's parameters (DESIGN §3 `uncertainty`) and the settings of
its uncertainty analyses (`analysis`)."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from sim.scenario.types import NonNegative, Positive, Strict

# ---------------------------------------------------------------------- uncertainty


class Uncertain(Strict):
    """A parameter's uncertainty: by mean/se (method of moments), by a standard error
    relative to the parameter's own value (`relative_se`: the mean is the base value, so a
    variant that changes the value, another currency say, carries its uncertainty with
    it), or by the distribution's own parameters."""

    dist: Literal["beta", "gamma", "lognormal", "normal", "uniform", "triangular", "fixed"]
    mean: float | None = None
    se: NonNegative | None = None
    relative_se: NonNegative | None = Field(
        None, description="standard error as a share of the parameter's base value"
    )
    alpha: Positive | None = None
    beta: Positive | None = None
    shape: Positive | None = None
    scale: Positive | None = None
    meanlog: float | None = None
    sdlog: NonNegative | None = None
    mode: float | None = None
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _fits(self) -> Uncertain:
        d = self.dist
        need: dict[str, list[tuple[str, ...]]] = {
            "beta": [("mean", "se"), ("relative_se",), ("alpha", "beta")],
            "gamma": [("mean", "se"), ("relative_se",), ("shape", "scale")],
            "lognormal": [("mean", "se"), ("relative_se",), ("meanlog", "sdlog")],
            "normal": [("mean", "se"), ("relative_se",)],
            "uniform": [("low", "high")],
            "triangular": [("low", "mode", "high")],
            "fixed": [("mean",)],
        }
        options = need[d]
        if not any(all(getattr(self, k) is not None for k in opt) for opt in options):
            wanted = " or ".join("/".join(opt) for opt in options)
            raise ValueError(f"a {d} distribution needs {wanted}")
        if d == "beta" and self.mean is not None and self.se is not None:
            problem = beta_problem(self.mean, self.se)
            if problem == "mean":
                raise ValueError(f"beta mean {self.mean:g} must lie strictly within (0, 1)")
            if problem == "se":
                raise ValueError(
                    f"beta se {self.se:g} too large for mean {self.mean:g}: "
                    f"se must be below {math.sqrt(self.mean * (1 - self.mean)):.4g}"
                )
        if d in ("gamma", "lognormal") and self.mean is not None and self.mean <= 0:
            raise ValueError(f"{d} mean {self.mean:g} must be > 0")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low:g} must not exceed high {self.high:g}")
        if d == "triangular" and not (self.low <= self.mode <= self.high):  # type: ignore[operator]
            raise ValueError("triangular needs low <= mode <= high")
        return self


def beta_problem(mean: float, se: float) -> Literal["mean", "se"] | None:
    """Why no beta has this mean and standard error: a mean outside (0, 1), or a variance
    of at least mean (1 - mean); None when one does (the method of moments then fits)."""
    if not 0 < mean < 1:
        return "mean"
    if se * se >= mean * (1 - mean):
        return "se"
    return None


#: A Dirichlet count: below about 0.001, gamma draws underflow to 0 and shares to 0/0.
DirichletCount = Annotated[float, Field(ge=0.001, le=1e9)]


class UncertainShares(Strict):
    dist: Literal["dirichlet"]
    counts: dict[str, DirichletCount]


UncertaintyEntry = Annotated[Union[Uncertain, UncertainShares], Field(discriminator="dist")]  # noqa: UP007


class Correlation(Strict):
    """Correlation of two uncertain parameters in the PSA (Gaussian copula)."""

    parameters: Annotated[list[str], Field(min_length=2, max_length=2)]
    rho: Annotated[float, Field(gt=-1.0, lt=1.0)]


class ThresholdRange(Strict):
    """Where to look for the value of a parameter at which the decision changes."""

    low: float | None = None
    high: float | None = None


class Population(Strict):
    """Whom the decision is for, for the value of information of a population: the
    patients who would be offered the treatment each year and the years the decision
    stands, each year's patients discounted at the cost rate from the decision."""

    patients_per_year: Annotated[float, Field(gt=0.0, le=1e9)]
    years: Annotated[int, Field(ge=1, le=200)]


class Analysis(Strict):
    """Settings of the uncertainty analyses (issue 4): all optional."""

    correlations: list[Correlation] = Field(default_factory=list)
    evppi_groups: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(default_factory=dict)
    population: Population | None = None
    thresholds: dict[str, ThresholdRange] = Field(default_factory=dict)
    wtp_grid_max: Annotated[float, Field(gt=0.0, le=1e8)] | None = None
    wtp_grid_points: Annotated[int, Field(ge=2, le=1001)] = 41


# ---------------------------------------------------------------------- calibration

#: What a calibration target can match: a model output of one strategy's tally.
CALIBRATION_OUTPUTS = (
    "deaths_per_100_patient_years",  # every death, per 100 years of follow-up
    "events_per_pump_year",  # the counters in `events`, per year on the pump
    "event_free_share",  # share of patients with none of `events` by the horizon
    "cost_ratio",  # undiscounted cost over `years` [a, b], against the comparator's
)


class CalibrationParameter(Strict):
    """A parameter the fit may move, within [low, high]. With `scale`, the value is a
    factor on every value the path names (a `*` stands for each key at its level), so
    that one number moves a set of parameters together and keeps their ratios."""

    low: float
    high: float
    scale: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationParameter:
        if not self.low < self.high:
            raise ValueError(f"low {self.low:g} must be below high {self.high:g}")
        return self


class CalibrationTarget(Strict):
    """A published figure with its standard error, and the model output that matches it."""

    output: Literal[CALIBRATION_OUTPUTS]  # type: ignore[valid-type]
    strategy: str = "itb"
    events: list[str] = Field(default_factory=list)
    years: Annotated[list[NonNegative], Field(min_length=2, max_length=2)] | None = None
    value: float
    se: Positive
    source: str


class Calibrate(Strict):
    """An explicit calibration step (`baclofen-sim calibrate`): the parameters it may move,
    the targets it fits (least squares in standard errors, common random numbers), and
    changes that make the runs like the targets' data (`set_up`: dotted path to value,
    for the calibration runs only)."""

    parameters: Annotated[dict[str, CalibrationParameter], Field(min_length=1, max_length=8)]
    targets: Annotated[dict[str, CalibrationTarget], Field(min_length=1)]
    set_up: dict[str, float | int | str] = Field(default_factory=dict)
