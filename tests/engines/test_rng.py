import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.model import streams
from sim.numerics import rng


@given(
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**31),
    st.integers(0, 2**40),
    st.sampled_from(streams.STREAM_KEY.tolist()),
    st.integers(0, 2**32),
)
def test_compiled_uniform_equals_plain_python(seed, pset, patient, stream, counter):
    u = rng.uniform(seed, pset, patient, np.uint64(stream), counter)
    assert u == rng.uniform_reference(seed, pset, patient, stream, counter)
    assert 0.0 < u < 1.0


def test_uniforms_look_uniform_and_independent_across_keys():
    # 20,000 draws: mean 1/2 with SE 0.0020; lag-1 correlation with SE 0.0071.
    u = np.array([rng.uniform(7, 0, i, 3, 0) for i in range(20000)])
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / math.sqrt(u.size)
    v = np.array([rng.uniform(7, 0, i, 4, 0) for i in range(20000)])
    assert abs(np.corrcoef(u, v)[0, 1]) < 4 / math.sqrt(u.size)


def test_exponential_time_and_switch_off():
    assert rng.exponential_time(0.5, 0.0) == math.inf
    assert rng.exponential_time(math.exp(-2.0), 4.0) == 0.5


def test_visits_until_is_geometric():
    assert rng.visits_until(0.3, 0.0) == math.inf
    assert rng.visits_until(0.3, 1.0) == 1.0
    p = 0.2
    draws = np.array([rng.visits_until(rng.uniform(1, 0, i, 0, 0), p) for i in range(20000)])
    assert draws.min() == 1
    # geometric mean 1/p = 5, variance (1-p)/p^2 = 20 -> SE 0.032
    assert abs(draws.mean() - 1 / p) < 4 * math.sqrt((1 - p) / p**2 / draws.size)
    assert abs((draws == 1).mean() - p) < 4 * math.sqrt(p * (1 - p) / draws.size)


_MASK = (1 << 64) - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _unshift(y: int, s: int) -> int:
    """The x with x ^ (x >> s) == y."""
    x = y
    for _ in range(64 // s + 1):
        x = y ^ (x >> s)
    return x


def _unmix(z: int) -> int:
    """The inverse of SplitMix64's finaliser (a bijection on 64-bit words)."""
    z = _unshift(z, 31)
    z = (z * pow(_M2, -1, 1 << 64)) & _MASK
    z = _unshift(z, 27)
    z = (z * pow(_M1, -1, 1 << 64)) & _MASK
    return _unshift(z, 30)


def _key_hashing_to(h: int, stream: int) -> int:
    """The patient key whose first draw (counter 0) on `stream` hashes to `h`."""
    inner = _unmix(h) ^ _GOLDEN  # counter 0: h = mix(inner ^ GOLDEN)
    return _unmix(inner) ^ ((stream * _M1 + _GOLDEN) & _MASK)


def test_uniform_never_reaches_zero_or_one():
    # The extreme hashes, 0 and 2^64 - 1, drawn through the compiled function: strictly
    # inside (0, 1), at the ends of the grid (53 bits would round the top one up to 1.0).
    stream = int(streams.STREAM_KEY[0])
    for h, expected in ((0, 2.0**-53), (_MASK, 1.0 - 2.0**-53)):
        key = _key_hashing_to(h, stream)
        u = rng.uniform_at(np.uint64(key), np.uint64(stream), 0)
        assert u == expected, (h, u)
        assert 0.0 < u < 1.0
