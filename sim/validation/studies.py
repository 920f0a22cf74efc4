"""Published economic evaluations reproduced (issue 16): each study's set-up, built from
the study's own inputs where they could be read, beside the study's headline figures.

A figure is reproduced when the model's value lies within the study's own reported range,
or within 15% where the study reports none. Where it is not, the study's entry in
``published.yaml`` names the structural difference and a change that removes it: the
figure is run again with that change, so the page shows how much of the gap it explains.
Such a run explains; it is never counted as a validation. A figure the set-up cannot
produce (a study's costs that were not available) is listed as not compared, with why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim import scenario
from sim.analysis import econ
from sim.engines.tally import Tally
from sim.execution import runner
from sim.numerics.lifetable import LifeTable
from sim.validation.setups import with_values

Z95 = econ.Z95
#: The relative tolerance of a figure published without an interval.
TOLERANCE = 0.15
#: Break-even years are searched over the first this many years.
BREAK_EVEN_YEARS = 10


@dataclass(frozen=True)
class Figure:
    """One headline figure of a study beside the model's (and beside each explanation)."""

    study: str
    check: str
    reference: float
    reference_source: str
    model: float
    model_low: float
    model_high: float
    tolerance: str
    passed: bool
    compared: bool
    note: str
    explained: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def difference(self) -> float:
        return self.model - self.reference


def _incremental(sc: scenario.Scenario, tally: Tally, outcome: str) -> tuple[float, float, float]:
    """ITB minus the comparator per patient, with its paired 95% interval."""
    itb, c = sc.strategy_names().index("itb"), tally.comparator
    weights = {tally.index(itb, outcome): 1.0, tally.index(c, outcome): -1.0}
    total, _ = tally.combination(weights)
    mean = total / tally.patients
    half = Z95 * math.sqrt(tally.combination_variance(weights))
    return mean, mean - half, mean + half


def _icer(sc: scenario.Scenario, tally: Tally) -> tuple[float, float, float]:
    """ICER of ITB against the comparator; delta-method interval (paired patients)."""
    d_cost, _, _ = _incremental(sc, tally, "cost")
    d_qaly, _, _ = _incremental(sc, tally, "qaly")
    icer = d_cost / d_qaly
    itb, c = sc.strategy_names().index("itb"), tally.comparator
    weights = {
        tally.index(itb, "cost"): 1.0,
        tally.index(c, "cost"): -1.0,
        tally.index(itb, "qaly"): -icer,
        tally.index(c, "qaly"): icer,
    }
    half = Z95 * math.sqrt(tally.combination_variance(weights)) / abs(d_qaly)
    return icer, icer - half, icer + half


def _cost_ratio(sc: scenario.Scenario, tally: Tally) -> tuple[float, float, float]:
    """ITB's mean discounted cost over the comparator's; delta-method interval."""
    itb, c = sc.strategy_names().index("itb"), tally.comparator
    cost_itb = tally.sum_v[tally.index(itb, "cost")] / tally.patients
    cost_c = tally.sum_v[tally.index(c, "cost")] / tally.patients
    ratio = cost_itb / cost_c
    weights = {tally.index(itb, "cost"): 1.0, tally.index(c, "cost"): -ratio}
    half = Z95 * math.sqrt(tally.combination_variance(weights)) / cost_c
    return ratio, ratio - half, ratio + half


def crossing(values: list[float]) -> float:
    """First year (interpolated) at which year-by-year values 1, 2, ... fall to 0 or below."""
    for year, (before, after) in enumerate(zip([None, *values], values, strict=False), start=1):
        if after <= 0.0:
            if before is None or before <= 0.0:
                return float(year)
            return year - 1 + before / (before - after)
    return math.inf


class Studies:
    """Runs the set-ups of the published evaluations (one tally per set-up, horizon and
    change, kept for the figures that share it)."""

    def __init__(
        self, folder: Path, patients: int, table: LifeTable, progress: Callable[[str], None]
    ) -> None:
        self.folder, self.patients, self.table, self.progress = folder, patients, table, progress
        self._runs: dict[tuple[str, float | None, tuple], tuple[scenario.Scenario, Tally]] = {}

    def _run(
        self, set_up: str, horizon: float | None, change: dict[str, Any]
    ) -> tuple[scenario.Scenario, Tally]:
        key = (set_up, horizon, tuple(sorted(change.items())))
        if key not in self._runs:
            path = self.folder / set_up
            doc = scenario.load(path).model_dump(mode="json")
            doc = with_values(doc, **{k.replace(".", "__"): v for k, v in change.items()})
            doc["patients"] = self.patients
            if horizon is not None:
                doc["horizon_years"] = horizon
            sc = scenario.validate(doc, path)
            self._runs[key] = (sc, runner.simulate(sc, self.table))
        return self._runs[key]

    def value(
        self, set_up: str, figure: dict[str, Any], change: dict[str, Any]
    ) -> tuple[float, float, float]:
        """The model's value of a figure (with its 95% Monte Carlo interval)."""
        output = figure["output"]
        if output == "break_even":
            by_year = [
                _incremental(*self._run(set_up, float(y), change), "cost")
                for y in range(1, BREAK_EVEN_YEARS + 1)
            ]
            # the interval: the years at which the interval's limits cross
            return (
                crossing([m for m, _, _ in by_year]),
                crossing([lo for _, lo, _ in by_year]),
                crossing([hi for _, _, hi in by_year]),
            )
        sc, tally = self._run(set_up, figure.get("horizon_years"), change)
        if output == "incremental_cost":
            return _incremental(sc, tally, "cost")
        if output == "incremental_qaly":
            return _incremental(sc, tally, "qaly")
        if output == "icer":
            return _icer(sc, tally)
        if output == "cost_ratio":
            return _cost_ratio(sc, tally)
        raise ValueError(f"unknown output {output!r} in published.yaml")

    def study(self, entry: dict[str, Any]) -> list[Figure]:
        name, set_up = entry["study"], entry["set_up"]
        explanations = entry.get("explanations", [])
        figures = []
        for figure in entry["figures"]:
            source = " ".join(figure["source"].split())
            if figure["output"] == "not_compared":
                figures.append(
                    Figure(
                        name,
                        figure["check"],
                        figure["value"],
                        source,
                        math.nan,
                        math.nan,
                        math.nan,
                        "not compared",
                        False,
                        False,
                        " ".join(figure["why"].split()),
                    )
                )
                continue
            model = self.value(set_up, figure, {})
            low, high = figure.get("range", (None, None))
            if low is not None:
                high = math.inf if high is None else high
                tolerance = f"within the study's range {_plain(low)}-{_plain(high)}"
                passed = low <= model[0] <= high
            else:
                tolerance = f"within {TOLERANCE:.0%} (the study reports no interval)"
                passed = abs(model[0] / figure["value"] - 1.0) <= TOLERANCE
            explained = ()
            if not passed:
                explained = tuple(
                    (" ".join(e["what"].split()), self.value(set_up, figure, e["change"])[0])
                    for e in explanations
                )
            note = "" if passed else " ".join(entry.get("why", "").split())
            figures.append(
                Figure(
                    name,
                    figure["check"],
                    figure["value"],
                    source,
                    *model,
                    tolerance,
                    passed,
                    True,
                    note,
                    explained,
                )
            )
        self.progress(name)
        return figures


def _plain(x: float) -> str:
    return "" if math.isinf(x) else f"{x:,.4g}"
