"""The Python API: what a notebook user calls gives what the command line writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import ROOT

import sim
from sim import cli

BASE = ROOT / "scenarios" / "base.yaml"


def test_the_public_names_are_listed_and_the_version_comes_from_the_package():
    assert set(dir(sim)) == {"Results", "Scenario", "ScenarioError", "__version__", "load", "run"}
    from importlib import metadata

    assert sim.__version__ == metadata.version("baclofen-sim")
    with pytest.raises(AttributeError):
        sim.no_such_name  # noqa: B018


def test_run_gives_the_summary_the_command_line_writes(tmp_path: Path, monkeypatch) -> None:
    results = sim.run(sim.load(BASE, patients=3000, psa_iterations=0))
    written = results.write(tmp_path / "api")
    assert written == tmp_path / "api" / "base"
    argv = ["baclofen-sim", "run", str(BASE), "--patients", "3000", "--psa-iterations", "0"]
    monkeypatch.setattr(sys, "argv", [*argv, "--quiet", "--out", str(tmp_path / "cli")])
    cli.main()  # returns on success; a failure exits with its code
    for name in ("summary.csv", "events.csv", "tornado.csv", "report.html", "results.xlsx"):
        assert (written / name).read_bytes() == (tmp_path / "cli" / "base" / name).read_bytes()
    assert list(results.tables) == [
        "summary",
        "events",
        "cumulative_incidence",
        "convergence",
        "tornado",
        "threshold",
    ]
    assert results.summary.set_index("strategy").loc["itb", "patients"] == 3000


def test_load_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(sim.ScenarioError, match="patients"):
        sim.load(BASE, patients=0)
    assert sim.load(BASE).source == BASE
