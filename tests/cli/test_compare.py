"""Scenarios side by side (issue 17): `compare` and the end of `batch`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import BASE_NAME, ROOT, assert_one_line_error, cli_in_process, copy_result

UK = ROOT / "scenarios" / "uk.yaml"


@pytest.fixture(scope="module")
def two(base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    copy_result(base_run / BASE_NAME, out)
    ran = cli_in_process("run", UK, "--patients", "100", "--quiet", "--out", out, cwd=ROOT)
    assert ran.code == 0, ran.err
    return out


def test_compare_puts_every_scenario_strategy_and_wtp_in_one_table(two: Path) -> None:
    ran = cli_in_process("compare", two / BASE_NAME, two / "uk", "--out", two, cwd=ROOT)
    assert ran.code == 0, ran.err
    folder = two / "comparison"
    assert sorted(p.name for p in folder.iterdir()) == [
        "comparison.csv",
        "comparison.html",
        "comparison.xlsx",
        "manifest.json",
    ]
    table = pd.read_csv(folder / "comparison.csv")
    # base: 2 strategies x 3 WTPs; uk: 2 x 2; each row the summary's own figures
    assert len(table) == 2 * 3 + 2 * 2
    for name in (BASE_NAME, "uk"):
        summary = pd.read_csv(two / name / "summary.csv").set_index("strategy")
        mine = table[table.scenario == name]
        for r in mine.itertuples():
            assert r.cost == pytest.approx(summary.loc[r.strategy, "cost"], rel=1e-9)
            tag = f"{int(r.wtp)}"
            nmb = summary.loc[r.strategy, f"incremental_nmb_{tag}"]
            assert r.incremental_nmb == pytest.approx(nmb, rel=1e-9, abs=1e-9)
    assert set(table[table.scenario == "uk"].currency) == {"GBP"}  # never converted
    # the base run had a PSA: its probabilities are there; uk ran none
    assert table[table.scenario == BASE_NAME].probability_cost_effective.notna().all()
    assert table[table.scenario == "uk"].probability_cost_effective.isna().all()
    page = (folder / "comparison.html").read_text(encoding="utf-8")
    assert "<svg" in page and "uk: itb" in page
    # the same bytes on a second run
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert cli_in_process("compare", two / BASE_NAME, two / "uk", "--out", two, cwd=ROOT).code == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_compare_refuses_a_folder_that_holds_no_run(two: Path, tmp_path: Path) -> None:
    ran = cli_in_process("compare", two / BASE_NAME, tmp_path, "--out", tmp_path, cwd=ROOT)
    line = assert_one_line_error(ran.code, ran.err)
    assert str(tmp_path) in line and "not a result folder of a run" in line
    assert not (tmp_path / "comparison").exists()
