"""Keyed random streams (DESIGN §6), shared by both engines.

Every uniform is a pure function of (seed, parameter set, patient, stream key, counter):
a SplitMix64 hash of the key, no generator state. Hence

* the two engines draw the same numbers for the same patient, whatever order they
  visit the patients in;
* every strategy sees the same draws on the same stream (common random numbers with no
  extra code): a stream's counter restarts at 0 for each (patient, strategy) and advances
  only when that stream is drawn from;
* a block of patients can run on any worker and give the same result.

The functions are compiled with Numba so that the SimPy engine calls the very same
machine code as the compiled engine.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_TWO_M52 = 1.0 / 4503599627370496.0  # 2**-52


@njit(cache=True, inline="always")
def _mix(z: uint64) -> uint64:
    """SplitMix64 finaliser (Steele, Lea and Flood 2014): a bijection on 64-bit words."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def patient_key(seed: int, parameter_set: int, patient: int) -> uint64:
    """The hash of (seed, parameter set, patient): computed once per patient by the engines."""
    h = _mix(np.uint64(seed) + _GOLDEN)
    h = _mix(h ^ (np.uint64(parameter_set) * _GOLDEN + _M1))
    return _mix(h ^ (np.uint64(patient) * _GOLDEN + _M2))


@njit(cache=True)
def uniform_at(key: uint64, stream: int, counter: int) -> float:
    """The uniform on (0, 1) of (patient key, stream key, counter); never exactly 0 or 1.
    A stream's key is ``sim.model.streams.STREAM_KEY`` of it."""
    h = _mix(key ^ (np.uint64(stream) * _M1 + _GOLDEN))
    h = _mix(h ^ (np.uint64(counter) * _M2 + _GOLDEN))
    # 52 bits, so that (x + 0.5) 2^-52 is exact: the largest is 1 - 2^-53 (53 bits would
    # round 1 - 2^-54 up to 1.0).
    return (float(h >> _S12) + 0.5) * _TWO_M52


@njit(cache=True)
def uniform(seed: int, parameter_set: int, patient: int, stream: int, counter: int) -> float:
    """The uniform on (0, 1) of a key; never exactly 0 or 1, so logs are always finite."""
    return uniform_at(patient_key(seed, parameter_set, patient), stream, counter)


@njit(cache=True)
def uniforms(seed: int, parameter_sets: int, patient: int, stream: int, counter: int):
    """:func:`uniform` of parameter sets 1 .. parameter_sets (a PSA's draws of one value)."""
    out = np.empty(parameter_sets)
    for k in range(parameter_sets):
        out[k] = uniform(seed, k + 1, patient, stream, counter)
    return out


@njit(cache=True)
def exponential_time(u: float, rate: float) -> float:
    """Waiting time of a Poisson process of `rate` per year; infinite when the rate is 0."""
    if rate <= 0.0:
        return math.inf
    return -math.log(u) / rate


@njit(cache=True)
def visits_until(u: float, probability: float) -> float:
    """Number of visits up to and including the next one at which a per-visit risk occurs.

    Geometric on {1, 2, ...}: the same distribution as one Bernoulli draw per visit, but one
    draw per occurrence (DESIGN §4.5, issue 3). Infinite when the probability is 0.
    """
    if probability <= 0.0:
        return math.inf
    if probability >= 1.0:
        return 1.0
    return 1.0 + math.floor(math.log(u) / math.log1p(-probability))


@njit(cache=True)
def visits_before(start: float, step: float, visits: float, end: float) -> int:
    """How many of the visits at start + k step (k = 1 .. visits) fall strictly before end.

    A run of uneventful refill visits (DESIGN §4.5) is settled in one go when it ends; both
    engines count its visits with this one function, so they agree to the last bit."""
    if not (visits >= 1.0 and end > start):
        return 0
    m = min(float(math.floor((end - start) / step)), visits)
    while m > 0.0 and not start + m * step < end:
        m -= 1.0
    while m + 1.0 <= visits and start + (m + 1.0) * step < end:
        m += 1.0
    return int(m)


def uniform_reference(seed: int, parameter_set: int, patient: int, stream: int, counter: int):
    """Plain-Python twin of :func:`uniform`, for tests: obviously correct integer arithmetic."""
    mask = (1 << 64) - 1
    golden, m1, m2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * m1) & mask
        z = ((z ^ (z >> 27)) * m2) & mask
        return z ^ (z >> 31)

    h = mix((seed + golden) & mask)
    h = mix(h ^ ((parameter_set * golden + m1) & mask))
    h = mix(h ^ ((patient * golden + m2) & mask))
    h = mix(h ^ ((stream * m1 + golden) & mask))
    h = mix(h ^ ((counter * m2 + golden) & mask))
    return ((h >> 12) + 0.5) * 2.0**-52
