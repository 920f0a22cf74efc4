"""Probabilistic sensitivity analysis (DESIGN §5, issue 4) and its tables.

Iteration k draws the uncertain parameters (:mod:`sim.scenario.params`) and simulates its
own patients (parameter set k) in every strategy: common random numbers across
strategies. The numbers of the CEAC, EVPI and EVPPI come from :mod:`sim.analysis.econ`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sim.analysis import econ
from sim.analysis.econ import wtp_tag
from sim.engines.tally import OUTCOMES
from sim.execution import background, runner
from sim.execution.backends import Backend
from sim.numerics import lifetable
from sim.scenario import Scenario, ScenarioError, UncertainShares, params


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
    variants = params.Variants(scenario, file)
    for k, tally in zip(ks, sets, strict=True):
        i = k - 1
        values = variants.draw(k)
        out.means[i] = tally.means()
        out.values[i] = [values[c] for c in columns]
        for s in range(len(names)):
            if s != out.comparator:
                out.noise[i, s] = tally.combination_variance(tally.incremental_nmb_weights(s, wtp))
        if progress is not None:
            progress(1)
    return out


def bad_draws(
    scenario: Scenario, file: str | Path
) -> Iterator[tuple[int, dict[str, float], ScenarioError]]:
    """The PSA iterations among those drawing an uncertain value's extremes whose scenario
    fails validation as the run would validate it: (iteration, its draws, the error)."""
    variants = params.Variants(scenario, file, runner.price_index(scenario))
    for k in params.extreme_iterations(scenario, scenario.psa_iterations):
        drawn = variants.draw(k)
        try:
            variants.apply(drawn)
        except ScenarioError as exc:
            yield k, drawn, exc


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
                    **_population(scenario, "evpi", ceac.evpi[k], ceac.evpi_se[k]),
                }
            )
    return pd.DataFrame(rows)


def _population(scenario: Scenario, name: str, value: float, se: float) -> dict[str, float]:
    """A per-patient value of information for the scenario's population (none without
    `analysis.population`), and its Monte Carlo SE."""
    population = scenario.analysis.population
    if population is None:
        return {}
    factor = econ.population_factor(
        population.patients_per_year, population.years, scenario.discount.costs
    )
    return {
        f"population_{name}": factor * float(value),
        f"population_{name}_se": factor * float(se),
    }


def evppi_table(
    scenario: Scenario, result: Psa, stop: threading.Event | None = None
) -> pd.DataFrame:
    """EVPPI of each uncertain parameter (a Dirichlet set as one group) and of each named
    group, at each WTP of the scenario, by the regression meta-model (econ.evppi); `stop`
    (set when run in the background of a run that has stopped) ends it between fits."""
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
    nmbs = [econ.nmb(result.costs, result.qalys, w) for w in scenario.wtp]
    # one BLAS thread: a threaded BLAS sums in an order that depends on the thread count,
    # and the table must be the same bytes on any machine
    found = []
    with threadpool_limits(limits=1, user_api="blas"):
        resamples = econ.Resamples(nmbs, econ.EVPPI_BOOTSTRAP, scenario.seed)
        for _name, _kind, members in targets:
            background.check(stop)
            x = result.values[:, [index[m] for m in members]]
            found.append(econ.evppi_many(nmbs, x, seed=scenario.seed, resamples=resamples))
    rows = []
    for k, w in enumerate(scenario.wtp):
        evpi = float(ceac.evpi[k])
        for (name, kind, members), values in zip(targets, found, strict=True):
            value, se = values[k]
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
                    **_population(scenario, "evppi", value, se),
                }
            )
    return pd.DataFrame(rows)
