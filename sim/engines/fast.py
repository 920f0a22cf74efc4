"""The compiled engine: the model of DESIGN §4 as one Numba next-event loop per patient.

It is the SimPy engine (:mod:`sim.engines.des`, the executable specification) rewritten
for speed, rule for rule and draw for draw: for the same scenario, seed and patient both
engines record the same events at the same times, and fill the same tallies. Anything
changed in one must be changed in the other; ``tests/test_engines.py`` compares them
patient by patient and names the first event where they part.

How it is fast (issue 3): one compiled function runs one patient under one strategy with
the whole state in local scalars; the next event is the earliest of fourteen clocks found
by a chain of comparisons in the tie-break order of ``events.CLOCKS`` (strict ``<``: on a
tie the earlier clock wins, as SimPy's priorities make it); random numbers are the keyed
SplitMix64 uniforms of :mod:`sim.rng`; parameters arrive as one float row per strategy and
are unpacked into locals. Patients run in fixed blocks (the runner's ``BLOCK_SIZE``),
blocks in parallel (``prange``), each block folding its patients into its own tally in
patient order, so the tables do not depend on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from sim.engines.cohort import CohortArrays
from sim.engines.cohort import _draw as draw_patient
from sim.engines.tally import Tally
from sim.model.events import (
    COUNTERS_OF_EVENT,
    CUMULATIVE_GROUPS,
    EVENT_ID,
    GROUP_ID,
    ITB_SIDE_EFFECTS,
    N_COUNTERS,
    ORAL_SIDE_EFFECTS,
)
from sim.numerics import discount
from sim.numerics.distributions import prepared, quantile, quantile_prepared
from sim.numerics.rng import (
    STREAM,
    exponential_time,
    patient_key,
    uniform_at,
    visits_before,
    visits_until,
)
from sim.scenario import Itb, Oral, Scenario, Severity, Surgery, distribution_params

DAYS_PER_YEAR = 365.25
INF = math.inf

# ------------------------------------------------------------------ the parameter row
# One float64 row per strategy; an ITB strategy carries its fallback's tablet fields.
_FIELDS: tuple[str, ...] = (
    "kind",  # 0 untreated, 1 oral, 2 itb
    "none_utility",
    "none_cost",
    "o_response",
    "o_util_controlled",
    "o_util_uncontrolled",
    "o_drug_cost",
    "o_care_cost",
    "o_discontinuation",
    "o_untreated_util",
    "o_untreated_cost",
    "o_withdrawal_rate",
    "o_ref_dose",
    "o_exponent",
    "o_rate_sum",
    "i_screen_p",
    "i_screen_cost",
    "i_utility",
    "i_care_cost",
    "inf_window",
    "inf_cost",
    "inf_explant_p",
    "men_p",
    "men_cost",
    "men_qloss",
    "men_death_p",
    "reimplant_p",
    "reimplant_delay",
    "explant_rate",
    "reservoir_conc",
    "usable_mcg",
    "stability_days",
    "pf_rate",
    "pf_withdrawal_p",
    "batt_kind",
    "batt_a",
    "batt_b",
    "batt_c",
    "batt_d",
    "batt_p_low",
    "batt_p_high",
    "batt_cap",
    "alarm_lead",
    "delay_kind",
    "delay_a",
    "delay_b",
    "delay_c",
    "delay_d",
    "depletion_withdrawal_p",
    "growth",
    "growth_years",
    "refill_cost",
    "refill_drug_cost",
    "pocket_p",
    "programming_p",
    "missed_p",
    "missed_delay",
    "missed_withdrawal_p",
    "cath_kind",
    "cath_a",
    "cath_b",
    "cath_c",
    "cath_d",
    "cath_withdrawal_p",
    "i_ref_dose",
    "i_exponent",
    "i_rate_sum",
)
F: dict[str, int] = {name: i for i, name in enumerate(_FIELDS)}
N_FIELDS = len(_FIELDS)
UNTREATED, ORAL, ITB = 0, 1, 2
#: Surgeries (rows of the SURGERY table): cost, QALY loss, infection and death probability.
IMPLANT, REVISION, REPLACEMENT, REIMPLANT = range(4)
#: Severity blocks (rows of the SEVERITY table), each mild/moderate/severe x
#: (share, cost, QALY loss, death probability).
ITB_WITHDRAWAL, ITB_OVERDOSE, ORAL_WITHDRAWAL = range(3)

# Indices into the row, as module constants (Numba freezes them into the code).
(
    K_KIND,
    K_NONE_U,
    K_NONE_C,
    K_O_RESP,
    K_O_UC,
    K_O_UU,
    K_O_DRUG,
    K_O_CARE,
    K_O_DISC,
    K_O_UNT_U,
    K_O_UNT_C,
    K_O_WD,
    K_O_REF,
    K_O_EXP,
    K_O_SUM,
    K_I_SCREEN_P,
    K_I_SCREEN_C,
    K_I_U,
    K_I_CARE,
    K_INF_WIN,
    K_INF_COST,
    K_INF_EXPL,
    K_MEN_P,
    K_MEN_COST,
    K_MEN_QLOSS,
    K_MEN_DEATH,
    K_REIMP_P,
    K_REIMP_DELAY,
    K_EXPLANT,
    K_RES_CONC,
    K_USABLE,
    K_STAB,
    K_PF_RATE,
    K_PF_WD,
    K_BATT_K,
    K_BATT_A,
    K_BATT_B,
    K_BATT_C,
    K_BATT_D,
    K_BATT_PL,
    K_BATT_PH,
    K_BATT_CAP,
    K_ALARM_LEAD,
    K_DELAY_K,
    K_DELAY_A,
    K_DELAY_B,
    K_DELAY_C,
    K_DELAY_D,
    K_DEPL_WD,
    K_GROWTH,
    K_GROWTH_Y,
    K_REFILL_C,
    K_REFILL_DRUG,
    K_POCKET_P,
    K_PROG_P,
    K_MISSED_P,
    K_MISSED_DELAY,
    K_MISSED_WD,
    K_CATH_K,
    K_CATH_A,
    K_CATH_B,
    K_CATH_C,
    K_CATH_D,
    K_CATH_WD,
    K_I_REF,
    K_I_EXP,
    K_I_SUM,
) = range(N_FIELDS)

# ------------------------------------------------------------------ ids, as constants
_S_ORAL_SE_TIME = STREAM["oral_side_effect_time"]
_S_ORAL_SE_TYPE = STREAM["oral_side_effect_type"]
_S_TABLETS_STOPPED = STREAM["tablets_stopped"]
_S_ORAL_WITHDRAWAL = STREAM["oral_withdrawal"]
_S_ITB_SE_TIME = STREAM["itb_side_effect_time"]
_S_ITB_SE_TYPE = STREAM["itb_side_effect_type"]
_S_CATHETER = STREAM["catheter_failure"]
_S_PUMP_FAILURE = STREAM["pump_failure"]
_S_BATTERY = STREAM["battery_life"]
_S_INFECTION = STREAM["infection"]
_S_INFECTION_TIME = STREAM["infection_time"]
_S_MENINGITIS = STREAM["meningitis"]
_S_INFECTION_EXPLANT = STREAM["infection_explant"]
_S_REIMPLANT = STREAM["reimplant"]
_S_EXPLANT = STREAM["explant"]
_S_POCKET = STREAM["pocket_fill"]
_S_PROGRAMMING = STREAM["programming_error"]
_S_MISSED = STREAM["missed_refill"]
_S_WITHDRAWAL = STREAM["withdrawal_given_cause"]
_S_SEVERITY = STREAM["severity"]
_S_DEATH = STREAM["event_death"]
N_STREAMS = len(STREAM)

_E = EVENT_ID
_E_DEATH_BACKGROUND = _E["death_background"]
_E_DEATH_WITHDRAWAL = _E["death_withdrawal"]
_E_DEATH_OVERDOSE = _E["death_overdose"]
_E_DEATH_MENINGITIS = _E["death_meningitis"]
_E_DEATH_SURGERY = _E["death_surgery"]
_E_DEATH_SIDE_EFFECT = _E["death_side_effect"]
_E_SCREENING = _E["screening"]
_E_SCREENING_FAILED = _E["screening_failed"]
_E_INFECTION = _E["infection"]
_E_MENINGITIS = _E["meningitis"]
_E_CATHETER_FAILURE = _E["catheter_failure"]
_E_PUMP_FAILURE = _E["pump_failure"]
_E_BATTERY_DEPLETION = _E["battery_depletion"]
_E_BATTERY_ALARM = _E["battery_alarm"]
_E_ELECTIVE = _E["pump_replacement_elective"]
_E_REIMPLANT = _E["reimplant"]
_E_EXPLANT = _E["explant"]
_E_IMPLANT = _E["implant"]
_E_REVISION = _E["catheter_revision"]
_E_URGENT = _E["pump_replacement_urgent"]
_E_REFILL = _E["refill_visit"]
_E_MISSED = _E["missed_refill"]
_E_POCKET = _E["pocket_fill"]
_E_PROGRAMMING = _E["programming_error"]
_E_WITHDRAWAL_MILD = _E["withdrawal_mild"]
_E_OVERDOSE_MILD = _E["overdose_mild"]
_E_TABLETS_STOPPED = _E["tablets_stopped"]
#: First event (mild) and death event of each severity block.
SEVERITY_EVENT = np.array(
    [_E_WITHDRAWAL_MILD, _E_OVERDOSE_MILD, _E_WITHDRAWAL_MILD], dtype=np.int64
)
SEVERITY_DEATH = np.array(
    [_E_DEATH_WITHDRAWAL, _E_DEATH_OVERDOSE, _E_DEATH_WITHDRAWAL], dtype=np.int64
)
ITB_SE_EVENT = np.array([_E[n] for n in ITB_SIDE_EFFECTS], dtype=np.int64)
ORAL_SE_EVENT = np.array([_E[n] for n in ORAL_SIDE_EFFECTS], dtype=np.int64)
N_ITB_SE, N_ORAL_SE = len(ITB_SIDE_EFFECTS), len(ORAL_SIDE_EFFECTS)


def _padded(rows: list[list[int]]) -> np.ndarray:
    table = np.full((len(rows), max(len(r) for r in rows) + 1), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table


_CUMULATIVE_COUNTERS = [GROUP_ID[g] for g in CUMULATIVE_GROUPS]
#: For each event, the counters it increments and the cumulative curves it enters (-1 ends).
MEMBERS = _padded([list(ids) for ids in COUNTERS_OF_EVENT])
CURVES = _padded(
    [[k for k, c in enumerate(_CUMULATIVE_COUNTERS) if c in ids] for ids in COUNTERS_OF_EVENT]
)
N_CURVES = len(CUMULATIVE_GROUPS)

# Per-patient, per-strategy accumulators (row of the ACC scratch array).
A_COST, A_QALY, A_LY, A_LYD, A_FOLLOWUP, A_ITB_DOSE, A_ITB_YEARS, A_ORAL_DOSE, A_ORAL_YEARS = range(
    9
)
A_REFILL_DAYS = 9
N_ACC = 10

# ------------------------------------------------------------------ packing a scenario


def _qaly_loss(utility_loss: float, duration_days: float) -> float:
    return utility_loss * duration_days / DAYS_PER_YEAR  # the SimPy engine's expression


def _severity_rows(block: Severity) -> list[list[float]]:
    return [
        [lv.share, lv.cost, _qaly_loss(lv.utility_loss, lv.duration_days), lv.death_probability]
        for lv in block.levels()
    ]


def _surgery_row(block: Surgery) -> list[float]:
    return [
        block.cost,
        _qaly_loss(block.utility_loss, block.duration_days),
        block.infection_probability,
        block.death_probability,
    ]


class Packed:
    """A scenario's strategies as the flat float arrays the compiled loop reads."""

    def __init__(self, scenario: Scenario) -> None:
        names = scenario.strategy_names()
        s = len(names)
        self.row = np.zeros((s, N_FIELDS))
        self.itb_side_effects = np.zeros((s, N_ITB_SE, 4))
        self.oral_side_effects = np.zeros((s, N_ORAL_SE, 4))
        self.severity = np.zeros((s, 3, 3, 4))
        self.surgery = np.zeros((s, 4, 4))
        for i, name in enumerate(names):
            strategy = scenario.strategies[name]
            row = self.row[i]
            if isinstance(strategy, Itb):
                row[K_KIND] = ITB
                self._itb(i, strategy)
                self._oral(i, scenario.strategies[strategy.fallback])
            elif isinstance(strategy, Oral):
                row[K_KIND] = ORAL
                self._oral(i, strategy)
            else:
                row[K_KIND] = UNTREATED
                row[K_NONE_U], row[K_NONE_C] = strategy.utility, strategy.care_cost_per_year

    def _oral(self, i: int, oral: Oral) -> None:
        row = self.row[i]
        row[K_O_RESP] = oral.response_probability
        row[K_O_UC], row[K_O_UU] = oral.utility_controlled, oral.utility_uncontrolled
        row[K_O_DRUG], row[K_O_CARE] = oral.drug_cost_per_mg, oral.care_cost_per_year
        row[K_O_DISC] = oral.discontinuation_rate_per_year
        row[K_O_UNT_U] = oral.untreated_utility
        row[K_O_UNT_C] = oral.untreated_care_cost_per_year
        row[K_O_WD] = oral.withdrawal_rate_per_year
        effects = oral.side_effects
        row[K_O_REF], row[K_O_EXP] = effects.reference_dose_mg_per_day, effects.dose_exponent
        rates = [getattr(effects.events, n).rate_per_year for n in ORAL_SIDE_EFFECTS]
        row[K_O_SUM] = sum(rates)  # the SimPy engine's sum, same order
        for j, n in enumerate(ORAL_SIDE_EFFECTS):
            e = getattr(effects.events, n)
            self.oral_side_effects[i, j] = (
                e.rate_per_year,
                e.cost,
                _qaly_loss(e.utility_loss, e.duration_days),
                e.death_probability,
            )
        self.severity[i, ORAL_WITHDRAWAL] = _severity_rows(oral.withdrawal)

    def _itb(self, i: int, itb: Itb) -> None:
        row = self.row[i]
        row[K_I_SCREEN_P], row[K_I_SCREEN_C] = (
            itb.screening.response_probability,
            itb.screening.cost,
        )
        row[K_I_U], row[K_I_CARE] = itb.utility, itb.care_cost_per_year
        inf = itb.infection
        row[K_INF_WIN] = inf.window_days / DAYS_PER_YEAR
        row[K_INF_COST], row[K_INF_EXPL], row[K_MEN_P] = (
            inf.cost,
            inf.explant_probability,
            inf.meningitis_probability,
        )
        row[K_MEN_COST] = inf.meningitis.cost
        row[K_MEN_QLOSS] = _qaly_loss(inf.meningitis.utility_loss, inf.meningitis.duration_days)
        row[K_MEN_DEATH] = inf.meningitis.death_probability
        row[K_REIMP_P] = inf.reimplant_probability
        row[K_REIMP_DELAY] = inf.reimplant_delay_days / DAYS_PER_YEAR
        row[K_EXPLANT] = itb.explant_rate_per_year
        pump = itb.pump
        row[K_RES_CONC] = pump.reservoir_ml * pump.concentration_mcg_per_ml
        row[K_USABLE] = (pump.reservoir_ml - pump.alarm_volume_ml) * pump.concentration_mcg_per_ml
        row[K_STAB] = pump.stability_days
        row[K_PF_RATE], row[K_PF_WD] = (
            pump.failure_rate_per_year,
            pump.failure_withdrawal_probability,
        )
        row[K_BATT_K : K_BATT_PH + 1] = prepared(*distribution_params(pump.battery_life_years))
        row[K_BATT_CAP] = pump.battery_cap_years
        row[K_ALARM_LEAD] = pump.battery_alarm_lead_days / DAYS_PER_YEAR
        row[K_DELAY_K : K_DELAY_D + 1] = distribution_params(pump.replacement_delay_days)
        row[K_DEPL_WD] = pump.depletion_withdrawal_probability
        row[K_GROWTH], row[K_GROWTH_Y] = itb.dose.annual_growth, itb.dose.growth_years
        refill = itb.refill
        row[K_REFILL_C], row[K_REFILL_DRUG] = refill.cost_visit, refill.drug_cost_per_mg
        row[K_POCKET_P] = refill.pocket_fill_probability
        row[K_PROG_P] = refill.programming_error_probability
        row[K_MISSED_P] = refill.missed_probability
        row[K_MISSED_DELAY] = refill.missed_delay_days / DAYS_PER_YEAR
        row[K_MISSED_WD] = refill.missed_withdrawal_probability
        row[K_CATH_K : K_CATH_D + 1] = distribution_params(itb.catheter.time_to_failure_years)
        row[K_CATH_WD] = itb.catheter.withdrawal_probability
        effects = itb.side_effects
        row[K_I_REF], row[K_I_EXP] = effects.reference_dose_mcg_per_day, effects.dose_exponent
        row[K_I_SUM] = sum(getattr(effects.events, n).rate_per_year for n in ITB_SIDE_EFFECTS)
        for j, n in enumerate(ITB_SIDE_EFFECTS):
            e = getattr(effects.events, n)
            self.itb_side_effects[i, j] = (
                e.rate_per_year,
                e.cost,
                _qaly_loss(e.utility_loss, e.duration_days),
                e.death_probability,
            )
        self.severity[i, ITB_WITHDRAWAL] = _severity_rows(itb.withdrawal)
        self.severity[i, ITB_OVERDOSE] = _severity_rows(itb.overdose)
        surgery = itb.surgery
        for j, block in enumerate(
            (
                surgery.implant,
                surgery.catheter_revision,
                surgery.pump_replacement,
                surgery.reimplant,
            )
        ):
            self.surgery[i, j] = _surgery_row(block)


