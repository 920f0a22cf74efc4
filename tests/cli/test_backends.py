"""Backends and resumable batches (issue 5): the same bytes on any backend, any worker
count, after a lost worker, and after an interrupted batch is resumed (DESIGN §6, §7).

Runs go through ``sim.cli.main`` or ``sim.run`` in this process; the workers of the
``processes`` and ``dask`` backends are real processes either way (spawned, so each is a
fresh interpreter). A fresh ``python -m sim`` remains where a signal must reach the
command line: an interrupted batch, Ctrl-C with workers running.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import (
    BASE,
    ROOT,
    Ran,
    assert_one_line_error,
    base_document,
    build,
    cli_in_process,
    console_finish,
    console_start,
    contents,
)

import sim
from sim.execution import runner
from sim.execution.backends import Backend, Processes, open_backend
from sim.numerics import lifetable
from sim.output import tables

#: The base case over 20 years with five uncertain parameters of its many (two correlated,
#: a Dirichlet group), an EVPPI group and one threshold: 4,500 patients are two blocks (one
#: full, one partial), 10 PSA iterations are ten more sets of two, and the one-way analysis
#: runs 8 values and a threshold search: every kind of task, in a fraction of the time of
#: the shipped base case at these sizes.
UNCERTAIN = (
    "strategies.itb.pump.failure_rate_per_year",
    "strategies.itb.utility_change",
    "cohort.indications.cerebral_palsy.baseline_utility",
    "cohort.indications.multiple_sclerosis.baseline_utility",
    "cohort.indications",
)
NAME = "backends"
#: Options of the Ctrl-C runs: long enough (the shipped base case's fifteen uncertain
#: parameters) that the run is still going a few seconds after its workers start, in a
#: quick phase of the machine too (5,000 patients and 12 iterations, about 5.5 s in all,
#: once ended within them; this is about 9 s).
LONG = ["--patients", "20000", "--psa-iterations", "40"]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    doc = base_document()
    doc.update(name=NAME, patients=4500, psa_iterations=10, horizon_years=20.0)
    doc["uncertainty"] = {key: doc["uncertainty"][key] for key in UNCERTAIN}
    analysis = doc["analysis"]
    doc["analysis"] = {
        "correlations": [{"parameters": list(UNCERTAIN[2:4]), "rho": 0.5}],
        "evppi_groups": {"utilities": list(UNCERTAIN[1:4])},
        "thresholds": {
            "strategies.itb.utility_change": analysis["thresholds"]["strategies.itb.utility_change"]
        },
    }
    path = tmp_path_factory.mktemp("scenario") / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    loaded = sim.load(path)
    assert loaded.patients > runner.BLOCK_SIZE, "one block: the merge would go untested"
    assert len(loaded.uncertainty) == len(UNCERTAIN)
    return path


@pytest.fixture(scope="module")
def serial_result(scenario_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("serial")
    ran = cli_in_process("run", scenario_file, "--out", out, "--quiet", cwd=out)
    assert ran.code == 0, ran.err
    result = contents(out / NAME)
    for name in ("psa.csv", "tornado.csv", "threshold.csv", "report.html", "results.xlsx"):
        assert name in result, f"{name}: the comparison would miss a kind of task"
    return result


@pytest.mark.parametrize(
    "options",
    [["--backend", "processes", "--workers", "2"], ["--backend", "dask", "--workers", "2"]],
    ids=["processes-2", "dask-local-2"],
)
def test_every_backend_writes_the_same_bytes(
    options: list[str], scenario_file: Path, serial_result: dict, tmp_path: Path
) -> None:
    ran = cli_in_process("run", scenario_file, *options, "--out", tmp_path, "--quiet", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert contents(tmp_path / NAME) == serial_result
    assert "Traceback" not in ran.err


# ------------------------------------------------------------------------ lost workers


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """The worker processes under `parent` (spawned: ``multiprocessing.spawn``)."""
    found = []
    for child in parent.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _wait_for_workers(parent: psutil.Process, wait: float = 60) -> list[psutil.Process]:
    """The run's worker processes, once both exist."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = _workers(parent)
        if len(found) >= 2:
            return found
        time.sleep(0.05)
    raise AssertionError("the run never started its workers")


