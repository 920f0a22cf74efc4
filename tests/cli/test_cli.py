"""The command line end to end (DESIGN §7, §8).

Commands run through ``sim.cli.main`` in this process (``cli_in_process``): the console
script's code path, without an interpreter's start-up per command. A fresh interpreter
(``python -m sim``) runs what only it shows: the shared run ``base_run``, whose bytes a run
in this process must reproduce (nothing may depend on the interpreter), a run with another
seed beside it, and runs stopped by SIGINT and SIGTERM (the exit status of a signal).

Every command runs with a tmp_path as working folder and an explicit ``--out`` inside
tmp_path, so the repository's results/ folder is never touched. Patient counts are small
(a few hundred at most), except in the interruption tests, where the run is stopped
long before it could finish.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import (
    BASE,
    BASE_NAME,
    OTHER_SEED,
    ROOT,
    SMALL_RUN,
    assert_one_line_error,
    base_document,
    cli_in_process,
    console_finish,
    console_start,
    copy_result,
    entries,
    snapshot,
    wait_for_signal_handlers,
)

from sim.model.events import DEATHS, EVENT_ID
from sim.numerics import lifetable

BASE_FILES = [
    "convergence.csv",
    "cost_breakdown.csv",
    "cumulative_incidence.csv",
    "events.csv",
    "manifest.json",
    "plots",
    "report.html",
    "results.xlsx",
    "state_occupancy.csv",
    "state_occupancy.parquet",
    "subgroups.csv",
    "subgroups.parquet",
    "summary.csv",
    "threshold.csv",
    "tornado.csv",
]
PSA_FILES = ["ceac.csv", "evppi.csv", "psa.csv", "psa.parquet"]
RESULT_FILES = sorted(BASE_FILES + PSA_FILES)
#: Everything but the manifest (and the plots folder, compared file by file) must be the
#: same bytes on a rerun.
TABLES = [name for name in RESULT_FILES if name not in ("manifest.json", "plots")]
TRACE_HEADER = "time_years,age_years,event,detail,cost_undiscounted,qaly_loss_undiscounted"
END_OF_FOLLOW_UP = "end_of_follow_up"  # the last trace row of a survivor (sim/engines/des.py)


def run_ok(*args: str | Path, cwd: Path) -> str:
    """`baclofen-sim ARGS` in this process, which must succeed; its stdout."""
    ran = cli_in_process(*args, cwd=cwd)
    assert ran.code == 0, f"exit code {ran.code}, stderr:\n{ran.err}"
    return ran.out


def write_variant(folder: Path, file_name: str, name: str, patients: int) -> Path:
    """A scenario extending the shipped base by absolute path."""
    path = folder / file_name
    path.write_text(
        f"extends: {BASE}\nname: {name}\npatients: {patients}\npsa_iterations: 0\n",
        encoding="utf-8",
    )
    return path


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
    assert len(psa) == 1 + 20 * 2, "one row per iteration and strategy (oral, itb)"


def test_rerun_is_byte_identical_and_another_seed_changes_summary(
    base_run: Path, reseeded_run: Path, tmp_path: Path
) -> None:
    """The rerun in this process; `reseeded_run` is the console script's run with
    ``--seed 7``, made beside `base_run`."""
    again = tmp_path / "again"
    run_ok("run", BASE, *SMALL_RUN, "--quiet", "--out", again, cwd=tmp_path)
    first, second = base_run / BASE_NAME, again / BASE_NAME
    for name in TABLES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} differs"
    assert snapshot(first / "plots") == snapshot(second / "plots")
    manifest = json.loads((reseeded_run / BASE_NAME / "manifest.json").read_text("utf-8"))
    assert manifest["seed"] == int(OTHER_SEED)
    summary = reseeded_run / BASE_NAME / "summary.csv"
    assert summary.read_bytes() != (first / "summary.csv").read_bytes()


def test_report_rebuilds_the_same_bytes_from_the_tables(base_run: Path, tmp_path: Path) -> None:
    copy = copy_result(base_run / BASE_NAME, tmp_path)
    (copy / "report.html").unlink()
    (copy / "results.xlsx").unlink()
    run_ok("report", copy, cwd=tmp_path)
    for name in ("report.html", "results.xlsx"):
        assert (copy / name).read_bytes() == (base_run / BASE_NAME / name).read_bytes(), name
    # each plot of the page is also a file, the same PNG as the embedded one
    import base64
    import re

    page = (copy / "report.html").read_text(encoding="utf-8")
    embedded = dict(re.findall(r'<img id="(plot-[a-z0-9-]+)"[^>]*base64,([^"]+)"', page))
    files = snapshot(copy / "plots")
    assert sorted(files) == sorted(f"{p}.png" for p in embedded) and len(files) >= 6
    for plot_id, data in embedded.items():
        assert files[f"{plot_id}.png"] == base64.b64decode(data)
    ran = cli_in_process("report", tmp_path, cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, str(tmp_path), "not a result folder")


# ---------------------------------------------------------------------------- batch


def test_batch_writes_one_result_folder_per_scenario(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write_variant(folder, "a.yaml", "alpha", 60)
    write_variant(folder, "b.yaml", "beta", 40)
    out = tmp_path / "out"
    run_ok("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    assert entries(out) == ["alpha", "beta", "comparison"]  # and the two side by side
    compared = (out / "comparison" / "comparison.csv").read_text(encoding="utf-8")
    assert compared.count("\nalpha,") == compared.count("\nbeta,") > 0
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
    ran = cli_in_process("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, str(second), "'twin'", str(first))
    assert ran.out == ""
    assert not out.exists() or entries(out) == [], "nothing may be written to OUT"
    assert entries(tmp_path) == ["scenarios"], "nothing may be written beside OUT"


def test_batch_reports_every_bad_file_before_running_any(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    write_variant(folder, "a.yaml", "alpha", 20)
    (folder / "b.yaml").write_text(f"extends: {BASE}\nname: b\npatients: many\n", "utf-8")
    (folder / "c.yaml").write_text(f"extends: {BASE}\nname: c\nseed: -1\n", "utf-8")
    out = tmp_path / "out"
    ran = cli_in_process("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    lines = ran.err.strip().splitlines()
    assert ran.code == 2 and ran.out == ""
    assert lines[0].startswith(f"error: {folder / 'b.yaml'}: patients: ")
    assert lines[1].startswith(f"error: {folder / 'c.yaml'}: seed: ")
    assert lines[2] == "2 of 3 scenario files have errors: nothing was run"
    assert not out.exists() or entries(out) == [], "nothing may be written to OUT"


def test_every_schema_error_of_a_file_at_once(tmp_path: Path) -> None:
    """Four mistakes, one round: a line each, in the file's order, with their hints."""
    bad = tmp_path / "four.yaml"
    bad.write_text(
        f"extends: {BASE}\nname: four\npatients: -5\ndiscount: {{costs: 3}}\nwtp: 50000\n"
        "cohort: {male_shar: 0.5}\n",
        encoding="utf-8",
    )
    for command in (("validate", bad), ("run", bad, "--out", tmp_path / "out", "--quiet")):
        ran = cli_in_process(*command, cwd=tmp_path)
        lines = ran.err.strip().splitlines()
        prefix = "error: " if command[0] == "run" else ""
        assert ran.code == 2 and len(lines) == 4, ran.err
        assert [line.split(": ")[(2 if prefix else 1)] for line in lines] == [
            "patients",
            "discount.costs",
            "wtp",
            "cohort.male_shar",
        ]
        assert all(line.startswith(f"{prefix}{bad}: ") for line in lines)
        assert "0.03" in lines[1] and "[50000]" in lines[2] and "male_share" in lines[3]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- validate


