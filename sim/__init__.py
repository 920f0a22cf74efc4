"""baclofen-sim: intrathecal baclofen pump versus oral baclofen, a discrete-event risk model.

The Python API::

    import sim
    scenario = sim.load("scenarios/base.yaml", patients=3000, psa_iterations=0)
    results = sim.run(scenario)        # base case, PSA, one-way analyses, every table
    results.summary                    # pandas DataFrames: results.tables["events"], ...
    results.write("results")           # results/base/, as `baclofen-sim run` writes it
    fit = sim.calibrate(sim.load("scenarios/calibration/mortality.yaml"))  # its calibrate:
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.analysis.calibration import Fit, calibrate
    from sim.pipeline import Results, run
    from sim.scenario import Scenario, ScenarioError, load

__all__ = [
    "Fit",
    "Results",
    "Scenario",
    "ScenarioError",
    "__version__",
    "calibrate",
    "load",
    "run",
]

#: Where each public name lives: imported when first used, so that `import sim` (and the
#: command line's `validate`) stays quick.
_PUBLIC = {
    "load": "sim.scenario",
    "Scenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
    "run": "sim.pipeline",
    "Results": "sim.pipeline",
    "calibrate": "sim.analysis.calibration",
    "Fit": "sim.analysis.calibration",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata: 35 ms of every command's start
        from importlib import metadata

        try:
            return metadata.version("baclofen-sim")
        except metadata.PackageNotFoundError:  # a source tree that is not installed
            return "0+unknown"
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