# ------------------------------------------------------------------ compiled pieces


@intrinsic
def _borrowed(typingctx, array):
    """A view of `array` that holds no reference to its memory (a null meminfo).

    Every use of an array view in compiled code (a slice, a call with it as argument, a
    closure over it) costs an atomic reference-count update on its memory: a few
    nanoseconds alone, far more when both threads update the same counter, as they did
    for the shared parameter arrays (about 40 per patient and strategy). A view without a
    meminfo makes those updates no-ops. Safe only while the owner outlives the view: here
    the arrays of one compiled call, viewed within it.
    """

    def codegen(context, builder, signature, args):
        source = make_array(signature.args[0])(context, builder, args[0])
        view = make_array(signature.return_type)(context, builder)
        populate_array(
            view,
            data=source.data,
            shape=source.shape,
            strides=source.strides,
            itemsize=source.itemsize,
            meminfo=None,
        )
        return view._getvalue()

    return array(array), codegen


@njit(cache=True, inline="always")
def _power(x, y):
    """x ** y, without the pow call for the usual exponents 0 and 1 (x ** 0 is 1 and x ** 1
    is x exactly, so the value is pow's to the bit)."""
    if y == 0.0:
        return 1.0
    if y == 1.0:
        return x
    return x**y


@njit(cache=True, inline="always")
def _at(t, horizon):
    """A clock at t, or never when t is not before the horizon (the SimPy engine drops it)."""
    return t if t < horizon else INF


