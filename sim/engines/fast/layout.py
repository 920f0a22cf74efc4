"""What the compiled engine reads: a scenario's strategies as flat float arrays.

Each strategy is one parameter row, declared once below: a field's name, its width and
how its value is read from the scenario. The packing (:func:`pack`) and the kernel's
reading (``p[ROW.<name>]``) both follow from this one declaration, so adding a parameter
is one line here and its use in each engine. An ITB strategy's row also carries its
fallback's tablet fields. Event blocks that come in sets (side effects by type, severity
levels, surgeries) are tables beside the row, indexed by the catalogue's order.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engines.rules import qaly_loss, rate_sum
from sim.model.events import ITB_SIDE_EFFECTS, ORAL_SIDE_EFFECTS, SEVERITIES
from sim.model.units import DAYS_PER_YEAR
from sim.numerics.distributions import prepared
from sim.scenario import Consequence, Itb, Oral, Scenario, Severity, Untreated, distribution_params
from sim.scenario.schema import EARLY_CARE_YEARS

#: Strategy types, as the row's `kind`.
UNTREATED, ORAL, ITB = 0, 1, 2
#: Width of a patient distribution in the row: the seven numbers of
#: :func:`sim.numerics.distributions.prepared`.
DISTRIBUTION = 7


@dataclass(frozen=True)
class Field:
    name: str
    value: Callable[[Any], float | tuple[float, ...]]  # of the strategy block it reads
    width: int = 1


def _distribution(value: Any) -> tuple[float, ...]:
    return prepared(*distribution_params(value))


def _padded(values: list[float], width: int) -> tuple[float, ...]:
    return (*values, *([0.0] * (width - len(values))))


#: Fields of the scenario that every strategy shares.
SCENARIO_FIELDS: tuple[Field, ...] = (
    Field("care_cost_per_year", lambda sc: sc.cohort.care_cost_per_year),
)
#: Fields of an untreated strategy.
UNTREATED_FIELDS: tuple[Field, ...] = (
    Field("untreated_utility_change", lambda s: s.utility_change),
    Field("untreated_care_cost_multiplier", lambda s: s.care_cost_multiplier),
)
#: Fields of tablet therapy: an oral strategy, or the fallback of an ITB strategy.
ORAL_FIELDS: tuple[Field, ...] = (
    Field("oral_response_probability", lambda o: o.response_probability),
    Field("oral_utility_change_controlled", lambda o: o.utility_change_controlled),
    Field("oral_drug_cost_per_mg", lambda o: o.drug_cost_per_mg),
    Field("oral_discontinuation_rate", lambda o: o.discontinuation_rate_per_year),
    Field("oral_untreated_utility_change", lambda o: o.untreated_utility_change),
    Field("oral_untreated_care_cost_multiplier", lambda o: o.untreated_care_cost_multiplier),
    Field("oral_withdrawal_rate", lambda o: o.withdrawal_rate_per_year),
    Field("oral_side_effect_reference_dose", lambda o: o.side_effects.reference_dose_mg_per_day),
    Field("oral_side_effect_exponent", lambda o: o.side_effects.dose_exponent),
    Field("oral_side_effect_rate_sum", lambda o: rate_sum(_oral_side_effects(o))),
)
#: Fields of an ITB strategy.
ITB_FIELDS: tuple[Field, ...] = (
    Field("itb_screening_response_probability", lambda i: i.screening.response_probability),
    Field("itb_screening_cost", lambda i: i.screening.cost),
    Field("screening_adverse_probability", lambda i: i.screening.adverse_effect.probability),
    Field("screening_adverse_cost", lambda i: i.screening.adverse_effect.cost),
    Field("screening_adverse_qaly_loss", lambda i: _qaly_loss(i.screening.adverse_effect)),
    Field("itb_utility_change", lambda i: i.utility_change),
    Field("itb_care_cost_multiplier", lambda i: i.care_cost_multiplier),
    Field("itb_care_early_years", lambda i: len(i.care_cost_multiplier_early)),
    Field(
        "itb_care_early",
        lambda i: _padded(i.care_cost_multiplier_early, EARLY_CARE_YEARS),
        EARLY_CARE_YEARS,
    ),
    Field("infection_window_years", lambda i: i.infection.window_days / DAYS_PER_YEAR),
    Field("infection_cost", lambda i: i.infection.cost),
    Field("infection_qaly_loss", lambda i: _qaly_loss(i.infection)),
    Field("infection_explant_probability", lambda i: i.infection.explant_probability),
    Field("meningitis_probability", lambda i: i.infection.meningitis_probability),
    Field("meningitis_cost", lambda i: i.infection.meningitis.cost),
    Field("meningitis_qaly_loss", lambda i: _qaly_loss(i.infection.meningitis)),
    Field("meningitis_death_probability", lambda i: i.infection.meningitis.death_probability),
    Field("reimplant_probability", lambda i: i.infection.reimplant_probability),
    Field("reimplant_delay_years", lambda i: i.infection.reimplant_delay_days / DAYS_PER_YEAR),
    Field("explant_rate", lambda i: i.explant_rate_per_year),
    Field("reservoir_mcg", lambda i: i.pump.reservoir_ml * i.pump.concentration_mcg_per_ml),
    Field(
        "usable_mcg",
        lambda i: (i.pump.reservoir_ml - i.pump.alarm_volume_ml) * i.pump.concentration_mcg_per_ml,
    ),
    Field("stability_days", lambda i: i.pump.stability_days),
    Field("pump_failure_rate", lambda i: i.pump.failure_rate_per_year),
    Field("pump_failure_withdrawal_probability", lambda i: i.pump.failure_withdrawal_probability),
    Field("battery_life_years", lambda i: _distribution(i.pump.battery_life_years), DISTRIBUTION),
    Field("battery_cap_years", lambda i: i.pump.battery_cap_years),
    Field("battery_alarm_lead_years", lambda i: i.pump.battery_alarm_lead_days / DAYS_PER_YEAR),
    Field(
        "replacement_delay_days",
        lambda i: _distribution(i.pump.replacement_delay_days),
        DISTRIBUTION,
    ),
    Field("depletion_withdrawal_probability", lambda i: i.pump.depletion_withdrawal_probability),
    Field("dose_annual_growth", lambda i: i.dose.annual_growth),
    Field("dose_growth_years", lambda i: i.dose.growth_years),
    Field("refill_cost_visit", lambda i: i.refill.cost_visit),
    Field("refill_drug_cost_per_mg", lambda i: i.refill.drug_cost_per_mg),
    Field("pocket_fill_probability", lambda i: i.refill.pocket_fill_probability),
    Field("programming_error_probability", lambda i: i.refill.programming_error_probability),
    Field("missed_refill_probability", lambda i: i.refill.missed_probability),
    Field(
        "missed_refill_delay_days",
        lambda i: _distribution(i.refill.missed_delay_days),
        DISTRIBUTION,
    ),
    Field("missed_refill_withdrawal_probability", lambda i: i.refill.missed_withdrawal_probability),
    Field(
        "catheter_time_to_failure_years",
        lambda i: _distribution(i.catheter.time_to_failure_years),
        DISTRIBUTION,
    ),
    Field("catheter_withdrawal_probability", lambda i: i.catheter.withdrawal_probability),
    Field("itb_side_effect_reference_dose", lambda i: i.side_effects.reference_dose_mcg_per_day),
    Field("itb_side_effect_exponent", lambda i: i.side_effects.dose_exponent),
    Field("itb_side_effect_rate_sum", lambda i: rate_sum(_itb_side_effects(i))),
)


def _offsets() -> tuple[tuple[str, ...], list[int], int]:
    names, starts, position = ["kind"], [0], 1
    for spec in (*SCENARIO_FIELDS, *UNTREATED_FIELDS, *ORAL_FIELDS, *ITB_FIELDS):
        names.append(spec.name)
        starts.append(position)
        position += spec.width
    return tuple(names), starts, position


_NAMES, _STARTS, ROW_WIDTH = _offsets()
#: Where each field starts in the row (``ROW.itb_utility``): constants in compiled code.
ROW = namedtuple("RowFields", _NAMES)(*_STARTS)

#: Columns of an event table (side effects, severity levels, surgeries).
EVENT_COLUMNS = ("rate_or_share", "cost", "qaly_loss", "death_probability")
EVENT = namedtuple("EventColumns", EVENT_COLUMNS)(*range(len(EVENT_COLUMNS)))
SURGERY_COLUMNS = ("cost", "qaly_loss", "infection_probability", "death_probability")
SURGERY_COLUMN = namedtuple("SurgeryColumns", SURGERY_COLUMNS)(*range(len(SURGERY_COLUMNS)))
#: Rows of the surgery table.
SURGERIES = ("implant", "catheter_revision", "pump_replacement", "reimplant", "explant")
SURGERY = namedtuple("Surgeries", SURGERIES)(*range(len(SURGERIES)))
#: Blocks of the severity table, each with its rows mild, moderate and severe.
SEVERITY_BLOCKS = ("itb_withdrawal", "itb_overdose", "oral_withdrawal")
SEVERITY_BLOCK = namedtuple("SeverityBlocks", SEVERITY_BLOCKS)(*range(len(SEVERITY_BLOCKS)))


def _qaly_loss(block: Any) -> float:
    return qaly_loss(block.utility_loss, block.duration_days)


def _event_row(block: Consequence, first: float) -> list[float]:
    return [first, block.cost, _qaly_loss(block), block.death_probability]


def _side_effect_table(events: Any, names: tuple[str, ...]) -> np.ndarray:
    return np.array(
        [_event_row(getattr(events, n), getattr(events, n).rate_per_year) for n in names]
    ).reshape(len(names), len(EVENT_COLUMNS))


def _itb_side_effects(itb: Itb) -> np.ndarray:
    return _side_effect_table(itb.side_effects.events, ITB_SIDE_EFFECTS)


def _oral_side_effects(oral: Oral) -> np.ndarray:
    return _side_effect_table(oral.side_effects.events, ORAL_SIDE_EFFECTS)


def _severity_table(block: Severity) -> np.ndarray:
    return np.array([_event_row(level, level.share) for level in block.levels()])


@dataclass(frozen=True)
class Model:
    """A scenario's strategies, packed: one row and its tables per strategy (in the
    scenario's order), as the arguments of the compiled loop."""

    row: np.ndarray  # (S, ROW_WIDTH)
    itb_side_effects: np.ndarray  # (S, len(ITB_SIDE_EFFECTS), EVENT_COLUMNS)
    oral_side_effects: np.ndarray  # (S, len(ORAL_SIDE_EFFECTS), EVENT_COLUMNS)
    severity: np.ndarray  # (S, SEVERITY_BLOCKS, SEVERITIES, EVENT_COLUMNS)
    surgery: np.ndarray  # (S, SURGERIES, SURGERY_COLUMNS)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.row,
            self.itb_side_effects,
            self.oral_side_effects,
            self.severity,
            self.surgery,
        )


