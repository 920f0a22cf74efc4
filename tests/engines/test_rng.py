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


def test_uniform_never_reaches_zero_or_one():
    # the extreme hash values map strictly inside (0, 1)
    assert (0.0 + 0.5) * 2.0**-52 > 0.0
    assert ((2**52 - 1) + 0.5) * 2.0**-52 < 1.0