def test_validate_mixed_files_reports_each_and_exits_2(tmp_path: Path) -> None:
    good = write_variant(tmp_path, "good.yaml", "good", 10)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASE}\nname: bad\npatients: many\n", encoding="utf-8")
    ran = cli_in_process("validate", good, bad, cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, f"{bad}: patients: ")
    assert ran.out.splitlines() == [f"{good}: ok (good, 2 strategies)"]


def test_validate_good_files_exits_0_with_one_ok_line_each(tmp_path: Path) -> None:
    good = write_variant(tmp_path, "good.yaml", "good", 10)
    ran = cli_in_process("validate", BASE, good, cwd=tmp_path)
    assert ran.code == 0, f"exit code {ran.code}, stderr:\n{ran.err}"
    assert ran.err == ""
    lines = ran.out.splitlines()
    assert len(lines) == 2, ran.out
    assert lines[0].startswith(f"{BASE}: ok"), lines[0]
    assert lines[1].startswith(f"{good}: ok"), lines[1]


# --------------------------------------------------------------------------- schema


def test_schema_is_json_with_strategies(tmp_path: Path) -> None:
    schema = json.loads(run_ok("schema", cwd=tmp_path))
    assert "strategies" in schema["properties"]


def test_every_scenario_key_has_a_description_in_the_schema(tmp_path: Path) -> None:
    """An editor's hover help: every property of every model says what it is."""
    import yaml

    from sim.scenario import schema as scenario_schema

    schema = json.loads(run_ok("schema", cwd=tmp_path))
    models = [("Scenario", schema), *schema["$defs"].items()]
    missing = [
        f"{name}.{key}"
        for name, model in models
        for key, prop in (model.get("properties") or {}).items()
        if not str(prop.get("description", "")).strip()
    ]
    assert not missing, f"no description: {missing}"
    described = yaml.safe_load(scenario_schema.DESCRIPTIONS.read_text(encoding="utf-8"))
    known = {f"{name}.{key}" for name, model in models for key in model.get("properties", {})}
    assert not set(described) - known, "descriptions.yaml names keys the schema has not"
    assert schema["properties"]["horizon_years"]["description"].startswith("Follow-up")


