"""The engine under fuzzing (issue 18): values pushed to the edges of what the loader
accepts still give a run that ends.

Hypothesis moves one to three numeric values of the shipped scenarios towards the edges of
their ranges (0, the smallest positive float, just below and at 1, a millionth and a
million times the value, a huge number) and runs what validates briefly: 8 patients, the
base case, 2 PSA iterations and every table. The run must end with finite costs, QALYs
and life-years, the two engines giving the same tallies for its first patients, or with a
:class:`ScenarioError` of one line (the per-life event budget names the patient and the
clock). The examples run in a child process under a time limit, so that a run that never
ends fails this test instead of stalling the suite.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from conftest import ROOT, key_paths
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

#: Examples per run, and the child's time limit: about 40 s of work on this machine; the
#: limit only has to tell a hang from a slow machine.
EXAMPLES = 60
LIMIT_SECONDS = 600

#: Patients whose lives both engines run, to be compared to the bit.
ENGINE_PATIENTS = 3

#: Run settings and calendar years: not model values (their edges are the loader's tests).
SETTINGS = {"seed", "patients", "psa_iterations", "price_year", "wtp", "cost_years"}


def _numbers(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Key paths of every number in the document (not booleans), outside the settings."""
    found = []
    for path in key_paths(doc):
        value = doc
        for key in path:
            value = value[key]
        if (
            path[0] not in SETTINGS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            found.append(path)
    return found


def edges(value: float) -> list[float]:
    """Values towards the edges of a number's range: its type kept for whole numbers."""
    if isinstance(value, int):
        return [0, 1, value * 1000, 10**9]
    scaled = [value * 1e-6, value * 1e6] if value else []
    return [0.0, 5e-324, 1e-9, 1.0 - 1e-12, 1.0, 1e12, *scaled]


def _documents() -> dict[str, dict[str, Any]]:
    from sim import scenario

    docs = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        doc = scenario.resolve(path)
        doc.pop("extends", None)
        doc["patients"], doc["psa_iterations"] = 8, 2
        docs[path.name] = doc
    return docs


@st.composite
def edge_documents(draw: st.DrawFn, docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(docs[draw(st.sampled_from(sorted(docs)))])
    paths = _numbers(doc)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(st.sampled_from(edges(parent[path[-1]])))
    return doc


def run_one(doc: dict[str, Any], folder: Path) -> str:
    """Load and run one document: 'refused', 'stopped' or 'ran'; anything else raises."""
    import sim
    from sim.execution import runner
    from sim.scenario import ScenarioError

    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    try:
        loaded = sim.load(path)
    except ScenarioError:
        return "refused"
    try:
        results = sim.run(loaded, one_way_analyses=False)
    except ScenarioError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith(f"{path}: "), text
        return "stopped"
    summary = results.summary
    for column in ("cost", "qaly", "life_years"):
        values = summary[column].to_numpy(float)
        assert np.isfinite(values).all(), (column, values)
    # two engines, one model, at the edges too: the first patients' tallies to the bit
    few = loaded.model_copy(update={"patients": ENGINE_PATIENTS})
    fast, des = (runner.run(few, folder, engine=engine) for engine in ("fast", "des"))
    for name, value in vars(fast).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, getattr(des, name), err_msg=name)
    return "ran"


def explore() -> None:
    """The child's work: the examples, then a count of each outcome on stdout."""
    docs = _documents()
    seen = {"refused": 0, "stopped": 0, "ran": 0}

    @settings(
        phases=[Phase.generate],
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(doc=edge_documents(docs))
    def case(doc: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            seen[run_one(doc, Path(folder))] += 1

    case()
    print(" ".join(f"{k}={v}" for k, v in seen.items()))


def test_edge_values_give_a_run_that_ends_or_one_clear_line() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT / "tests")]),
    }
    child = subprocess.run(
        [sys.executable, "-c", "import test_engine_fuzz as t; t.explore()"],
        capture_output=True,
        text=True,
        timeout=LIMIT_SECONDS,
        env=env,
        cwd=ROOT,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-6000:]
    counts = dict(item.split("=") for item in child.stdout.split()[-3:])
    # the fuzzer must reach the engine, not only the loader's refusals
    assert int(counts["ran"]) + int(counts["stopped"]) >= EXAMPLES // 4, counts
    assert math.fsum(map(int, counts.values())) == EXAMPLES, counts