@njit(cache=True)
def _pick(table, n, total, u):
    """Type of a side-effect occurrence, in proportion to the rates (column 0; `total` is
    their sum as Python's ``sum`` makes it, which the SimPy engine uses)."""
    target = u * total
    cumulative = 0.0
    for j in range(n):
        cumulative += table[j, 0]
        if target < cumulative:
            return j
    j = n - 1
    while table[j, 0] <= 0.0:
        j -= 1
    return j


@njit(cache=True)
def _level(sev, which, u):
    """Severity level of a withdrawal or overdose from the mix (shares in column 0)."""
    level = 0
    cumulative = sev[which, 0, 0]
    while level < 2 and u >= cumulative:
        level += 1
        cumulative += sev[which, level, 0]
    return level


@njit(cache=True)
def _life(
    p,
    se_itb,
    se_oral,
    sev,
    surg,
    key,
    horizon,
    lc,
    le,
    age,
    itb_dose_need,
    oral_dose,
    u_itb,
    u_oral,
    death_years,
    u_delay,
    ctr,
    acc,
    counts,
    seen,
    first,
    log_t,
    log_e,
):
    """One patient under one strategy, t = 0 to death or the horizon (DES: PatientRun.run).

    `lc` and `le` are the discount rates' logs, ln(1 + rate) (taken once per block). The
    counters an event sets from zero are listed in `seen` (their number first), so that
    the fold visits only those. Returns the number of events (also the length of the log,
    when one is passed)."""
    n = 0  # events recorded
    kind = int(p[K_KIND])
    # tablet fields (own strategy, or the fallback of an ITB strategy)
    o_resp, o_uc, o_uu, o_drug, o_care = p[K_O_RESP], p[K_O_UC], p[K_O_UU], p[K_O_DRUG], p[K_O_CARE]
    o_disc, o_unt_u, o_unt_c, o_wd = p[K_O_DISC], p[K_O_UNT_U], p[K_O_UNT_C], p[K_O_WD]
    o_ref, o_exp, o_sum = p[K_O_REF], p[K_O_EXP], p[K_O_SUM]
    # ITB fields
    inf_win, inf_cost, inf_expl = p[K_INF_WIN], p[K_INF_COST], p[K_INF_EXPL]
    men_p, men_cost, men_qloss, men_death = (
        p[K_MEN_P],
        p[K_MEN_COST],
        p[K_MEN_QLOSS],
        p[K_MEN_DEATH],
    )
    reimp_p, reimp_delay, explant_rate = p[K_REIMP_P], p[K_REIMP_DELAY], p[K_EXPLANT]
    res_conc, usable, stab = p[K_RES_CONC], p[K_USABLE], p[K_STAB]
    pf_rate, pf_wd, depl_wd = p[K_PF_RATE], p[K_PF_WD], p[K_DEPL_WD]
    batt_k, batt_a, batt_b = int(p[K_BATT_K]), p[K_BATT_A], p[K_BATT_B]
    batt_c, batt_d, batt_pl, batt_ph = p[K_BATT_C], p[K_BATT_D], p[K_BATT_PL], p[K_BATT_PH]
    batt_cap, alarm_lead = p[K_BATT_CAP], p[K_ALARM_LEAD]
    growth, growth_years = p[K_GROWTH], p[K_GROWTH_Y]
    refill_c, refill_drug = p[K_REFILL_C], p[K_REFILL_DRUG]
    pocket_p, prog_p, missed_p = p[K_POCKET_P], p[K_PROG_P], p[K_MISSED_P]
    missed_delay, missed_wd = p[K_MISSED_DELAY], p[K_MISSED_WD]
    cath_k, cath_a, cath_b = int(p[K_CATH_K]), p[K_CATH_A], p[K_CATH_B]
    cath_c, cath_d, cath_wd = p[K_CATH_C], p[K_CATH_D], p[K_CATH_WD]
    i_util, i_care, i_ref, i_exp, i_sum = p[K_I_U], p[K_I_CARE], p[K_I_REF], p[K_I_EXP], p[K_I_SUM]

    # clocks, in the tie-break order of events.CLOCKS
    c_death = _at(death_years, horizon)
    c_inf = INF
    c_cath = INF
    c_pf = INF
    c_depl = INF
    c_alarm = INF
    c_elec = INF
    c_reimp = INF
    c_expl = INF
    c_refill = INF
    c_ise = INF
    c_stop = INF
    c_owd = INF
    c_ose = INF

    # accrual state
    flows_since = 0.0
    drug_since = 0.0
    utility = 0.0
    cost_rate = 0.0
    route = 0  # 0 no drug, 1 itb, 2 oral
    route_dose = 0.0
    # oral state
    tablets_stopped = False
    # the tablets' side-effect rate at the patient's dose, fixed for the life (computed
    # here, or the compiler hoists it to every life, untreated ones too)
    ose_rate = 0.0 if kind == UNTREATED else _power(oral_dose / o_ref, o_exp) * o_sum
    # ITB state
    first_implant = math.nan
    dose = 0.0
    fill_time = 0.0
    refill_late = False
    depletion_time = INF
    ise_rate = 0.0
    ise_time = math.nan
    infection_time = INF
    v_missed = INF
    v_pocket = INF
    v_prog = INF
    delay_years = 0.0
    grown_dose = -1.0  # the dose need once growth is over (computed once)
    # functions of the dose, recomputed only when it changes (same values, no pow per refill)
    dose_of = -1.0
    rate_of_dose = 0.0
    years_of_dose = 0.0
    days_of_dose = 0.0
    cost_of_dose = 0.0  # of one refill visit
    # the current run of uneventful refill visits: at run_start + k years_of_dose
    run_start = 0.0
    run_visits = 0.0

    # Closures see the arrays of this function without taking them as arguments: a call
    # with array arguments costs two atomic reference-count updates per array. (They see
    # the arrays only: times are passed, as a closure would see `now` as it was defined.)
    def draw(stream):
        """Next uniform of a stream for this patient (the stream's counter advances)."""
        u = uniform_at(key, stream, ctr[stream])
        ctr[stream] += 1
        return u

    def count(ev, t, m):
        """m events, the first at t (DES: Outcome.count)."""
        j = 0
        while MEMBERS[ev, j] >= 0:
            c = MEMBERS[ev, j]
            if m > 0 and counts[c] == 0:
                seen[0] += 1
                seen[seen[0]] = c
            counts[c] += m
            j += 1
        j = 0
        while CURVES[ev, j] >= 0:
            if t < first[CURVES[ev, j]]:
                first[CURVES[ev, j]] = t
            j += 1

    def record(ev, t, cost, qaly_loss, n_log):
        """Count an event at t; its cost and QALY loss are discounted at t (discount.factor
        is exp(-log1p(rate) t), its log taken once per block). Returns the number of
        events."""
        count(ev, t, 1)
        if cost != 0.0 or qaly_loss != 0.0:  # adding 0 changes no sum
            f = math.exp(-lc * t)
            acc[A_COST] += cost * f
            if le != lc:  # the usual equal rates share one exp
                f = math.exp(-le * t)
            acc[A_QALY] -= qaly_loss * f
        if n_log < log_t.size:
            log_t[n_log] = t
            log_e[n_log] = ev
        return n_log + 1

    def consequence(ev, t, cost, qaly_loss, death_p, death_ev, n_log):
        """An event that may kill (DES: consequence). Returns (events, death event or -1)."""
        n_log = record(ev, t, cost, qaly_loss, n_log)
        if draw(_S_DEATH) < death_p:
            return n_log, death_ev
        return n_log, -1

    def severity(which, t, n_log):
        """A withdrawal or overdose, its severity drawn from the mix (DES: severity)."""
        lv = _level(sev, which, draw(_S_SEVERITY))
        return consequence(
            SEVERITY_EVENT[which] + lv,
            t,
            sev[which, lv, 1],
            sev[which, lv, 2],
            sev[which, lv, 3],
            SEVERITY_DEATH[which],
            n_log,
        )

    def withdrawal_after(probability, t, n_log):
        """Withdrawal with a probability after a cause (DES: itb_withdrawal)."""
        if draw(_S_WITHDRAWAL) < probability:
            return severity(ITB_WITHDRAWAL, t, n_log)
        return n_log, -1

    def settle(start, step, days, cost, visits, end, n_log):
        """The uneventful visits of a refill run made before `end` (DES: end_refill_run):
        counted and costed in one geometric sum. Returns (visits made, events)."""
        m = visits_before(start, step, visits, end)
        if m == 0:
            return 0, n_log
        acc[A_REFILL_DAYS] += m * days
        count(_E_REFILL, start + step, m)
        acc[A_COST] += cost * discount.periodic_log(lc, start + step, step, m)
        if log_t.size == 0:  # the hot path keeps no log
            return m, n_log + m
        for i in range(1, m + 1):
            if n_log < log_t.size:
                log_t[n_log] = start + i * step
                log_e[n_log] = _E_REFILL
            n_log += 1
        return m, n_log

    def accrue_flows(since, t, level_utility, level_cost):
        f = discount.flow_log(le, since, t)
        acc[A_QALY] += level_utility * f
        if lc != le:  # the usual equal rates share one factor
            f = discount.flow_log(lc, since, t)
        acc[A_COST] += level_cost * f

    def accrue_drug(since, t, on_route, on_dose):
        if on_route > 0:  # ITB slots, then the same two for tablets
            acc[A_ITB_DOSE + 2 * (on_route - 1)] += on_dose * (t - since)
            acc[A_ITB_YEARS + 2 * (on_route - 1)] += t - since

    died = -1  # the death event, once dead
    now = 0.0
    # The loop's first pass runs the start of the strategy (k = -1); every later pass runs
    # the earliest clock, which its handler clears first. Actions shared by several
    # handlers are flags, run after the handler in this order: explant, surgery (implant,
    # re-implant, catheter revision, pump replacement), new pump, then entering a state
    # (tablets or a pump fill). No handler sets two of explant, surgery and tablets.
    k = -1
    while True:
        go_explant = False
        go_tablets = False
        go_surgery = -1  # row of the SURGERY table
        surgery_event = -1
        go_new_pump = False
        go_fill = False
        if k == -1:
            if kind == UNTREATED:
                # enter_state(utility, care cost, none): nothing accrued yet at t = 0
                utility, cost_rate = p[K_NONE_U], p[K_NONE_C]
            elif kind == ORAL:
                go_tablets = True
            else:
                responder = u_itb < p[K_I_SCREEN_P]
                n = record(_E_SCREENING, now, p[K_I_SCREEN_C], 0.0, n)
                delay_years = (
                    max(
                        0.0,
                        quantile(
                            int(p[K_DELAY_K]),
                            p[K_DELAY_A],
                            p[K_DELAY_B],
                            p[K_DELAY_C],
                            p[K_DELAY_D],
                            u_delay,
                        ),
                    )
                    / DAYS_PER_YEAR
                )
                if not responder:
                    n = record(_E_SCREENING_FAILED, now, 0.0, 0.0, n)
                    go_tablets = True
                else:
                    v_missed = visits_until(draw(_S_MISSED), missed_p)
                    v_pocket = visits_until(draw(_S_POCKET), pocket_p)
                    v_prog = visits_until(draw(_S_PROGRAMMING), prog_p)
                    first_implant = now
                    go_surgery, surgery_event = IMPLANT, _E_IMPLANT
        elif k == 0:  # background death
            c_death = INF
            died = _E_DEATH_BACKGROUND
        elif k == 1:  # infection
            c_inf = INF
            infection_time = INF
            n = record(_E_INFECTION, now, inf_cost, 0.0, n)
            if draw(_S_MENINGITIS) < men_p:
                n, died = consequence(
                    _E_MENINGITIS, now, men_cost, men_qloss, men_death, _E_DEATH_MENINGITIS, n
                )
            if died < 0 and draw(_S_INFECTION_EXPLANT) < inf_expl:
                go_explant = True  # explant(temporary=True)
                if draw(_S_REIMPLANT) < reimp_p:
                    c_reimp = _at(now + reimp_delay, horizon)
        elif k == 2:  # catheter failure
            c_cath = INF
            n = record(_E_CATHETER_FAILURE, now, 0.0, 0.0, n)
            n, died = withdrawal_after(cath_wd, now, n)
            go_surgery, surgery_event = REVISION, _E_REVISION
        elif k == 3:  # pump failure
            c_pf = INF
            n = record(_E_PUMP_FAILURE, now, 0.0, 0.0, n)
            n, died = withdrawal_after(pf_wd, now, n)
            go_surgery, surgery_event = REPLACEMENT, _E_URGENT
        elif k == 4:  # battery depletion
            c_depl = INF
            n = record(_E_BATTERY_DEPLETION, now, 0.0, 0.0, n)
            n, died = withdrawal_after(depl_wd, now, n)
            go_surgery, surgery_event = REPLACEMENT, _E_URGENT
        elif k == 5:  # battery alarm
            c_alarm = INF
            n = record(_E_BATTERY_ALARM, now, 0.0, 0.0, n)
            t = now + delay_years
            if t < depletion_time:
                c_elec = _at(t, horizon)
        elif k == 6:  # elective replacement
            c_elec = INF
            go_surgery, surgery_event = REPLACEMENT, _E_ELECTIVE
        elif k == 7:  # re-implant
            c_reimp = INF
            go_surgery, surgery_event = REIMPLANT, _E_REIMPLANT
        elif k == 8:  # explant: loss of efficacy or choice (never a re-implant)
            c_expl = INF
            go_explant = True
        elif k == 9:  # refill falls due
            c_refill = INF
            m, n = settle(run_start, years_of_dose, days_of_dose, cost_of_dose, run_visits, now, n)
            run_visits = 0.0
            if m > 0:
                v_missed, v_pocket, v_prog = v_missed - m, v_pocket - m, v_prog - m
                fill_time = run_start + m * years_of_dose
            missed = False
            if not refill_late:
                v_missed -= 1.0
                if not v_missed > 0.0:
                    v_missed = visits_until(draw(_S_MISSED), missed_p)
                    missed = True
            if missed:
                n = record(_E_MISSED, now, 0.0, 0.0, n)
                n, died = withdrawal_after(missed_wd, now, n)
                refill_late = True
                c_refill = _at(now + missed_delay, horizon)
            else:  # refill_visit
                days = (now - fill_time) * DAYS_PER_YEAR
                used_mg = min(dose * days, res_conc) / 1000
                acc[A_REFILL_DAYS] += days
                n = record(_E_REFILL, now, refill_c + used_mg * refill_drug, 0.0, n)
                v_pocket -= 1.0
                if not v_pocket > 0.0:
                    v_pocket = visits_until(draw(_S_POCKET), pocket_p)
                    n = record(_E_POCKET, now, 0.0, 0.0, n)
                    n, died = severity(ITB_OVERDOSE, now, n)
                if died < 0:
                    v_prog -= 1.0
                    if not v_prog > 0.0:
                        v_prog = visits_until(draw(_S_PROGRAMMING), prog_p)
                        n = record(_E_PROGRAMMING, now, 0.0, 0.0, n)
                        n, died = severity(ITB_OVERDOSE, now, n)
                go_fill = True
        elif k == 10:  # ITB side effect
            c_ise = INF
            j = _pick(se_itb, N_ITB_SE, i_sum, draw(_S_ITB_SE_TYPE))
            n, died = consequence(
                ITB_SE_EVENT[j],
                now,
                se_itb[j, 1],
                se_itb[j, 2],
                se_itb[j, 3],
                _E_DEATH_SIDE_EFFECT,
                n,
            )
            if died < 0:
                ise_time = now + exponential_time(draw(_S_ITB_SE_TIME), ise_rate)
                c_ise = _at(ise_time, horizon)
        elif k == 11:  # tablets stopped for intolerance
            c_stop = INF
            n = record(_E_TABLETS_STOPPED, now, 0.0, 0.0, n)
            tablets_stopped = True
            c_ose = c_owd = INF
            go_tablets = True  # untreated from now on
        elif k == 12:  # tablet withdrawal
            c_owd = INF
            n, died = severity(ORAL_WITHDRAWAL, now, n)
            if died < 0:
                c_owd = _at(now + exponential_time(draw(_S_ORAL_WITHDRAWAL), o_wd), horizon)
        else:  # k == 13: tablet side effect
            c_ose = INF
            j = _pick(se_oral, N_ORAL_SE, o_sum, draw(_S_ORAL_SE_TYPE))
            n, died = consequence(
                ORAL_SE_EVENT[j],
                now,
                se_oral[j, 1],
                se_oral[j, 2],
                se_oral[j, 3],
                _E_DEATH_SIDE_EFFECT,
                n,
            )
            if died < 0:
                c_ose = _at(now + exponential_time(draw(_S_ORAL_SE_TIME), ose_rate), horizon)
        if died >= 0:
            break

        # ---- shared actions
        if go_explant:  # tablets (the fallback) from now, perhaps until a re-implant
            m, n = settle(run_start, years_of_dose, days_of_dose, cost_of_dose, run_visits, now, n)
            run_visits = 0.0
            v_missed, v_pocket, v_prog = v_missed - m, v_pocket - m, v_prog - m
            n = record(_E_EXPLANT, now, 0.0, 0.0, n)
            infection_time = INF
            ise_rate, ise_time = 0.0, math.nan
            c_inf = c_cath = c_pf = c_depl = c_alarm = c_elec = c_refill = c_ise = c_expl = INF
            go_tablets = True
        if go_surgery >= 0:  # cost, QALY loss, possible death, possible infection later
            g = go_surgery
            implant = g in (IMPLANT, REIMPLANT)
            if implant:
                c_ose = c_stop = c_owd = INF  # stop_tablet_clocks
            n, died = consequence(
                surgery_event, now, surg[g, 0], surg[g, 1], surg[g, 3], _E_DEATH_SURGERY, n
            )
            if died >= 0:
                break
            if draw(_S_INFECTION) < surg[g, 2]:
                t = now + draw(_S_INFECTION_TIME) * inf_win
                if t < infection_time:  # one pending infection: the earliest
                    infection_time = t
                    c_inf = _at(t, horizon)
            if g != REPLACEMENT:  # new_catheter
                u = draw(_S_CATHETER)
                c_cath = _at(now + quantile(cath_k, cath_a, cath_b, cath_c, cath_d, u), horizon)
            go_new_pump = g != REVISION
            if implant:
                c_expl = _at(now + exponential_time(draw(_S_EXPLANT), explant_rate), horizon)
        if go_new_pump:  # battery, failure hazard, full reservoir
            m, n = settle(run_start, years_of_dose, days_of_dose, cost_of_dose, run_visits, now, n)
            run_visits = 0.0
            v_missed, v_pocket, v_prog = v_missed - m, v_pocket - m, v_prog - m
            u = draw(_S_BATTERY)
            life = quantile_prepared(batt_k, batt_a, batt_b, batt_c, batt_d, batt_pl, batt_ph, u)
            life = min(max(life, 0.0), batt_cap)
            depletion_time = now + life
            c_elec = INF
            c_alarm = _at(max(now, depletion_time - alarm_lead), horizon)
            c_depl = _at(depletion_time, horizon)
            c_pf = _at(now + exponential_time(draw(_S_PUMP_FAILURE), pf_rate), horizon)
            go_fill = True
        if go_fill or go_tablets:
            if go_fill:  # dose_need: grows for growth_years after the first implant
                years = now - first_implant
                if years >= growth_years and grown_dose >= 0.0:
                    dose = grown_dose
                else:
                    dose = itb_dose_need * _power(1.0 + growth, min(years, growth_years))
                    if years >= growth_years:
                        grown_dose = dose
                new_u, new_c, new_route, new_dose = i_util, i_care, 1, dose
            elif tablets_stopped:
                new_u, new_c, new_route, new_dose = o_unt_u, o_unt_c, 0, 0.0
            else:
                new_u = o_uc if u_oral < o_resp else o_uu
                new_c = o_care + oral_dose * DAYS_PER_YEAR * o_drug
                new_route, new_dose = 2, oral_dose
            # enter_state: utility and cost flows accrued only when they change
            if new_u != utility or new_c != cost_rate:
                if now > flows_since:
                    accrue_flows(flows_since, now, utility, cost_rate)
                    flows_since = now
                utility, cost_rate = new_u, new_c
            if now > drug_since:
                accrue_drug(drug_since, now, route, route_dose)
                drug_since = now
            route, route_dose = new_route, new_dose
            if go_fill:
                if dose != dose_of:
                    dose_of = dose
                    rate_of_dose = _power(dose / i_ref, i_exp) * i_sum
                    days = stab
                    if dose > 0.0:
                        days = min(math.floor(usable / dose), days)
                    days = max(days, 1.0)
                    years_of_dose = days / DAYS_PER_YEAR
                    days_of_dose = days
                    cost_of_dose = refill_c + min(dose * days, res_conc) / 1000 * refill_drug
                # rescale_itb_side_effects: the unit-exponential hazard left is kept
                rate = rate_of_dose
                if not (rate == ise_rate and not math.isnan(ise_time)):
                    if rate <= 0.0:
                        t = INF
                    elif ise_rate > 0.0 and not math.isnan(ise_time):
                        t = now + (ise_time - now) * (ise_rate / rate)
                    else:
                        t = now + exponential_time(draw(_S_ITB_SE_TIME), rate)
                    ise_rate, ise_time = rate, t
                    c_ise = _at(t, horizon)
                fill_time = now
                refill_late = False
                # a run of refill visits: uneventful until the next per-visit risk, once
                # the dose has settled
                run_start = now
                run_visits = 0.0
                if growth == 0.0 or now - first_implant >= growth_years:
                    run_visits = min(v_missed, v_pocket, v_prog) - 1.0
                c_refill = _at(now + (run_visits + 1.0) * years_of_dose, horizon)
            elif not tablets_stopped:
                c_ose = _at(now + exponential_time(draw(_S_ORAL_SE_TIME), ose_rate), horizon)
                c_stop = _at(now + exponential_time(draw(_S_TABLETS_STOPPED), o_disc), horizon)
                c_owd = _at(now + exponential_time(draw(_S_ORAL_WITHDRAWAL), o_wd), horizon)

        # ---- the next event: the earliest clock, ties to the earlier in CLOCKS
        t = c_death
        k = 0
        if c_inf < t:
            t, k = c_inf, 1
        if c_cath < t:
            t, k = c_cath, 2
        if c_pf < t:
            t, k = c_pf, 3
        if c_depl < t:
            t, k = c_depl, 4
        if c_alarm < t:
            t, k = c_alarm, 5
        if c_elec < t:
            t, k = c_elec, 6
        if c_reimp < t:
            t, k = c_reimp, 7
        if c_expl < t:
            t, k = c_expl, 8
        if c_refill < t:
            t, k = c_refill, 9
        if c_ise < t:
            t, k = c_ise, 10
        if c_stop < t:
            t, k = c_stop, 11
        if c_owd < t:
            t, k = c_owd, 12
        if c_ose < t:
            t, k = c_ose, 13
        if t == INF:
            break
        now = t

    if died >= 0:  # recorded here, once: a death has no cost, and nothing follows it
        n = record(died, now, 0.0, 0.0, n)
    t_end = now if died >= 0 else horizon
    m, n = settle(run_start, years_of_dose, days_of_dose, cost_of_dose, run_visits, t_end, n)
    if t_end > flows_since:
        accrue_flows(flows_since, t_end, utility, cost_rate)
    if t_end > drug_since:
        accrue_drug(drug_since, t_end, route, route_dose)
    acc[A_FOLLOWUP] = t_end
    acc[A_LY] = t_end
    acc[A_LYD] = discount.flow_log(le, 0.0, t_end)
    return n