# ---------------------------------------------------------------------------- trace


def test_trace_prints_a_table(tmp_path: Path) -> None:
    table = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", cwd=tmp_path)
    assert "Patient 3 under 'itb'" in table
    for column in ("year", "age", "event", "detail", "QALY loss"):
        assert column in table, f"column {column!r} missing:\n{table}"
    # Every event of the CSV trace is a row of the table (names shown with spaces).
    listing = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", "--csv", cwd=tmp_path)
    rows = list(csv.reader(io.StringIO(listing)))[1:]
    assert rows, "the trace has no event: the check below would be vacuous"
    for row in rows:
        assert row[2].replace("_", " ") in table, f"event {row[2]!r} not in the table"


def test_trace_folds_runs_filters_events_and_states_totals(tmp_path: Path) -> None:
    args = ("trace", BASE, "--strategy", "itb", "--patient", "3")
    listing = run_ok(*args, "--csv", cwd=tmp_path)
    rows = list(csv.reader(io.StringIO(listing)))[1:]
    refills = [r for r in rows if r[2] == "refill_visit"]
    assert len(refills) >= 3, "patient 3 has a run of refill visits to fold"
    folded = run_ok(*args, cwd=tmp_path)
    assert f"refill visit x {len(refills)}" in folded  # one run: one row that counts it
    assert f"{sum(float(r[4]) for r in refills):,.0f}" in folded  # and sums its costs
    assert "cost (USD, undiscounted)" in folded
    assert "Totals for this patient: cost " in folded and "QALYs discounted" in folded
    every = run_ok(*args, "--all", cwd=tmp_path)
    assert "refill visit x" not in every and every.count("refill visit") == len(refills)
    only = run_ok(*args, "--event", "implant", "--csv", cwd=tmp_path)
    assert [r[2] for r in list(csv.reader(io.StringIO(only)))[1:]] == ["implant"]
    ran = cli_in_process(*args, "--event", "implnt", cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, "'implnt'", "allowed: ")


def test_trace_csv_is_a_well_formed_history(tmp_path: Path) -> None:
    listing = run_ok("trace", BASE, "--strategy", "itb", "--patient", "3", "--csv", cwd=tmp_path)
    assert listing.splitlines()[0] == TRACE_HEADER
    rows = list(csv.reader(io.StringIO(listing)))[1:]
    assert len(rows) >= 2, "an ITB history starts with screening and ends with an end"
    for row in rows:
        assert len(row) == 6, f"row with {len(row)} fields: {row}"
    times = [float(row[0]) for row in rows]
    assert times == sorted(times), "times must not decrease"
    ages = [float(row[1]) for row in rows]
    assert base_document()["horizon_years"] == "lifetime"
    assert times[0] >= 0.0 and ages[-1] <= lifetable.MAX_AGE
    for row in rows:
        for value in (row[1], row[4], row[5]):
            float(value)  # a number, not text
    names = [row[2] for row in rows]
    for name in names[:-1]:
        assert name in EVENT_ID, f"{name!r} is not an event of sim/events.py"
        assert name not in DEATHS, f"{name!r} is not the last event"
    last = names[-1]
    assert last in DEATHS or last == END_OF_FOLLOW_UP, f"history ends with {last!r}"
    if last == END_OF_FOLLOW_UP:  # a lifetime ends at the life table's last age
        assert ages[-1] == pytest.approx(lifetable.MAX_AGE)


def test_trace_unknown_strategy_names_the_allowed_ones(tmp_path: Path) -> None:
    ran = cli_in_process("trace", BASE, "--strategy", "nope", "--patient", "3", cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, "'nope'", "allowed: oral, itb")
    assert ran.out == ""


