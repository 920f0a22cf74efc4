"""The compiled engine's kernel: one patient under one strategy, as a next-event loop.

It is the SimPy engine (:mod:`sim.engines.des`, the executable specification) written for
speed, rule for rule and draw for draw: for the same scenario, seed and patient both
engines record the same events at the same times and fill the same tallies. Both take
the clocks, their tie-break order, what an explant cancels and the streams from the
catalogue (:mod:`sim.model`), and the arithmetic of shared rules from
:mod:`sim.engines.rules`; ``tests/engines/test_engines.py`` compares them patient by patient.

The state of a life is in local scalars; the clocks are an array indexed by
``CLOCK.<name>``, and the next event is the earliest clock, found by scanning the array in
catalogue order (strict ``<``: on a tie the earlier clock fires, as SimPy's priorities
make it). Work arrays (stream counters, accumulators, event counts, the clocks, the log)
come in one :class:`Work` bundle made by the caller, as raw pointers: a function that takes
an array updates its reference count on every call, and the kernel's helpers are called
dozens of times a life.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from sim.engines.fast.layout import EVENT, ITB, ORAL, ROW, SEVERITY_BLOCK, SURGERY, UNTREATED
from sim.engines.fast.layout import SURGERY_COLUMN as SC
from sim.engines.rules import (
    dose_need,
    drug_cost,
    early_care,
    grid_months,
    pick_side_effect,
    refill_interval_days,
    rescaled_time,
    reserve_years,
    settle_run,
    severity_level,
    side_effect_rate,
)
from sim.model.clocks import CLOCK, MAX_FIRINGS, N_CLOCKS, PUMP_CLOCK_IDS, TABLET_CLOCK_IDS
from sim.model.events import (
    COST_CATEGORIES,
    COST_CATEGORY_OF_EVENT,
    COUNTERS_OF_EVENT,
    CUMULATIVE_GROUPS,
    DEAD_STATE,
    EVENT_ID,
    GROUP_ID,
    ITB_SIDE_EFFECTS,
    OCCUPANCY_STATES,
    ORAL_SIDE_EFFECTS,
    on_fallback,
)
from sim.model.streams import STREAM_ID as S
from sim.model.streams import STREAM_KEY
from sim.model.units import DAYS_PER_YEAR
from sim.numerics.discount import cost_flow, cost_weight, flow_log
from sim.numerics.distributions import quantile_prepared
from sim.numerics.rng import exponential_time, uniform_at, visits_until

INF = math.inf
E = namedtuple("EventIds", EVENT_ID)(*EVENT_ID.values())  # event ids by name, as constants

#: Per-patient, per-strategy accumulators (a row of the work array `acc`): the outcomes,
#: then the discounted and the undiscounted cost of each cost category.
ACCUMULATORS = (
    "cost",
    "qaly",
    "life_years",
    "life_years_discounted",
    "followup",
    "itb_dose",  # integral of the ITB dose (mcg/day) over years on ITB
    "itb_years",
    "oral_dose",  # integral of the oral dose (mg/day) over years on tablets
    "oral_years",
    "refill_days",  # over refill visits: days since the last fill
    "qaly_state",  # QALYs of the states lived in (before event losses), discounted
    "qaly_lost",  # QALYs lost to events, discounted
    *(f"cost_{c}" for c in COST_CATEGORIES),
    *(f"undiscounted_cost_{c}" for c in COST_CATEGORIES),
)
ACC = namedtuple("Accumulators", ACCUMULATORS)(*range(len(ACCUMULATORS)))
#: Where the discounted and the undiscounted costs of category k are: COST_AT + k, ...
COST_AT = ACC.cost_care
UNDISCOUNTED_COST_AT = ACC.undiscounted_cost_care
C = namedtuple("CostCategories", COST_CATEGORIES)(*range(len(COST_CATEGORIES)))
COST_CATEGORY = np.array(COST_CATEGORY_OF_EVENT)
#: The drug route a patient is on: the first states of the occupancy table.
NO_DRUG, ON_ITB, ON_TABLETS = (
    OCCUPANCY_STATES.index(state) for state in ("untreated", "on_pump", "on_tablets")
)
#: First event (mild) and death event of each severity block of the layout.
SEVERITY_FIRST_EVENT = np.array([E.withdrawal_mild, E.overdose_mild, E.withdrawal_mild])
SEVERITY_DEATH_EVENT = np.array([E.death_withdrawal, E.death_overdose, E.death_withdrawal])
ITB_SIDE_EFFECT_EVENT = np.array([EVENT_ID[n] for n in ITB_SIDE_EFFECTS])
ORAL_SIDE_EFFECT_EVENT = np.array([EVENT_ID[n] for n in ORAL_SIDE_EFFECTS])
#: The same tablet events in an ITB strategy's fallback periods (reported apart).
ORAL_SIDE_EFFECT_FALLBACK_EVENT = np.array([EVENT_ID[on_fallback(n)] for n in ORAL_SIDE_EFFECTS])
WITHDRAWAL_FALLBACK_FIRST_EVENT = EVENT_ID[on_fallback("withdrawal_mild")]
TABLETS_STOPPED_FALLBACK_EVENT = EVENT_ID[on_fallback("tablets_stopped")]
OVERDOSE = SEVERITY_BLOCK.itb_overdose
PUMP_CLOCKS = np.array(PUMP_CLOCK_IDS)
TABLET_CLOCKS = np.array(TABLET_CLOCK_IDS)
ALL_CLOCKS = np.arange(N_CLOCKS)


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

#: The work arrays and fixed numbers of one patient under one strategy: the patient's key,
#: the discount rates' logs ln(1 + rate), and pointers (see :func:`pointer`) to the stream
#: counters, the accumulators (ACC), the event counts, the counters set so far (`seen`:
#: their number first, so that the fold visits only those), the first time of each
#: cumulative group, the clocks, the event log (times and ids, `log_size` of each; 0
#: when none is kept), and the cost weights with their number of segments: ln(1 + rate)
#: (the log of discounting alone), or a pointer to a table of discount.cost_weights (a
#: cost trend, one segment per year); the compiled code is specialised on which; then the
#: block's state-occupancy differences of this strategy (OCCUPANCY_STATES x `months`).
Work = namedtuple(
    "Work",
    (
        "key",
        "lc",
        "le",
        "ctr",
        "acc",
        "counts",
        "seen",
        "first",
        "clock",
        "log_t",
        "log_e",
        "log_size",
        "cw",
        "ncw",
        "occ",
        "months",
    ),
)


@intrinsic
def pointer(typingctx, array, offset):
    """A raw pointer to element `offset` of a C-contiguous array's data: indexed like the
    array, with no reference count and no bounds. Safe only while the array lives: here
    arrays the caller owns, for the length of one call."""
    signature = types.CPointer(array.dtype)(array, offset)

    def codegen(context, builder, sig, args):
        data = make_array(sig.args[0])(context, builder, args[0]).data
        return builder.gep(data, [args[1]])

    return signature, codegen


@njit(cache=True)
def _at(t, horizon):
    """A clock at t, or never when t is not before the horizon (the SimPy engine drops it)."""
    return t if t < horizon else INF


@njit(cache=True)
def _after(w, now, stream, rate, horizon):
    """The clock of a Poisson process of `rate` per year from `now`, drawn on `stream`."""
    return _at(now + exponential_time(_draw(w, stream), rate), horizon)


@njit(cache=True)
def _draw(w, stream):
    """Next uniform of a stream for this patient (the stream's counter advances)."""
    u = uniform_at(w.key, STREAM_KEY[stream], w.ctr[stream])
    w.ctr[stream] += 1
    return u


@njit(cache=True)
def _count(w, ev, t, m):
    """m events, the first at t (DES: Outcome.count)."""
    counts, seen, first = w.counts, w.seen, w.first
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


@njit(cache=True)
def _record(w, ev, t, cost, qaly_loss, n):
    """Count an event at t; its cost and QALY loss are discounted at t (discount.factor is
    exp(-log1p(rate) t), its log taken once per block). Returns the number of events."""
    _count(w, ev, t, 1)
    if cost != 0.0 or qaly_loss != 0.0:  # adding 0 changes no sum
        f = cost_weight(w.cw, w.ncw, t)
        _cost(w, COST_CATEGORY[ev], cost, cost * f)
        if w.le != w.lc or w.ncw > 1:  # the usual equal rates share one exp
            f = math.exp(-w.le * t)
        w.acc[ACC.qaly] -= qaly_loss * f
        w.acc[ACC.qaly_lost] += qaly_loss * f
    if n < w.log_size:
        w.log_t[n] = t
        w.log_e[n] = ev
    return n + 1


@njit(cache=True)
def _cost(w, category, undiscounted, discounted):
    """A cost in a category: into the total and the category's sums."""
    w.acc[ACC.cost] += discounted
    w.acc[COST_AT + category] += discounted
    w.acc[UNDISCOUNTED_COST_AT + category] += undiscounted


@njit(cache=True)
def _consequence(w, ev, t, cost, qaly_loss, death_probability, death_event, n):
    """An event that may kill (DES: consequence). Returns (events, death event or -1)."""
    n = _record(w, ev, t, cost, qaly_loss, n)
    if _draw(w, S.event_death) < death_probability:
        return n, death_event
    return n, -1


@njit(cache=True)
def _severity(w, sev, block, first_event, t, n):
    """A withdrawal or overdose, its severity drawn from the mix (DES: severity); the events
    of the mild, moderate and severe level are first_event, + 1, + 2."""
    level = severity_level(
        sev[block, 0, EVENT.rate_or_share], sev[block, 1, EVENT.rate_or_share], _draw(w, S.severity)
    )
    return _consequence(
        w,
        first_event + level,
        t,
        sev[block, level, EVENT.cost],
        sev[block, level, EVENT.qaly_loss],
        sev[block, level, EVENT.death_probability],
        SEVERITY_DEATH_EVENT[block],
        n,
    )


@njit(cache=True)
def _withdrawal_after(w, sev, probability, t, n):
    """Withdrawal with a probability after a cause (DES: itb_withdrawal)."""
    if _draw(w, S.withdrawal_given_cause) < probability:
        block = SEVERITY_BLOCK.itb_withdrawal
        return _severity(w, sev, block, SEVERITY_FIRST_EVENT[block], t, n)
    return n, -1


@njit(cache=True)
def _side_effect(w, table, total, events, stream, t, n):
    """One side effect of a route, its type drawn on `stream` in proportion to the rates."""
    j = pick_side_effect(table, total, _draw(w, stream))
    return _consequence(
        w,
        events[j],
        t,
        table[j, EVENT.cost],
        table[j, EVENT.qaly_loss],
        table[j, EVENT.death_probability],
        E.death_side_effect,
        n,
    )


@njit(cache=True)
def _settle(w, start, step, days, visit, drug, visits, end, n):
    """The uneventful visits of a refill run made before `end` (DES: end_refill_run):
    counted and costed in one geometric sum (`visit` and `drug`: one visit's cost of the
    visit and of the drug it replaces). Returns (visits made, events)."""
    m, factor = settle_run(start, step, visits, end, w.cw, w.ncw)
    if m == 0:
        return 0, n
    w.acc[ACC.refill_days] += m * days
    _count(w, E.refill_visit, start + step, m)
    _cost(w, C.refill_visits, m * visit, visit * factor)
    _cost(w, C.drug_intrathecal, m * drug, drug * factor)
    if w.log_size == 0:  # the hot path keeps no log
        return m, n + m
    for i in range(1, m + 1):
        if n < w.log_size:
            w.log_t[n] = start + i * step
            w.log_e[n] = E.refill_visit
        n += 1
    return m, n


@njit(cache=True)
def _accrue_flows(w, since, t, utility, care_per_year, drug_per_year):
    """The state's utility, care and tablet costs from `since` to `t`, in continuous time."""
    f = flow_log(w.le, since, t)
    w.acc[ACC.qaly] += utility * f
    w.acc[ACC.qaly_state] += utility * f
    if w.lc != w.le or w.ncw > 1:  # the usual equal rates share one factor
        f = cost_flow(w.cw, w.ncw, since, t)
    _cost(w, C.care, care_per_year * (t - since), care_per_year * f)
    if drug_per_year != 0.0:
        _cost(w, C.drug_tablets, drug_per_year * (t - since), drug_per_year * f)


@njit(cache=True)
def _accrue_early_care(w, p, since, t, first_implant, years):
    """On the pump, the care of its early years above (or below) the steady rate (only
    when the strategy gives early multipliers: `p` passed in the rare case alone, an
    array argument costs reference counting on every call)."""
    undiscounted, discounted = early_care(
        since,
        t,
        first_implant,
        p[ROW.care_cost_per_year],
        p[ROW.itb_care_cost_multiplier],
        pointer(p, ROW.itb_care_early),
        years,
        w.cw,
        w.ncw,
    )
    _cost(w, C.care, undiscounted, discounted)


@njit(cache=True)
def _occupy(w, state, since, t):
    """A state held from `since` to `t`, into the occupancy differences (Tally.add_patient)."""
    first, stop = grid_months(since, t, w.months)
    if first < stop:
        w.occ[state * w.months + first] += 1
        if stop < w.months:
            w.occ[state * w.months + stop] -= 1


@njit(cache=True)
def _accrue_drug(w, since, t, route, dose):
    _occupy(w, route, since, t)  # the routes are the first occupancy states
    if route == ON_ITB:
        w.acc[ACC.itb_dose] += dose * (t - since)
        w.acc[ACC.itb_years] += t - since
    elif route == ON_TABLETS:
        w.acc[ACC.oral_dose] += dose * (t - since)
        w.acc[ACC.oral_years] += t - since


@njit(cache=True)
def _quantile(p, start, u):
    """A patient distribution of the row (its seven numbers from `start`) at u."""
    kind, a, b, c, d = int(p[start]), p[start + 1], p[start + 2], p[start + 3], p[start + 4]
    return quantile_prepared(kind, a, b, c, d, p[start + 5], p[start + 6], u)


@njit(cache=True)
def earliest(clock):
    """(time, id) of the earliest clock; of clocks at the same instant, the first in the
    catalogue's order (sim.model.clocks: the tie-break order)."""
    t = clock[0]
    k = 0
    for j in range(1, N_CLOCKS):
        if clock[j] < t:
            t = clock[j]
            k = j
    return t, k


@njit(cache=True)
def _cancel(clock, ids):
    for j in ids:
        clock[j] = INF


@njit(cache=True)
def life(p, se_itb, se_oral, sev, surg, w, horizon, patient):
    """One patient under one strategy, t = 0 to death or the horizon (DES: PatientRun.run).

    `p` is the strategy's parameter row (ROW), `se_itb`, `se_oral`, `sev` and `surg` its
    event tables; `patient` is (ITB dose need, oral dose, ITB response uniform, oral
    response uniform, background death time, replacement delay uniform, baseline
    utility). Returns the number of events (also the length of the log, when one is
    kept), or -1 - the clock when the life took more than MAX_FIRINGS firings."""
    itb_dose_need, oral_dose, u_itb, u_oral, death_years, u_delay, baseline = patient
    clock, acc = w.clock, w.acc
    n = 0  # events recorded
    kind = int(p[ROW.kind])
    _cancel(clock, ALL_CLOCKS)
    clock[CLOCK.background_death] = _at(death_years, horizon)

    # accrual state
    flows_since = 0.0
    drug_since = 0.0
    utility = 0.0
    care_rate = 0.0  # background care per year, as the state changes it
    drug_rate = 0.0  # tablets per year
    route = NO_DRUG
    route_dose = 0.0
    # tablets (own strategy, or the fallback of an ITB strategy)
    tablets_stopped = False
    # the tablets' side-effect rate at the patient's dose, fixed for the life (computed
    # here, or the compiler hoists it to every life, untreated ones too)
    oral_side_effect_rate = 0.0
    if kind != UNTREATED:
        oral_side_effect_rate = side_effect_rate(
            oral_dose,
            p[ROW.oral_side_effect_reference_dose],
            p[ROW.oral_side_effect_exponent],
            p[ROW.oral_side_effect_rate_sum],
        )
    # ITB state
    early_years = int(p[ROW.itb_care_early_years])  # years with care multipliers of their own
    first_implant = math.nan
    dose = 0.0
    fill_time = 0.0
    refill_late = False
    depletion_time = INF
    itb_side_effect_rate = 0.0
    itb_side_effect_time = math.nan  # nan: no waiting time drawn yet
    infection_time = INF  # the pending infection, if any
    visits_to_missed = INF  # visits up to the next occurrence of each per-visit risk
    visits_to_pocket_fill = INF
    visits_to_programming_error = INF
    replacement_delay_years = 0.0
    grown_dose = -1.0  # the dose need once growth is over (computed once)
    # functions of the dose, recomputed only when it changes (same values, no pow per refill)
    dose_of = -1.0
    rate_of_dose = 0.0
    interval_years = 0.0
    interval_days = 0.0
    visit_part = 0.0  # of a scheduled visit's cost: the visit
    drug_part = 0.0  # and the drug it replaces
    # the current run of uneventful refill visits: at run_start + k interval_years
    run_start = 0.0
    run_visits = 0.0

    died = -1  # the death event, once dead
    now = 0.0
    firings = 0
    # The loop's first pass runs the start of the strategy (k = -1); every later pass runs
    # the earliest clock, cleared first. Actions shared by several handlers are flags, run
    # after the handler in this order: explant, surgery (implant, re-implant, catheter
    # revision, pump replacement), new pump, then entering a state (tablets or a pump
    # fill). No handler sets two of explant, surgery and tablets.
    k = -1
    while True:
        go_explant = False
        go_tablets = False
        go_surgery = -1  # row of the surgery table
        surgery_event = -1
        go_new_pump = False
        go_fill = False
        if k >= 0:
            clock[k] = INF
        if k == -1:
            if kind == UNTREATED:
                # enter_state(utility, care cost, none): nothing accrued yet at t = 0
                utility = baseline + p[ROW.untreated_utility_change]
                care_rate = p[ROW.care_cost_per_year] * p[ROW.untreated_care_cost_multiplier]
            elif kind == ORAL:
                go_tablets = True
            else:
                responder = u_itb < p[ROW.itb_screening_response_probability]
                n = _record(w, E.screening, now, p[ROW.itb_screening_cost], 0.0, n)
                if _draw(w, S.screening_adverse_effect) < p[ROW.screening_adverse_probability]:
                    n = _record(
                        w,
                        E.screening_adverse_effect,
                        now,
                        p[ROW.screening_adverse_cost],
                        p[ROW.screening_adverse_qaly_loss],
                        n,
                    )
                replacement_delay_years = (
                    max(0.0, _quantile(p, ROW.replacement_delay_days, u_delay)) / DAYS_PER_YEAR
                )
                if not responder:
                    n = _record(w, E.screening_failed, now, 0.0, 0.0, n)
                    go_tablets = True
                else:
                    visits_to_missed = visits_until(
                        _draw(w, S.missed_refill), p[ROW.missed_refill_probability]
                    )
                    visits_to_pocket_fill = visits_until(
                        _draw(w, S.pocket_fill), p[ROW.pocket_fill_probability]
                    )
                    visits_to_programming_error = visits_until(
                        _draw(w, S.programming_error), p[ROW.programming_error_probability]
                    )
                    first_implant = now
                    go_surgery, surgery_event = SURGERY.implant, E.implant
        elif k == CLOCK.background_death:
            died = E.death_background
        elif k == CLOCK.infection:
            infection_time = INF
            n = _record(w, E.infection, now, p[ROW.infection_cost], p[ROW.infection_qaly_loss], n)
            if _draw(w, S.meningitis) < p[ROW.meningitis_probability]:
                n, died = _consequence(
                    w,
                    E.meningitis,
                    now,
                    p[ROW.meningitis_cost],
                    p[ROW.meningitis_qaly_loss],
                    p[ROW.meningitis_death_probability],
                    E.death_meningitis,
                    n,
                )
            if died < 0 and _draw(w, S.infection_explant) < p[ROW.infection_explant_probability]:
                go_explant = True  # explant(temporary=True)
                if _draw(w, S.reimplant) < p[ROW.reimplant_probability]:
                    clock[CLOCK.reimplant] = _at(now + p[ROW.reimplant_delay_years], horizon)
        elif k == CLOCK.catheter_failure:
            n = _record(w, E.catheter_failure, now, 0.0, 0.0, n)
            n, died = _withdrawal_after(w, sev, p[ROW.catheter_withdrawal_probability], now, n)
            go_surgery, surgery_event = SURGERY.catheter_revision, E.catheter_revision
        elif k == CLOCK.pump_failure:
            n = _record(w, E.pump_failure, now, 0.0, 0.0, n)
            n, died = _withdrawal_after(w, sev, p[ROW.pump_failure_withdrawal_probability], now, n)
            go_surgery, surgery_event = SURGERY.pump_replacement, E.pump_replacement_urgent
        elif k == CLOCK.battery_depletion:
            n = _record(w, E.battery_depletion, now, 0.0, 0.0, n)
            n, died = _withdrawal_after(w, sev, p[ROW.depletion_withdrawal_probability], now, n)
            go_surgery, surgery_event = SURGERY.pump_replacement, E.pump_replacement_urgent
        elif k == CLOCK.battery_alarm:
            n = _record(w, E.battery_alarm, now, 0.0, 0.0, n)
            t = now + replacement_delay_years
            if t < depletion_time:
                clock[CLOCK.elective_replacement] = _at(t, horizon)
        elif k == CLOCK.elective_replacement:
            go_surgery, surgery_event = SURGERY.pump_replacement, E.pump_replacement_elective
        elif k == CLOCK.reimplant:
            go_surgery, surgery_event = SURGERY.reimplant, E.reimplant
        elif k == CLOCK.explant:  # loss of efficacy or choice (never a re-implant)
            go_explant = True
        elif k == CLOCK.reservoir_empty:  # before a late refill: delivery stops
            n = _record(w, E.reservoir_empty, now, 0.0, 0.0, n)
            n, died = _withdrawal_after(w, sev, p[ROW.missed_refill_withdrawal_probability], now, n)
        elif k == CLOCK.refill:  # a refill visit falls due
            m, n = _settle(
                w,
                run_start,
                interval_years,
                interval_days,
                visit_part,
                drug_part,
                run_visits,
                now,
                n,
            )
            run_visits = 0.0
            if m > 0:
                visits_to_missed -= m
                visits_to_pocket_fill -= m
                visits_to_programming_error -= m
                fill_time = run_start + m * interval_years
            missed = False
            if not refill_late:
                visits_to_missed -= 1.0
                if not visits_to_missed > 0.0:
                    visits_to_missed = visits_until(
                        _draw(w, S.missed_refill), p[ROW.missed_refill_probability]
                    )
                    missed = True
            if missed:  # the pump goes on from its reserve until the late refill
                n = _record(w, E.missed_refill, now, 0.0, 0.0, n)
                u = _draw(w, S.missed_refill_delay)
                late = max(0.0, _quantile(p, ROW.missed_refill_delay_days, u)) / DAYS_PER_YEAR
                days = (now - fill_time) * DAYS_PER_YEAR
                reserve = reserve_years(dose, days, p[ROW.reservoir_mcg])
                if late > reserve:  # empty before the refill: delivery stops then
                    clock[CLOCK.reservoir_empty] = _at(now + reserve, horizon)
                refill_late = True
                clock[CLOCK.refill] = _at(now + late, horizon)
            else:  # refill_visit
                days = (now - fill_time) * DAYS_PER_YEAR
                acc[ACC.refill_days] += days
                n = _record(w, E.refill_visit, now, p[ROW.refill_cost_visit], 0.0, n)
                drug = drug_cost(dose, days, p[ROW.reservoir_mcg], p[ROW.refill_drug_cost_per_mg])
                if drug != 0.0:
                    _cost(w, C.drug_intrathecal, drug, drug * cost_weight(w.cw, w.ncw, now))
                visits_to_pocket_fill -= 1.0
                if not visits_to_pocket_fill > 0.0:
                    visits_to_pocket_fill = visits_until(
                        _draw(w, S.pocket_fill), p[ROW.pocket_fill_probability]
                    )
                    n = _record(w, E.pocket_fill, now, 0.0, 0.0, n)
                    n, died = _severity(w, sev, OVERDOSE, E.overdose_mild, now, n)
                if died < 0:
                    visits_to_programming_error -= 1.0
                    if not visits_to_programming_error > 0.0:
                        visits_to_programming_error = visits_until(
                            _draw(w, S.programming_error), p[ROW.programming_error_probability]
                        )
                        n = _record(w, E.programming_error, now, 0.0, 0.0, n)
                        n, died = _severity(w, sev, OVERDOSE, E.overdose_mild, now, n)
                go_fill = True
        elif k == CLOCK.itb_side_effect:
            n, died = _side_effect(
                w,
                se_itb,
                p[ROW.itb_side_effect_rate_sum],
                ITB_SIDE_EFFECT_EVENT,
                S.itb_side_effect_type,
                now,
                n,
            )
            if died < 0:
                itb_side_effect_time = now + exponential_time(
                    _draw(w, S.itb_side_effect_time), itb_side_effect_rate
                )
                clock[CLOCK.itb_side_effect] = _at(itb_side_effect_time, horizon)
        elif k == CLOCK.tablets_stopped:  # for intolerance: untreated from now on
            stopped = TABLETS_STOPPED_FALLBACK_EVENT if kind == ITB else E.tablets_stopped
            n = _record(w, stopped, now, 0.0, 0.0, n)
            tablets_stopped = True
            _cancel(clock, TABLET_CLOCKS)
            go_tablets = True
        elif k == CLOCK.oral_withdrawal:
            first = WITHDRAWAL_FALLBACK_FIRST_EVENT if kind == ITB else E.withdrawal_mild
            n, died = _severity(w, sev, SEVERITY_BLOCK.oral_withdrawal, first, now, n)
            if died < 0:
                clock[CLOCK.oral_withdrawal] = _after(
                    w, now, S.oral_withdrawal, p[ROW.oral_withdrawal_rate], horizon
                )
        else:  # CLOCK.oral_side_effect
            n, died = _side_effect(
                w,
                se_oral,
                p[ROW.oral_side_effect_rate_sum],
                ORAL_SIDE_EFFECT_FALLBACK_EVENT if kind == ITB else ORAL_SIDE_EFFECT_EVENT,
                S.oral_side_effect_type,
                now,
                n,
            )
            if died < 0:
                clock[CLOCK.oral_side_effect] = _after(
                    w, now, S.oral_side_effect_time, oral_side_effect_rate, horizon
                )
        if died >= 0:
            break

        # ---- shared actions
        if go_explant:  # tablets (the fallback) from now, perhaps until a re-implant
            m, n = _settle(
                w,
                run_start,
                interval_years,
                interval_days,
                visit_part,
                drug_part,
                run_visits,
                now,
                n,
            )
            run_visits = 0.0
            visits_to_missed -= m
            visits_to_pocket_fill -= m
            visits_to_programming_error -= m
            g = SURGERY.explant
            n, died = _consequence(
                w,
                E.explant,
                now,
                surg[g, SC.cost],
                surg[g, SC.qaly_loss],
                surg[g, SC.death_probability],
                E.death_surgery,
                n,
            )
            if died >= 0:
                break
            infection_time = INF
            itb_side_effect_rate, itb_side_effect_time = 0.0, math.nan
            _cancel(clock, PUMP_CLOCKS)
            go_tablets = True
        if go_surgery >= 0:  # cost, QALY loss, possible death, possible infection later
            g = go_surgery
            implant = g == SURGERY.implant or g == SURGERY.reimplant
            if implant:
                _cancel(clock, TABLET_CLOCKS)
            n, died = _consequence(
                w,
                surgery_event,
                now,
                surg[g, SC.cost],
                surg[g, SC.qaly_loss],
                surg[g, SC.death_probability],
                E.death_surgery,
                n,
            )
            if died >= 0:
                break
            if _draw(w, S.infection) < surg[g, SC.infection_probability]:
                t = now + _draw(w, S.infection_time) * p[ROW.infection_window_years]
                if t < infection_time:  # one pending infection: the earliest
                    infection_time = t
                    clock[CLOCK.infection] = _at(t, horizon)
            if g != SURGERY.pump_replacement:  # new_catheter
                u = _draw(w, S.catheter_failure)
                clock[CLOCK.catheter_failure] = _at(
                    now + _quantile(p, ROW.catheter_time_to_failure_years, u), horizon
                )
            go_new_pump = g != SURGERY.catheter_revision
            if implant:
                clock[CLOCK.explant] = _after(w, now, S.explant, p[ROW.explant_rate], horizon)
        if go_new_pump:  # battery, failure hazard, full reservoir
            m, n = _settle(
                w,
                run_start,
                interval_years,
                interval_days,
                visit_part,
                drug_part,
                run_visits,
                now,
                n,
            )
            run_visits = 0.0
            visits_to_missed -= m
            visits_to_pocket_fill -= m
            visits_to_programming_error -= m
            life_years = _quantile(p, ROW.battery_life_years, _draw(w, S.battery_life))
            life_years = min(max(life_years, 0.0), p[ROW.battery_cap_years])
            depletion_time = now + life_years
            clock[CLOCK.elective_replacement] = INF
            clock[CLOCK.battery_alarm] = _at(
                max(now, depletion_time - p[ROW.battery_alarm_lead_years]), horizon
            )
            clock[CLOCK.battery_depletion] = _at(depletion_time, horizon)
            clock[CLOCK.pump_failure] = _after(
                w, now, S.pump_failure, p[ROW.pump_failure_rate], horizon
            )
            go_fill = True
        if go_fill or go_tablets:
            if go_fill:  # dose_need: grows for growth_years after the first implant
                years = now - first_implant
                growth_years = p[ROW.dose_growth_years]
                if years >= growth_years and grown_dose >= 0.0:
                    dose = grown_dose
                else:
                    dose = dose_need(itb_dose_need, p[ROW.dose_annual_growth], growth_years, years)
                    if years >= growth_years:
                        grown_dose = dose
                new_utility = baseline + p[ROW.itb_utility_change]
                new_care = p[ROW.care_cost_per_year] * p[ROW.itb_care_cost_multiplier]
                new_drug = 0.0  # the intrathecal drug is costed at each refill
                new_route, new_dose = ON_ITB, dose
                clock[CLOCK.reservoir_empty] = INF  # a full reservoir
            elif tablets_stopped:
                new_utility = baseline + p[ROW.oral_untreated_utility_change]
                new_care = p[ROW.care_cost_per_year] * p[ROW.oral_untreated_care_cost_multiplier]
                new_drug = 0.0
                new_route, new_dose = NO_DRUG, 0.0
            else:
                controlled = u_oral < p[ROW.oral_response_probability]
                new_utility = baseline
                if controlled:
                    new_utility = baseline + p[ROW.oral_utility_change_controlled]
                new_care = p[ROW.care_cost_per_year]
                new_drug = oral_dose * DAYS_PER_YEAR * p[ROW.oral_drug_cost_per_mg]
                new_route, new_dose = ON_TABLETS, oral_dose
            # enter_state: utility and cost flows accrued only when they change
            if new_utility != utility or new_care != care_rate or new_drug != drug_rate:
                if now > flows_since:
                    _accrue_flows(w, flows_since, now, utility, care_rate, drug_rate)
                    flows_since = now
                utility, care_rate, drug_rate = new_utility, new_care, new_drug
            if now > drug_since:
                if route == ON_ITB and early_years > 0:
                    _accrue_early_care(w, p, drug_since, now, first_implant, early_years)
                _accrue_drug(w, drug_since, now, route, route_dose)
                drug_since = now
            route, route_dose = new_route, new_dose
            if go_fill:
                if dose != dose_of:
                    dose_of = dose
                    rate_of_dose = side_effect_rate(
                        dose,
                        p[ROW.itb_side_effect_reference_dose],
                        p[ROW.itb_side_effect_exponent],
                        p[ROW.itb_side_effect_rate_sum],
                    )
                    interval_days = refill_interval_days(
                        dose, p[ROW.usable_mcg], p[ROW.stability_days]
                    )
                    interval_years = interval_days / DAYS_PER_YEAR
                    visit_part = p[ROW.refill_cost_visit]
                    drug_part = drug_cost(
                        dose, interval_days, p[ROW.reservoir_mcg], p[ROW.refill_drug_cost_per_mg]
                    )
                # rescale_itb_side_effects: the unit-exponential hazard left is kept
                rate = rate_of_dose
                if not (rate == itb_side_effect_rate and not math.isnan(itb_side_effect_time)):
                    if rate <= 0.0:
                        t = INF
                    elif itb_side_effect_rate > 0.0 and not math.isnan(itb_side_effect_time):
                        t = rescaled_time(now, itb_side_effect_time, itb_side_effect_rate, rate)
                    else:
                        t = now + exponential_time(_draw(w, S.itb_side_effect_time), rate)
                    itb_side_effect_rate, itb_side_effect_time = rate, t
                    clock[CLOCK.itb_side_effect] = _at(t, horizon)
                fill_time = now
                refill_late = False
                # a run of refill visits: uneventful until the next per-visit risk, once
                # the dose has settled
                run_start = now
                run_visits = 0.0
                if p[ROW.dose_annual_growth] == 0.0 or now - first_implant >= growth_years:
                    run_visits = (
                        min(visits_to_missed, visits_to_pocket_fill, visits_to_programming_error)
                        - 1.0
                    )
                clock[CLOCK.refill] = _at(now + (run_visits + 1.0) * interval_years, horizon)
            elif not tablets_stopped:
                clock[CLOCK.oral_side_effect] = _after(
                    w, now, S.oral_side_effect_time, oral_side_effect_rate, horizon
                )
                clock[CLOCK.tablets_stopped] = _after(
                    w, now, S.tablets_stopped, p[ROW.oral_discontinuation_rate], horizon
                )
                clock[CLOCK.oral_withdrawal] = _after(
                    w, now, S.oral_withdrawal, p[ROW.oral_withdrawal_rate], horizon
                )

        t, k = earliest(clock)  # ---- the next event
        if t == INF:
            break
        now = t
        firings += 1
        if firings > MAX_FIRINGS:  # events repeating without end: -1 - the clock
            return -1 - k

    if died >= 0:  # recorded here, once: a death has no cost, and nothing follows it
        n = _record(w, died, now, 0.0, 0.0, n)
    t_end = now if died >= 0 else horizon
    m, n = _settle(
        w, run_start, interval_years, interval_days, visit_part, drug_part, run_visits, t_end, n
    )
    if t_end > flows_since:
        _accrue_flows(w, flows_since, t_end, utility, care_rate, drug_rate)
    if t_end > drug_since:
        if route == ON_ITB and early_years > 0:
            _accrue_early_care(w, p, drug_since, t_end, first_implant, early_years)
        _accrue_drug(w, drug_since, t_end, route, route_dose)
    if died >= 0:
        _occupy(w, DEAD_STATE, t_end, horizon + 1.0)  # to the grid's end
    acc[ACC.followup] = t_end
    acc[ACC.life_years] = t_end
    acc[ACC.life_years_discounted] = flow_log(w.le, 0.0, t_end)
    return n