@njit(cache=True)
def _block(
    start,
    stop,
    b,
    seed,
    parameter_set,
    people,
    model,
    horizon,
    rc,
    re,
    comparator,
    months,
    tallies,
    scratch,
):
    """Patients start..stop-1 folded into block b's tally (index b of every array of
    `tallies`, in FOLD_FIELDS order), in patient order. The fold is Tally.add_patient's
    arithmetic in the same order, so the sums agree to the bit (skipping only additions of
    0, and computing only one triangle of the symmetric outer products).
    `scratch` holds the per-patient work arrays (made by the caller, so that their
    borrowed views below cannot outlive them). Returns the number of events."""
    rows, se_itb, se_oral, sev, surg = model
    rows, se_itb, se_oral = _borrowed(rows), _borrowed(se_itb), _borrowed(se_oral)
    sev, surg = _borrowed(sev), _borrowed(surg)
    age_d, male_share, shares, multiplier, itb_d, oral_d, hazard = people
    age_d, shares, multiplier = _borrowed(age_d), _borrowed(shares), _borrowed(multiplier)
    itb_d, oral_d, hazard = _borrowed(itb_d), _borrowed(oral_d), _borrowed(hazard)
    acc, counts, seen, first, ctr, v, no_t, no_e = scratch
    acc, counts, seen = _borrowed(acc), _borrowed(counts), _borrowed(seen)
    first, ctr, v = _borrowed(first), _borrowed(ctr), _borrowed(v)
    no_t, no_e = _borrowed(no_t), _borrowed(no_e)
    lc, le = math.log1p(rc), math.log1p(re)
    (
        t_patients,
        t_sum_v,
        t_sum_vv,
        t_followup,
        t_followup_sq,
        t_count,
        t_count_sq,
        t_count_followup,
        t_with,
        t_with_comp,
        t_first_month,
        t_itb_dose,
        t_itb_years,
        t_oral_dose,
        t_oral_years,
        t_refill,
    ) = tallies
    n_s = rows.shape[0]
    n_v = 4 * n_s
    events = 0
    for i in range(start, stop):
        key = patient_key(seed, parameter_set, i)
        age, _male, _ind, itb, oral, u_itb, u_oral, death, u_delay = draw_patient(
            key, age_d, male_share, shares, multiplier, itb_d, oral_d, hazard
        )
        acc[:] = 0.0
        first[:] = INF
        for s in range(n_s):
            ctr[:] = 0
            events += _life(
                rows[s],
                se_itb[s],
                se_oral[s],
                sev[s],
                surg[s],
                key,
                horizon,
                lc,
                le,
                age,
                itb,
                oral,
                u_itb,
                u_oral,
                death,
                u_delay,
                ctr,
                acc[s],
                counts[s],
                seen[s],
                first[s],
                no_t,
                no_e,
            )
        # ---- the fold (Tally.add_patient)
        t_patients[b] += 1
        for s in range(n_s):
            v[4 * s] = acc[s, A_COST]
            v[4 * s + 1] = acc[s, A_QALY]
            v[4 * s + 2] = acc[s, A_LY]
            v[4 * s + 3] = acc[s, A_LYD]
        for x in range(n_v):
            t_sum_v[b, x] += v[x]
            for y in range(x, n_v):  # the upper triangle: Run.blocks mirrors it
                t_sum_vv[b, x, y] += v[x] * v[y]
        for s in range(n_s):
            t = acc[s, A_FOLLOWUP]
            t_followup[b, s] += t
            t_followup_sq[b, s] += t * t
            for j in range(1, seen[s, 0] + 1):  # the counters set: adding 0 changes no sum
                c = seen[s, j]
                x = counts[s, c]
                t_count[b, s, c] += x
                fx = float(x)
                t_count_sq[b, s, c] += fx * fx
                t_count_followup[b, s, c] += fx * t
                t_with[b, s, c] += 1
                if counts[comparator, c] > 0:
                    t_with_comp[b, s, c] += 1
            for g in range(N_CURVES):
                if first[s, g] < INF:
                    t_first_month[b, s, g, min(int(first[s, g] * 12.0), months - 1)] += 1
            t_itb_dose[b, s] += acc[s, A_ITB_DOSE]
            t_itb_years[b, s] += acc[s, A_ITB_YEARS]
            t_oral_dose[b, s] += acc[s, A_ORAL_DOSE]
            t_oral_years[b, s] += acc[s, A_ORAL_YEARS]
            t_refill[b, s] += acc[s, A_REFILL_DAYS]
        for s in range(n_s):  # zero again only the counters set (after the fold, which
            for j in range(1, seen[s, 0] + 1):  # reads the comparator's for every strategy)
                counts[s, seen[s, j]] = 0
            seen[s, 0] = 0
    return events