# ---------------------------------------------------------------------- interruption


@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_interrupted_run_keeps_the_earlier_result_and_leaves_no_temporary_folder(
    signum: signal.Signals, expected: int, base_run: Path, tmp_path: Path
) -> None:
    """A real signal to a fresh interpreter: its handlers, its exit status."""
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(copy_result(base_run / BASE_NAME, out))  # an earlier complete result
    assert sorted({name.split("/")[0] for name in before}) == RESULT_FILES
    # 20,000 patients per strategy take tens of seconds with the SimPy engine.
    proc = console_start(
        "run", BASE, "--patients", "20000", "--engine", "des", "--out", out, "--quiet", cwd=tmp_path
    )
    try:
        wait_for_signal_handlers(proc)
        time.sleep(0.5)  # into the run
        assert proc.poll() is None, "the run ended before the signal: the test would be vacuous"
        proc.send_signal(signum)
        ran = console_finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            console_finish(proc, timeout=10)
            proc.communicate()
    assert ran.code == expected, f"exit code {ran.code}, stderr:\n{ran.err}"
    assert "Traceback" not in ran.err, ran.err
    assert "interrupted" in ran.err
    assert entries(out) == [BASE_NAME], "a temporary folder was left in OUT"
    assert snapshot(out / BASE_NAME) == before, "the earlier result folder changed"


# ------------------------------------------------------------------------------ PSA


