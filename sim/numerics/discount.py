"""Continuous-time discounting (DESIGN §4.6), shared by both engines.

An amount at time t (years) is worth (1 + r)^-t today; a flow of 1 per year from a to b
is worth the integral of (1 + r)^-t dt = ((1 + r)^-a - (1 + r)^-b) / ln(1 + r).
"""

from __future__ import annotations

import math

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
