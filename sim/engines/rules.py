"""Rules of the model that both engines apply the same way (DESIGN §4), compiled once.

The SimPy engine (the executable specification) and the compiled engine keep only their
own control flow, SimPy processes in one and a next-event loop in the other; the
arithmetic of a rule lives here, so that both give the same value to the last bit and a
rule is changed in one place. Each function is pure: numbers in, numbers out.
"""

from __future__ import annotations

import math

from numba import njit

from sim.model.clocks import MAX_FIRINGS, Clock
from sim.model.units import DAYS_PER_YEAR, MONTHS_PER_YEAR
from sim.numerics.discount import cost_flow, cost_periodic
from sim.numerics.rng import visits_before
from sim.scenario import Scenario, ScenarioError

MCG_PER_MG = 1000.0


@njit(cache=True)
def power(x: float, y: float) -> float:
    """x ** y, without the pow call for the usual exponents 0 and 1 (x ** 0 is 1 and
    x ** 1 is x exactly, so the value is pow's to the bit)."""
    if y == 0.0:
        return 1.0
    if y == 1.0:
        return x
    return x**y


@njit(cache=True)
def qaly_loss(utility_loss: float, duration_days: float) -> float:
    """QALYs lost by one occurrence of an event (DESIGN §3: utility loss x duration)."""
    return utility_loss * duration_days / DAYS_PER_YEAR


@njit(cache=True)
def refill_interval_days(dose_mcg_per_day: float, usable_mcg: float, stability_days: float):
    """Whole days from a fill to the next visit: until the reservoir reaches the alarm
    volume at the current dose, at most the drug's stability, at least one (DESIGN §4.5)."""
    days = stability_days
    if dose_mcg_per_day > 0.0:
        days = min(math.floor(usable_mcg / dose_mcg_per_day), days)
    return max(days, 1.0)


@njit(cache=True)
def drug_used_mg(dose_mcg_per_day: float, days: float, reservoir_mcg: float) -> float:
    """Drug taken out of the reservoir over `days` at a dose: at most what it held."""
    return min(dose_mcg_per_day * days, reservoir_mcg) / MCG_PER_MG


@njit(cache=True)
def drug_cost(dose_mcg_per_day: float, days: float, reservoir_mcg: float, per_mg: float):
    """The intrathecal drug a refill `days` after the last fill replaces, at its price."""
    return drug_used_mg(dose_mcg_per_day, days, reservoir_mcg) * per_mg


@njit(cache=True)
def dose_need(need: float, annual_growth: float, growth_years: float, years: float) -> float:
    """The ITB dose need `years` after the first implant: grows by `annual_growth` a year
    for `growth_years`, then stays."""
    return need * power(1.0 + annual_growth, min(years, growth_years))


@njit(cache=True)
def side_effect_rate(dose: float, reference: float, exponent: float, rate_sum: float) -> float:
    """Summed side-effect rate of a route at a dose: rates x (dose / reference)^exponent."""
    return power(dose / reference, exponent) * rate_sum


@njit(cache=True)
def rate_sum(table) -> float:
    """Sum of column 0 (the rates) of a side-effect table, in row order."""
    total = 0.0
    for j in range(table.shape[0]):
        total += table[j, 0]
    return total


@njit(cache=True)
def pick_side_effect(table, total: float, u: float) -> int:
    """Which side effect an occurrence is, in proportion to the rates (column 0 of
    `table`, summing to `total`), from one uniform."""
    target = u * total
    cumulative = 0.0
    n = table.shape[0]
    for j in range(n):
        cumulative += table[j, 0]
        if target < cumulative:
            return j
    j = n - 1  # rounding at the top: the last side effect that can happen
    while table[j, 0] <= 0.0:
        j -= 1
    return j


@njit(cache=True)
def severity_level(share_mild: float, share_moderate: float, u: float) -> int:
    """Severity of a withdrawal or overdose from the mix: 0 mild, 1 moderate, 2 severe."""
    if u < share_mild:
        return 0
    if u < share_mild + share_moderate:
        return 1
    return 2


