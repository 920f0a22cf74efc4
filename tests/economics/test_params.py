"""Uncertain parameters: method-of-moments fits, keyed draws, copula, Dirichlet, DSA range."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SCENARIOS, base_document, build
from scipy import stats

from sim.analysis import one_way
from sim.execution import runner
from sim.scenario import ScenarioError, Uncertain, load, params, prices
from sim.scenario.loading import validate
from sim.scenario.schema import canonical_json


def entry(**kw) -> Uncertain:
    return Uncertain(**kw)


def _moment_matched(dist: str, mean: float, se: float):
    """The scipy distribution of that family with that mean and standard deviation."""
    if dist == "beta":
        common = mean * (1 - mean) / se**2 - 1
        return stats.beta(mean * common, (1 - mean) * common)
    if dist == "gamma":
        return stats.gamma((mean / se) ** 2, scale=se**2 / mean)
    if dist == "lognormal":
        sdlog = math.sqrt(math.log(1 + (se / mean) ** 2))
        return stats.lognorm(sdlog, scale=mean * math.exp(-(sdlog**2) / 2))
    return stats.norm(mean, se)


@pytest.mark.parametrize(
    ("dist", "mean", "se"),
    [
        ("beta", 0.865, 0.056),
        ("beta", 0.0003, 0.0002),
        ("gamma", 0.009, 0.003),
        ("gamma", 50000.0, 10000.0),
        ("lognormal", 30000.0, 7500.0),
        ("normal", 0.6, 0.05),
    ],
)
def test_method_of_moments_reproduces_mean_and_se(dist: str, mean: float, se: float) -> None:
    fitted = params.fit(entry(dist=dist, mean=mean, se=se), mean)
    assert fitted.mean() == pytest.approx(mean, rel=1e-12)
    assert fitted.sd() == pytest.approx(se, rel=1e-12)
    # and the quantile function is that distribution's: scipy's distribution with that
    # mean and standard deviation (its own moment formulas), quantile for quantile
    reference = _moment_matched(dist, mean, se)
    assert reference.mean() == pytest.approx(mean, rel=1e-12)
    assert reference.std() == pytest.approx(se, rel=1e-9)
    for u in (0.001, 0.025, 0.3, 0.5, 0.9, 0.975, 0.999):
        assert fitted.ppf(u) == pytest.approx(reference.ppf(u), rel=1e-9), u


def test_own_parameters_match_scipy() -> None:
    cases = [
        (entry(dist="beta", alpha=2.0, beta=5.0), stats.beta(2.0, 5.0)),
        (entry(dist="gamma", shape=3.0, scale=2.0), stats.gamma(3.0, scale=2.0)),
        (entry(dist="lognormal", meanlog=1.0, sdlog=0.5), stats.lognorm(0.5, scale=math.e)),
        (entry(dist="uniform", low=2.0, high=5.0), stats.uniform(2.0, 3.0)),
        (entry(dist="triangular", low=1.0, mode=2.0, high=4.0), stats.triang(1 / 3, 1.0, 3.0)),
    ]
    for e, reference in cases:
        fitted = params.fit(e, reference.mean())
        for u in (0.001, 0.025, 0.3, 0.5, 0.9, 0.975):
            assert fitted.ppf(u) == pytest.approx(reference.ppf(u), rel=1e-9), e.dist
        assert fitted.mean() == pytest.approx(reference.mean(), rel=1e-12)
        assert fitted.sd() == pytest.approx(reference.std(), rel=1e-12)


def test_dsa_range_is_explicit_or_the_central_95_percent() -> None:
    explicit = entry(dist="beta", mean=0.6, se=0.05, low=0.5, high=0.7)
    assert params.dsa_range(explicit, 0.6) == (0.5, 0.7, "explicit")
    low, high, source = params.dsa_range(entry(dist="normal", mean=10.0, se=2.0), 10.0)
    assert source == "percentiles"
    assert (low, high) == pytest.approx((10 - 1.959963984540054 * 2, 10 + 1.959963984540054 * 2))
    # relative to the base value: a gamma with mean 400 and sd 0.25 x 400
    low, high, _ = params.dsa_range(entry(dist="gamma", relative_se=0.25), 400.0)
    reference = stats.gamma(16.0, scale=25.0)
    assert (low, high) == pytest.approx((reference.ppf(0.025), reference.ppf(0.975)), rel=1e-9)


def test_a_relative_se_centres_the_distribution_on_the_base_value() -> None:
    for dist in ("beta", "gamma", "lognormal", "normal"):
        fitted = params.fit(entry(dist=dist, relative_se=0.2), 0.35)
        assert fitted.mean() == pytest.approx(0.35, rel=1e-12), dist
        assert fitted.sd() == pytest.approx(0.07, rel=1e-12), dist
    # a negative base value keeps a positive standard error
    assert params.fit(entry(dist="normal", relative_se=0.5), -0.1).sd() == pytest.approx(0.05)


def base():
    return build(base_document())


def test_draws_are_keyed_by_seed_and_iteration() -> None:
    sc = base()
    first = [params.draw(sc, k) for k in range(1, 6)]
    # iteration 4 recomputed alone gives the same values
    assert params.draw(sc, 4) == first[3]
    assert first[0] != first[1]
    # dropping one uncertain parameter leaves the draws of the others as they were
    doc = base_document()
    del doc["uncertainty"]["strategies.itb.utility_change"]
    fewer = params.draw(build(doc), 2)
    assert all(fewer[k] == v for k, v in first[1].items() if k in fewer)
    assert "strategies.itb.utility_change" not in fewer
    # another seed, other values
    doc = base_document()
    doc["seed"] = 7
    assert params.draw(build(doc), 1) != first[0]


def test_dirichlet_shares_sum_to_one_with_the_right_means() -> None:
    sc = base()
    counts = sc.uncertainty["cohort.indications"].counts
    total = sum(counts.values())
    draws = [params.draw(sc, k) for k in range(1, 801)]
    for d in draws:
        shares = [d[f"cohort.indications.{p}.share"] for p in counts]
        assert math.fsum(shares) == pytest.approx(1.0, abs=1e-14)
        assert all(0 < s < 1 for s in shares)
    for part, count in counts.items():
        x = np.array([d[f"cohort.indications.{part}.share"] for d in draws])
        p = count / total
        se = math.sqrt(p * (1 - p) / (total + 1) / len(x))  # MC error of the mean
        assert abs(x.mean() - p) < 4 * se, part


def test_drawn_values_make_a_valid_scenario() -> None:
    sc = base()
    values = params.draw(sc, 3)
    drawn = params.apply(sc, values, "base.yaml")
    assert drawn.strategies["itb"].utility_change == values["strategies.itb.utility_change"]
    assert (
        drawn.cohort.indications.brain_injury.share
        == (values["cohort.indications.brain_injury.share"])
    )
    # the base scenario is untouched
    assert (
        sc.strategies["itb"].utility_change
        == base_document()["strategies"]["itb"]["utility_change"]
    )


def test_gaussian_copula_gives_the_rank_correlation_asked_for() -> None:
    doc = base_document()
    a = "cohort.indications.cerebral_palsy.baseline_utility"
    b = "cohort.indications.multiple_sclerosis.baseline_utility"
    doc["analysis"] = {"correlations": [{"parameters": [a, b], "rho": 0.8}]}
    sc = build(doc)
    draws = [params.draw(sc, k) for k in range(1, 1001)]
    x = np.array([d[a] for d in draws])
    y = np.array([d[b] for d in draws])
    # Spearman's rho of a Gaussian copula: (6 / pi) asin(rho / 2) = 0.786 for rho = 0.8;
    # its standard error near 0.8 with n = 1000 is about (1 - 0.8^2) / sqrt(n) = 0.011
    expected = 6 / math.pi * math.asin(0.4)
    assert abs(stats.spearmanr(x, y).statistic - expected) < 4 * 0.011
    # the marginals are unchanged by the copula
    fitted = params.fit(sc.uncertainty[a], params.value_at(sc, a))
    assert abs(x.mean() - fitted.mean()) < 4 * fitted.sd() / math.sqrt(len(x))
    # and uncorrelated parameters stay uncorrelated
    z = np.array([d["strategies.itb.utility_change"] for d in draws])
    assert abs(stats.spearmanr(x, z).statistic) < 4 / math.sqrt(len(x))


def test_extreme_iterations_hold_every_value_s_lowest_and_highest_draw() -> None:
    """What `validate` checks of a PSA: the iterations of each value's extreme draws,
    found from the uniforms alone (the inverse CDFs increase), copula included."""
    doc = base_document()
    a = "cohort.indications.cerebral_palsy.baseline_utility"
    b = "cohort.indications.multiple_sclerosis.baseline_utility"
    doc["analysis"] = {"correlations": [{"parameters": [a, b], "rho": -0.6}]}
    sc = build(doc)
    n = 400
    draws = [params.draw(sc, k) for k in range(1, n + 1)]
    found = params.extreme_iterations(sc, n)
    scalar = [
        p for p in sc.uncertainty if not isinstance(sc.uncertainty[p], params.sc.UncertainShares)
    ]
    assert {a, b} <= set(scalar)
    for path in scalar:
        x = np.array([d[path] for d in draws])
        if x.min() == x.max():
            continue  # a fixed value: every iteration is an extreme
        assert int(np.argmin(x)) + 1 in found, path
        assert int(np.argmax(x)) + 1 in found, path
    assert len(found) <= 2 * len(scalar)
    assert params.extreme_iterations(sc, 0) == []


@pytest.mark.parametrize("dist", ["beta", "gamma", "lognormal", "normal"])
def test_a_negligible_standard_error_is_a_fixed_value(dist: str) -> None:
    """se 5e-324 made the method of moments divide by zero (found by the engine fuzzer);
    below 1e-12 of the mean the draws would differ from the mean in the twelfth digit."""
    for se in (5e-324, 1e-200, 1e-13 * 0.3):
        fitted = params.fit(entry(dist=dist, mean=0.3, se=se), 0.3)
        assert (fitted.kind, fitted.ppf(0.999), fitted.sd()) == ("fixed", 0.3, 0.0)
    assert params.fit(entry(dist=dist, mean=0.3, se=1e-11 * 0.3), 0.3).kind == dist


def _whole_document(sc, values: dict[str, float], index):
    """A variant as the whole document's validation makes it: dumped, values set, priced."""
    doc = sc.model_dump()
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[leaf] = float(value)
    return validate(prices.priced_document(doc, index), "x.yaml")


@pytest.mark.parametrize("name", ["base", "uk", "children-cp", "saulino-2015", "sampson-2002"])
def test_a_variant_is_the_whole_document_validated(name: str) -> None:
    """Variants builds a PSA iteration or a one-way value from the validated blocks of the
    priced scenario: every number is the one the whole document's pricing and validation
    give (canonical JSON, floats by repr), and an error names what that one names."""
    path = next(SCENARIOS.rglob(f"{name}.yaml"))
    sc = load(path)
    index = runner.price_index(sc)
    variants = params.Variants(sc, "x.yaml", index)
    sets = [variants.draw(k) for k in range(1, 13)]
    sets += [{p: v} for p, v in one_way.points(sc)] + [{}]
    for values in sets:
        assert canonical_json(variants.apply(values)) == canonical_json(
            _whole_document(sc, values, index)
        ), values
    if not sc.uncertainty:
        return
    bad = {next(iter(sc.uncertainty)): -1.0}
    with pytest.raises(ScenarioError) as fast:
        variants.apply(bad)
    with pytest.raises(ScenarioError) as whole:
        params.Variants(sc, "x.yaml", index)._validated(bad)
    assert str(fast.value) == str(whole.value)
    assert "(with the uncertain value" in str(fast.value)