def test_a_psa_draw_outside_the_allowed_range_is_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """A normal distribution on a utility can draw above 1: the run stops with the key
    path, the iteration, the value drawn and what is allowed, before anything runs."""
    path = tmp_path / "wide.yaml"
    key = "cohort.indications.spinal_cord_injury.baseline_utility"
    path.write_text(
        f"extends: {BASE}\nname: wide\npsa_iterations: 200\n"
        f"uncertainty:\n  {key}: {{dist: normal, relative_se: 1.5}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ("run", path, "--patients", "10", "--out", out, "--quiet")
    ran = cli_in_process(*args, "--no-one-way", cwd=tmp_path)  # the PSA is where it fails
    line = assert_one_line_error(ran.code, ran.err, str(path), f"uncertainty.{key}")
    assert re.search(r": PSA iteration \d+ would draw it at -?[\d.]+, where input should be", line)
    assert not out.exists() or entries(out) == []
    # with the one-way analyses, their high value is already outside: refused before any run
    ran = cli_in_process(*args, cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err, str(path), f"uncertainty.{key}")
    assert "the one-way analysis would run it at" in line
    assert not out.exists() or entries(out) == []


@pytest.mark.parametrize("what", ["folder", "file", "empty"])
def test_run_never_replaces_what_the_tool_did_not_write(tmp_path: Path, what: str) -> None:
    """OUT/<name> is replaced only when it is a result folder of this tool: a user's own
    folder or file there is refused (exit 2, one line naming it) and left as it was."""
    target = tmp_path / "out" / "base"
    if what == "file":
        target.parent.mkdir()
        target.write_text("mine")
    else:
        target.mkdir(parents=True)
        if what == "folder":
            (target / "notes.txt").write_text("mine")
            (target / "manifest.json").write_text('{"tool": "something else"}')
    before = snapshot(tmp_path / "out")
    ran = cli_in_process("run", BASE, "--patients", "20", "--out", tmp_path / "out", cwd=ROOT)
    line = assert_one_line_error(ran.code, ran.err)
    assert str(target) in line and "not a result folder of baclofen-sim" in line
    assert snapshot(tmp_path / "out") == before


def test_a_result_folder_of_the_tool_is_replaced_and_stale_temporaries_go(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("run", BASE, "--patients", "20", "--psa-iterations", "0", "--out", out, "--quiet")
    assert cli_in_process(*args, cwd=ROOT).code == 0
    # a killed run's temporary folder (its process gone) is cleaned by the next run
    stale = out / ".base.tmp-999999999-abc"
    stale.mkdir()
    assert cli_in_process(*args, cwd=ROOT).code == 0
    assert not stale.exists()
    assert (out / "base" / "summary.csv").is_file()


def test_a_swallowed_interrupt_still_stops_the_run(tmp_path: Path, monkeypatch) -> None:
    """An interrupt whose exception was dropped (raised inside a garbage-collection
    callback, say) is still on record: no result folder is put in place."""
    from sim.execution import interrupts
    from sim.output import files

    monkeypatch.setattr(interrupts, "_SEEN", [2])
    with pytest.raises(interrupts.Interrupted), files.atomic_folder(tmp_path / "r") as tmp:
        (tmp / "x.csv").write_text("1")
    assert not (tmp_path / "r").exists()
    assert list(tmp_path.iterdir()) == []


def test_set_changes_one_value_as_a_variant_file_would(tmp_path: Path) -> None:
    """--set KEY.PATH=VALUE gives the results of a variant with that one change."""
    variant = tmp_path / "variant.yaml"
    variant.write_text(
        f"extends: {BASE}\nname: base\nhorizon_years: 20\n"
        "strategies:\n  itb:\n    care_cost_multiplier_early: [0.9, 0.8]\n",
        encoding="utf-8",
    )
    common = ("--patients", "100", "--psa-iterations", "0", "--quiet")
    by_file = cli_in_process("run", variant, *common, "--out", tmp_path / "a", cwd=ROOT)
    by_set = cli_in_process(
        "run",
        BASE,
        *common,
        "--set",
        "horizon_years=20",
        "--set",
        "strategies.itb.care_cost_multiplier_early=[0.9, 0.8]",
        "--out",
        tmp_path / "b",
        cwd=ROOT,
    )
    assert by_file.code == by_set.code == 0, by_set.err
    for table in ("summary.csv", "events.csv", "cost_breakdown.csv"):
        a = (tmp_path / "a" / "base" / table).read_bytes()
        assert a == (tmp_path / "b" / "base" / table).read_bytes(), table
    bad = cli_in_process("run", BASE, "--set", "strategies.itbb.x=1", "--out", tmp_path, cwd=ROOT)
    line = assert_one_line_error(bad.code, bad.err)
    assert line.endswith("strategies.itbb is not a block of the scenario (did you mean 'itb'?)")


def test_no_one_way_skips_the_tornado_and_a_batch_knows_it(tmp_path: Path) -> None:
    """--no-one-way runs the base case alone; the manifest says so, and a batch that asks
    for the one-way analyses does not take that folder for up to date."""
    out = tmp_path / "out"
    args = ("--patients", "50", "--psa-iterations", "0", "--quiet", "--out", out)
    assert cli_in_process("run", BASE, *args, "--no-one-way", cwd=ROOT).code == 0
    made = sorted(p.name for p in (out / BASE_NAME).iterdir())
    assert "tornado.csv" not in made and "threshold.csv" not in made
    manifest = json.loads((out / BASE_NAME / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["one_way_analyses"] is False
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "base.yaml").write_bytes(BASE.read_bytes())
    again = cli_in_process("batch", folder, *args, cwd=ROOT)
    assert again.code == 0 and "up to date" not in again.out
    assert (out / BASE_NAME / "tornado.csv").is_file()
    assert "up to date" in cli_in_process("batch", folder, *args, cwd=ROOT).out


def test_validate_never_blocks_on_a_pipe_nor_reads_a_huge_file(tmp_path: Path) -> None:
    """A FIFO would make a read wait for ever; a huge file would be read whole: both are
    refused at once, in one line."""
    import os

    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    ran = cli_in_process("validate", fifo, cwd=ROOT)
    assert assert_one_line_error(ran.code, ran.err).endswith(
        "not a regular file (a device or a pipe): give a file"
    )
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * 1_200_000 + "\n", encoding="utf-8")
    ran = cli_in_process("validate", huge, cwd=ROOT)
    assert "a scenario file may hold at most 1,000,000" in assert_one_line_error(ran.code, ran.err)


def _workers_of(pid: int) -> list[int]:
    """Live worker processes (multiprocessing's spawned children) of `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(ppid) == pid and state != "Z" and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL of a `processes` run leaves no worker behind (each watches its parent)."""
    proc = console_start(
        "run",
        BASE,
        "--patients",
        "3000000",
        "--psa-iterations",
        "0",
        "--no-one-way",
        "--backend",
        "processes",
        "--workers",
        "2",
        "--quiet",
        "--out",
        tmp_path / "out",
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            time.sleep(0.2)
            workers = _workers_of(proc.pid)
        assert len(workers) == 2, "the workers never started"
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        survivors = [w for w in workers if _alive(w)]
    finally:
        for w in set(workers) | set(_workers_of(proc.pid)):
            with contextlib.suppress(OSError):
                if _alive(w) and b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes():
                    os.kill(w, signal.SIGKILL)  # an orphan holds the pipes open
        if proc.poll() is None:
            proc.kill()
        console_finish(proc, timeout=10)  # reaps it and closes its pipes
    assert not survivors, "a worker outlived its killed parent"


def test_a_title_with_console_markup_is_printed_as_written(tmp_path: Path) -> None:
    """The user's text is never read as console markup: a stray closing tag neither
    stops the run after its results are written nor disappears from the output."""
    title = "x [/bold] y [link=file:///etc]z"
    path = tmp_path / "markup.yaml"
    path.write_text(
        f'extends: {BASE}\nname: markup\ntitle: "{title}"\npatients: 30\npsa_iterations: 0\n',
        encoding="utf-8",
    )
    out = run_ok("run", path, "--no-one-way", "--quiet", "--out", tmp_path / "out", cwd=tmp_path)
    assert f"markup: {title}" in out
    assert (tmp_path / "out" / "markup" / "summary.csv").is_file()


def test_trace_patient_index_and_scheduler_address_are_checked(tmp_path: Path) -> None:
    ran = cli_in_process("trace", BASE, "--strategy", "itb", "--patient", str(2**64), cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, "--patient")
    args = ("run", BASE, "--backend", "dask", "--scheduler", "tcp://host:port", "--quiet")
    ran = cli_in_process(*args, "--out", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, "'tcp://host:port'", "tcp://HOST:8786")


def test_a_variant_that_changes_a_distribution_s_kind_replaces_it(tmp_path: Path) -> None:
    """A weibull inherited under an exponential used to keep its shape and scale (an
    'unknown key shape' blamed on a key the variant never wrote); another kind now
    replaces the distribution whole, and the same kind still merges key by key."""
    from sim import scenario as sc

    path = tmp_path / "kind.yaml"
    path.write_text(
        f"extends: {BASE}\nname: kind\nstrategies:\n  itb:\n    catheter:\n"
        "      time_to_failure_years: {dist: exponential, rate_per_year: 0.05}\n"
        "cohort:\n  age_years: {sd: 10}\n",
        encoding="utf-8",
    )
    loaded = sc.load(path)
    failure = loaded.strategies["itb"].catheter.time_to_failure_years.model_dump()
    assert failure == {"dist": "exponential", "rate_per_year": 0.05}
    age = loaded.cohort.age_years.model_dump()
    assert age == {"dist": "normal", "mean": 45.0, "sd": 10.0, "low": 18.0, "high": 80.0}


def test_an_interrupt_a_library_wraps_during_start_up_is_still_one_line(
    monkeypatch, capsys
) -> None:
    """A SIGTERM while pydantic built a validator came out as pydantic's SchemaError (with
    'Interrupted: 15' inside) and a traceback, exit 1 (a CI failure): the record of the
    signal, not the exception's type, decides."""
    import importlib.abc
    import sys

    import sim
    from sim import entry
    from sim.execution import interrupts

    class Wrapping(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "sim.cli":  # the signal lands while the heavy modules load
                interrupts.record(signal.SIGTERM)
                raise RuntimeError("Error building validator: Interrupted: 15")
            return None

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(interrupts, "_SEEN", [])
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.delitem(sys.modules, "sim.cli", raising=False)
    monkeypatch.delattr(sim, "cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Wrapping(), *sys.meta_path])
    try:
        with pytest.raises(SystemExit) as stopped:
            entry.main()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert stopped.value.code == 143
    assert capsys.readouterr().err == entry.START_UP


def test_every_command_s_help_lists_its_switches_without_a_type(tmp_path: Path) -> None:
    """-h of the tool and of each command: switches (--quiet, --all, -h itself) show no
    `<bool>` after them; the options that take a value keep their type."""
    from sim import cli

    commands = [c.name or c.callback.__name__ for c in cli.app.registered_commands]
    assert {"run", "batch", "trace", "validate"} <= set(commands)
    for command in ["", *commands]:
        ran = cli_in_process(*([command] if command else []), "-h", cwd=tmp_path)
        assert ran.code == 0, command
        assert "--help" in ran.out and "<bool>" not in ran.out, command
    assert "<int range>" in cli_in_process("run", "-h", cwd=tmp_path).out


def test_loading_leaves_the_collector_as_it_found_it() -> None:
    """The command line loads a scenario with the cyclic collector off and freezes what
    the load made (the engine's machinery lives as long as the process): on again after,
    and left off when it was off."""
    import gc

    from sim import cli

    try:
        assert gc.isenabled()
        cli._load(BASE)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.disable()
        cli._load(BASE)
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
