"""Continuous-time discounting (DESIGN §4.6), shared by both engines.

An amount at time t (years) is worth (1 + r)^-t today; a flow of 1 per year from a to b
is worth the integral of (1 + r)^-t dt = ((1 + r)^-a - (1 + r)^-b) / ln(1 + r).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


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


@njit(cache=True)
def flow_log(delta: float, start: float, stop: float) -> float:
    """:func:`flow` with its rate as delta = ln(1 + rate): a hot loop takes the log once
    per patient, and both engines get the same value to the bit."""
    if stop <= start:
        return 0.0
    if delta == 0.0:
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
    if delta == 0.0:
        return float(n)
    return math.exp(-delta * first) * (math.expm1(-delta * step * n) / math.expm1(-delta * step))


# ------------------------------------------------------------------ a cost trend
#
# A yearly cost trend (a medical trend, as actuarial projections use) makes an amount of
# cost due at time t worth G(t) (1 + r)^-t, where G grows at g_k through year k + 1
# (k = 0, 1, ...) and at the last rate given ever after: G(t) = G(k) (1 + g_k)^(t - k) for
# t in [k, k + 1). Within one year the weight is one exponential, so the integrals above
# hold year by year with the rate's log delta - ln(1 + g_k). A table holds, for each
# year k, ln G(k) and ln(1 + g_k), flat: [lnG_0, l_0, lnG_1, l_1, ...].

#: The most yearly trend rates a scenario may give (the last continues after them).
TREND_YEARS = 30


def trend_table(growth: list[float] | tuple[float, ...]) -> np.ndarray:
    """The flat table of a trend's yearly rates (length 2 TREND_YEARS, zeros after)."""
    table = np.zeros(2 * TREND_YEARS)
    level = 0.0
    for k, g in enumerate(growth):
        table[2 * k] = level
        table[2 * k + 1] = math.log1p(g)
        level += math.log1p(g)
    return table


@njit(cache=True)
def _segment(nt: int, t: float) -> int:
    """The trend year t falls in: the last given rate holds after its year."""
    return min(int(t), nt - 1) if t > 0.0 else 0


@njit(cache=True)
def trended_factor(delta: float, trend, nt: int, t: float) -> float:
    """G(t) (1 + r)^-t of an amount at t, delta = ln(1 + r)."""
    k = _segment(nt, t)
    return math.exp(trend[2 * k] + trend[2 * k + 1] * (t - k) - delta * t)


@njit(cache=True)
def trended_flow(delta: float, trend, nt: int, start: float, stop: float) -> float:
    """Present value of a flow of 1 a year (in prices of time 0) from start to stop."""
    total = 0.0
    if stop <= start:
        return total
    k = _segment(nt, start)
    while True:
        last = k == nt - 1
        a = max(start, float(k))
        b = stop if last else min(stop, k + 1.0)
        if b > a:
            lg, lk = trend[2 * k], trend[2 * k + 1]
            total += math.exp(lg - lk * k) * flow_log(delta - lk, a, b)
        if last or stop <= k + 1.0:
            return total
        k += 1


@njit(cache=True)
def trended_periodic(delta: float, trend, nt: int, first: float, step: float, n: int) -> float:
    """Present value of n amounts of 1 (prices of time 0) at first + i step, i < n: the
    visits of each trend year in one geometric sum."""
    total = 0.0
    i = 0
    while i < n:
        t = first + i * step
        k = _segment(nt, t)
        j = n
        if k < nt - 1 and step > 0.0:  # the visits before the year ends
            j = min(n, i + max(1, math.ceil((k + 1.0 - t) / step)))
        lg, lk = trend[2 * k], trend[2 * k + 1]
        total += math.exp(lg - lk * k) * periodic_log(delta - lk, t, step, j - i)
        i = j
    return total


@njit(cache=True)
def cost_factor(delta: float, trend, nt: int, t: float) -> float:
    """The weight of a cost at t: discounting, and the trend when there is one (nt > 0)."""
    if nt == 0:
        return math.exp(-delta * t)
    return trended_factor(delta, trend, nt, t)


@njit(cache=True)
def cost_flow(delta: float, trend, nt: int, start: float, stop: float) -> float:
    """The weight of a cost flow of 1 a year from start to stop (see cost_factor)."""
    if nt == 0:
        return flow_log(delta, start, stop)
    return trended_flow(delta, trend, nt, start, stop)
