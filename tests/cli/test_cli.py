"""The command line end to end: ``python -m sim`` in subprocesses (DESIGN §7, §8).

Every command runs with a tmp_path as working folder and an explicit ``--out`` inside
tmp_path, so the repository's results/ folder is never touched. Patient counts are small
(a few hundred at most), except in the interruption tests, where the run is stopped
long before it could finish.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.model.events import DEATHS, EVENT_ID

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "base.yaml"
BASE_NAME = "base"  # `name:` of scenarios/base.yaml
BASE_HORIZON = 20.0  # `horizon_years:` of scenarios/base.yaml
EXIT_BAD_INPUT = 2
BASE_FILES = [
    "convergence.csv",
    "cumulative_incidence.csv",
    "events.csv",
    "manifest.json",
    "report.html",
    "results.xlsx",
    "summary.csv",
    "threshold.csv",
    "tornado.csv",
]
PSA_FILES = ["ceac.csv", "evppi.csv", "psa.csv"]
RESULT_FILES = sorted(BASE_FILES + PSA_FILES)
#: Everything but the manifest must be the same bytes on a rerun.
TABLES = [name for name in RESULT_FILES if name != "manifest.json"]
TRACE_HEADER = "time_years,age_years,event,detail,cost,qaly_loss"
END_OF_FOLLOW_UP = "end_of_follow_up"  # the last trace row of a survivor (sim/engines/des.py)


# --------------------------------------------------------------------------- helpers


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        env=_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, stdout, stderr


def sim(*args: str | Path, cwd: Path) -> tuple[int, str, str]:
    """Run ``python -m sim ARGS`` to the end: exit code, stdout, stderr."""
    return _finish(_start([str(a) for a in args], cwd))


def run_ok(*args: str | Path, cwd: Path) -> str:
    code, stdout, stderr = sim(*args, cwd=cwd)
    assert code == 0, f"exit code {code}, stderr:\n{stderr}"
    return stdout


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def entries(folder: Path) -> list[str]:
    """Names in `folder`, hidden ones included (temporary folders start with a dot)."""
    return sorted(p.name for p in folder.iterdir())


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> str:
    assert code == EXIT_BAD_INPUT, f"exit code {code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


SMALL = ("--patients", "200", "--psa-iterations", "20")


def write_variant(folder: Path, file_name: str, name: str, patients: int) -> Path:
    """A scenario extending the shipped base by absolute path."""
    path = folder / file_name
    path.write_text(
        f"extends: {BASE}\nname: {name}\npatients: {patients}\npsa_iterations: 0\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of one `run scenarios/base.yaml --patients 200 --psa-iterations 20`, shared by
    the tests below."""
    work = tmp_path_factory.mktemp("base-run")
    out = work / "out"
    run_ok("run", BASE, *SMALL, "--out", out, "--quiet", cwd=work)
    return out


# ------------------------------------------------------------------------------ run


def test_run_writes_exactly_the_result_files_and_no_temporary_folder(base_run: Path) -> None:
    assert entries(base_run) == [BASE_NAME], "only the named result folder may be left in OUT"
    folder = base_run / BASE_NAME
    assert entries(folder) == RESULT_FILES
    for name in RESULT_FILES:
        assert (folder / name).stat().st_size > 0, f"{name} is empty"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["patients_per_strategy"] == 200
    assert manifest["psa_iterations"] == 20
    psa = (folder / "psa.csv").read_text(encoding="utf-8").splitlines()
    assert len(psa) == 1 + 20 * 3, "one row per iteration and strategy"


def test_rerun_is_byte_identical_and_another_seed_changes_summary(
    base_run: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    other_seed = tmp_path / "other-seed"
    # Both runs side by side, to keep the file fast.
    args = ["run", str(BASE), *SMALL, "--quiet", "--out"]
    procs = [
        _start([*args, str(again)], tmp_path),
        _start([*args, str(other_seed), "--seed", "7"], tmp_path),
    ]
    for proc in procs:
        code, _, stderr = _finish(proc)
        assert code == 0, f"exit code {code}, stderr:\n{stderr}"
    first, second = base_run / BASE_NAME, again / BASE_NAME
    for name in TABLES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} differs"
    reseeded = other_seed / BASE_NAME / "summary.csv"
    assert reseeded.read_bytes() != (first / "summary.csv").read_bytes()