class KillAWorker:
    """A progress display that kills a worker with SIGKILL when the first PSA iteration is
    done, with base-case blocks done and PSA and one-way tasks still to come.

    For the `processes` backend the workers are first stopped (SIGSTOP), so that the run
    is waiting on a task none of them can finish when one dies: the pool notices the loss
    while `Processes.map` waits for a result, and the others are killed with the pool
    (the loss noticed between two results, when the next submission raises, is
    `test_a_pool_broken_between_results_is_restarted`)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.stage = ""
        self.units_after_kill = 0
        self.victim: psutil.Process | None = None
        self.workers_at_kill: set[int] = set()
        self._killer: threading.Thread | None = None

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        self.stage = stage

    def advance(self, units: int) -> None:
        if self.victim is not None:
            self.units_after_kill += units
        elif self.stage.endswith("PSA"):
            workers = _wait_for_workers(psutil.Process())
            self.victim = workers[0]
            self.workers_at_kill = {w.pid for w in workers}
            if self.backend == "processes":
                self._killer = threading.Thread(target=self._stop_then_kill, args=(workers,))
                self._killer.start()
            else:
                self.victim.kill()

    def _stop_then_kill(self, workers: list[psutil.Process]) -> None:
        for worker in workers:
            worker.suspend()
        time.sleep(0.5)  # the run has taken in every result there was and waits
        workers[0].kill()
        time.sleep(0.3)  # the pool has seen the loss
        for worker in workers[1:]:
            if worker.is_running():
                worker.resume()

    def end(self) -> None:
        pass

    def join(self) -> None:
        if self._killer is not None:
            self._killer.join()


def test_a_pool_broken_between_results_is_restarted() -> None:
    """A worker lost while the caller holds a result breaks the pool before the next
    task goes in: then `submit()`, not `result()`, raises, and the run must go on."""
    pool = Processes(workers=1)
    try:
        items = range(-20, 0)
        results = pool.map(abs, items)
        got = [next(results)]
        executor = pool._pool
        for process in list(executor._processes.values()):
            process.kill()
        deadline = time.monotonic() + 30
        while not executor._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        assert executor._broken, "the pool never noticed the lost worker: test is vacuous"
        got.extend(results)
        assert pool._pool is not executor, "the pool was never restarted"
    finally:
        pool.close()
    assert got == [abs(i) for i in items]


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_a_worker_killed_mid_run_changes_nothing(
    backend: str, scenario_file: Path, serial_result: dict, tmp_path: Path
) -> None:
    killer = KillAWorker(backend)
    with open_backend(backend, 2) as pool:
        results = sim.run(sim.load(scenario_file), backend=pool, progress=killer)
        killer.join()
        workers_after = {w.pid for w in _workers(psutil.Process())}
    assert killer.victim is not None, "no worker was killed: the test would be vacuous"
    assert not killer.victim.is_running(), "the worker survived its SIGKILL"
    assert killer.units_after_kill > 0, "the run ended at the kill: the test would be vacuous"
    if backend == "processes":
        assert workers_after - killer.workers_at_kill, "the pool was never restarted"
    assert contents(results.write(tmp_path)) == serial_result


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
    """Three base-case-only scenarios (no PSA, no one-way analysis)."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, seed, patients in (("first", 1, 2000), ("second", 2, 2000), ("third", 3, 3000)):
        (folder / f"{name}.yaml").write_text(
            f"extends: {BASE}\nname: {name}\nseed: {seed}\npatients: {patients}\n"
            "psa_iterations: 0\nuncertainty: null\nanalysis: null\n",
            encoding="utf-8",
        )
    return folder


def interrupt(proc: subprocess.Popen[str], ready: Callable[[], bool], wait: float = 0.0) -> Ran:
    """SIGINT to `proc` once `ready()` holds (then `wait` seconds more); what it did."""
    try:
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(wait)
        assert proc.poll() is None, "the run ended before the interruption: vacuous"
        proc.send_signal(signal.SIGINT)
        return console_finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_an_interrupted_batch_resumed_gives_the_uninterrupted_tables(tmp_path: Path) -> None:
    """The whole batch and the interrupted one in fresh interpreters side by side (the
    interruption is a real SIGINT, just after the first scenario is written, while the
    second runs); the resumed batch in this process."""
    folder = _batch_folder(tmp_path)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    uninterrupted = console_start("batch", folder, "--out", whole, "--quiet", cwd=tmp_path)
    try:
        proc = console_start("batch", folder, "--out", resumed, "--quiet", cwd=tmp_path)
        stopped = interrupt(proc, (resumed / "first").exists)
    finally:
        done = console_finish(uninterrupted)
    assert done.code == 0, done.err
    assert stopped.code == 130, stopped.err
    assert (resumed / "first").exists()
    assert not (resumed / "second").exists() and not (resumed / "third").exists()
    assert not [p for p in resumed.iterdir() if p.name.startswith(".")], "temporary folder left"
    first = (resumed / "first" / "manifest.json").read_bytes()

    again = cli_in_process("batch", folder, "--out", resumed, "--quiet", cwd=tmp_path)
    assert again.code == 0, again.err
    assert "first: up to date" in again.out
    assert (resumed / "first" / "manifest.json").read_bytes() == first, "first was rerun"
    for name in ("first", "second", "third"):
        assert contents(resumed / name) == contents(whole / name), name