@njit(cache=True, parallel=True)
def _run_blocks(
    unit_set,
    unit_block,
    block_size,
    n_patients,
    seed,
    parameter_sets,
    people,
    model,
    horizons,
    rcs,
    res,
    comparator,
    months,
    tallies,
    events,
):
    """Work units in parallel: unit u is block unit_block[u] of the parameter set at index
    unit_set[u] of the stacked people, model and per-set arrays; its tally goes to index u
    of the tallies and of `events`. (Units of several PSA iterations in one call keep
    every core busy however few blocks one iteration has.)"""
    age, male, shares, multiplier, itb_dose, oral_dose, hazard = people
    rows, se_itb, se_oral, sev, surg = model
    n_s = rows.shape[1]
    for u in prange(unit_set.size):
        i = unit_set[u]
        start = unit_block[u] * block_size
        stop = min(start + block_size, n_patients)
        events[u] = _block(
            start,
            stop,
            u,
            seed,
            parameter_sets[i],
            (age[i], male[i], shares[i], multiplier[i], itb_dose[i], oral_dose[i], hazard[i]),
            (rows[i], se_itb[i], se_oral[i], sev[i], surg[i]),
            horizons[i],
            rcs[i],
            res[i],
            comparator,
            months,
            tallies,
            (
                np.zeros((n_s, N_ACC)),
                np.zeros((n_s, N_COUNTERS), dtype=np.int64),
                np.zeros((n_s, N_COUNTERS + 1), dtype=np.int64),
                np.full((n_s, N_CURVES), INF),
                np.zeros(N_STREAMS, dtype=np.int64),
                np.empty(4 * n_s),
                np.empty(0),
                np.empty(0, dtype=np.int64),
            ),
        )


