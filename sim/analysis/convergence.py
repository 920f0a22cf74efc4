"""Convergence of a run (issue 4): running means with Monte Carlo standard errors against
patients (the base case, block by block) and against PSA iterations, and a warning when
patient-level noise is more than 10% of the parameter uncertainty in incremental NMB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import econ
from sim.analysis.econ import wtp_tag
from sim.analysis.psa import Psa
from sim.engines.tally import Tally
from sim.scenario import Scenario

#: Share of the PSA variance of incremental NMB that patient-level noise may take before
#: a warning (issue 4: more than 10% of the parameter uncertainty).
NOISE_LIMIT = 0.10


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
                        "mcse": math.sqrt(tally.combination_variance(weights)),
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
