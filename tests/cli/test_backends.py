"""Backends and resumable batches (issue 5): the same bytes on any backend, any worker
count, after a lost worker, and after an interrupted batch is resumed (DESIGN §6, §7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, base_document, build

from sim.execution import runner
from sim.execution.backends import Backend
from sim.numerics import lifetable

BASE = ROOT / "scenarios" / "base.yaml"
#: Small enough to be quick, large enough for several blocks, PSA tasks and a tornado.
SMALL = ["--patients", "5000", "--psa-iterations", "12"]


def cli(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def contents(folder: Path) -> dict[str, bytes]:
    """Every result file but the manifest (which records timings, backend and workers)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


@pytest.fixture(scope="module")
def serial_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("serial")
    done = cli("run", BASE, *SMALL, "--out", out, "--quiet", cwd=out)
    assert done.returncode == 0, done.stderr
    return contents(out / "base")


@pytest.mark.parametrize(
    "options",
    [["--backend", "processes", "--workers", "2"], ["--backend", "dask", "--workers", "2"]],
    ids=["processes-2", "dask-local-2"],
)
def test_every_backend_writes_the_same_bytes(
    options: list[str], serial_result: dict[str, bytes], tmp_path: Path
) -> None:
    done = cli("run", BASE, *SMALL, *options, "--out", tmp_path, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert contents(tmp_path / "base") == serial_result
    assert "Traceback" not in done.stderr


def start(*args: object, cwd: Path) -> subprocess.Popen[str]:
    """`python -m sim ARGS --quiet` in the background."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *map(str, args), "--quiet"],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def interrupt(proc: subprocess.Popen[str], ready: Callable[[], bool], wait: float = 0.0) -> str:
    """SIGINT to `proc` once `ready()` holds (then `wait` seconds more); its stderr."""
    try:
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(wait)
        assert proc.poll() is None, "the run ended before the interruption: vacuous"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return stderr


def _workers(parent: psutil.Process, wait: float = 60) -> list[psutil.Process]:
    """The worker processes of a run (its Python children), once they exist."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = [
            p
            for p in parent.children(recursive=True)
            if "python" in p.name().lower() and "resource_tracker" not in " ".join(p.cmdline())
        ]
        if len(found) >= 2:
            return found
        time.sleep(0.2)
    raise AssertionError("the run never started its workers")


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_a_worker_killed_mid_run_changes_nothing(
    backend: str, serial_result: dict[str, bytes], tmp_path: Path
) -> None:
    args = ["run", BASE, *SMALL, "--backend", backend, "--workers", "2", "--out", tmp_path]
    proc = start(*args, cwd=tmp_path)
    try:
        victim = _workers(psutil.Process(proc.pid))[0]
        time.sleep(4.0)  # the workers have loaded the compiled engine and taken tasks
        assert proc.poll() is None, "the run ended before a worker was killed: vacuous"
        victim.kill()
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert contents(tmp_path / "base") == serial_result


def test_the_reduction_does_not_depend_on_how_units_are_cut_into_tasks() -> None:
    """More workers cut a job into more, smaller tasks; the merged tally is the same bits."""
    sc = build(base_document()).model_copy(update={"patients": 3 * runner.BLOCK_SIZE + 17})
    table = lifetable.load(sc.cohort.life_table, ROOT / "scenarios")

    class Many(Backend):
        workers = 7

    one = runner.simulate(sc, table)
    many = runner.simulate(sc, table, backend=Many())
    sets_one = list(runner.simulate_sets(sc, table, "", [1, 2, 3], backend=Backend()))
    sets_many = list(runner.simulate_sets(sc, table, "", [1, 2, 3], backend=Many()))
    for a, b in [(one, many), *zip(sets_one, sets_many, strict=True)]:
        for name, value in vars(a).items():
            assert (
                (getattr(b, name) == value).all()
                if hasattr(value, "all")
                else (getattr(b, name) == value)
            ), name


# --------------------------------------------------------------------- resumable batches


def _batch_folder(tmp_path: Path) -> Path:
    """Three base-case-only scenarios (no PSA, no one-way analysis); the third is big
    enough (a few seconds) to be running when the batch is interrupted."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, seed, patients in (("first", 1, 2000), ("second", 2, 2000), ("third", 3, 300_000)):
        (folder / f"{name}.yaml").write_text(
            f"extends: {BASE}\nname: {name}\nseed: {seed}\npatients: {patients}\n"
            "psa_iterations: 0\nuncertainty: null\nanalysis: null\n",
            encoding="utf-8",
        )
    return folder


def test_an_interrupted_batch_resumed_gives_the_uninterrupted_tables(tmp_path: Path) -> None:
    folder = _batch_folder(tmp_path)
    whole = tmp_path / "whole"
    done = cli("batch", folder, "--out", whole, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    resumed = tmp_path / "resumed"
    proc = start("batch", folder, "--out", resumed, cwd=tmp_path)
    stderr = interrupt(proc, (resumed / "first").exists)
    assert proc.returncode == 130, stderr
    assert not (resumed / "third").exists()
    assert not [p for p in resumed.iterdir() if p.name.startswith(".")], "temporary folder left"
    first = (resumed / "first" / "manifest.json").read_bytes()

    again = cli("batch", folder, "--out", resumed, "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "first: up to date" in again.stdout
    assert (resumed / "first" / "manifest.json").read_bytes() == first, "first was rerun"
    for name in ("first", "second", "third"):
        assert contents(resumed / name) == contents(whole / name), name


def test_a_changed_scenario_or_force_reruns(tmp_path: Path) -> None:
    folder = _batch_folder(tmp_path)
    for extra in ("second.yaml", "third.yaml"):
        (folder / extra).unlink()
    out = tmp_path / "out"
    assert cli("batch", folder, "--out", out, "--quiet", cwd=tmp_path).returncode == 0
    manifest = (out / "first" / "manifest.json").read_bytes()
    inode = (out / "first").stat().st_ino
    skipped = cli("batch", folder, "--out", out, "--quiet", cwd=tmp_path)
    assert "first: up to date" in skipped.stdout
    assert (out / "first" / "manifest.json").read_bytes() == manifest
    forced = cli("batch", folder, "--out", out, "--quiet", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "up to date" not in forced.stdout
    assert (out / "first").stat().st_ino != inode, "--force did not rerun"
    changed = cli("batch", folder, "--out", out, "--quiet", "--patients", "1500", cwd=tmp_path)
    assert changed.returncode == 0 and "up to date" not in changed.stdout


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_ctrl_c_stops_the_workers_and_writes_nothing(backend: str, tmp_path: Path) -> None:
    args = ["run", BASE, *SMALL, "--backend", backend, "--workers", "2", "--out", tmp_path]
    proc = start(*args, cwd=tmp_path)
    try:
        workers = _workers(psutil.Process(proc.pid))
    finally:  # the workers have loaded the compiled engine and taken tasks after 3 s
        stderr = interrupt(proc, lambda: True, 3.0)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a result or temporary folder"
    deadline = time.monotonic() + 20
    while any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers):
        assert time.monotonic() < deadline, "a worker outlived the run"
        time.sleep(0.2)