@njit(cache=True)
def _log_one(
    patient,
    s,
    seed,
    parameter_set,
    people,
    model,
    horizon,
    rc,
    re,
    acc,
    counts,
    first,
    log_t,
    log_e,
):
    """One patient under strategy s with its events logged (for the engine comparison)."""
    seen = np.zeros(N_COUNTERS + 1, dtype=np.int64)
    rows, se_itb, se_oral, sev, surg = model
    key = patient_key(seed, parameter_set, patient)
    age, _male, _ind, itb, oral, u_itb, u_oral, death, u_delay = draw_patient(key, *people)
    ctr = np.zeros(N_STREAMS, dtype=np.int64)
    return _life(
        rows[s],
        se_itb[s],
        se_oral[s],
        sev[s],
        surg[s],
        key,
        horizon,
        math.log1p(rc),
        math.log1p(re),
        age,
        itb,
        oral,
        u_itb,
        u_oral,
        death,
        u_delay,
        ctr,
        acc,
        counts,
        seen,
        first,
        log_t,
        log_e,
    )


# ------------------------------------------------------------------ the run

#: Blocks per call of the compiled loop: the progress bar moves once per call, and the
#: per-block tallies of one call are all that is held (memory does not grow with patients).
BLOCKS_PER_CALL = 16
#: The Tally sums the compiled fold fills, in the order _block unpacks them.
FOLD_FIELDS: tuple[str, ...] = (
    "patients",
    "sum_v",
    "sum_vv",
    "followup",
    "followup_sq",
    "count",
    "count_sq",
    "count_followup",
    "with_event",
    "with_event_and_comparator",
    "first_month",
    "itb_dose",
    "itb_years",
    "oral_dose",
    "oral_years",
    "refill_days",
)


