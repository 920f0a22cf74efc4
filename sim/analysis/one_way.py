"""One-way analysis (tornado) and threshold search (DESIGN §5, issue 4).

Each value runs as parameter set 0, so it simulates the very patients of the base case
and a difference is the parameter's alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import econ
from sim.engines.tally import OUTCOMES, Tally
from sim.execution import runner
from sim.execution.backends import Backend
from sim.numerics import lifetable
from sim.scenario import Scenario, Uncertain, params


@dataclass(frozen=True)
class OneWay:
    """The tornado and threshold tables."""

    tornado: pd.DataFrame
    threshold: pd.DataFrame


def _incremental(scenario: Scenario, tally: Tally) -> dict[str, tuple[float, float, float, float]]:
    """Per non-comparator strategy: (incremental NMB at the first WTP, ICER, delta cost,
    delta QALYs); the NMB at any other WTP follows from the last two."""
    m = tally.means()
    c = tally.comparator
    wtp = scenario.wtp[0]
    out = {}
    cost, qaly = OUTCOMES.index("cost"), OUTCOMES.index("qaly")
    for s, name in enumerate(scenario.strategy_names()):
        if s == c:
            continue
        d_cost, d_qaly = m[s, cost] - m[c, cost], m[s, qaly] - m[c, qaly]
        out[name] = (wtp * d_qaly - d_cost, econ.icer(d_cost, d_qaly)[0], d_cost, d_qaly)
    return out


def _ranges(scenario: Scenario) -> dict[str, tuple[float, float, str]]:
    """Each scalar uncertain parameter's low and high value (and where they come from)."""
    return {
        path: params.dsa_range(entry, params.value_at(scenario, path))
        for path, entry in scenario.uncertainty.items()
        if isinstance(entry, Uncertain)  # a Dirichlet set has no single low and high
    }


def _spans(scenario: Scenario) -> dict[str, tuple[float, float, np.ndarray]]:
    """Each threshold search's range and its starting grid of nine values."""
    spans = {}
    for path, span in scenario.analysis.thresholds.items():
        low, high = span.low, span.high
        if low is None or high is None:
            entry = scenario.uncertainty[path]
            assert isinstance(entry, Uncertain)
            d_low, d_high, _ = params.dsa_range(entry, params.value_at(scenario, path))
            low = d_low if low is None else low
            high = d_high if high is None else high
        spans[path] = (low, high, np.linspace(low, high, 9))
    return spans


def points(scenario: Scenario) -> list[tuple[str, float]]:
    """The values the one-way and threshold analyses run first: each parameter's low and
    high, each search's grid (`validate` checks each of them as `run` would)."""
    return [
        (path, value) for path, (low, high, _) in _ranges(scenario).items() for value in (low, high)
    ] + [(path, float(x)) for path, (_, _, grid) in _spans(scenario).items() for x in grid]


def runs_known(scenario: Scenario) -> int:
    """How many runs the one-way analysis makes before its threshold searches refine."""
    return len(dict.fromkeys(points(scenario)))


def one_way(
    scenario: Scenario,
    table: lifetable.LifeTable,
    base: Tally,
    file: str | Path,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
    backend: Backend | None = None,
    refining: Callable[[], None] | None = None,
) -> OneWay:
    """Tornado over every scalar uncertain parameter, then the threshold searches: first
    the runs of :func:`points` (as many as :func:`runs_known` says), then, once `refining`
    is called, the searches' refinements (as many as the crossings need)."""
    from scipy import optimize  # the threshold searches only

    base_inc = _incremental(scenario, base)
    comparator, wtp = scenario.comparator, scenario.wtp[0]
    cache: dict[tuple[str, float], dict[str, tuple[float, float, float, float]]] = {}

    def run_all(points: list[tuple[str, float]]) -> None:
        """Simulate the points not yet known, all at once (every worker busy)."""
        todo = list(dict.fromkeys(p for p in points if p not in cache))
        values = [{path: value} for path, value in todo]
        tallies = runner.simulate_values(scenario, table, str(file), values, engine, backend)
        for point, tally in zip(todo, tallies, strict=True):
            cache[point] = _incremental(scenario, tally)  # strategies and WTP: not uncertain
            if progress is not None:
                progress(1)

    def at(path: str, value: float) -> dict[str, tuple[float, float, float, float]]:
        run_all([(path, value)])
        return cache[(path, value)]

    ranges, spans = _ranges(scenario), _spans(scenario)
    run_all(points(scenario))

    def nmb(inc: tuple[float, float, float, float], w: float) -> float:
        """Incremental NMB at WTP w from the increments (at the first WTP the very
        number _incremental gives)."""
        return w * inc[3] - inc[2]

    rows = []
    for path, (low, high, source) in ranges.items():
        lo, hi = at(path, low), at(path, high)
        for name, base_row in base_inc.items():
            for w in scenario.wtp:
                rows.append(
                    {
                        "strategy": name,
                        "comparator": comparator,
                        "wtp": w,
                        "parameter": path,
                        "base_value": params.value_at(scenario, path),
                        "low_value": low,
                        "high_value": high,
                        "range_source": source,
                        "base_incremental_nmb": nmb(base_row, w),
                        "incremental_nmb_low": nmb(lo[name], w),
                        "incremental_nmb_high": nmb(hi[name], w),
                        "base_icer": base_row[1],
                        "icer_low": lo[name][1],
                        "icer_high": hi[name][1],
                        "swing": abs(nmb(hi[name], w) - nmb(lo[name], w)),
                    }
                )
    order = {name: i for i, name in enumerate(scenario.strategy_names())}
    at_wtp = {w: i for i, w in enumerate(scenario.wtp)}
    rows.sort(key=lambda r: (order[r["strategy"]], at_wtp[r["wtp"]], -r["swing"], r["parameter"]))
    thresholds: list[dict[str, Any]] = []
    if spans and refining is not None:
        refining()
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
