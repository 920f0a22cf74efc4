"""The scenario format (DESIGN §3): pydantic models of every block, frozen and strict.

Unknown keys are refused with a "did you mean" hint, every number is range-checked, and
cross-field rules (shares summing to 1, a comparator that exists, a fallback of the right
type...) are checked after the types. Loading a file is :mod:`sim.scenario.loading`; the
one-line messages are :mod:`sim.scenario.messages`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim.model.events import ITB_SIDE_EFFECTS, ORAL_SIDE_EFFECTS
from sim.model.units import DAYS_PER_YEAR
from sim.numerics import lifetable
from sim.numerics.discount import TREND_YEARS
from sim.scenario.messages import did_you_mean
from sim.scenario.types import (  # noqa: F401 - the scenario format's names, in one place
    CareMultiplier,
    Cost,
    Days,
    DistributionBlock,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    NonNegative,
    Normal,
    PatientDistribution,
    Positive,
    Probability,
    Rate,
    Strict,
    Uniform,
    Utility,
    UtilityChange,
    UtilityLoss,
    Weibull,
    _non_negative,
    distribution_params,
    distribution_support,
)
from sim.scenario.uncertainty import (  # noqa: F401
    Analysis,
    Calibrate,
    Correlation,
    ThresholdRange,
    Uncertain,
    UncertainShares,
    UncertaintyEntry,
)

INDICATIONS = ("cerebral_palsy", "multiple_sclerosis", "spinal_cord_injury", "brain_injury")
MAX_PATIENTS = 100_000_000
MAX_PSA_ITERATIONS = 1_000_000
#: The most years after implant that may have care multipliers of their own.
EARLY_CARE_YEARS = 10

# --------------------------------------------------------------------- event blocks


class Loss(Strict):
    """What one occurrence costs and takes: QALY loss = utility_loss x duration_days / 365.25."""

    cost: Cost = 0.0
    utility_loss: UtilityLoss = 0.0
    duration_days: Days = 0.0


class Consequence(Loss):
    """A loss that may kill."""

    death_probability: Probability = 0.0


class SideEffect(Consequence):
    rate_per_year: Rate = 0.0


class SeverityLevel(Consequence):
    share: Probability


class Severity(Strict):
    mild: SeverityLevel
    moderate: SeverityLevel
    severe: SeverityLevel

    @model_validator(mode="after")
    def _shares(self) -> Severity:
        total = self.mild.share + self.moderate.share + self.severe.share
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"shares of mild, moderate and severe sum to {total:g}: must be 1")
        return self

    def levels(self) -> tuple[SeverityLevel, SeverityLevel, SeverityLevel]:
        return (self.mild, self.moderate, self.severe)


class Surgery(Strict):
    cost: Cost
    utility_loss: UtilityLoss = 0.0
    duration_days: Days = 0.0
    infection_probability: Probability = 0.0
    death_probability: Probability = 0.0


def _side_effect_model(name: str, names: tuple[str, ...]) -> type[Strict]:
    fields: dict[str, Any] = {n: (SideEffect, SideEffect()) for n in names}
    from pydantic import create_model

    return create_model(name, __base__=Strict, **fields)


ItbSideEffectEvents = _side_effect_model("ItbSideEffectEvents", ITB_SIDE_EFFECTS)
OralSideEffectEvents = _side_effect_model("OralSideEffectEvents", ORAL_SIDE_EFFECTS)


class OralSideEffects(Strict):
    reference_dose_mg_per_day: Positive = 60.0
    dose_exponent: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    events: OralSideEffectEvents = OralSideEffectEvents()  # type: ignore[valid-type]


class ItbSideEffects(Strict):
    reference_dose_mcg_per_day: Positive = 400.0
    dose_exponent: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    events: ItbSideEffectEvents = ItbSideEffectEvents()  # type: ignore[valid-type]


# ----------------------------------------------------------------------- strategies


class Untreated(Strict):
    """No antispastic drug: background mortality, the patient's baseline utility changed by
    `utility_change`, background care times `care_cost_multiplier`."""

    type: Literal["untreated"]
    utility_change: UtilityChange = Field(
        0.0, description="utility over the patient's baseline (CMM) while untreated"
    )
    care_cost_multiplier: CareMultiplier = Field(
        1.0, description="multiplier on the cohort's background care cost while untreated"
    )


class Oral(Strict):
    """Conventional medical management with oral baclofen (DESIGN §4.4, §4.7): the patient's
    baseline utility is that of uncontrolled spasticity on it; tablets that control the
    spasticity add `utility_change_controlled`."""

    type: Literal["oral"]
    response_probability: Probability = Field(
        description="share of patients whose spasticity tablets control (0 for ITB candidates)"
    )
    utility_change_controlled: UtilityChange = Field(
        0.0, description="utility over the baseline when tablets control the spasticity"
    )
    drug_cost_per_mg: Cost = 0.0
    discontinuation_rate_per_year: Rate = 0.0
    untreated_utility_change: UtilityChange = Field(
        0.0, description="utility over the baseline after stopping tablets for intolerance"
    )
    untreated_care_cost_multiplier: CareMultiplier = Field(
        1.0, description="multiplier on background care after stopping tablets"
    )
    withdrawal_rate_per_year: Rate = 0.0
    withdrawal: Severity
    side_effects: OralSideEffects = OralSideEffects()


class AdverseEffect(Loss):
    """An adverse effect that follows a procedure with a probability (no death)."""

    probability: Probability = 0.0


class Screening(Strict):
    response_probability: Probability
    cost: Cost = 0.0
    adverse_effect: AdverseEffect = Field(
        AdverseEffect(),
        description="headache after the intrathecal test dose (post-dural puncture)",
    )


class Surgeries(Strict):
    implant: Surgery
    catheter_revision: Surgery
    pump_replacement: Surgery
    reimplant: Surgery
    explant: Surgery = Field(
        Surgery(cost=0.0), description="removal of the pump and catheter (no infection drawn)"
    )


class Infection(Strict):
    window_days: Annotated[float, Field(gt=0.0, le=3650.0)]
    cost: Cost = 0.0
    utility_loss: UtilityLoss = 0.0
    duration_days: Days = 0.0
    explant_probability: Probability = 0.0
    meningitis_probability: Probability = 0.0
    meningitis: Consequence = Consequence()
    reimplant_probability: Probability = 0.0
    reimplant_delay_days: Days = 0.0


class Pump(Strict):
    reservoir_ml: Annotated[float, Field(gt=0.0, le=1000.0)]
    concentration_mcg_per_ml: Annotated[float, Field(gt=0.0, le=1e6)]
    alarm_volume_ml: NonNegative = 0.0
    stability_days: Annotated[float, Field(ge=1.0, le=3650.0)]
    failure_rate_per_year: Rate = 0.0
    failure_withdrawal_probability: Probability = 0.0
    battery_life_years: PatientDistribution
    battery_cap_years: Annotated[float, Field(gt=0.0, le=100.0)]
    battery_alarm_lead_days: Days = 0.0
    replacement_delay_days: PatientDistribution = 0.0
    depletion_withdrawal_probability: Probability = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> Pump:
        if self.alarm_volume_ml >= self.reservoir_ml:
            raise ValueError(
                f"alarm_volume_ml {self.alarm_volume_ml:g} must be below reservoir_ml "
                f"{self.reservoir_ml:g}"
            )
        if self.battery_cap_years * DAYS_PER_YEAR < self.battery_alarm_lead_days:
            raise ValueError(
                f"battery_cap_years {self.battery_cap_years:g} is shorter than "
                f"battery_alarm_lead_days {self.battery_alarm_lead_days:g}: the alarm would "
                "sound before implant"
            )
        _non_negative(self.battery_life_years, "battery_life_years")
        low, _ = distribution_support(self.battery_life_years)
        if low <= 0 and distribution_support(self.battery_life_years)[1] <= 0:
            raise ValueError("battery_life_years must be > 0")
        _non_negative(self.replacement_delay_days, "replacement_delay_days")
        return self


class Dose(Strict):
    annual_growth: Annotated[float, Field(gt=-1.0, le=10.0)] = 0.0
    growth_years: Annotated[float, Field(ge=0.0, le=120.0)] = 0.0


class Refill(Strict):
    cost_visit: Cost = 0.0
    drug_cost_per_mg: Cost = 0.0
    pocket_fill_probability: Probability = 0.0
    programming_error_probability: Probability = 0.0
    missed_probability: Probability = 0.0
    missed_delay_days: PatientDistribution = Field(
        0.0, description="how late a missed refill comes (drawn at each missed visit)"
    )
    missed_withdrawal_probability: Probability = Field(
        0.0, description="withdrawal when the reservoir runs dry before the late refill"
    )

    @field_validator("missed_delay_days")
    @classmethod
    def _delay(cls, value: PatientDistribution) -> PatientDistribution:
        return _non_negative(value, "missed_delay_days")


class Catheter(Strict):
    time_to_failure_years: PatientDistribution
    withdrawal_probability: Probability = 0.0

    @field_validator("time_to_failure_years")
    @classmethod
    def _positive(cls, value: PatientDistribution) -> PatientDistribution:
        if distribution_support(value)[1] <= 0:
            raise ValueError(
                "time_to_failure_years is 0 for every catheter: each revised catheter would "
                "fail again at the same instant, for ever; give a distribution with positive "
                "times"
            )
        return _non_negative(value, "time_to_failure_years")


class Itb(Strict):
    type: Literal["itb"]
    fallback: str
    screening: Screening
    utility_change: UtilityChange = Field(
        description="utility over the patient's baseline (CMM) while on the pump"
    )
    care_cost_multiplier: CareMultiplier = Field(
        1.0, description="multiplier on the cohort's background care cost while on the pump"
    )
    care_cost_multiplier_early: Annotated[
        list[CareMultiplier], Field(max_length=EARLY_CARE_YEARS)
    ] = Field(
        default_factory=list,
        description="multipliers in place of care_cost_multiplier in years 1, 2, ... after "
        "the first implant (costs that change with the time since implant); fixed values, "
        "not varied by the PSA",
    )
    surgery: Surgeries
    infection: Infection
    explant_rate_per_year: Rate = 0.0
    pump: Pump
    dose: Dose = Dose()
    refill: Refill
    catheter: Catheter
    withdrawal: Severity
    overdose: Severity
    side_effects: ItbSideEffects = ItbSideEffects()


Strategy = Annotated[Union[Untreated, Oral, Itb], Field(discriminator="type")]  # noqa: UP007


# --------------------------------------------------------------------------- cohort


class Indication(Strict):
    share: Probability
    mortality_multiplier: Annotated[float, Field(ge=0.0, le=1000.0)] = Field(
        1.0, description="standardised mortality ratio: the multiplier on the life-table hazard"
    )
    baseline_utility: Utility = Field(
        description="utility of uncontrolled severe spasticity on conventional management"
    )
    itb_dose_mcg_per_day: PatientDistribution
    oral_dose_mg_per_day: PatientDistribution

    @model_validator(mode="after")
    def _doses(self) -> Indication:
        _non_negative(self.itb_dose_mcg_per_day, "itb_dose_mcg_per_day")
        _non_negative(self.oral_dose_mg_per_day, "oral_dose_mg_per_day")
        return self


class Indications(Strict):
    cerebral_palsy: Indication | None = None
    multiple_sclerosis: Indication | None = None
    spinal_cord_injury: Indication | None = None
    brain_injury: Indication | None = None

    @model_validator(mode="after")
    def _shares(self) -> Indications:
        present = self.present()
        if not present:
            raise ValueError(f"give at least one of {', '.join(INDICATIONS)}")
        total = sum(ind.share for _, ind in present)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"indication shares sum to {total:g}: must be 1")
        return self

    def present(self) -> list[tuple[str, Indication]]:
        return [(n, getattr(self, n)) for n in INDICATIONS if getattr(self, n) is not None]


class Cohort(Strict):
    age_years: PatientDistribution
    male_share: Probability
    life_table: str = "us-ssa-2019"
    care_cost_per_year: Cost = Field(
        0.0,
        description="background care every strategy shares: the care the model does not "
        "cost explicitly (strategies change it by their care_cost_multiplier)",
    )
    indications: Indications

    @field_validator("age_years")
    @classmethod
    def _age(cls, value: PatientDistribution) -> PatientDistribution:
        low, high = distribution_support(value)
        if low < 0 or high > lifetable.MAX_AGE:
            raise ValueError(
                f"ages from {low:g} to {high:g}: must lie within 0..{lifetable.MAX_AGE} "
                "(truncate a normal with low/high, or use uniform)"
            )
        return value


class Discount(Strict):
    costs: Annotated[float, Field(ge=0.0, lt=1.0)]
    effects: Annotated[float, Field(ge=0.0, lt=1.0)]
    cost_trend: Annotated[
        list[Annotated[float, Field(gt=-0.5, le=0.5)]], Field(max_length=TREND_YEARS)
    ] = Field(
        default_factory=list,
        description="yearly growth of every cost in years 1, 2, ... (a medical cost trend, "
        "as actuarial projections use; the last rate continues); empty: constant prices",
    )


# ------------------------------------------------------------------------- scenario

#: The utility changes of each strategy type (added to the patient's baseline utility).
_UTILITY_CHANGES: dict[str, tuple[str, ...]] = {
    "untreated": ("utility_change",),
    "oral": ("utility_change_controlled", "untreated_utility_change"),
    "itb": ("utility_change",),
}

SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


class Scenario(Strict):
    """A whole scenario, validated. `horizon_years` is a number of years or "lifetime"."""

    name: str
    title: str = ""
    extends: str | None = Field(default=None, description="parent file, relative to this one")
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)]
    currency: str = "USD"
    price_year: Annotated[int, Field(ge=1900, le=2100)] = Field(
        description="the year of the results' prices: every cost is inflated to it"
    )
    price_index: str = Field(
        "us-cpi-medical-care",
        description="us-cpi-medical-care, uk-nhs-cost-inflation, or a CSV file (year,index)",
    )
    cost_years: dict[str, Annotated[int, Field(ge=1900, le=2100)]] = Field(
        {},
        description="the price year of each cost's source: a dotted path, or a prefix "
        "covering every cost beneath it (the longest prefix wins)",
    )
    horizon_years: Annotated[float, Field(gt=0.0, le=120.0)] | Literal["lifetime"]
    patients: Annotated[int, Field(ge=1, le=MAX_PATIENTS)]
    psa_iterations: Annotated[int, Field(ge=0, le=MAX_PSA_ITERATIONS)] = 0
    discount: Discount
    wtp: Annotated[list[Annotated[float, Field(ge=0.0, le=1e8)]], Field(min_length=1)]
    comparator: str
    cohort: Cohort
    strategies: Annotated[dict[str, Strategy], Field(min_length=1)]
    uncertainty: dict[str, UncertaintyEntry] = Field(default_factory=dict)
    analysis: Analysis = Analysis()
    calibrate: Calibrate | None = Field(
        None, description="an explicit calibration step: parameters, ranges and targets"
    )
    sources: dict[str, str] = Field(default_factory=dict)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.fullmatch(value) or ".." in value:
            raise ValueError(
                "must be a slug: lower-case letters, digits, '_', '-', '.', starting with a "
                "letter or digit, at most 80 characters (it names the result folder)"
            )
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("must be an ISO 4217 code such as USD, EUR or GBP")
        return value

    @field_validator("strategies")
    @classmethod
    def _strategy_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(
                    f"strategy name {name!r} must be lower-case letters, digits and '_'"
                )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = list(self.strategies)
        if self.comparator not in self.strategies:
            raise PydanticCustomError(
                "bad_reference",
                "comparator {value} names no strategy{hint}; allowed: {allowed}",
                {
                    "value": repr(self.comparator),
                    "field": "comparator",
                    "hint": did_you_mean(self.comparator, names),
                    "allowed": ", ".join(names),
                },
            )
        for name, strategy in self.strategies.items():
            if isinstance(strategy, Itb):
                target = self.strategies.get(strategy.fallback)
                orals = [n for n, s in self.strategies.items() if isinstance(s, Oral)]
                if not isinstance(target, Oral):
                    problem = "names no strategy" if target is None else "is not an oral strategy"
                    raise PydanticCustomError(
                        "bad_reference",
                        "fallback {value} {problem}; allowed: {allowed}",
                        {
                            "value": repr(strategy.fallback),
                            "field": f"strategies.{name}.fallback",
                            "problem": problem,
                            "allowed": ", ".join(orals) or "(no oral strategy in the scenario)",
                        },
                    )
        best, top = max(
            (ind.baseline_utility, name) for name, ind in self.cohort.indications.present()
        )
        for name, strategy in self.strategies.items():
            for key in _UTILITY_CHANGES[strategy.type]:
                change = getattr(strategy, key)
                if best + change > 1.0 + 1e-12:
                    raise PydanticCustomError(
                        "bad_reference",
                        "{value}: with the highest baseline utility {best} "
                        "(cohort.indications.{top}.baseline_utility) it gives a utility "
                        "above 1 (full health); allowed: at most {limit}",
                        {
                            "value": f"{change:g}",
                            "best": f"{best:g}",
                            "top": top,
                            "limit": f"{1.0 - best:g}",
                            "field": f"strategies.{name}.{key}",
                        },
                    )
        return self

    # -- derived facts the engines use

    @property
    def horizon(self) -> float:
        """Years of follow-up; a lifetime horizon runs to age 120 at most."""
        return float(lifetable.MAX_AGE) if self.horizon_years == "lifetime" else self.horizon_years

    def strategy_names(self) -> list[str]:
        return list(self.strategies)

    @property
    def source(self) -> Path | None:
        """The file the scenario was loaded from (None when built from a document)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """The folder relative paths of the scenario (a life table) are read from."""
        return self._source.resolve().parent if self._source is not None else Path.cwd()

    def with_source(self, path: Path) -> Scenario:
        copy = self.model_copy()
        copy._source = Path(path)
        return copy


def canonical_json(scenario: Scenario) -> str:
    """The resolved scenario as canonical JSON (sorted keys): what the SHA-256 is of."""
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def sha256(scenario: Scenario) -> str:
    return hashlib.sha256(canonical_json(scenario).encode()).hexdigest()


#: What each scenario key means, by "Model.field" (data: sim/scenario/descriptions.yaml).
DESCRIPTIONS = Path(__file__).with_name("descriptions.yaml")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, every key with a description (an editor's hover
    help): the model's own, or the one descriptions.yaml gives its model and field."""
    import yaml

    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "baclofen-sim scenario"
    described = yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8")) or {}
    models = [("Scenario", schema), *schema.get("$defs", {}).items()]
    for name, model in models:
        for key, prop in (model.get("properties") or {}).items():
            text = described.get(f"{name}.{key}")
            if text and "description" not in prop:
                prop["description"] = text
    return schema