def _write(row: np.ndarray, fields: tuple[Field, ...], block: Any) -> None:
    for spec in fields:
        start = getattr(ROW, spec.name)
        row[start : start + spec.width] = spec.value(block)


def pack(scenario: Scenario) -> Model:
    names = scenario.strategy_names()
    s = len(names)
    model = Model(
        np.zeros((s, ROW_WIDTH)),
        np.zeros((s, len(ITB_SIDE_EFFECTS), len(EVENT_COLUMNS))),
        np.zeros((s, len(ORAL_SIDE_EFFECTS), len(EVENT_COLUMNS))),
        np.zeros((s, len(SEVERITY_BLOCKS), len(SEVERITIES), len(EVENT_COLUMNS))),
        np.zeros((s, len(SURGERIES), len(SURGERY_COLUMNS))),
    )
    for i, name in enumerate(names):
        strategy = scenario.strategies[name]
        row = model.row[i]
        _write(row, SCENARIO_FIELDS, scenario)
        if isinstance(strategy, Untreated):
            row[ROW.kind] = UNTREATED
            _write(row, UNTREATED_FIELDS, strategy)
            continue
        oral = scenario.strategies[strategy.fallback] if isinstance(strategy, Itb) else strategy
        row[ROW.kind] = ITB if isinstance(strategy, Itb) else ORAL
        _write(row, ORAL_FIELDS, oral)
        model.oral_side_effects[i] = _oral_side_effects(oral)
        model.severity[i, SEVERITY_BLOCK.oral_withdrawal] = _severity_table(oral.withdrawal)
        if isinstance(strategy, Itb):
            _write(row, ITB_FIELDS, strategy)
            model.itb_side_effects[i] = _itb_side_effects(strategy)
            model.severity[i, SEVERITY_BLOCK.itb_withdrawal] = _severity_table(strategy.withdrawal)
            model.severity[i, SEVERITY_BLOCK.itb_overdose] = _severity_table(strategy.overdose)
            for j, surgery in enumerate(SURGERIES):
                block = getattr(strategy.surgery, surgery)
                model.surgery[i, j] = (
                    block.cost,
                    _qaly_loss(block),
                    block.infection_probability,
                    block.death_probability,
                )
    return model
