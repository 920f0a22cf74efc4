"""A block of patients through the kernel, folded into the block's tally as it goes.

:func:`block` draws each patient (:mod:`sim.engines.cohort`), runs them under every
strategy (:func:`sim.engines.fast.kernel.life`) and folds their outcomes into the sums of
:class:`sim.engines.tally.Tally` (``FOLD_FIELDS``) with the arithmetic of
``Tally.add_patient``, in the same order, so that both engines' tallies agree to the bit.
It releases the GIL: the driver runs blocks on several threads, each writing its own
slot of the tally arrays.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from sim.engines.cohort import _draw as draw_patient
from sim.engines.fast.kernel import (
    ACC,
    ACCUMULATORS,
    COST_AT,
    N_CURVES,
    UNDISCOUNTED_COST_AT,
    Work,
    life,
    pointer,
)
from sim.engines.rules import subgroups
from sim.model.clocks import N_CLOCKS
from sim.model.events import COST_CATEGORIES, N_COUNTERS, OCCUPANCY_STATES
from sim.model.streams import N_STREAMS
from sim.model.units import MONTHS_PER_YEAR
from sim.numerics.rng import patient_key

INF = math.inf
N_COST_CATEGORIES = len(COST_CATEGORIES)
N_STATES = len(OCCUPANCY_STATES)
#: The Tally sums the fold fills, in the order `block` takes them.
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
    "qaly_state",
    "qaly_lost",
    "cost_by_category",
    "undiscounted_cost_by_category",
    "occupancy",
    "group_patients",
    "group_sum_v",
    "group_sum_vv",
)
#: The per-patient outcomes whose sums and cross-products are kept (tally.OUTCOMES),
#: as accumulators.
_V = (ACC.cost, ACC.qaly, ACC.life_years, ACC.life_years_discounted)


@intrinsic
def _borrowed(typingctx, array):
    """A view of `array` that holds no reference to its memory (a null meminfo).

    Every use of an array view in compiled code (a slice, a call with it as argument)
    costs an atomic reference-count update on its memory: a few nanoseconds alone, far
    more when threads update the same counter, as they did for the shared parameter arrays
    (about 40 per patient and strategy). A view without a meminfo makes those updates
    no-ops. Safe only while the owner outlives the view: here the arrays of one compiled
    call, viewed within it.
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


def _cost_weights(rc):
    """(ln(1 + rate), the cost weights, their segments) of `rc`: the cost discount rate
    (a float), or a table of discount.cost_weights (an array) when costs have a trend."""
    raise NotImplementedError("compiled code only")


@overload(_cost_weights)
def _cost_weights_of(rc):
    if isinstance(rc, types.Float):

        def plain(rc):
            lc = math.log1p(rc)
            return lc, lc, 1

        return plain

    def table(rc):  # the comparison lc == le then never shares a factor
        return math.nan, pointer(rc, 0), len(rc) // 2

    return table


