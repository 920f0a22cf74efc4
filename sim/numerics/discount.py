"""Continuous-time discounting (DESIGN §4.6), shared by both engines.

An amount at time t (years) is worth (1 + r)^-t today; a flow of 1 per year from a to b
is worth the integral of (1 + r)^-t dt = ((1 + r)^-a - (1 + r)^-b) / ln(1 + r).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload


@njit(cache=True)
def factor(rate: float, t: float) -> float:
    """Discount factor (1 + rate)^-t of an amount at time t."""
    if rate == 0.0:
        return 1.0
    return math.exp(-math.log1p(rate) * t)


@njit(cache=True)
def flow(rate: float, start: float, stop: float) -> float:
    """Present value of a flow of 1 per year from `start` to `stop` (years)."""
    return flow_log(math.log1p(rate), start, stop)


#: A log rate below which discounting is none: (1 + r)^-t then differs from 1 by less than
#: 1e-12 over 1,000 years, and a smaller one (5e-324, say) would underflow to a division
#: by zero in the expm1 quotients below.
NEGLIGIBLE_DELTA = 1e-15


@njit(cache=True)
def flow_log(delta: float, start: float, stop: float) -> float:
    """:func:`flow` with its rate as delta = ln(1 + rate): a hot loop takes the log once
    per patient, and both engines get the same value to the bit."""
    if stop <= start:
        return 0.0
    if abs(delta) < NEGLIGIBLE_DELTA:
        return stop - start
    # expm1 keeps precision for short intervals: f(a) - f(b) = f(a) (1 - e^{-delta (b-a)})
    return math.exp(-delta * start) * -math.expm1(-delta * (stop - start)) / delta


@njit(cache=True)
def periodic(rate: float, first: float, step: float, n: int) -> float:
    """Present value of n amounts of 1 at first, first + step, ..., first + (n - 1) step."""
    return periodic_log(math.log1p(rate), first, step, n)


@njit(cache=True)
def periodic_log(delta: float, first: float, step: float, n: int) -> float:
    """:func:`periodic` with its rate as delta = ln(1 + rate).

    The geometric sum f(first) (1 - q^n) / (1 - q) with q = f(step), written with expm1 so
    that a short step keeps its precision: one run of refill visits, costed at once."""
    if n <= 0:
        return 0.0
    if abs(delta) < NEGLIGIBLE_DELTA:
        return float(n)
    return math.exp(-delta * first) * (math.expm1(-delta * step * n) / math.expm1(-delta * step))


# ------------------------------------------------------------------ cost weights
#
# A yearly cost trend (a medical trend, as actuarial projections use) makes an amount of
# cost due at time t worth G(t) (1 + r)^-t, where G grows at g_k through year k + 1
# (k = 0, 1, ...) and at the last rate given ever after: G(t) = G(k) (1 + g_k)^(t - k) for
# t in [k, k + 1). Within one year the weight is one exponential, exp(A_k - d_k t) with
# d_k = ln(1 + r) - ln(1 + g_k) and A_k = ln G(k) - k ln(1 + g_k), so the integrals above
# hold year by year. A table of weights holds (A_k, d_k) for each year, flat; without a
# trend it is one segment (0, ln(1 + r)): plain discounting, to the bit (0 - x is -x and
# exp(0) x is x), so both engines take every cost through the same few lines.

#: The most yearly trend rates a scenario may give (the last continues after them).
TREND_YEARS = 30


def cost_weights(rate: float, trend: list[float] | tuple[float, ...] = ()) -> np.ndarray:
    """The flat table [A_0, d_0, A_1, d_1, ...] of the cost discount `rate` with a trend
    (one segment per trend year; one segment when there is none)."""
    delta = math.log1p(rate)
    if not trend:
        return np.array([0.0, delta])
    table = np.zeros(2 * len(trend))
    level = 0.0  # ln G(k)
    for k, g in enumerate(trend):
        lk = math.log1p(g)
        table[2 * k] = level - k * lk
        table[2 * k + 1] = delta - lk
        level += lk
    return table


@njit(cache=True)
def _segment(n: int, t: float) -> int:
    """The segment t falls in: the last one holds after its year."""
    return min(int(t), n - 1) if t > 0.0 else 0


@njit(cache=True)
def weight(table, n: int, t: float) -> float:
    """The weight of a cost due at t (table of `n` segments, see cost_weights)."""
    k = _segment(n, t) if n > 1 else 0
    return math.exp(table[2 * k] - table[2 * k + 1] * t)


@njit(cache=True)
def weight_flow(table, n: int, start: float, stop: float) -> float:
    """The weight of a flow of 1 a year (prices of time 0) from start to stop."""
    total = 0.0
    if stop <= start:
        return total
    k = _segment(n, start)
    while True:
        last = k == n - 1
        a = max(start, float(k)) if k > 0 else start
        b = stop if last else min(stop, k + 1.0)
        if b > a:
            total += math.exp(table[2 * k]) * flow_log(table[2 * k + 1], a, b)
        if last or stop <= k + 1.0:
            return total
        k += 1


@njit(cache=True)
def weight_periodic(table, n: int, first: float, step: float, m: int) -> float:
    """The weight of m amounts of 1 (prices of time 0) at first + i step, i < m: the
    amounts of each segment in one geometric sum."""
    total = 0.0
    i = 0
    while i < m:
        t = first + i * step
        k = _segment(n, t)
        j = m
        if k < n - 1 and step > 0.0:  # the amounts before the segment's year ends
            j = min(m, i + max(1, math.ceil((k + 1.0 - t) / step)))
        total += math.exp(table[2 * k]) * periodic_log(table[2 * k + 1], t, step, j - i)
        i = j
    return total


# The compiled engine's view of cost weights: a plain discount (the log of 1 + rate, a
# float) or a table (cost_weights: an array, or a pointer into one). Each call below is
# resolved by the type at compile time, so a scenario without a trend runs the very
# code of plain discounting, and the table's code is compiled only where it is used.


def cost_weight(weights, n: int, t: float) -> float:
    """The weight of a cost at t: exp(-weights t) for a float, else weight(...)."""
    if isinstance(weights, float):
        return math.exp(-weights * t)
    return weight(weights, n, t)


def cost_flow(weights, n: int, start: float, stop: float) -> float:
    """The weight of a cost flow from start to stop (see cost_weight)."""
    if isinstance(weights, float):
        return flow_log(weights, start, stop)
    return weight_flow(weights, n, start, stop)


def cost_periodic(weights, n: int, first: float, step: float, m: int) -> float:
    """The weight of m amounts at first + i step (see cost_weight)."""
    if isinstance(weights, float):
        return periodic_log(weights, first, step, m)
    return weight_periodic(weights, n, first, step, m)


@overload(cost_weight)
def _cost_weight(weights, n, t):
    if isinstance(weights, types.Float):
        return lambda weights, n, t: math.exp(-weights * t)
    return lambda weights, n, t: weight(weights, n, t)


@overload(cost_flow)
def _cost_flow(weights, n, start, stop):
    if isinstance(weights, types.Float):
        return lambda weights, n, start, stop: flow_log(weights, start, stop)
    return lambda weights, n, start, stop: weight_flow(weights, n, start, stop)


@overload(cost_periodic)
def _cost_periodic(weights, n, first, step, m):
    if isinstance(weights, types.Float):
        return lambda weights, n, first, step, m: periodic_log(weights, first, step, m)
    return lambda weights, n, first, step, m: weight_periodic(weights, n, first, step, m)
