"""Health-economic and statistical formulas, as pure functions (DESIGN §5).

Each is tested against a closed form or a worked example in ``tests/test_econ.py``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from scipy import stats

Z95 = 1.959963984540054  # standard normal 97.5th percentile


def mean_ci(total: float, total_sq: float, n: int) -> tuple[float, float, float]:
    """Mean and normal 95% confidence interval from a sum and a sum of squares."""
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = total / n
    if n < 2:
        return mean, math.nan, math.nan
    var = max(0.0, (total_sq - total * total / n) / (n - 1))
    half = Z95 * math.sqrt(var / n)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class FrontierRow:
    status: str  # "frontier", "dominated" or "extendedly dominated"
    icer: float  # against the previous strategy on the frontier; nan for the first


def frontier(costs: list[float], effects: list[float]) -> list[FrontierRow]:
    """Fully incremental analysis: strong then extended dominance (Drummond et al. 2015).

    Strategies are sorted by cost; a strategy is strongly dominated when another costs no
    more and gives at least as much (one of them strictly); extendedly dominated when its
    ICER against the previous non-dominated strategy exceeds that of the next one.
    """
    n = len(costs)
    order = sorted(range(n), key=lambda i: (costs[i], -effects[i]))
    status = ["frontier"] * n
    for i in range(n):
        for j in range(n):
            if (
                i != j
                and costs[j] <= costs[i]
                and effects[j] >= effects[i]
                and (costs[j] < costs[i] or effects[j] > effects[i] or j < i)
            ):
                status[i] = "dominated"
                break
    alive = [i for i in order if status[i] == "frontier"]
    changed = True
    while changed and len(alive) > 2:
        changed = False
        icers = [
            (costs[b] - costs[a]) / (effects[b] - effects[a]) for a, b in itertools.pairwise(alive)
        ]
        for k in range(len(icers) - 1):
            if icers[k] > icers[k + 1]:
                status[alive[k + 1]] = "extendedly dominated"
                del alive[k + 1]
                changed = True
                break
    icer = [math.nan] * n
    for a, b in itertools.pairwise(alive):
        icer[b] = (costs[b] - costs[a]) / (effects[b] - effects[a])
    return [FrontierRow(status[i], icer[i]) for i in range(n)]


def icer(delta_cost: float, delta_effect: float) -> tuple[float, str]:
    """ICER against a comparator, with the quadrant when a ratio would mislead."""
    if delta_effect > 0:
        return delta_cost / delta_effect, "more costly, more effective" if delta_cost > 0 else (
            "dominant"
        )
    if delta_effect < 0:
        if delta_cost <= 0:
            return delta_cost / delta_effect, "less costly, less effective"
        return math.nan, "dominated"
    return math.nan, "equal effect"


def poisson_rate_ci(
    events: float,
    exposure: float,
    dispersion: float = 1.0,
) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson rate, widened for over-dispersion.

    With dispersion phi > 1 (events clustered in patients), the count behaves like a
    Poisson count of events/phi over exposure/phi (quasi-Poisson).
    """
    if exposure <= 0:
        return math.nan, math.nan
    phi = max(1.0, dispersion)
    y, t = events / phi, exposure / phi
    low = 0.0 if y == 0 else stats.chi2.ppf(0.025, 2 * y) / 2 / t
    high = stats.chi2.ppf(0.975, 2 * y + 2) / 2 / t
    return float(low), float(high)


def dispersion(
    n: int,
    count: float,
    count_sq: float,
    count_exposure: float,
    exposure: float,
    exposure_sq: float,
) -> float:
    """Ratio of the cluster-robust variance of a rate (patients as clusters) to the
    Poisson variance: 1 for Poisson counts, above 1 when events cluster in patients."""
    if count <= 0 or n < 2 or exposure <= 0:
        return 1.0
    rate = count / exposure
    residual_sq = count_sq - 2 * rate * count_exposure + rate * rate * exposure_sq
    return max(1.0, n / (n - 1) * residual_sq / count)


def paired_risk(n: int, with_a: int, with_b: int, with_both: int) -> dict[str, float]:
    """Relative risk and risk difference of A against B on the same patients (matched
    pairs: Agresti 2013, §11.1), with 95% intervals, and the number needed to harm/treat."""
    nan = math.nan
    out = dict.fromkeys(("rr", "rr_low", "rr_high", "rd", "rd_low", "rd_high", "nnh", "nnt"), nan)
    if n == 0:
        return out
    b = with_a - with_both  # A only
    c = with_b - with_both  # B only
    rd = (b - c) / n
    var_rd = max(0.0, (b + c) - (b - c) ** 2 / n) / n**2
    out.update(rd=rd, rd_low=rd - Z95 * math.sqrt(var_rd), rd_high=rd + Z95 * math.sqrt(var_rd))
    if with_a > 0 and with_b > 0:
        rr = with_a / with_b
        se = math.sqrt((b + c) / (with_a * with_b))
        out.update(rr=rr, rr_low=rr * math.exp(-Z95 * se), rr_high=rr * math.exp(Z95 * se))
    if rd > 0:
        out["nnh"] = 1 / rd
    elif rd < 0:
        out["nnt"] = -1 / rd
    return out