def test_a_changed_scenario_code_or_force_reruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _batch_folder(tmp_path)
    for extra in ("second.yaml", "third.yaml"):
        (folder / extra).unlink()
    out = tmp_path / "out"

    def batch(*options: str) -> Ran:
        ran = cli_in_process("batch", folder, "--out", out, "--quiet", *options, cwd=tmp_path)
        assert ran.code == 0, ran.err
        return ran

    assert "up to date" not in batch().out
    manifest = (out / "first" / "manifest.json").read_bytes()
    inode = (out / "first").stat().st_ino
    skipped = batch()
    assert "first: up to date" in skipped.out
    assert (out / "first" / "manifest.json").read_bytes() == manifest
    forced = batch("--force")
    assert "up to date" not in forced.out
    assert (out / "first").stat().st_ino != inode, "--force did not rerun"
    changed = batch("--patients", "1500")
    assert "up to date" not in changed.out
    (out / "first" / "events.csv").unlink()  # a table deleted by hand: not up to date
    assert "up to date" not in batch("--patients", "1500").out
    assert (out / "first" / "events.csv").is_file()
    assert "first: up to date" in batch("--patients", "1500").out
    # the same version string, other code (a model or a report changed): made again
    monkeypatch.setattr(tables, "source_sha256", lambda: "0" * 64)
    assert "up to date" not in batch("--patients", "1500").out
    assert json.loads((out / "first" / "manifest.json").read_text())["source_sha256"] == "0" * 64


#: Tasks of 16 blocks that keep both workers busy for seconds: the executor's queue is
#: full when the interruption comes (its feeder blocked writing to a pipe of dead workers
#: once kept the run from ever exiting).
LONG_TASKS = ["--patients", "200000", "--psa-iterations", "50"]


@pytest.mark.parametrize(
    ("backend", "size"),
    [("processes", LONG), ("dask", LONG), ("processes", LONG_TASKS)],
    ids=["processes", "dask", "processes-full-queue"],
)
def test_ctrl_c_stops_the_workers_and_writes_nothing(
    backend: str, size: list[str], tmp_path: Path
) -> None:
    """A real SIGINT to a fresh interpreter whose workers are busy: it exits within
    seconds (interrupt's timeout is 60 s; the exit is timed below)."""
    args = ["run", BASE, *size, "--backend", backend, "--workers", "2", "--out", tmp_path]
    proc = console_start(*args, "--quiet", cwd=tmp_path)
    try:
        workers = _wait_for_workers(psutil.Process(proc.pid))
    finally:  # the workers have loaded the compiled engine and taken tasks after 3 s
        start = time.monotonic()
        stopped = interrupt(proc, lambda: True, 3.0)
    assert time.monotonic() - start < 3.0 + 10.0, "the run took long to stop"
    assert stopped.code == 130, stopped.err
    assert "Traceback" not in stopped.err, stopped.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a result or temporary folder"
    deadline = time.monotonic() + 20
    while any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers):
        assert time.monotonic() < deadline, "a worker outlived the run"
        time.sleep(0.2)


def test_a_scheduler_address_that_is_not_dask_fails_within_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts the connection and never answers (not a Dask scheduler):
    one line and exit 2 once the connect timeout has passed, not a wait for ever."""
    import socket

    from sim.execution import backends

    monkeypatch.setattr(backends, "CONNECT_SECONDS", 1.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        start = time.monotonic()
        args = ["run", BASE, "--patients", "20", "--psa-iterations", "0", "--no-one-way"]
        args += ["--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"]
        ran = cli_in_process(*args, "--quiet", "--out", tmp_path / "out", cwd=tmp_path)
        assert time.monotonic() - start < 20
    finally:
        server.close()
    assert_one_line_error(ran.code, ran.err, f"tcp://127.0.0.1:{port}", "cannot connect")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_background_computation_gives_its_result_or_its_error_and_stops_when_asked() -> None:
    """EVPPI is fitted on a thread of its own during the one-way runs: its result (or its
    exception) reaches the run, and a run that stops does not wait for it."""
    from sim.execution.background import Background, Stopped, check

    assert Background(lambda x, stop: x * 2, 21).result() == 42
    failing = Background(lambda stop: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result()
    started = threading.Event()

    def endless(stop: threading.Event) -> None:
        started.set()
        while True:
            check(stop)
            time.sleep(0.001)

    job = Background(endless)
    assert started.wait(5)
    job.stop()
    with pytest.raises(Stopped):
        job.result()


def test_a_run_that_fails_after_its_psa_stops_the_evppi_fits(monkeypatch) -> None:
    """An error in the one-way runs stops the EVPPI fits running beside them."""
    from sim import pipeline
    from sim.analysis import psa as psa_module

    seen: dict[str, threading.Event] = {}
    original = psa_module.evppi_table

    def watched(scenario, result, stop=None):
        seen["stop"] = stop
        return original(scenario, result, stop)

    def failing(*args, **kwargs):
        raise RuntimeError("one-way failed")

    monkeypatch.setattr(pipeline, "evppi_table", watched)
    monkeypatch.setattr(pipeline, "one_way", failing)
    sc = build({**base_document(), "patients": 200, "psa_iterations": 20})
    with pytest.raises(RuntimeError, match="one-way failed"):
        pipeline.run(sc)
    assert seen["stop"].is_set()
