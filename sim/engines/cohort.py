"""The patients at t = 0 (DESIGN §4.1), drawn once and shared by every strategy.

Each attribute is one uniform on the "attributes" stream at a fixed counter, turned into a
value by inverse CDF: the same patient (age, sex, indication, doses, responder status,
background death time) in every strategy, in both engines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.model.streams import ATTRIBUTE, STREAM, STREAM_KEY
from sim.numerics import lifetable
from sim.numerics.distributions import prepared, quantile_prepared
from sim.numerics.rng import patient_key, uniform_at
from sim.scenario import Scenario, distribution_params

_ATTR = STREAM_KEY[STREAM["attributes"]]
_AGE, _SEX, _INDICATION = ATTRIBUTE["age"], ATTRIBUTE["sex"], ATTRIBUTE["indication"]
_ITB_DOSE, _ORAL_DOSE = ATTRIBUTE["itb_dose"], ATTRIBUTE["oral_dose"]
_ITB_RESPONSE, _ORAL_RESPONSE = ATTRIBUTE["itb_response"], ATTRIBUTE["oral_response"]
_DEATH, _DELAY = ATTRIBUTE["background_death"], ATTRIBUTE["replacement_delay"]


@dataclass(frozen=True)
class CohortArrays:
    """The cohort's numbers in the flat form the compiled draw needs."""

    indication_names: tuple[str, ...]
    age: np.ndarray  # (7,) distribution row of distributions.prepared
    male_share: float
    cumulative_share: np.ndarray  # (n,)
    mortality_multiplier: np.ndarray  # (n,)
    itb_dose: np.ndarray  # (n, 7)
    oral_dose: np.ndarray  # (n, 7)
    hazard: np.ndarray  # (2, 120) background hazard by sex and age
    baseline_utility: np.ndarray  # (n,) by indication

    @classmethod
    def of(cls, scenario: Scenario, table: lifetable.LifeTable) -> CohortArrays:
        present = scenario.cohort.indications.present()
        shares = np.cumsum([ind.share for _, ind in present])
        shares[-1] = 1.0  # guard the top of the CDF against rounding
        return cls(
            indication_names=tuple(n for n, _ in present),
            age=np.array(prepared(*distribution_params(scenario.cohort.age_years))),
            male_share=scenario.cohort.male_share,
            cumulative_share=shares.astype(np.float64),
            mortality_multiplier=np.array([i.mortality_multiplier for _, i in present]),
            itb_dose=np.array(
                [prepared(*distribution_params(i.itb_dose_mcg_per_day)) for _, i in present]
            ),
            oral_dose=np.array(
                [prepared(*distribution_params(i.oral_dose_mg_per_day)) for _, i in present]
            ),
            hazard=table.hazards(),
            baseline_utility=np.array([i.baseline_utility for _, i in present]),
        )

    def compiled(self) -> tuple:
        """The arrays `_draw` takes after the patient's key, in its order, then the
        baseline utility by indication."""
        return (
            self.age,
            self.male_share,
            self.cumulative_share,
            self.mortality_multiplier,
            self.itb_dose,
            self.oral_dose,
            self.hazard,
            self.baseline_utility,
        )


@dataclass(frozen=True)
class Patient:
    index: int
    age_years: float
    male: bool
    indication: str
    itb_dose_mcg_per_day: float
    oral_dose_mg_per_day: float
    itb_response_u: float  # responds to ITB screening when below the response probability
    oral_response_u: float  # tablets control spasticity when below the response probability
    background_death_years: float  # from t = 0; may exceed the horizon
    replacement_delay_u: float  # each ITB strategy turns it into its own delay (days)
    baseline_utility: float  # uncontrolled severe spasticity on CMM, by indication


@njit(cache=True)
def _draw(
    key,
    age_d,
    male_share,
    cumulative_share,
    multiplier,
    itb_dose,
    oral_dose,
    hazard,
):
    def u(counter):
        return uniform_at(key, _ATTR, counter)

    d = age_d
    age = quantile_prepared(int(d[0]), d[1], d[2], d[3], d[4], d[5], d[6], u(_AGE))
    age = min(max(age, 0.0), lifetable.MAX_AGE - 1e-9)
    male = u(_SEX) < male_share
    v = u(_INDICATION)
    ind = 0
    while ind < cumulative_share.size - 1 and v >= cumulative_share[ind]:
        ind += 1
    d = itb_dose[ind]
    itb = max(0.0, quantile_prepared(int(d[0]), d[1], d[2], d[3], d[4], d[5], d[6], u(_ITB_DOSE)))
    d = oral_dose[ind]
    oral = max(0.0, quantile_prepared(int(d[0]), d[1], d[2], d[3], d[4], d[5], d[6], u(_ORAL_DOSE)))
    death = lifetable.death_time(hazard[1 if male else 0], multiplier[ind], age, u(_DEATH))
    return age, male, ind, itb, oral, u(_ITB_RESPONSE), u(_ORAL_RESPONSE), death, u(_DELAY)


def draw(arrays: CohortArrays, seed: int, parameter_set: int, patient: int) -> Patient:
    age, male, ind, itb, oral, u_itb, u_oral, death, delay = _draw(
        np.uint64(patient_key(seed, parameter_set, patient)), *arrays.compiled()[:7]
    )
    return Patient(
        patient,
        age,
        bool(male),
        arrays.indication_names[ind],
        itb,
        oral,
        u_itb,
        u_oral,
        death,
        delay,
        float(arrays.baseline_utility[ind]),
    )