@njit(cache=True)
def rescaled_time(now: float, pending: float, old_rate: float, new_rate: float) -> float:
    """A pending waiting time after its rate changes: the unit-exponential hazard left
    (rate x time left) is kept."""
    return now + (pending - now) * (old_rate / new_rate)


@njit(cache=True)
def settle_run(start: float, step: float, visits: float, end: float, weights, segments):
    """The uneventful visits of a refill run (at start + k step, k = 1 .. visits) made
    before `end`: their number and the sum of their cost weights (discount.cost_weight:
    discounting, and a cost trend if any), in one geometric sum per trend year (a visit's
    cost times it is the run's discounted cost). A visit at the very instant `end` is not
    made."""
    m = visits_before(start, step, visits, end)
    if m == 0:
        return 0, 0.0
    return m, cost_periodic(weights, segments, start + step, step, m)


@njit(cache=True)
def early_care(since, t, first_implant, care, steady, early, years, weights, segments):
    """The care cost above (or below) the pump's steady rate `care` x `steady` from
    `since` to `t` in the first `years` years after the first implant, when year k + 1
    has the multiplier early[k] (costs that depend on the time since implant, as claims
    show them): (undiscounted, discounted)."""
    undiscounted, discounted = 0.0, 0.0
    for k in range(years):
        a = max(since, first_implant + k)
        b = min(t, first_implant + k + 1.0)
        if b > a:
            extra = care * (early[k] - steady)
            undiscounted += extra * (b - a)
            discounted += extra * cost_flow(weights, segments, a, b)
        if first_implant + k + 1.0 >= t:
            break
    return undiscounted, discounted


#: Subgroups of the results (hesim's `cea(grp=)`): the indication (its place among the
#: scenario's indications), sex, and the age band at the start, as slots of one array.
INDICATION_SLOTS = 4
AGE_BAND_EDGES = (18.0, 45.0, 65.0)
AGE_BANDS = ("under 18", "18-44", "45-64", "65 and over")
N_SUBGROUPS = INDICATION_SLOTS + 2 + len(AGE_BANDS)


@njit(cache=True)
def subgroups(indication: int, male: bool, age: float):
    """The three subgroup slots a patient belongs to: indication, sex, age band."""
    band = 0
    for edge in AGE_BAND_EDGES:
        if age >= edge:
            band += 1
    return indication, INDICATION_SLOTS + (1 if male else 0), INDICATION_SLOTS + 2 + band


@njit(cache=True)
def grid_months(since: float, t: float, months: int):
    """The months m of the occupancy grid (time m / 12) with since <= m / 12 < t, as the
    range [first, stop) clipped to the grid's `months`: a state held from `since` to `t`
    is occupied at those grid points."""
    first = min(math.ceil(since * MONTHS_PER_YEAR), months)
    stop = min(math.ceil(t * MONTHS_PER_YEAR), months)
    return first, stop


@njit(cache=True)
def reserve_years(dose_mcg_per_day: float, days_since_fill: float, reservoir_mcg: float):
    """How long the reservoir keeps delivering after a visit that is missed `days_since_fill`
    days after the fill: what is left, at the dose (DESIGN §4.5: the alarm reserve and
    whatever lies above it). Infinite at a zero dose."""
    if dose_mcg_per_day <= 0.0:
        return math.inf
    left_mcg = max(reservoir_mcg - dose_mcg_per_day * days_since_fill, 0.0)
    return left_mcg / dose_mcg_per_day / DAYS_PER_YEAR


def endless_life(
    scenario: Scenario,
    strategy: str,
    patient: int,
    parameter_set: int,
    clock: Clock,
    budget: int = MAX_FIRINGS,
) -> ScenarioError:
    """The error of a life beyond MAX_FIRINGS firings, the same from both engines."""
    where = f" in PSA iteration {parameter_set}" if parameter_set else ""
    return ScenarioError(
        scenario.source or scenario.name,
        f"strategies.{strategy}",
        f"patient {patient}{where} took more than {budget:,} events in one lifetime, "
        f"the last a {clock.name.replace('_', ' ')}: events repeat without time advancing "
        f"or at rates no patient has; check {clock.driven_by}",
    )
