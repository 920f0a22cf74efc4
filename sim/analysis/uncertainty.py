"""The uncertainty analyses of a scenario (DESIGN §5, issue 4), and their tables.

* PSA: iteration k draws the uncertain parameters (sim.params) and simulates its own
  patients (parameter set k) in every strategy: common random numbers across strategies.
* One-way analysis (tornado) and threshold search: each value runs as parameter set 0, so
  it simulates the very patients of the base case and a difference is the parameter's.
* Convergence: running means with Monte Carlo standard errors against patients (base case,
  block by block) and against PSA iterations, and a warning when patient-level noise is
  more than 10% of the parameter uncertainty in incremental NMB.

The numbers come from :mod:`sim.econ`; this module runs the model and lays out tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from threadpoolctl import threadpool_limits

from sim.analysis import econ
from sim.engines.tally import OUTCOMES, Tally
from sim.execution import runner
from sim.execution.backends import Backend
from sim.numerics import lifetable
from sim.output.tables import wtp_tag
from sim.scenario import Scenario, Uncertain, UncertainShares, params

#: Share of the PSA variance of incremental NMB that patient-level noise may take before
#: a warning (issue 4: more than 10% of the parameter uncertainty).
NOISE_LIMIT = 0.10


def means(tally: Tally) -> np.ndarray:
    """(S, 4) per-patient means of cost, QALYs, life-years, discounted life-years."""
    return (tally.sum_v / tally.patients).reshape(tally.n_strategies, len(OUTCOMES))


def combination_variance(tally: Tally, weights: dict[int, float]) -> float:
    """Variance of the mean of a per-patient linear combination (paired patients)."""
    n = tally.patients
    if n < 2:
        return math.nan
    total, total_sq = tally.combination(weights)
    return max(0.0, (total_sq - total * total / n) / (n - 1)) / n


# ---------------------------------------------------------------------------- running


@dataclass
class Psa:
    """Per-iteration results: means (N, S, 4) in OUTCOMES order, the drawn values (N, P),
    and the patient-level variance of each strategy's mean incremental NMB (N, S) at the
    first WTP (0 for the comparator)."""

    strategies: list[str]
    comparator: int
    parameters: list[str]
    means: np.ndarray
    values: np.ndarray
    noise: np.ndarray

    @property
    def costs(self) -> np.ndarray:
        return self.means[:, :, OUTCOMES.index("cost")]

    @property
    def qalys(self) -> np.ndarray:
        return self.means[:, :, OUTCOMES.index("qaly")]


def psa(
    scenario: Scenario,
    table: lifetable.LifeTable,
    file: str | Path,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
    backend: Backend | None = None,
) -> Psa:
    """The PSA's iterations 1..psa_iterations. Workers draw and apply each iteration's
    values themselves (keyed by the iteration); here they are drawn again for the table."""
    n = scenario.psa_iterations
    names = scenario.strategy_names()
    columns = params.columns(scenario)
    out = Psa(
        names,
        names.index(scenario.comparator),
        columns,
        np.zeros((n, len(names), len(OUTCOMES))),
        np.zeros((n, len(columns))),
        np.zeros((n, len(names))),
    )
    wtp = scenario.wtp[0]
    ks = list(range(1, n + 1))
    sets = runner.simulate_sets(scenario, table, str(file), ks, engine, backend)
    for k, tally in zip(ks, sets, strict=True):
        i = k - 1
        values = params.draw(scenario, k)
        out.means[i] = means(tally)
        out.values[i] = [values[c] for c in columns]
        for s in range(len(names)):
            if s != out.comparator:
                out.noise[i, s] = combination_variance(tally, tally.incremental_nmb_weights(s, wtp))
        if progress is not None:
            progress(1)
    return out


@dataclass(frozen=True)
class OneWay:
    """The tornado and threshold tables."""

    tornado: pd.DataFrame
    threshold: pd.DataFrame


def _incremental(scenario: Scenario, tally: Tally) -> dict[str, tuple[float, float, float]]:
    """Per non-comparator strategy: (incremental NMB at the first WTP, ICER, delta cost)."""
    m = means(tally)
    c = tally.comparator
    wtp = scenario.wtp[0]
    out = {}
    cost, qaly = OUTCOMES.index("cost"), OUTCOMES.index("qaly")
    for s, name in enumerate(scenario.strategy_names()):
        if s == c:
            continue
        d_cost, d_qaly = m[s, cost] - m[c, cost], m[s, qaly] - m[c, qaly]
        out[name] = (wtp * d_qaly - d_cost, econ.icer(d_cost, d_qaly)[0], d_cost)
    return out


def one_way(
    scenario: Scenario,
    table: lifetable.LifeTable,
    base: Tally,
    file: str | Path,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
    backend: Backend | None = None,
) -> OneWay:
    """Tornado over every scalar uncertain parameter, then the threshold searches."""
    base_inc = _incremental(scenario, base)
    comparator, wtp = scenario.comparator, scenario.wtp[0]
    cache: dict[tuple[str, float], dict[str, tuple[float, float, float]]] = {}

    def run_all(points: list[tuple[str, float]]) -> None:
        """Simulate the points not yet known, all at once (every worker busy)."""
        todo = list(dict.fromkeys(p for p in points if p not in cache))
        changed = [params.apply(scenario, {path: value}, file) for path, value in todo]
        for point, sc, tally in zip(
            todo, changed, runner.simulate_many(changed, table, engine, backend), strict=True
        ):
            cache[point] = _incremental(sc, tally)
            if progress is not None:
                progress(1)

    def at(path: str, value: float) -> dict[str, tuple[float, float, float]]:
        run_all([(path, value)])
        return cache[(path, value)]

    ranges = {
        path: params.dsa_range(entry)
        for path, entry in scenario.uncertainty.items()
        if isinstance(entry, Uncertain)  # a Dirichlet set has no single low and high
    }
    spans = {}
    for path, span in scenario.analysis.thresholds.items():
        low, high = span.low, span.high
        if low is None or high is None:
            entry = scenario.uncertainty[path]
            assert isinstance(entry, Uncertain)
            d_low, d_high, _ = params.dsa_range(entry)
            low = d_low if low is None else low
            high = d_high if high is None else high
        spans[path] = (low, high, np.linspace(low, high, 9))
    run_all(
        [(path, value) for path, (low, high, _) in ranges.items() for value in (low, high)]
        + [(path, float(x)) for path, (_, _, grid) in spans.items() for x in grid]
    )
    rows = []
    for path, (low, high, source) in ranges.items():
        lo, hi = at(path, low), at(path, high)
        for name, (nmb, icer, _) in base_inc.items():
            rows.append(
                {
                    "strategy": name,
                    "comparator": comparator,
                    "wtp": wtp,
                    "parameter": path,
                    "base_value": params.value_at(scenario, path),
                    "low_value": low,
                    "high_value": high,
                    "range_source": source,
                    "base_incremental_nmb": nmb,
                    "incremental_nmb_low": lo[name][0],
                    "incremental_nmb_high": hi[name][0],
                    "base_icer": icer,
                    "icer_low": lo[name][1],
                    "icer_high": hi[name][1],
                    "swing": abs(hi[name][0] - lo[name][0]),
                }
            )
    order = {name: i for i, name in enumerate(scenario.strategy_names())}
    rows.sort(key=lambda r: (order[r["strategy"]], -r["swing"], r["parameter"]))
    thresholds: list[dict[str, Any]] = []

    for path, (low, high, grid) in spans.items():
        values = [at(path, float(x)) for x in grid]
        for name in base_inc:
            f = [v[name][0] for v in values]
            threshold, note = math.nan, ""
            crossings = [k for k in range(len(grid) - 1) if (f[k] > 0) != (f[k + 1] > 0)]
            if not crossings:
                side = "adopted" if f[0] > 0 else "not adopted"
                note = f"no change within the range: {name} is {side} throughout"
            else:
                k = crossings[0]
                threshold = optimize.brentq(
                    lambda x, name=name, path=path: at(path, float(x))[name][0],
                    float(grid[k]),
                    float(grid[k + 1]),
                    xtol=1e-6 * (high - low),
                )
                more = len(crossings) - 1
                note = f"{more} more change(s) within the range" if more else ""
            thresholds.append(
                {
                    "parameter": path,
                    "strategy": name,
                    "comparator": comparator,
                    "wtp": wtp,
                    "threshold": threshold,
                    "searched_low": low,
                    "searched_high": high,
                    "note": note,
                }
            )
    return OneWay(pd.DataFrame(rows), pd.DataFrame(thresholds))


# ---------------------------------------------------------------------------- tables


def wtp_grid(scenario: Scenario) -> np.ndarray:
    top = scenario.analysis.wtp_grid_max or 2.0 * max(scenario.wtp)
    grid = np.linspace(0.0, top, scenario.analysis.wtp_grid_points)
    return np.unique(np.concatenate([grid, np.array(scenario.wtp, dtype=float)]))


def psa_table(result: Psa) -> pd.DataFrame:
    n, s = result.means.shape[:2]
    frame = pd.DataFrame(
        {
            "iteration": np.repeat(np.arange(1, n + 1), s),
            "strategy": np.tile(np.array(result.strategies, dtype=object), n),
        }
    )
    for k, outcome in enumerate(OUTCOMES):
        frame[outcome] = result.means[:, :, k].reshape(-1)
    for j, column in enumerate(result.parameters):
        frame[column] = np.repeat(result.values[:, j], s)
    return frame


def _percentiles(x: np.ndarray) -> tuple[float, float, float]:
    return float(np.mean(x)), float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))


def psa_summary_columns(scenario: Scenario, result: Psa) -> pd.DataFrame:
    """Per strategy: PSA means and 2.5/97.5 percentiles, with Monte Carlo errors."""
    n = result.means.shape[0]
    c = result.comparator
    costs, qalys = result.costs, result.qalys
    wtps = np.array(scenario.wtp, dtype=float)
    ceac = econ.ceac(costs, qalys, wtps)
    rows = []
    for s, name in enumerate(result.strategies):
        row: dict[str, Any] = {"strategy": name, "psa_iterations": n}
        series = {
            "cost": costs[:, s],
            "qaly": qalys[:, s],
            "incremental_cost": costs[:, s] - costs[:, c],
            "incremental_qaly": qalys[:, s] - qalys[:, c],
        }
        for w in scenario.wtp:
            series[f"incremental_nmb_{wtp_tag(w)}"] = (
                w * series["incremental_qaly"] - (series["incremental_cost"])
            )
        for key, x in series.items():
            mean, low, high = _percentiles(x)
            row[f"psa_{key}_mean"] = mean
            row[f"psa_{key}_p2_5"] = low
            row[f"psa_{key}_p97_5"] = high
            row[f"psa_{key}_mcse"] = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        for k, w in enumerate(scenario.wtp):
            p = float(ceac.probability[k, s])
            row[f"probability_cost_effective_{wtp_tag(w)}"] = p
            row[f"probability_cost_effective_{wtp_tag(w)}_mcse"] = math.sqrt(p * (1 - p) / n)
        rows.append(row)
    return pd.DataFrame(rows)


def ceac_table(scenario: Scenario, result: Psa) -> pd.DataFrame:
    grid = wtp_grid(scenario)
    ceac = econ.ceac(result.costs, result.qalys, grid)
    rows = []
    for k, w in enumerate(grid):
        for s, name in enumerate(result.strategies):
            rows.append(
                {
                    "wtp": float(w),
                    "strategy": name,
                    "expected_nmb": float(ceac.expected_nmb[k, s]),
                    "probability_cost_effective": float(ceac.probability[k, s]),
                    "on_frontier": int(ceac.optimal[k] == s),
                    "evpi": float(ceac.evpi[k]),
                    "evpi_se": float(ceac.evpi_se[k]),
                }
            )
    return pd.DataFrame(rows)


def evppi_table(scenario: Scenario, result: Psa) -> pd.DataFrame:
    """EVPPI of each uncertain parameter (a Dirichlet set as one group) and of each named
    group, at each WTP of the scenario, by the regression meta-model (econ.evppi)."""
    index = {name: j for j, name in enumerate(result.parameters)}

    def members_of(path: str) -> list[str]:
        """Regressors of a parameter: a Dirichlet set's shares but the last (which the
        others determine: all of them would make the regression singular)."""
        entry = scenario.uncertainty[path]
        if isinstance(entry, UncertainShares):
            return [f"{path}.{part}.share" for part in entry.counts][:-1]
        return [path]

    targets: list[tuple[str, str, list[str]]] = []
    for path, entry in scenario.uncertainty.items():
        kind = "group" if isinstance(entry, UncertainShares) else "parameter"
        targets.append((path, kind, members_of(path)))
    for name, paths in scenario.analysis.evppi_groups.items():
        targets.append((name, "group", [m for p in paths for m in members_of(p)]))
    wtps = np.array(scenario.wtp, dtype=float)
    ceac = econ.ceac(result.costs, result.qalys, wtps)
    rows = []
    # one BLAS thread: a threaded BLAS sums in an order that depends on the thread count,
    # and the table must be the same bytes on any machine
    with threadpool_limits(limits=1, user_api="blas"):
        for k, w in enumerate(scenario.wtp):
            nmb = econ.nmb(result.costs, result.qalys, w)
            evpi = float(ceac.evpi[k])
            for name, kind, members in targets:
                x = result.values[:, [index[m] for m in members]]
                value, se = econ.evppi(nmb, x, seed=scenario.seed)
                rows.append(
                    {
                        "parameter": name,
                        "kind": kind,
                        "members": ";".join(members),
                        "wtp": w,
                        "evppi": value,
                        "evppi_se": se,
                        "evpi": evpi,
                        "share_of_evpi": value / evpi if evpi > 0 else math.nan,
                    }
                )
    return pd.DataFrame(rows)


def noise_warnings(scenario: Scenario, result: Psa) -> list[str]:
    """Patient-level noise against parameter uncertainty in incremental NMB (first WTP)."""
    warnings = []
    w = scenario.wtp[0]
    c = result.comparator
    inmb = w * (result.qalys - result.qalys[:, [c]]) - (result.costs - result.costs[:, [c]])
    for s, name in enumerate(result.strategies):
        if s == c or inmb.shape[0] < 2:
            continue
        total = float(np.var(inmb[:, s], ddof=1))
        noise = float(np.mean(result.noise[:, s]))
        parameter = max(total - noise, 0.0)
        if noise > NOISE_LIMIT * parameter:
            share = "all" if parameter == 0 else f"{noise / parameter:.0%}"
            warnings.append(
                f"patient-level noise in the incremental NMB of {name} vs "
                f"{result.strategies[c]} at WTP {w:,.0f} is {share} of the parameter "
                f"uncertainty (limit {NOISE_LIMIT:.0%}): raise `patients` (now "
                f"{scenario.patients:,}) for a PSA that measures parameter uncertainty"
            )
    return warnings


@dataclass
class Running:
    """The base case's running means after each block (convergence against patients)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def observe(self, scenario: Scenario, tally: Tally) -> None:
        n = tally.patients
        wtp = scenario.wtp[0]
        for s, name in enumerate(scenario.strategy_names()):
            quantities: dict[str, dict[int, float]] = {
                "cost": {tally.index(s, "cost"): 1.0},
                "qaly": {tally.index(s, "qaly"): 1.0},
            }
            if s != tally.comparator:
                quantities[f"incremental_nmb_{wtp_tag(wtp)}"] = tally.incremental_nmb_weights(
                    s, wtp
                )
            for quantity, weights in quantities.items():
                mean = tally.combination(weights)[0] / n
                self.rows.append(
                    {
                        "axis": "patients",
                        "n": n,
                        "strategy": name,
                        "quantity": quantity,
                        "running_mean": mean,
                        "mcse": math.sqrt(combination_variance(tally, weights)),
                    }
                )


def convergence_table(scenario: Scenario, running: Running, result: Psa | None) -> pd.DataFrame:
    rows = list(running.rows)
    if result is not None:
        wtp = scenario.wtp[0]
        c = result.comparator
        n = result.means.shape[0]
        for s, name in enumerate(result.strategies):
            series = {"cost": result.costs[:, s], "qaly": result.qalys[:, s]}
            if s != c:
                series[f"incremental_nmb_{wtp_tag(wtp)}"] = wtp * (
                    result.qalys[:, s] - result.qalys[:, c]
                ) - (result.costs[:, s] - result.costs[:, c])
            for quantity, x in series.items():
                mean, mcse = econ.running_mean(x)
                for i in range(n):
                    rows.append(
                        {
                            "axis": "iterations",
                            "n": i + 1,
                            "strategy": name,
                            "quantity": quantity,
                            "running_mean": float(mean[i]),
                            "mcse": float(mcse[i]),
                        }
                    )
    return pd.DataFrame(rows, columns=["axis", "n", "strategy", "quantity", "running_mean", "mcse"])
