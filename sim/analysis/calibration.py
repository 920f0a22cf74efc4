"""Calibration as a step of its own (issue 16): a scenario's `calibrate:` block names the
parameters the fit may move, within their ranges, and the targets it fits (a published
figure with its standard error, and the model output that matches it).

The fit minimises the sum of squared standard-error distances between the model and the
targets. Every evaluation simulates the same patients (parameter set 0, the scenario's
seed: common random numbers), so the objective is a deterministic function of the
parameters and the fit gives the same values on every run. It writes the calibrated
values, the fit at each target, and the variant scenario a user runs. A target used here
is a calibration target: the validation never counts it as a validation.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import optimize

from sim import scenario as sc
from sim.engines.tally import Tally
from sim.execution import runner
from sim.model.events import COUNTERS, GROUP_ID
from sim.numerics import lifetable
from sim.scenario.references import expand, lookup
from sim.scenario.uncertainty import Calibrate, CalibrationTarget


@dataclass(frozen=True)
class Fit:
    """The result of a calibration: fitted values, the fit at each target, and the
    variant scenario that carries the values."""

    parameters: pd.DataFrame  # parameter, scale, low, high, fitted, path, cited, calibrated
    targets: pd.DataFrame  # target, output, strategy, value, se, model, z, source
    variant: str  # YAML of the calibrated scenario (extends the calibrated file)
    evaluations: int

    def values(self) -> dict[str, float]:
        """Each concrete parameter path and its calibrated value."""
        return dict(zip(self.parameters.path, self.parameters.calibrated, strict=True))


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    node[leaf] = value


def concrete(step: Calibrate, doc: dict[str, Any], x: np.ndarray) -> dict[str, float]:
    """The value of every concrete path at the fit's point x (one number per parameter:
    a value, or a factor on each cited value of a scaled set)."""
    values = {}
    for (path, spec), xi in zip(step.parameters.items(), x, strict=True):
        for p in expand(doc, path):
            values[p] = float(lookup(doc, p)) * xi if spec.scale else float(xi)
    return values


def output(target: CalibrationTarget, scenario: sc.Scenario, tally: Tally) -> float:
    """A target's model output from a run's tally (cost_ratio: see `_cost_ratio`)."""
    s = scenario.strategy_names().index(target.strategy)
    if target.output == "deaths_per_100_patient_years":
        return 100.0 * tally.count[s, GROUP_ID["any_death"]] / tally.followup[s]
    counters = [COUNTERS.index(e) for e in target.events]
    if target.output == "events_per_pump_year":
        return float(sum(tally.count[s, c] for c in counters)) / float(tally.itb_years[s])
    if target.output == "event_free_share":
        if len(counters) != 1:
            # a share free of several events needs their union: a group counter
            raise ValueError("event_free_share takes one event or one group counter")
        return 1.0 - tally.with_event[s, counters[0]] / tally.patients
    raise ValueError(f"unknown output {target.output!r}")


class Calibration:
    """The runs of one calibration: its set-up document and its life table."""

    def __init__(self, scenario: sc.Scenario, progress: Callable[[str], None] | None = None):
        if scenario.calibrate is None:
            raise ValueError(f"scenario {scenario.name} has no calibrate: block")
        self.scenario, self.step = scenario, scenario.calibrate
        self.file = scenario.source or scenario.name
        doc = scenario.model_dump(mode="json")
        doc["calibrate"] = None
        doc["psa_iterations"] = 0
        for path, value in self.step.set_up.items():
            _set(doc, path, value)
        self.doc = doc
        self.table = lifetable.load(scenario.cohort.life_table, scenario.base_dir)
        self.progress = progress or (lambda _: None)
        self.evaluations = 0
        self._cache: dict[tuple, dict[str, float]] = {}

    def simulate(self, values: dict[str, float], horizon: float | None) -> tuple:
        """A run of the calibration's set-up with the parameters at `values` (paths)."""
        doc = copy.deepcopy(self.doc)
        for path, value in values.items():
            _set(doc, path, value)
        if horizon is not None:
            doc["horizon_years"] = horizon
        scenario = sc.validate(doc, self.file).with_source(Path(self.file))
        return scenario, runner.simulate(scenario, self.table)

    def outputs(self, x: np.ndarray) -> dict[str, float]:
        """Every target's model output at x (the same patients at every x)."""
        key = tuple(float(v) for v in x)
        if key not in self._cache:
            self._cache[key] = self.outputs_at(concrete(self.step, self.doc, np.asarray(x)))
            self.evaluations += 1
        return self._cache[key]

    def outputs_at(self, values: dict[str, float]) -> dict[str, float]:
        """Every target's model output with the parameters at these values (paths)."""
        runs: dict[float | None, tuple] = {}

        def run(horizon: float | None) -> tuple:
            if horizon not in runs:
                runs[horizon] = self.simulate(values, horizon)
            return runs[horizon]

        found = {}
        for name, target in self.step.targets.items():
            if target.output == "cost_ratio":
                found[name] = self._cost_ratio(target, run)
            else:
                found[name] = output(target, *run(None))
        return found

    def paths(self) -> list[str]:
        """The concrete parameter paths the fit moves."""
        return [p for path in self.step.parameters for p in expand(self.doc, path)]

    def at(self, scenario: sc.Scenario) -> dict[str, float]:
        """The values another scenario (the base case) gives the fitted parameters."""
        values = scenario.model_dump(mode="json")
        return {p: float(lookup(values, p)) for p in self.paths()}

    def _cost_ratio(self, target: CalibrationTarget, run: Callable[[float | None], tuple]):
        """Undiscounted cost of the strategy over years [a, b] against the comparator's."""
        a, b = target.years or (0.0, 0.0)
        scenario, late = run(float(b))
        s = scenario.strategy_names().index(target.strategy)
        c = late.comparator
        costs = late.undiscounted_cost_by_category.sum(axis=1)
        if a > 0:
            costs = costs - run(float(a))[1].undiscounted_cost_by_category.sum(axis=1)
        return float(costs[s] / costs[c])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        found = self.outputs(x)
        return np.array([(found[n] - t.value) / t.se for n, t in self.step.targets.items()])

    def fit(self) -> Fit:
        specs = list(self.step.parameters.values())
        low = np.array([s.low for s in specs])
        high = np.array([s.high for s in specs])
        if len(specs) == 1:
            best = optimize.minimize_scalar(
                lambda v: float(np.sum(self.residuals(np.array([v])) ** 2)),
                bounds=(low[0], high[0]),
                method="bounded",
                options={"xatol": 1e-5 * (high[0] - low[0])},
            )
            x = np.array([best.x])
        else:
            x = optimize.least_squares(
                self.residuals, (low + high) / 2, bounds=(low, high), diff_step=1e-3
            ).x
        self.progress("fit")
        return self._result(x)

    def _result(self, x: np.ndarray) -> Fit:
        found = self.outputs(x)
        values = concrete(self.step, self.doc, x)
        rows = []
        for (path, spec), xi in zip(self.step.parameters.items(), x, strict=True):
            for p in expand(self.doc, path):
                rows.append(
                    {
                        "parameter": path,
                        "scale": spec.scale,
                        "low": spec.low,
                        "high": spec.high,
                        "fitted": float(xi),
                        "path": p,
                        "cited": float(lookup(self.doc, p)),
                        "calibrated": values[p],
                    }
                )
        targets = pd.DataFrame(
            [
                {
                    "target": name,
                    "output": t.output,
                    "strategy": t.strategy,
                    "value": t.value,
                    "se": t.se,
                    "model": found[name],
                    "z": (found[name] - t.value) / t.se,
                    "source": t.source,
                }
                for name, t in self.step.targets.items()
            ]
        )
        parameters = pd.DataFrame(rows)
        return Fit(parameters, targets, self._variant(parameters, targets), self.evaluations)

    def _variant(self, parameters: pd.DataFrame, targets: pd.DataFrame) -> str:
        """The calibrated scenario, as a variant of the calibrated file. Values are
        written to 6 significant digits (what the fit found, read back exactly)."""
        named = "; ".join(
            f"{r.target} {r.value:.6g} (se {r.se:.3g}; {' '.join(r.source.split())})"
            for r in targets.itertuples()
        )
        doc: dict[str, Any] = {
            "extends": None,
            "name": f"{self.scenario.name}-calibrated",
            "calibrate": None,
        }
        sources = {}
        for r in parameters.itertuples():
            value = float(f"{r.calibrated:.6g}")
            node = doc
            *parents, leaf = r.path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
            how = (
                f"the cited {r.cited:.6g} times a common factor {r.fitted:.6g} on {r.parameter}"
                if r.scale
                else f"fitted within {r.low:g}-{r.high:g}"
            )
            sources[r.path] = f"CALIBRATED ({how}) to {named}"
        doc["sources"] = sources
        return yaml.safe_dump(doc, sort_keys=False, width=1000)

    def variant_file(self, fit: Fit, folder: Path) -> tuple[str, str]:
        """The variant scenario's file name and text, to be written into `folder` (its
        `extends:` a path from there to the calibrated file)."""
        source = Path(self.file)
        variant = fit.variant.replace("extends: null", f"extends: {_relative(source, folder)}", 1)
        header = (
            f"# Made by `baclofen-sim calibrate {source.name}`: the calibrated values of\n"
            f"# {source.name}, in {fit.evaluations} evaluations with common random numbers.\n"
            "# It extends that file by a path from this folder: moved, give extends: its path.\n"
        )
        return f"{self.scenario.name}-calibrated.yaml", header + variant


def _relative(source: Path, folder: Path) -> str:
    """`source` as seen from the folder the variant will be in."""
    try:
        return os.path.relpath(source.resolve(), folder.resolve())
    except ValueError:  # another drive
        return str(source.resolve())


def calibrate(scenario: sc.Scenario, progress: Callable[[str], None] | None = None) -> Fit:
    """Fit a scenario's `calibrate:` block (the Python API's ``sim.calibrate``)."""
    return Calibration(scenario, progress).fit()
