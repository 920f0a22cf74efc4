"""What the uncertainty analyses will run, validated before anything runs: `validate`,
`run`, `batch` and `sim.run()` refuse the same files, and a value outside what its
parameter allows is an error at once, not after the base case (and the PSA) have run."""

from __future__ import annotations

import re
from pathlib import Path

from sim.analysis import one_way as one_way_analysis
from sim.analysis import psa
from sim.scenario import Scenario, ScenarioError, params


def check(loaded: Scenario, path: Path, one_way: bool = True) -> None:
    """Every one-way and threshold value (with `one_way`), and the PSA iterations that
    draw each uncertain value's extremes, validated as the run will validate them."""
    if one_way:
        variants = params.Variants(loaded, path)
        for dotted, value in one_way_analysis.points(loaded):
            try:
                variants.apply({dotted: value})
            except ScenarioError as exc:
                raise ScenarioError(
                    path,
                    f"uncertainty.{dotted}",
                    f"the one-way analysis would run it at {value:.6g}, where "
                    f"{_problem(exc, value)}; narrow the distribution or give it low: and high:",
                ) from None
    for k, drawn, exc in psa.bad_draws(loaded, path):
        named = [p for p in drawn if exc.path.startswith(p) or p in exc.message]
        if len(named) != 1:  # values that only together break a rule
            raise ScenarioError(path, exc.path, f"PSA iteration {k} would fail: {exc.message}")
        value = drawn[named[0]]
        raise ScenarioError(
            path,
            f"uncertainty.{named[0]}",
            f"PSA iteration {k} would draw it at {value:.6g}, where {_problem(exc, value)}; "
            "narrow the distribution, or take one that stays in range (beta for a "
            "probability, gamma or lognormal for a cost or a rate)",
        )


def _problem(exc: ScenarioError, value: float) -> str:
    """What the validation said of a changed value, without the value said again."""
    problem = re.sub(r" \(with the uncertain value [^)]*\)$", "", exc.message)
    return problem.removeprefix(f"{value!r}: ")