class Run:
    """Parameter sets of one scenario (the base case, or PSA iterations: the same
    strategies, cohort structure and horizon, other values) with their cohorts, packed
    once, stacked, as the compiled loop's arguments."""

    def __init__(
        self,
        scenarios: list[Scenario],
        arrays: list[CohortArrays],
        months: int,
        parameter_sets: list[int],
    ) -> None:
        first = scenarios[0]
        packs = [Packed(sc) for sc in scenarios]
        names = first.strategy_names()
        self.scenario = first
        self.names = names
        self.comparator = names.index(first.comparator)
        self.months = months
        fields = ("row", "itb_side_effects", "oral_side_effects", "severity", "surgery")
        self.model = tuple(np.stack([getattr(p, f) for p in packs]) for f in fields)
        compiled = [a.compiled() for a in arrays]
        self.people = tuple(
            np.stack([np.asarray(c[k], dtype=np.float64) for c in compiled])
            for k in range(len(compiled[0]))
        )
        self.sets = (
            np.array(parameter_sets, dtype=np.int64),
            np.array([sc.horizon for sc in scenarios]),
            np.array([sc.discount.costs for sc in scenarios]),
            np.array([sc.discount.effects for sc in scenarios]),
        )

    @classmethod
    def single(
        cls, scenario: Scenario, arrays: CohortArrays, months: int, parameter_set: int = 0
    ) -> Run:
        return cls([scenario], [arrays], months, [parameter_set])

    def _tally(self) -> Tally:
        return Tally(len(self.names), self.comparator, self.months)

    def blocks(self, units: list[tuple[int, int]], block_size: int) -> tuple[list[Tally], int]:
        """Tallies of the work units (set index, block), in the order given, and their
        number of events."""
        n = len(units)
        template = self._tally()
        stacked = tuple(
            np.zeros(
                (n, *np.shape(getattr(template, name))),
                dtype=np.asarray(getattr(template, name)).dtype,
            )
            for name in FOLD_FIELDS
        )
        events = np.zeros(n, dtype=np.int64)
        psets, horizons, rcs, res = self.sets
        _run_blocks(
            np.array([i for i, _ in units], dtype=np.int64),
            np.array([b for _, b in units], dtype=np.int64),
            block_size,
            self.scenario.patients,
            self.scenario.seed,
            psets,
            self.people,
            self.model,
            horizons,
            rcs,
            res,
            self.comparator,
            self.months,
            stacked,
            events,
        )
        vv = stacked[FOLD_FIELDS.index("sum_vv")]
        lower = np.tril_indices(vv.shape[1], -1)
        vv[:, lower[0], lower[1]] = vv[:, lower[1], lower[0]]  # products commute: exact
        tallies = []
        for u in range(n):
            tally = self._tally()
            tally.load({name: value[u] for name, value in zip(FOLD_FIELDS, stacked, strict=True)})
            tallies.append(tally)
        return tallies, int(events.sum())

    def log(
        self,
        strategy: str,
        patient: int,
        capacity: int = 100_000,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One patient's events under one strategy in the first parameter set: (times,
        event ids, accumulators)."""
        acc = np.zeros(N_ACC)
        counts = np.zeros(N_COUNTERS, dtype=np.int64)
        first = np.full(N_CURVES, INF)
        log_t, log_e = np.empty(capacity), np.empty(capacity, dtype=np.int64)
        psets, horizons, rcs, res = self.sets
        n = _log_one(
            patient,
            self.names.index(strategy),
            self.scenario.seed,
            int(psets[0]),
            (self.people[0][0], float(self.people[1][0]), *(a[0] for a in self.people[2:])),
            tuple(a[0] for a in self.model),
            float(horizons[0]),
            float(rcs[0]),
            float(res[0]),
            acc,
            counts,
            first,
            log_t,
            log_e,
        )
        if n > capacity:
            raise RuntimeError(f"patient {patient} has {n} events; raise the log capacity")
        order = np.argsort(log_t[:n], kind="stable")  # a refill run's visits join in
        return log_t[:n][order], log_e[:n][order], acc
