"""The Python API: what a notebook user calls gives what the command line writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BASE, BASE_NAME, contents

import sim


def test_the_public_names_are_listed_and_the_version_comes_from_the_package():
    assert set(dir(sim)) == {
        "Fit",
        "Results",
        "Scenario",
        "ScenarioError",
        "__version__",
        "calibrate",
        "load",
        "run",
    }
    from importlib import metadata

    assert sim.__version__ == metadata.version("baclofen-sim")
    with pytest.raises(AttributeError):
        sim.no_such_name  # noqa: B018


def test_run_gives_what_the_command_line_writes(base_run: Path, tmp_path: Path) -> None:
    """The API in this process against the console script in a fresh interpreter
    (`base_run`: `run scenarios/base.yaml --patients 200 --psa-iterations 20`)."""
    results = sim.run(sim.load(BASE, patients=200, psa_iterations=20))
    written = results.write(tmp_path / "api")
    assert written == tmp_path / "api" / BASE_NAME
    assert contents(written) == contents(base_run / BASE_NAME)
    assert sorted(p.name for p in written.iterdir()) == sorted(
        p.name for p in (base_run / BASE_NAME).iterdir()
    )
    assert list(results.tables) == [
        "summary",
        "events",
        "cost_breakdown",
        "cumulative_incidence",
        "subgroups",
        "state_occupancy",
        "convergence",
        "psa",
        "ceac",
        "evppi",
        "tornado",
        "threshold",
    ]
    assert results.summary.set_index("strategy").loc["itb", "patients"] == 200


def test_load_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(sim.ScenarioError, match="patients"):
        sim.load(BASE, patients=0)
    assert sim.load(BASE).source == BASE


def test_the_large_tables_are_also_parquet_with_the_same_values(base_run: Path) -> None:
    """psa, state_occupancy and subgroups as Parquet: the CSV's rows and columns, at full
    precision (the CSV keeps 10 significant digits)."""
    import pandas as pd

    folder = base_run / BASE_NAME
    for name in ("psa", "state_occupancy", "subgroups"):
        parquet = pd.read_parquet(folder / f"{name}.parquet")
        csv = pd.read_csv(folder / f"{name}.csv")
        assert list(parquet.columns) == list(csv.columns)
        pd.testing.assert_frame_equal(parquet, csv, check_dtype=False, rtol=1e-9)


class _Stages:
    """A progress display that keeps each stage's total and the units it was told of."""

    def __init__(self) -> None:
        self.stages: list[list] = []

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        self.stages.append([stage, total, 0])

    def advance(self, units: int) -> None:
        self.stages[-1][2] += units

    def end(self) -> None:
        pass


def test_progress_knows_the_one_way_runs_and_counts_the_threshold_steps_apart() -> None:
    """The one-way stage states its total (not `41/?`), and the threshold searches'
    refinements, whose number no one knows ahead, are a stage of their own."""
    shown = _Stages()
    sim.run(sim.load(BASE, patients=50, psa_iterations=0), progress=shown)
    stages = {
        name.removeprefix(f"{BASE_NAME} "): (total, done) for name, total, done in shown.stages
    }
    assert list(stages) == [BASE_NAME, "one-way", "thresholds"]
    total, done = stages["one-way"]
    assert total is not None and done == total > 0
    assert stages["thresholds"][0] is None and stages["thresholds"][1] > 0


def test_run_refuses_a_psa_draw_outside_its_range_before_anything_runs(monkeypatch) -> None:
    """sim.run validates what its analyses will run first, as the command line does: the
    error names the iteration and the file, and no patient has been simulated."""
    from conftest import base_document, build

    from sim.execution import runner

    doc = base_document()  # as tests/bad_input/psa-draw-outside-its-range.yaml changes it
    wide = {"dist": "normal", "mean": 0.865, "se": 0.06}
    doc["uncertainty"] = {
        **doc["uncertainty"],
        "strategies.itb.screening.response_probability": wide,
    }
    loaded = build(doc)

    def simulated(*args, **kwargs):
        raise AssertionError("simulated before the check")

    monkeypatch.setattr(runner, "simulate", simulated)
    with pytest.raises(sim.ScenarioError, match=r"PSA iteration 133 would draw it at 1\.04755"):
        sim.run(loaded)
