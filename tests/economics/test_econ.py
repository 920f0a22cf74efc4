"""Health-economic formulas of ``sim.econ`` against worked examples and closed forms.

Statistical checks use a fixed seed, so they never flake; each tolerance is a multiple of
the Monte Carlo standard error of the quantity checked (stated where it is used).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from sim.analysis import econ

# --- frontier -----------------------------------------------------------------------------


def _statuses(costs: list[float], effects: list[float]) -> list[str]:
    return [row.status for row in econ.frontier(costs, effects)]


def test_frontier_dampack_hiv_screening():
    # dampack vignette "basic_cea", example 1 (Paltiel et al. 2006, Ann Intern Med 145:797):
    # status quo, one-time, every 5 years, every 3 years, annual HIV screening.
    # By hand, sorted by cost: annual (29440, 277.76) costs more than 3-yearly
    # (28440, 277.83) for fewer QALYs: strongly dominated. ICERs of the rest:
    # 1000 / (0.32/12) = 37,500; 1020 / (0.21/12) = 58,285.7; 420 / (0.05/12) = 100,800;
    # increasing, so no extended dominance.
    costs = [26000.0, 27000.0, 28020.0, 28440.0, 29440.0]
    qalys = [v / 12 for v in (277.25, 277.57, 277.78, 277.83, 277.76)]
    rows = econ.frontier(costs, qalys)
    assert [r.status for r in rows] == ["frontier"] * 4 + ["dominated"]
    assert math.isnan(rows[0].icer)
    assert [r.icer for r in rows[1:4]] == pytest.approx([37500.0, 1020 * 12 / 0.21, 100800.0])
    assert math.isnan(rows[4].icer)


def test_frontier_dampack_cdiff_psa_means():
    # dampack vignette "basic_cea", example 2 (Rajasingham et al. 2020, Clin Infect Dis
    # 70:754): mean cost and QALYs of 11 C. difficile strategies, with dampack's published
    # output (vignettes/cdiff_icers.csv). By hand for the extended dominance: s39 lies
    # between s33 and s31; ICER s33 -> s39 = 172.39 / 0.007367 = 23,400, above
    # s39 -> s31 = 119.43 / 0.050347 = 2,372, so s39 is extendedly dominated and s31's
    # ICER is taken against s33: 291.82 / 0.057714 = 5,056.
    table = {
        "s3": (57336.0059896538, 12.9399639202408, math.nan, "frontier"),
        "s27": (57541.2526373815, 13.0140640696275, 2769.85470915263, "frontier"),
        "s33": (57642.2587507842, 13.0389116321918, 4065.03105249231, "frontier"),
        "s31": (57934.0743411241, 13.0966257932217, 5056.2216470406, "frontier"),
        "s43": (58072.1137208494, 13.11285766912, 8504.2160616553, "frontier"),
        "s44": (58665.7823044647, 13.1283328397025, 38362.6519947134, "frontier"),
        "s39": (57814.6470919581, 13.0462790163185, math.nan, "extendedly dominated"),
        "s4": (57887.481549326, 12.9970657153765, math.nan, "dominated"),
        "s13": (58018.6252420203, 13.0650412387992, math.nan, "dominated"),
        "s37": (58081.7947984323, 13.1029711156978, math.nan, "dominated"),
        "s20": (58634.2026441398, 13.1100568867995, math.nan, "dominated"),
    }
    # shuffled input order: the result must not depend on it
    names = ["s20", "s3", "s39", "s44", "s4", "s27", "s13", "s31", "s37", "s43", "s33"]
    rows = econ.frontier([table[s][0] for s in names], [table[s][1] for s in names])
    for name, row in zip(names, rows, strict=True):
        _, _, icer, status = table[name]
        assert row.status == status, name
        if math.isnan(icer):
            assert math.isnan(row.icer), name
        else:
            assert row.icer == pytest.approx(icer, rel=1e-9), name


def test_frontier_chained_extended_dominance():
    # Hand-worked: A (0, 0), B (1000, 1), C (1800, 1.4), D (1900, 2).
    # ICERs A->B 1000, B->C 2000, C->D 100/0.6 = 166.7: C's ICER exceeds D's, so C is
    # extendedly dominated. Recomputed: A->B 1000, B->D 900/1 = 900 < 1000, so B is
    # extendedly dominated too (only visible once C is gone). Frontier A -> D: 1900/2 = 950.
    rows = econ.frontier([0.0, 1000.0, 1800.0, 1900.0], [0.0, 1.0, 1.4, 2.0])
    assert [r.status for r in rows] == [
        "frontier",
        "extendedly dominated",
        "extendedly dominated",
        "frontier",
    ]
    assert rows[3].icer == pytest.approx(950.0)


def test_frontier_ties_and_single_strategy():
    # one strategy: on the frontier, no ICER
    (row,) = econ.frontier([123.0], [4.5])
    assert row.status == "frontier"
    assert math.isnan(row.icer)
    # identical strategies: the first listed stays, the copy is dominated
    assert _statuses([10.0, 10.0], [1.0, 1.0]) == ["frontier", "dominated"]
    assert _statuses([20.0, 10.0, 10.0], [2.0, 1.0, 1.0]) == ["frontier", "frontier", "dominated"]
    # same cost, less effect: dominated (whatever the order)
    assert _statuses([10.0, 10.0], [1.0, 2.0]) == ["dominated", "frontier"]
    # same effect, more cost: dominated
    assert _statuses([10.0, 12.0], [1.0, 1.0]) == ["frontier", "dominated"]
    # collinear (equal ICERs 100 and 100): extended dominance needs a strictly higher ICER
    rows = econ.frontier([0.0, 100.0, 200.0], [0.0, 1.0, 2.0])
    assert [r.status for r in rows] == ["frontier"] * 3
    assert [r.icer for r in rows[1:]] == [100.0, 100.0]
    # a more effective, cheaper strategy dominates everything else
    assert _statuses([5.0, 1.0, 3.0], [1.0, 9.0, 2.0]) == ["dominated", "frontier", "dominated"]


def test_frontier_agrees_with_net_benefit_on_random_sets():
    # Independent characterisation: the frontier strategies are those with the highest net
    # benefit wtp * effect - cost at some WTP >= 0, and its ICERs are the WTPs at which
    # the choice switches. A strategy strictly inside an ICER interval is the unique best.
    rng = np.random.default_rng(2024)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        costs = rng.uniform(0, 1000, n).round(1).tolist()
        effects = rng.uniform(0, 10, n).round(2).tolist()
        rows = econ.frontier(costs, effects)
        on = sorted(
            (i for i, r in enumerate(rows) if r.status == "frontier"), key=costs.__getitem__
        )
        bounds = [0.0] + [rows[i].icer for i in on[1:]] + [math.inf]
        assert bounds == sorted(bounds)
        for k, i in enumerate(on):
            lo, hi = bounds[k], bounds[k + 1]
            wtp = lo + 1.0 if math.isinf(hi) else (lo + hi) / 2
            if hi > lo:
                benefit = [wtp * e - c for c, e in zip(costs, effects, strict=True)]
                assert int(np.argmax(benefit)) == i
        for i, r in enumerate(rows):
            if r.status != "frontier":
                assert math.isnan(r.icer)
                for wtp in np.linspace(0, 5000, 201):
                    benefit = [wtp * e - c for c, e in zip(costs, effects, strict=True)]
                    assert benefit[i] <= max(benefit[j] for j in on) + 1e-9


# --- icer ----------------------------------------------------------------------------------


def test_icer_quadrants():
    assert econ.icer(100.0, 2.0) == (50.0, "more costly, more effective")  # north-east
    for cost in (-100.0, 0.0):  # south-east, or the same cost for more effect: no ratio
        value, note = econ.icer(cost, 1.0)
        assert math.isnan(value) and note == "dominant"
    assert econ.icer(-100.0, -4.0) == (25.0, "less costly, less effective")  # south-west
    nan_quadrants = {
        (100.0, -1.0): "dominated",  # north-west
        (0.0, -1.0): "dominated",  # same cost, less effect (was "less costly")
        (100.0, 0.0): "equal effect",
        (-100.0, 0.0): "equal effect",
        (0.0, 0.0): "equal effect",
    }
    for (dc, de), note in nan_quadrants.items():
        value, got = econ.icer(dc, de)
        assert math.isnan(value)
        assert got == note


# --- mean_ci, poisson_rate_ci ----------------------------------------------------------


def test_mean_ci_against_numpy():
    assert abs(econ.Z95 - stats.norm.ppf(0.975)) < 1e-15
    rng = np.random.default_rng(7)
    for n in (2, 3, 10, 1000):
        values = rng.normal(25_000.0, 8_000.0, n)
        mean, low, high = econ.mean_ci(float(values.sum()), float((values**2).sum()), n)
        half = econ.Z95 * values.std(ddof=1) / math.sqrt(n)
        assert mean == pytest.approx(values.mean(), rel=1e-12)
        assert (low, high) == pytest.approx((values.mean() - half, values.mean() + half), rel=1e-9)
    assert all(math.isnan(v) for v in econ.mean_ci(0.0, 0.0, 0))
    mean, low, high = econ.mean_ci(3.5, 12.25, 1)
    assert mean == 3.5
    assert math.isnan(low)
    assert math.isnan(high)
    # constant values: the rounding of sum_sq - sum^2 / n must not give a negative variance
    values = [0.1] * 10
    mean, low, high = econ.mean_ci(sum(values), sum(v * v for v in values), 10)
    assert low == pytest.approx(mean, abs=1e-8)
    assert high == pytest.approx(mean, abs=1e-8)


@pytest.mark.parametrize("events", [0.0, 1.0, 2.5, 10.0, 137.0])
@pytest.mark.parametrize("exposure", [1.0, 3.7, 1250.0])
@pytest.mark.parametrize("phi", [1.0, 0.5, 2.3])
def test_poisson_rate_ci_is_the_garwood_interval(events, exposure, phi):
    # Garwood: [chi2(0.025; 2y) / 2t, chi2(0.975; 2y + 2) / 2t], lower 0 when y = 0, with
    # y = events / phi and t = exposure / phi (phi below 1 is taken as 1).
    f = max(phi, 1.0)
    y, t = events / f, exposure / f
    low = 0.0 if y == 0 else stats.chi2.ppf(0.025, 2 * y) / (2 * t)
    high = stats.chi2.ppf(0.975, 2 * y + 2) / (2 * t)
    assert econ.poisson_rate_ci(events, exposure, phi) == pytest.approx((low, high), rel=1e-10)


def test_poisson_rate_ci_without_exposure():
    assert all(math.isnan(v) for v in econ.poisson_rate_ci(3.0, 0.0))


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (50, 720), (720, 720)])
def test_wilson_interval_inverts_the_score_test(k, n):
    # Wilson: the proportions p0 whose score statistic (k/n - p0) / sqrt(p0 (1 - p0) / n)
    # is within +-1.96; at each bound it equals the normal quantile.
    low, high = econ.wilson_interval(k, n)
    z = stats.norm.ppf(0.975)
    for bound in (low, high):
        if 0.0 < bound < 1.0:
            score = abs(k / n - bound) / math.sqrt(bound * (1 - bound) / n)
            assert score == pytest.approx(z, rel=1e-9)
    assert 0.0 <= low <= k / n <= high <= 1.0 + 1e-12


# --- dispersion ----------------------------------------------------------------------------


def _dispersion(counts: np.ndarray, exposure: np.ndarray) -> float:
    return econ.dispersion(
        counts.size,
        float(counts.sum()),
        float((counts**2).sum()),
        float((counts * exposure).sum()),
        float(exposure.sum()),
        float((exposure**2).sum()),
    )


def test_dispersion_hand_worked():
    # 4 patients, 1 year each, all 4 events in one patient: rate 1, residuals -1, -1, 3, -1,
    # sum of squares 12; ratio n/(n-1) * 12 / 4 = 4.
    assert _dispersion(np.array([0.0, 0.0, 4.0, 0.0]), np.ones(4)) == pytest.approx(4.0)
    # counts exactly proportional to exposure: no extra variation; floored at 1
    assert _dispersion(np.array([1.0, 3.0]), np.array([1.0, 3.0])) == 1.0
    assert econ.dispersion(1, 5.0, 25.0, 5.0, 1.0, 1.0) == 1.0  # a single patient
    assert econ.dispersion(5, 0.0, 0.0, 0.0, 5.0, 5.0) == 1.0  # no events


def test_dispersion_poisson_and_clustered():
    rng = np.random.default_rng(11)
    n = 20_000
    # Poisson counts, equal and unequal exposure: the ratio is 1. The sampling SD of the
    # ratio is about sqrt(2 / n) = 0.01, so 0.05 is five SDs.
    for exposure in (np.ones(n), rng.uniform(0.5, 2.0, n)):
        counts = rng.poisson(2.0 * exposure).astype(float)
        assert _dispersion(counts, exposure) == pytest.approx(1.0, abs=0.05)
    # Gamma-Poisson (negative binomial, mean 2, shape 1): variance 2 + 2^2 = 6, ratio 3.
    exposure = np.ones(n)
    counts = rng.poisson(rng.gamma(1.0, 2.0, n)).astype(float)
    phi = _dispersion(counts, exposure)
    residual_sq = (counts - counts.mean()) ** 2
    se = residual_sq.std(ddof=1) / math.sqrt(n) / counts.mean()  # delta method, ~0.05
    assert abs(phi - 3.0) < 5 * se


# --- paired_risk ---------------------------------------------------------------------------


def test_paired_risk_hand_worked():
    # 50 patients: 5 with the event under both, 7 under A only, 3 under B only, 35 neither.
    # RR = 12/8 = 1.5, RD = (7 - 3)/50 = 0.08, NNH = 12.5.
    out = econ.paired_risk(50, 12, 8, 5)
    assert out["rr"] == 1.5
    assert out["rd"] == pytest.approx(0.08)
    # the interval of RD includes 0 (below): no number needed to harm is claimed
    assert math.isnan(out["nnh"]) and math.isnan(out["nnt"])
    # Variance of the difference of dependent proportions (Agresti 2013, eq. 11.2):
    # [p1+(1-p1+) + p+1(1-p+1) - 2(p11 p22 - p12 p21)] / n = 0.1936 / 50 = 0.003872.
    p11, p12, p21, p22 = 5 / 50, 7 / 50, 3 / 50, 35 / 50
    var_rd = (0.24 * 0.76 + 0.16 * 0.84 - 2 * (p11 * p22 - p12 * p21)) / 50
    assert var_rd == pytest.approx(0.003872)
    half = econ.Z95 * math.sqrt(var_rd)
    assert (out["rd_low"], out["rd_high"]) == pytest.approx((0.08 - half, 0.08 + half))
    # log RR by the delta method on the multinomial (p11, p12, p21):
    # log(p11 + p12) - log(p11 + p21); gradient (1/p1+ - 1/p+1, 1/p1+, -1/p+1).
    p = np.array([p11, p12, p21])
    grad = np.array([1 / 0.24 - 1 / 0.16, 1 / 0.24, -1 / 0.16])
    var_log = grad @ ((np.diag(p) - np.outer(p, p)) / 50) @ grad
    se = math.sqrt(var_log)
    assert (out["rr_low"], out["rr_high"]) == pytest.approx(
        (1.5 * math.exp(-econ.Z95 * se), 1.5 * math.exp(econ.Z95 * se))
    )
    # ten times the patients, the same shares: the interval of RD, 0.08 +- 1.96
    # sqrt(0.003872 / 10), excludes 0, so NNH = 12.5 with the interval of 1 / RD
    out = econ.paired_risk(500, 120, 80, 50)
    half = econ.Z95 * math.sqrt(var_rd / 10)
    assert out["rd_low"] == pytest.approx(0.08 - half) and out["rd_low"] > 0
    assert out["nnh"] == pytest.approx(12.5)
    assert (out["nnh_low"], out["nnh_high"]) == pytest.approx(
        (1 / (0.08 + half), 1 / (0.08 - half))
    )
    assert math.isnan(out["nnt"]) and math.isnan(out["nnt_low"])


def test_paired_risk_edge_cases():
    out = econ.paired_risk(400, 20, 60, 10)  # fewer under A: number needed to treat
    assert out["rd"] == pytest.approx(-0.1)
    assert out["rd_high"] < 0
    assert out["nnt"] == pytest.approx(10.0)
    assert out["nnt_low"] == pytest.approx(-1 / out["rd_low"])
    assert out["nnt_high"] == pytest.approx(-1 / out["rd_high"])
    assert math.isnan(out["nnh"])
    out = econ.paired_risk(40, 2, 6, 1)  # the same shares in 40: the interval holds 0
    assert out["rd"] == pytest.approx(-0.1) and out["rd_low"] < 0 < out["rd_high"]
    assert math.isnan(out["nnt"]) and math.isnan(out["nnh"])
    out = econ.paired_risk(40, 3, 3, 1)  # no difference: neither
    assert out["rd"] == 0.0
    assert math.isnan(out["nnh"]) and math.isnan(out["nnt"])
    assert out["rr"] == 1.0
    out = econ.paired_risk(40, 3, 0, 0)  # no event under B: no ratio
    assert math.isnan(out["rr"])
    assert out["rd"] == pytest.approx(3 / 40)
    assert all(math.isnan(v) for v in econ.paired_risk(0, 0, 0, 0).values())


# --- nmb, ceac, evpi -----------------------------------------------------------------------


def test_nmb_broadcasts():
    costs = np.array([[100.0, 300.0], [200.0, 250.0]])
    qalys = np.array([[1.0, 1.1], [0.9, 1.2]])
    assert np.array_equal(econ.nmb(costs, qalys, 1000.0), 1000.0 * qalys - costs)
    grid = econ.nmb(costs, qalys, np.array([0.0, 1000.0])[:, None, None])
    assert grid.shape == (2, 2, 2)
    assert np.array_equal(grid[0], -costs)
    assert econ.nmb(10.0, 2.0, 50.0) == 90.0


def _normal_closed_form(mu: float, sigma: float) -> float:
    """EVPI of adopting or not when the incremental net benefit is Normal(mu, sigma^2):
    E[max(INB, 0)] - max(E[INB], 0)."""
    z = mu / sigma
    return sigma * stats.norm.pdf(z) + mu * stats.norm.cdf(z) - max(mu, 0.0)


def test_evpi_two_strategy_normal_closed_form():
    # Strategy 1 adds dq ~ N(0.5, 0.3^2) QALYs for dc ~ N(10000, 2000^2): at WTP w the
    # incremental NB is Normal(w 0.5 - 10000, w^2 0.09 + 2000^2), with mean -5000, 0 and
    # +10000 at w = 10k, 20k, 40k. A shared baseline (strategy 0) does not change it.
    rng = np.random.default_rng(20240601)
    n = 200_000
    base_c, base_q = rng.gamma(4.0, 5000.0, n), rng.uniform(5.0, 10.0, n)
    dc, dq = rng.normal(10_000.0, 2_000.0, n), rng.normal(0.5, 0.3, n)
    costs = np.column_stack([base_c, base_c + dc])
    qalys = np.column_stack([base_q, base_q + dq])
    wtps = np.array([10_000.0, 20_000.0, 40_000.0])
    result = econ.ceac(costs, qalys, wtps)
    for k, w in enumerate(wtps):
        mu, sigma = w * 0.5 - 10_000.0, math.hypot(w * 0.3, 2_000.0)
        closed = _normal_closed_form(mu, sigma)
        # Tolerance: 4 Monte Carlo SEs, plus the bias of max(mean, 0) in the estimate,
        # at most sigma phi(0) / sqrt(n) (= 0.4 % of the EVPI at mu = 0).
        tolerance = 4 * result.evpi_se[k] + sigma * stats.norm.pdf(0) / math.sqrt(n)
        assert abs(result.evpi[k] - closed) < tolerance, (w, result.evpi[k], closed)
        assert result.evpi_se[k] < 0.02 * closed  # the check is tight, not vacuous
    assert _normal_closed_form(0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi))


def _psa(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three strategies with correlated costs and QALYs, crossing near WTP 20k-30k."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    costs = np.column_stack(
        [
            rng.gamma(9.0, 1_000.0, n),
            rng.gamma(16.0, 1_000.0, n) + 500 * common,
            rng.gamma(25.0, 1_000.0, n) + 800 * common,
        ]
    )
    qalys = np.column_stack(
        [
            rng.normal(6.0, 0.4, n),
            rng.normal(6.3, 0.4, n) + 0.1 * common,
            rng.normal(6.6, 0.5, n) + 0.2 * common,
        ]
    )
    return costs, qalys


def test_ceac_properties():
    costs, qalys = _psa(3, 5_000)
    wtps = np.linspace(0.0, 100_000.0, 21)
    result = econ.ceac(costs, qalys, wtps)
    assert result.probability.shape == (21, 3)
    assert np.allclose(result.probability.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # at WTP 0 the best NMB is the lowest cost
    cheapest = np.bincount(costs.argmin(axis=1), minlength=3) / costs.shape[0]
    assert np.array_equal(result.probability[0], cheapest)
    # expected NMB, CEAF and EVPI from first principles
    expected = wtps[:, None] * qalys.mean(axis=0) - costs.mean(axis=0)
    assert np.allclose(result.expected_nmb, expected, rtol=1e-9, atol=1e-6)
    assert np.array_equal(result.optimal, result.expected_nmb.argmax(axis=1))
    assert set(result.optimal.tolist()) == {0, 1, 2}  # the frontier switches twice
    nmbs = wtps[:, None, None] * qalys - costs  # (W, N, S)
    evpi = nmbs.max(axis=2).mean(axis=1) - nmbs.mean(axis=1).max(axis=1)
    assert np.allclose(result.evpi, evpi, rtol=1e-9, atol=1e-6)
    assert np.all(result.evpi >= 0)
    assert np.all(result.evpi_se > 0)
    # the optimal strategy is not always the most likely one to be best, but where one
    # strategy is certainly best, it is optimal
    sure = result.probability.max(axis=1) == 1.0
    assert np.array_equal(result.optimal[sure], result.probability[sure].argmax(axis=1))


def test_ceac_dominant_strategy_has_no_evpi():
    costs, qalys = _psa(5, 1_000)
    costs[:, 2] = costs.min(axis=1) - 1.0  # strategy 2: cheaper and better in every iteration
    qalys[:, 2] = qalys.max(axis=1) + 0.1
    result = econ.ceac(costs, qalys, np.array([0.0, 30_000.0, 1e6]))
    assert np.array_equal(result.probability[:, 2], np.ones(3))
    assert np.array_equal(result.optimal, [2, 2, 2])
    assert np.array_equal(result.evpi, np.zeros(3))
    assert np.array_equal(result.evpi_se, np.zeros(3))


def test_ceac_ties_go_to_the_lowest_index():
    costs, qalys = _psa(9, 500)
    costs = np.column_stack([costs, costs[:, 1]])  # strategy 3 duplicates strategy 1
    qalys = np.column_stack([qalys, qalys[:, 1]])
    result = econ.ceac(costs, qalys, np.array([0.0, 25_000.0, 80_000.0]))
    assert np.array_equal(result.probability[:, 3], np.zeros(3))
    assert np.allclose(result.probability.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert not np.any(result.optimal == 3)


def test_ceac_is_frozen_and_validates():
    result = econ.ceac(np.ones((1, 2)), np.ones((1, 2)), np.array([1.0]))
    assert math.isnan(result.evpi_se[0])  # one iteration: no standard error
    assert result.evpi[0] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.evpi = np.zeros(1)  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.probability[0, 0] = 0.5
    with pytest.raises(ValueError):
        econ.ceac(np.ones((3, 2)), np.ones((3, 3)), np.array([1.0]))
    with pytest.raises(ValueError):
        econ.ceac(np.ones(3), np.ones(3), np.array([1.0]))
    with pytest.raises(ValueError):
        econ.ceac(np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 2)))


# --- evppi ---------------------------------------------------------------------------------

N_PSA = 2_000


def _evpi(values: np.ndarray) -> float:
    return float(values.max(axis=1).mean() - values.mean(axis=0).max())


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {
        "normal": rng.normal(size=N_PSA),
        "uniform": rng.uniform(size=N_PSA),
        "unused": rng.normal(size=N_PSA),
        "noise": rng.normal(size=(N_PSA, 3)),
    }


def test_evppi_linear_gaussian_closed_form(inputs):
    # INB = mu + beta x + tau e with x, e ~ N(0, 1): E[INB | x] = mu + beta x, so
    # EVPPI(x) = beta phi(mu / beta) + mu Phi(mu / beta) - max(mu, 0) = 306.9 here, half
    # the EVPI. Tolerance 4 bootstrap SEs (the SE is ~21, 7 % of the value).
    x, e = inputs["normal"], inputs["noise"][:, 0]
    mu, beta, tau = 200.0, 1_000.0, 1_500.0
    values = np.column_stack([np.zeros(N_PSA), mu + beta * x + tau * e])
    estimate, se = econ.evppi(values, x)
    closed = _normal_closed_form(mu, beta)
    assert abs(estimate - closed) < 4 * se
    assert se < 0.1 * closed
    assert estimate < 0.7 * _evpi(values)


def _driven_by_normal(x: np.ndarray) -> np.ndarray:
    """Three strategies whose NMBs depend on x alone (no other uncertainty)."""
    return np.column_stack([np.zeros_like(x), 200.0 + 1_000.0 * x, 500.0 * np.tanh(2 * x) + 300])


def test_evppi_unused_parameter_is_zero(inputs):
    # NMB with noise and a real dependence on another parameter. For a parameter that does
    # not enter, the regression only fits noise: the estimate is biased upwards by about
    # phi(0) sd(INB) sqrt(edf / N) at worst, and that bias shows in the bootstrap spread
    # too, so 4 bootstrap SEs bound it; it is also under 2 % of the EVPI.
    noise = inputs["noise"]
    values = _driven_by_normal(inputs["normal"]) + 300.0 * noise
    estimate, se = econ.evppi(values, inputs["unused"])
    assert 0.0 <= estimate < 4 * se
    assert estimate < 0.02 * _evpi(values)
    estimate, se = econ.evppi(values, np.column_stack([inputs["unused"], inputs["uniform"]]))
    assert 0.0 <= estimate < max(4 * se, 1e-9)
    assert estimate < 0.02 * _evpi(values)


def test_evppi_of_the_only_uncertain_parameter_is_the_evpi(inputs):
    # All the uncertainty comes from x: EVPPI(x) = EVPI. Tolerance: 5 % plus 2 bootstrap
    # SEs (the fit smooths a little); groups that contain x give the same.
    x = inputs["normal"]
    values = _driven_by_normal(x)
    evpi = _evpi(values)
    for params in (
        x,
        np.column_stack([x, inputs["unused"]]),
        np.column_stack([inputs["uniform"], x, inputs["unused"]]),
    ):
        estimate, se = econ.evppi(values, params)
        assert abs(estimate - evpi) <= 0.05 * evpi + 2 * se
        assert estimate <= evpi * (1 + 1e-12)  # clipped at the EVPI (to rounding)


def _linear_meta_model_evppi(values: np.ndarray, x: np.ndarray) -> float:
    """EVPPI with a straight-line regression of each incremental NMB on x, for contrast."""
    design = np.column_stack([np.ones_like(x), x])
    inb = values[:, 1:] - values[:, :1]
    fitted = design @ np.linalg.lstsq(design, inb, rcond=None)[0]
    return float(np.maximum(fitted.max(axis=1), 0).mean() - max(fitted.mean(axis=0).max(), 0))


def test_evppi_captures_non_linear_dependence(inputs):
    # Quadratic: INB = 800 (x^2 - 1) is nearly uncorrelated with x, so a straight-line
    # meta-model finds little value (12 % of the EVPI here); a threshold: INB =
    # 1000 [u > 0.6] - 400. Both are functions of the parameter alone, so EVPPI = EVPI;
    # tolerance 5 % plus 2 bootstrap SEs.
    x, u = inputs["normal"], inputs["uniform"]
    for param, inb in ((x, 800.0 * (x**2 - 1)), (u, 1_000.0 * (u > 0.6) - 400.0)):
        values = np.column_stack([np.zeros(N_PSA), inb, 0.5 * inb - 50.0])
        evpi = _evpi(values)
        estimate, se = econ.evppi(values, param)
        assert abs(estimate - evpi) <= 0.05 * evpi + 2 * se
        if param is x:
            assert _linear_meta_model_evppi(values, x) < 0.25 * evpi
    # a product of two parameters: the group's additive splines plus linear interaction
    values = np.column_stack([np.zeros(N_PSA), 1_500.0 * x * (u - 0.5) + 50.0])
    estimate, se = econ.evppi(values, np.column_stack([x, u]))
    evpi = _evpi(values)
    assert abs(estimate - evpi) <= 0.05 * evpi + 2 * se
    # and neither parameter alone explains much of it
    assert econ.evppi(values, x, n_bootstrap=0)[0] < 0.2 * evpi


def test_evppi_discrete_parameter_is_the_group_means(inputs):
    # A two-level parameter: the regression reproduces the conditional means exactly, so
    # EVPPI = sum_k P(k) max(mean INB | k, 0) - max(mean INB, 0), to rounding.
    level = (inputs["uniform"] > 0.3).astype(int)
    inb = 500.0 * level - 200.0 + 300.0 * inputs["noise"][:, 0]
    values = np.column_stack([np.zeros(N_PSA), inb])
    exact = sum(np.mean(level == k) * max(inb[level == k].mean(), 0.0) for k in (0, 1)) - max(
        inb.mean(), 0.0
    )
    estimate, _ = econ.evppi(values, level, n_bootstrap=0)
    assert estimate == pytest.approx(exact, rel=1e-6)


def test_evppi_is_deterministic_and_degenerate_cases(inputs):
    values = _driven_by_normal(inputs["normal"]) + 300.0 * inputs["noise"]
    params = np.column_stack([inputs["normal"], inputs["uniform"]])
    first = econ.evppi(values, params, n_bootstrap=30, seed=3)
    assert econ.evppi(values, params, n_bootstrap=30, seed=3) == first  # same bytes
    other = econ.evppi(values, params, n_bootstrap=30, seed=4)
    assert other[0] == first[0]  # the seed only moves the bootstrap
    assert other[1] != first[1]
    estimate, se = econ.evppi(values, params, n_bootstrap=0)
    assert estimate == first[0]
    assert math.isnan(se)
    assert econ.evppi(values, np.full(N_PSA, 3.0)) == (0.0, 0.0)  # constant parameter
    # all but constant: draws within 1e-13 of each other, or denormal ones (the engine
    # fuzzer's utility change of 5e-324: the spline's knot gaps underflowed)
    assert econ.evppi(values, 3.0 + 3e-13 * inputs["uniform"]) == (0.0, 0.0)
    assert econ.evppi(values, 5e-324 * (inputs["uniform"] > 0.5)) == (0.0, 0.0)
    assert econ.evppi(values[:, :1], inputs["normal"]) == (0.0, 0.0)  # one strategy
    assert econ.evppi(values[:1], inputs["normal"][:1]) == (0.0, 0.0)  # one iteration
    with pytest.raises(ValueError):
        econ.evppi(values, inputs["normal"][:-1])
    with pytest.raises(ValueError):
        econ.evppi(values[:, 0], inputs["normal"])
    bad = values.copy()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError):
        econ.evppi(bad, inputs["normal"])


def test_evppi_many_is_each_evppi_alone(inputs):
    # the shared design, bootstrap draws and decompositions change no bit of any result
    x = np.column_stack([inputs["normal"], inputs["uniform"]])
    costs = 5_000.0 * inputs["noise"][:, :2] + np.column_stack([x[:, 0] * 900.0, x[:, 1] * 400.0])
    effects = 0.1 * inputs["noise"][:, 1:] + np.column_stack([0.02 * x[:, 1], 0.05 * x[:, 0]])
    matrices = [w * effects - costs for w in (20_000.0, 50_000.0, 100_000.0)]
    together = econ.evppi_many(matrices, x, n_bootstrap=25, seed=5)
    assert together == [econ.evppi(m, x, n_bootstrap=25, seed=5) for m in matrices]
    assert len({t for t in together}) == 3
    # the resamples and their EVPIs, made once for every parameter of a table: no bit moves
    resamples = econ.Resamples(matrices, 25, 5)
    for columns in ([0], [1], [0, 1]):
        alone = econ.evppi_many(matrices, x[:, columns], n_bootstrap=25, seed=5)
        shared = econ.evppi_many(
            matrices, x[:, columns], n_bootstrap=25, seed=5, resamples=resamples
        )
        assert shared == alone
    with pytest.raises(ValueError, match="resamples made for other"):
        econ.evppi_many(matrices, x, n_bootstrap=24, seed=5, resamples=resamples)
    with pytest.raises(ValueError, match="resamples made for other"):
        econ.evppi_many(matrices[:2], x, n_bootstrap=25, seed=5, resamples=resamples)


# --- running_mean --------------------------------------------------------------------------


def test_running_mean_against_cumsum():
    rng = np.random.default_rng(8)
    values = rng.normal(1e9, 50.0, 500)  # far from zero: no loss to cancellation
    mean, se = econ.running_mean(values)
    n = np.arange(1, values.size + 1)
    assert np.allclose(mean, np.cumsum(values) / n, rtol=1e-12)
    assert math.isnan(se[0])
    for k in (2, 3, 17, 500):
        assert se[k - 1] == pytest.approx(values[:k].std(ddof=1) / math.sqrt(k), rel=1e-6)
    # several series at once, along the first axis
    block = rng.normal(size=(50, 3))
    mean, se = econ.running_mean(block)
    assert mean.shape == se.shape == (50, 3)
    assert np.allclose(mean, np.cumsum(block, axis=0) / np.arange(1, 51)[:, None])
    assert se[-1] == pytest.approx(block.std(axis=0, ddof=1) / math.sqrt(50))
    mean, se = econ.running_mean(np.array([4.0]))
    assert mean.tolist() == [4.0]
    assert math.isnan(se[0])


def test_population_factor_is_the_discounted_sum_of_yearly_patients():
    for rate in (0.0, 0.015, 0.035):
        explicit = sum(500.0 * (1 + rate) ** -t for t in range(25))
        assert econ.population_factor(500.0, 25, rate) == pytest.approx(explicit, rel=1e-13)
    assert econ.population_factor(500.0, 1, 0.035) == 500.0  # the first year is not discounted
    with pytest.raises(ValueError):
        econ.population_factor(500.0, 0, 0.035)