@njit(cache=True, nogil=True)
def block(start, stop, b, seed, parameter_set, people, model, horizon, rc, re, comparator, tallies):
    """(`rc`: the cost discount rate, or the table of its weights with a cost trend.)
    Patients start..stop-1 folded into block b's tally (index b of every array of
    `tallies`, in FOLD_FIELDS order), in patient order. The fold is Tally.add_patient's
    arithmetic in the same order, so the sums agree to the bit (skipping only additions of
    0, and computing only one triangle of the symmetric outer products, mirrored by the
    driver). Returns the number of events."""
    rows, se_itb, se_oral, sev, surg = model
    rows, se_itb, se_oral = _borrowed(rows), _borrowed(se_itb), _borrowed(se_oral)
    sev, surg = _borrowed(sev), _borrowed(surg)
    age_d, male_share, shares, multiplier, itb_d, oral_d, hazard, baselines = people
    age_d, shares, multiplier = _borrowed(age_d), _borrowed(shares), _borrowed(multiplier)
    itb_d, oral_d, hazard = _borrowed(itb_d), _borrowed(oral_d), _borrowed(hazard)
    baselines = _borrowed(baselines)
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
        t_qaly_state,
        t_qaly_lost,
        t_cost_category,
        t_cost_category_undiscounted,
        t_occupancy,
        t_group_patients,
        t_group_sum_v,
        t_group_sum_vv,
    ) = tallies
    months = t_first_month.shape[3]
    n_s = rows.shape[0]
    n_v = len(_V) * n_s
    # work arrays, owned here: their borrowed views cannot outlive them
    acc_owned = np.zeros((n_s, len(ACCUMULATORS)))
    counts_owned = np.zeros((n_s, N_COUNTERS), dtype=np.int64)
    seen_owned = np.zeros((n_s, N_COUNTERS + 1), dtype=np.int64)
    first_owned = np.full((n_s, N_CURVES), INF)
    ctr_owned = np.zeros(N_STREAMS, dtype=np.int64)
    clock_owned = np.empty(N_CLOCKS)
    v_owned = np.empty(n_v)
    no_t, no_e = np.empty(1), np.empty(1, dtype=np.int64)
    acc, counts, seen = _borrowed(acc_owned), _borrowed(counts_owned), _borrowed(seen_owned)
    first, ctr = _borrowed(first_owned), _borrowed(ctr_owned)
    v = _borrowed(v_owned)
    lc, cw, ncw = _cost_weights(rc)
    le = math.log1p(re)
    events = 0
    for i in range(start, stop):
        key = patient_key(seed, parameter_set, i)
        age, male, ind, itb, oral, u_itb, u_oral, death, u_delay = draw_patient(
            key, age_d, male_share, shares, multiplier, itb_d, oral_d, hazard
        )
        patient = (itb, oral, u_itb, u_oral, death, u_delay, baselines[ind])
        acc[:] = 0.0
        first[:] = INF
        for s in range(n_s):
            ctr[:] = 0
            w = Work(
                key,
                lc,
                le,
                pointer(ctr_owned, 0),
                pointer(acc_owned, s * len(ACCUMULATORS)),
                pointer(counts_owned, s * N_COUNTERS),
                pointer(seen_owned, s * (N_COUNTERS + 1)),
                pointer(first_owned, s * N_CURVES),
                pointer(clock_owned, 0),
                pointer(no_t, 0),
                pointer(no_e, 0),
                0,
                cw,
                ncw,
                pointer(t_occupancy, ((b * n_s + s) * N_STATES) * months),
                months,
            )
            made = life(rows[s], se_itb[s], se_oral[s], sev[s], surg[s], w, horizon, patient)
            if made < 0:  # a life without end: -1 - (patient, strategy, clock), encoded
                return -1 - ((i * n_s + s) * N_CLOCKS + (-1 - made))
            events += made
        # ---- the fold (Tally.add_patient)
        t_patients[b] += 1
        for s in range(n_s):
            for j in range(len(_V)):
                v[len(_V) * s + j] = acc[s, _V[j]]
        for x in range(n_v):
            t_sum_v[b, x] += v[x]
            for y in range(x, n_v):  # the upper triangle: the driver mirrors it
                t_sum_vv[b, x, y] += v[x] * v[y]
        for g in subgroups(ind, male, age):  # the patient's three subgroups
            t_group_patients[b, g] += 1
            for x in range(n_v):
                t_group_sum_v[b, g, x] += v[x]
                for y in range(x, n_v):
                    t_group_sum_vv[b, g, x, y] += v[x] * v[y]
        for s in range(n_s):
            t = acc[s, ACC.followup]
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
                    month = min(int(first[s, g] * MONTHS_PER_YEAR), months - 1)
                    t_first_month[b, s, g, month] += 1
            t_itb_dose[b, s] += acc[s, ACC.itb_dose]
            t_itb_years[b, s] += acc[s, ACC.itb_years]
            t_oral_dose[b, s] += acc[s, ACC.oral_dose]
            t_oral_years[b, s] += acc[s, ACC.oral_years]
            t_refill[b, s] += acc[s, ACC.refill_days]
            t_qaly_state[b, s] += acc[s, ACC.qaly_state]
            t_qaly_lost[b, s] += acc[s, ACC.qaly_lost]
            for j in range(N_COST_CATEGORIES):
                t_cost_category[b, s, j] += acc[s, COST_AT + j]
                t_cost_category_undiscounted[b, s, j] += acc[s, UNDISCOUNTED_COST_AT + j]
        for s in range(n_s):  # zero again only the counters set (after the fold, which
            for j in range(1, seen[s, 0] + 1):  # reads the comparator's for every strategy)
                counts[s, seen[s, j]] = 0
            seen[s, 0] = 0
    return events


@njit(cache=True)
def log_one(patient, s, seed, parameter_set, people, model, horizon, rc, re, acc, log_t, log_e):
    """One patient under strategy s with its events logged (for the engine comparison)."""
    rows, se_itb, se_oral, sev, surg = model
    key = patient_key(seed, parameter_set, patient)
    _age, _male, ind, itb, oral, u_itb, u_oral, death, u_delay = draw_patient(key, *people[:7])
    ctr = np.zeros(N_STREAMS, dtype=np.int64)
    counts = np.zeros(N_COUNTERS, dtype=np.int64)
    seen = np.zeros(N_COUNTERS + 1, dtype=np.int64)
    first = np.full(N_CURVES, INF)
    clock = np.empty(N_CLOCKS)
    occupancy = np.zeros(N_STATES, dtype=np.int64)  # a one-month grid: not compared here
    lc, cw, ncw = _cost_weights(rc)
    w = Work(
        key,
        lc,
        math.log1p(re),
        pointer(ctr, 0),
        pointer(acc, 0),
        pointer(counts, 0),
        pointer(seen, 0),
        pointer(first, 0),
        pointer(clock, 0),
        pointer(log_t, 0),
        pointer(log_e, 0),
        log_t.size,
        cw,
        ncw,
        pointer(occupancy, 0),
        1,
    )
    patient_values = (itb, oral, u_itb, u_oral, death, u_delay, people[7][ind])
    return life(rows[s], se_itb[s], se_oral[s], sev[s], surg[s], w, horizon, patient_values)
