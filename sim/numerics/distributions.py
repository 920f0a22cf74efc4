"""Patient distributions as inverse CDFs of one uniform, compiled for both engines.

A patient distribution (DESIGN §3) is drawn as ``quantile(kind, a, b, c, d, u)``: one
uniform in, one value out. Inverse-CDF sampling keeps common random numbers exact: the
same uniform gives the same quantile in every strategy, and a small change of a parameter
moves the value a little instead of reshuffling the draws.

The normal quantile (Acklam's rational approximation refined by one Halley step) and the
gamma quantile (Newton steps on the regularised incomplete gamma, bracketed) are written
here in plain Numba so that both engines call the same compiled code; the tests compare
them with SciPy.
"""

from __future__ import annotations

import math

from numba import njit

# Kinds of patient distribution (the numeric code the engines receive).
FIXED, NORMAL, LOGNORMAL, GAMMA, UNIFORM, WEIBULL, EXPONENTIAL = range(7)
KIND: dict[str, int] = {
    "fixed": FIXED,
    "normal": NORMAL,
    "lognormal": LOGNORMAL,
    "gamma": GAMMA,
    "uniform": UNIFORM,
    "weibull": WEIBULL,
    "exponential": EXPONENTIAL,
}

_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


@njit(cache=True)
def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit(cache=True)
def normal_quantile(p: float) -> float:
    """Standard normal quantile: Acklam (2003) plus one Halley step (error ~1e-15)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    p_low = 0.02425
    if p < p_low:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / (
            (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        )
    elif p <= 1.0 - p_low:
        q = p - 0.5
        r = q * q
        x = (
            (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5])
            * q
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
        )
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / (
            (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        )
    # Halley refinement on the exact CDF.
    e = normal_cdf(x) - p if p < 0.5 else 1.0 - p - 0.5 * math.erfc(x / math.sqrt(2.0))
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True)
def gamma_tails(shape: float, x: float) -> tuple[float, float]:
    """Regularised incomplete gamma (P, Q) = lower and upper tails, each computed where it
    is accurate: the series for P below shape + 1, the continued fraction for Q above
    (Numerical Recipes §6.2)."""
    if x <= 0.0:
        return 0.0, 1.0
    log_front = shape * math.log(x) - x - math.lgamma(shape)
    if x < shape + 1.0:
        term = 1.0 / shape
        total = term
        a = shape
        for _ in range(100000):
            a += 1.0
            term *= x / a
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        lower = min(1.0, total * math.exp(log_front))
        return lower, 1.0 - lower
    tiny = 1e-300
    b = x + 1.0 - shape
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - shape)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-17:
            break
    upper = min(1.0, math.exp(log_front) * h)
    return 1.0 - upper, upper


@njit(cache=True)
def gamma_quantile(shape: float, p: float) -> float:
    """Quantile of a unit-scale gamma: safeguarded Newton from the Wilson-Hilferty guess,
    on the lower tail below the median and on the upper tail above it."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return math.inf
    z = normal_quantile(p)
    t = 1.0 - 1.0 / (9.0 * shape) + z / (3.0 * math.sqrt(shape))
    x = shape * t * t * t
    if x <= 0.0 or not math.isfinite(x):
        x = math.exp((math.log(p) + math.log(shape) + math.lgamma(shape)) / shape)
    lo = 0.0
    hi = math.inf
    for _ in range(500):
        lower, upper = gamma_tails(shape, x)
        f = lower - p if p < 0.5 else (1.0 - p) - upper
        if f == 0.0:
            return x
        if f > 0.0:
            hi = x
        else:
            lo = x
        density = math.exp((shape - 1.0) * math.log(x) - x - math.lgamma(shape))
        candidate = x - f / density if density > 0.0 else math.nan
        if not (lo < candidate < hi):
            if not math.isfinite(hi):
                candidate = 2.0 * x
            elif lo > 0.0:
                candidate = math.sqrt(lo * hi)
            else:
                candidate = 0.5 * hi
        if abs(candidate - x) <= 4e-16 * x:
            return candidate
        x = candidate
    return x


@njit(cache=True)
def quantile(kind: int, a: float, b: float, c: float, d: float, u: float) -> float:
    """Value of a patient distribution at uniform ``u`` in (0, 1).

    Parameters by kind: fixed (value); normal (mean, sd, low, high), truncated;
    lognormal (mean, sd) of the value itself; gamma (mean, sd); uniform (low, high);
    weibull (shape, scale); exponential (rate_per_year).
    """
    if kind == FIXED:
        return a
    if kind == NORMAL:
        if b <= 0.0:
            return min(max(a, c), d)
        return truncated_normal(a, b, c, d, normal_cdf((c - a) / b), normal_cdf((d - a) / b), u)
    if kind == LOGNORMAL:
        if b <= 0.0:
            return a
        sigma2 = math.log1p((b / a) ** 2)
        return math.exp(math.log(a) - 0.5 * sigma2 + math.sqrt(sigma2) * normal_quantile(u))
    if kind == GAMMA:
        if b <= 0.0:
            return a
        shape = (a / b) ** 2
        return gamma_quantile(shape, u) * (b * b / a)
    if kind == UNIFORM:
        return a + u * (b - a)
    if kind == WEIBULL:
        return b * (-math.log(u)) ** (1.0 / a)
    if kind == EXPONENTIAL:
        if a <= 0.0:
            return math.inf
        return -math.log(u) / a
    return math.nan


@njit(cache=True)
def truncated_normal(
    mean: float, sd: float, low: float, high: float, p_low: float, p_high: float, u: float
) -> float:
    """Normal(mean, sd) truncated to [low, high], given p_low and p_high, the normal CDF at
    the standardised bounds: they depend on the parameters only, so a hot loop takes them
    from :func:`prepared` instead of two erfc per draw (the value is the same to the bit)."""
    return min(max(mean + sd * normal_quantile(p_low + u * (p_high - p_low)), low), high)


def prepared(kind: int, a: float, b: float, c: float, d: float) -> tuple[float, ...]:
    """(kind, a, b, c, d, p_low, p_high): a distribution row for :func:`quantile_prepared`."""
    if kind == NORMAL and b > 0.0:
        return (kind, a, b, c, d, normal_cdf((c - a) / b), normal_cdf((d - a) / b))
    return (kind, a, b, c, d, 0.0, 0.0)


@njit(cache=True)
def quantile_prepared(
    kind: int, a: float, b: float, c: float, d: float, p_low: float, p_high: float, u: float
) -> float:
    """:func:`quantile` of a row made by :func:`prepared`."""
    if kind == NORMAL and b > 0.0:
        return truncated_normal(a, b, c, d, p_low, p_high, u)
    return quantile(kind, a, b, c, d, u)