def test_report_rebuilds_the_same_bytes_from_the_tables(base_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(base_run / BASE_NAME, copy)
    (copy / "report.html").unlink()
    (copy / "results.xlsx").unlink()
    run_ok("report", copy, cwd=tmp_path)
    for name in ("report.html", "results.xlsx"):
        assert (copy / name).read_bytes() == (base_run / BASE_NAME / name).read_bytes(), name
    code, _, stderr = sim("report", tmp_path, cwd=tmp_path)
    assert_one_line_error(code, stderr, str(tmp_path), "not a result folder")


# ---------------------------------------------------------------------------- batch


def test_batch_writes_one_result_folder_per_scenario(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write_variant(folder, "a.yaml", "alpha", 60)
    write_variant(folder, "b.yaml", "beta", 40)
    out = tmp_path / "out"
    run_ok("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    assert entries(out) == ["alpha", "beta"]
    for name, patients in (("alpha", 60), ("beta", 40)):
        assert entries(out / name) == BASE_FILES
        manifest = json.loads((out / name / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["scenario"] == name
        assert manifest["patients_per_strategy"] == patients


def test_batch_with_duplicate_names_is_refused_before_anything_runs(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    first = write_variant(folder, "a.yaml", "twin", 20)
    second = write_variant(folder, "b.yaml", "twin", 20)
    out = tmp_path / "out"
    code, stdout, stderr = sim("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    assert_one_line_error(code, stderr, str(second), "'twin'", str(first))
    assert stdout == ""
    assert not out.exists() or entries(out) == [], "nothing may be written to OUT"
    assert entries(tmp_path) == ["scenarios"], "nothing may be written beside OUT"


# ------------------------------------------------------------------------- validate


def test_validate_mixed_files_reports_each_and_exits_2(tmp_path: Path) -> None:
    good = write_variant(tmp_path, "good.yaml", "good", 10)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASE}\nname: bad\npatients: many\n", encoding="utf-8")
    code, stdout, stderr = sim("validate", good, bad, cwd=tmp_path)
    assert_one_line_error(code, stderr, f"{bad}: patients: ")
    assert stdout.splitlines() == [f"{good}: ok (good, 3 strategies)"]


def test_validate_good_files_exits_0_with_one_ok_line_each(tmp_path: Path) -> None:
    good = write_variant(tmp_path, "good.yaml", "good", 10)
    code, stdout, stderr = sim("validate", BASE, good, cwd=tmp_path)
    assert code == 0, f"exit code {code}, stderr:\n{stderr}"
    assert stderr == ""
    lines = stdout.splitlines()
    assert len(lines) == 2, stdout
    assert lines[0].startswith(f"{BASE}: ok"), lines[0]
    assert lines[1].startswith(f"{good}: ok"), lines[1]


# --------------------------------------------------------------------------- schema


def test_schema_is_json_with_strategies(tmp_path: Path) -> None:
    schema = json.loads(run_ok("schema", cwd=tmp_path))
    assert "strategies" in schema["properties"]


# ---------------------------------------------------------------------------- trace


def test_trace_prints_a_table(tmp_path: Path) -> None:
    table = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", cwd=tmp_path)
    assert "Patient 3 under 'itb'" in table
    for column in ("year", "age", "event", "detail", "QALY loss"):
        assert column in table, f"column {column!r} missing:\n{table}"
    # Every event of the CSV trace is a row of the table (names shown with spaces).
    listing = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", "--csv", cwd=tmp_path)
    for row in list(csv.reader(io.StringIO(listing)))[1:]:
        assert row[2].replace("_", " ") in table, f"event {row[2]!r} not in the table"


def test_trace_csv_is_a_well_formed_history(tmp_path: Path) -> None:
    listing = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", "--csv", cwd=tmp_path)
    assert listing.splitlines()[0] == TRACE_HEADER
    rows = list(csv.reader(io.StringIO(listing)))[1:]
    assert len(rows) >= 2, "an ITB history starts with screening and ends with an end"
    for row in rows:
        assert len(row) == 6, f"row with {len(row)} fields: {row}"
    times = [float(row[0]) for row in rows]
    assert times == sorted(times), "times must not decrease"
    assert times[0] >= 0.0 and times[-1] <= BASE_HORIZON
    for row in rows:
        for value in (row[1], row[4], row[5]):
            float(value)  # a number, not text
    names = [row[2] for row in rows]
    for name in names[:-1]:
        assert name in EVENT_ID, f"{name!r} is not an event of sim/events.py"
        assert name not in DEATHS, f"{name!r} is not the last event"
    last = names[-1]
    assert last in DEATHS or last == END_OF_FOLLOW_UP, f"history ends with {last!r}"
    if last == END_OF_FOLLOW_UP:
        assert times[-1] == BASE_HORIZON


def test_trace_unknown_strategy_names_the_allowed_ones(tmp_path: Path) -> None:
    code, stdout, stderr = sim("trace", BASE, "--strategy", "nope", "--patient", "3", cwd=tmp_path)
    assert_one_line_error(code, stderr, "'nope'", "allowed: none, oral, itb")
    assert stdout == ""


# ---------------------------------------------------------------------- interruption


@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_interrupted_run_keeps_the_earlier_result_and_leaves_no_temporary_folder(
    signum: signal.Signals, expected: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_ok(
        "run",
        BASE,
        "--patients",
        "50",
        "--psa-iterations",
        "5",
        "--out",
        out,
        "--quiet",
        cwd=tmp_path,
    )
    before = snapshot(out / BASE_NAME)
    assert sorted(before) == RESULT_FILES
    # 20,000 patients per strategy take tens of seconds with the SimPy engine.
    proc = _start(
        ["run", str(BASE), "--patients", "20000", "--engine", "des", "--out", str(out), "--quiet"],
        tmp_path,
    )
    try:
        time.sleep(1.5)
        assert proc.poll() is None, "the run ended before the signal: the test would be vacuous"
        proc.send_signal(signum)
        code, _, stderr = _finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == expected, f"exit code {code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert "interrupted" in stderr
    assert entries(out) == [BASE_NAME], "a temporary folder was left in OUT"
    assert snapshot(out / BASE_NAME) == before, "the earlier result folder changed"


# ------------------------------------------------------------------------------ PSA


def test_a_psa_draw_outside_the_allowed_range_is_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """A normal distribution on a utility can draw above 1: the run stops with the key
    path, the value drawn and what is allowed, before any result folder exists."""
    path = tmp_path / "wide.yaml"
    path.write_text(
        f"extends: {BASE}\nname: wide\npsa_iterations: 200\n"
        "uncertainty:\n  strategies.itb.utility: {dist: normal, mean: 0.65, se: 0.5}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, _, stderr = sim("run", path, "--patients", "10", "--out", out, "--quiet", cwd=tmp_path)
    line = assert_one_line_error(code, stderr, str(path), "strategies.itb.utility")
    assert "uncertain value strategies.itb.utility = " in line
    assert not out.exists() or entries(out) == []
