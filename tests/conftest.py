"""Shared helpers of every test folder (pytest finds this file for the subfolders; a test
module imports what it needs with ``from conftest import ...``).

* scenarios: the shipped base document, the silent scenario (every process switched off,
  then one switched on), perturbed scenarios for property-based tests;
* the command line: ``baclofen-sim ARGS`` through ``sim.cli.main`` in this process, or
  ``python -m sim ARGS`` in a fresh interpreter where only that shows what a test checks
  (exit status and stderr of the console script, signals, tracebacks of ``--debug``);
* result folders: their files, the one-line error standard, the shared console-script run.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from hypothesis import strategies as st

from sim import scenario
from sim.execution import resident, runner
from sim.model.events import COUNTERS
from sim.validation import setups
from sim.validation.setups import with_values

# Property-based tests: the same examples every run (a test never flakes), and no deadline
# (the first call of a compiled function compiles it).
settings.register_profile("baclofen", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("baclofen")

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASE = SCENARIOS / "base.yaml"
BASE_NAME = "base"  # `name:` of scenarios/base.yaml: its result folder
EXIT_BAD_INPUT = 2


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the engines once, before any test times a subprocess: a cold Numba compile
    takes 10-30 s; later processes (and the workers of a backend) load the compiled code
    from the cache."""
    small = scenario.load(BASE).model_copy(update={"patients": 10})
    runner.run(small, BASE.parent)
    # a resident process the developer started never serves the tests' commands (those
    # of test_resident.py start their own, in this folder)
    os.environ[resident.FOLDER] = tempfile.mkdtemp(prefix="bsr-")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop a resident process a test left running, and remove the sockets' folder."""
    if resident.FOLDER in os.environ:
        resident.stop()
        shutil.rmtree(os.environ[resident.FOLDER], ignore_errors=True)


@functools.cache
def _base_document() -> dict[str, Any]:
    return yaml.safe_load(BASE.read_text(encoding="utf-8"))


def base_document() -> dict[str, Any]:
    """scenarios/base.yaml as a document of one's own to change (parsed once a session:
    the property-based tests and the bad-input corpus start from it hundreds of times)."""
    return copy.deepcopy(_base_document())


def silent_document() -> dict[str, Any]:
    """Base scenario with no death and every event off, over 20 years (the base case's
    lifetime would run to the life table's last age): one process at a time goes on."""
    doc = setups.silent(base_document())
    doc["horizon_years"] = SILENT_HORIZON
    return doc


#: The horizon of the silent document (years), which the closed forms use.
SILENT_HORIZON = 20.0


def build(doc: dict[str, Any]) -> scenario.Scenario:
    return scenario.validate(doc, "test")


def tally_of(doc: dict[str, Any]):
    return runner.run(build(doc), ROOT / "scenarios")


def count(tally, strategy_index: int, event: str) -> int:
    return int(tally.count[strategy_index, COUNTERS.index(event)])


@pytest.fixture
def silent() -> dict[str, Any]:
    return silent_document()


# ------------------------------------------- perturbed scenarios (property-based tests)

RATES = (
    "strategies__itb__pump__failure_rate_per_year",
    "strategies__itb__explant_rate_per_year",
    "strategies__oral__discontinuation_rate_per_year",
    "strategies__oral__withdrawal_rate_per_year",
    "strategies__itb__side_effects__events__seizure__rate_per_year",
    "strategies__oral__side_effects__events__drowsiness__rate_per_year",
)
PROBABILITIES = (
    "strategies__itb__screening__response_probability",
    "strategies__itb__refill__missed_probability",
    "strategies__itb__refill__pocket_fill_probability",
    "strategies__itb__refill__programming_error_probability",
    "strategies__itb__refill__missed_withdrawal_probability",
    "strategies__itb__surgery__implant__infection_probability",
    "strategies__itb__surgery__pump_replacement__death_probability",
    "strategies__itb__infection__explant_probability",
    "strategies__itb__infection__meningitis_probability",
    "strategies__itb__infection__reimplant_probability",
    "strategies__itb__catheter__withdrawal_probability",
    "strategies__itb__pump__depletion_withdrawal_probability",
    "strategies__oral__response_probability",
)
OTHERS: dict[str, Any] = {
    "strategies__itb__side_effects__dose_exponent": st.sampled_from([0.0, 1.0, 2.5]),
    "strategies__oral__side_effects__dose_exponent": st.sampled_from([0.0, 1.0, 3.0]),
    "strategies__itb__dose__annual_growth": st.sampled_from([0.0, 0.25, 3.0]),
    "strategies__itb__dose__growth_years": st.sampled_from([0.0, 1.0, 30.0]),
    "strategies__itb__pump__stability_days": st.sampled_from([1.0, 30.0, 180.0]),
    "strategies__itb__pump__battery_alarm_lead_days": st.sampled_from([0.0, 90.0, 2000.0]),
    "strategies__itb__refill__missed_delay_days": st.sampled_from([0.0, 5.0, 400.0]),
    "strategies__itb__infection__reimplant_delay_days": st.sampled_from([0.0, 180.0]),
    "discount__costs": st.sampled_from([0.0, 0.03, 0.5]),
    "discount__effects": st.sampled_from([0.0, 0.015]),
    "discount__cost_trend": st.sampled_from([[], [0.1, 0.085, 0.07, 0.055, 0.04], [-0.2]]),
    "strategies__itb__care_cost_multiplier_early": st.sampled_from([[], [1.5, 0.9], [0.2] * 10]),
}


@st.composite
def perturbed(draw: st.DrawFn) -> dict[str, Any]:
    doc = base_document()
    changes: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(RATES), max_size=3, unique=True)):
        changes[path] = draw(st.sampled_from([0.0, 0.05, 5.0]))
    for path in draw(st.lists(st.sampled_from(PROBABILITIES), max_size=4, unique=True)):
        changes[path] = draw(st.sampled_from([0.0, 0.5, 1.0]))
    for path in draw(st.lists(st.sampled_from(sorted(OTHERS)), max_size=3, unique=True)):
        changes[path] = draw(OTHERS[path])
    changes["horizon_years"] = draw(st.sampled_from([0.25, 3.0, 20.0, "lifetime"]))
    doc = with_values(doc, **changes)
    keep = draw(st.sampled_from([("oral",), ("none", "oral", "itb"), ("oral", "itb")]))
    doc["strategies"].setdefault("none", {"type": "untreated"})
    doc["strategies"] = {k: v for k, v in doc["strategies"].items() if k in keep}
    doc["comparator"] = "oral"
    doc["seed"] = draw(st.integers(0, 2**40))
    return doc


# --------------------------------------------------------------------- the command line


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code, standard output and standard error."""

    code: int
    out: str
    err: str


def _exit_code(exc: SystemExit) -> int:
    """The status a process would exit with (`sys.exit("text")` exits 1)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def cli_in_process(*args: str | Path, cwd: Path) -> Ran:
    """``baclofen-sim ARGS`` run by ``sim.cli.main`` in this process, in folder `cwd`: the
    console script's code path without an interpreter's start-up (about 1.5 s) per command.
    The working folder, ``sys.argv`` and the SIGINT/SIGTERM handlers that ``cli.main``
    installs are put back afterwards; ``SystemExit`` becomes the exit code."""
    from sim import cli

    argv, where = sys.argv, Path.cwd()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["baclofen-sim", *map(str, args)]
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc)
    finally:
        sys.argv = argv
        os.chdir(where)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return Ran(code, out.getvalue(), err.getvalue())


def console_start(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m sim ARGS`` (the console script's `main`) in a fresh interpreter, in the
    background."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def console_finish(proc: subprocess.Popen[str], timeout: float = 180) -> Ran:
    """Wait for a command started by `console_start` (killed if it outlives `timeout`)."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return Ran(proc.returncode, stdout, stderr)


def console(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    """``python -m sim ARGS`` in a fresh interpreter, to the end."""
    return console_finish(console_start(*args, cwd=cwd, env=env))


def wait_for_signal_handlers(proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Return once `proc` catches SIGTERM, i.e. ``cli.main`` has installed its handlers
    (SIGINT's goes in just after): a signal sent sooner would meet Python's defaults.
    Read from /proc/PID/status (Linux); elsewhere a fixed wait."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        time.sleep(2.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(
                line.split()[1]
                for line in status.read_text().splitlines()
                if line.startswith("SigCgt:")
            )
        except (OSError, StopIteration):
            break
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.02)
    raise AssertionError("the command never installed its signal handlers")


def assert_one_line_error(
    code: int, stderr: str, *fragments: str, exit_code: int = EXIT_BAD_INPUT
) -> str:
    """The standard for bad input (DESIGN §7): that exit code, exactly one line on stderr
    with no traceback, holding every fragment. Returns the line."""
    assert code == exit_code, f"exit code {code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def assert_nothing_written(results: Path) -> None:
    """No result folder's content, and no temporary folder beside it."""
    if results.exists():
        left = sorted(p.name for p in results.iterdir())
        assert left == [], f"results folder not empty: {left}"
    assert not list(results.parent.glob(".*.tmp-*")), "temporary folder left beside results"


# ---------------------------------------------------------------------- result folders


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def contents(folder: Path) -> dict[str, bytes]:
    """Every result file but the manifest (which records timings, backend and workers)."""
    return {name: data for name, data in snapshot(folder).items() if name != "manifest.json"}


def entries(folder: Path) -> list[str]:
    """Names in `folder`, hidden ones included (temporary folders start with a dot)."""
    return sorted(p.name for p in folder.iterdir())


#: The options of the shared console-script run `base_run`.
SMALL_RUN = ("--patients", "200", "--psa-iterations", "20")
#: `reseeded_run` is `base_run` with this seed instead of the scenario's.
OTHER_SEED = "7"


@pytest.fixture(scope="session")
def _console_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`base_run` and `reseeded_run`, side by side in two fresh interpreters."""
    work = tmp_path_factory.mktemp("console-runs")
    outs = {"base": work / "base-out", "reseeded": work / "reseeded-out"}
    args = ["run", BASE, *SMALL_RUN, "--quiet", "--out"]
    procs = {
        "base": console_start(*args, outs["base"], cwd=work),
        "reseeded": console_start(*args, outs["reseeded"], "--seed", OTHER_SEED, cwd=work),
    }
    for name, proc in procs.items():
        ran = console_finish(proc)
        assert ran.code == 0, f"{name}: exit code {ran.code}, stderr:\n{ran.err}"
    return outs


@pytest.fixture(scope="session")
def base_run(_console_runs: dict[str, Path]) -> Path:
    """OUT of one ``python -m sim run scenarios/base.yaml --patients 200 --psa-iterations
    20 --quiet`` in a fresh interpreter, shared by the tests of the command line and the
    API (read it, do not change it: copy it first). Runs in this process must give the
    same bytes: nothing in a table may depend on the interpreter (its hash seed, what it
    imported before)."""
    return _console_runs["base"]


@pytest.fixture(scope="session")
def reseeded_run(_console_runs: dict[str, Path]) -> Path:
    """OUT of the same command as `base_run` with ``--seed 7``, run beside it."""
    return _console_runs["reseeded"]


def copy_result(folder: Path, into: Path) -> Path:
    """A copy of a result folder at `into` / its name (to change or to run over)."""
    target = into / folder.name
    shutil.copytree(folder, target)
    return target


def key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a document (list items by index), parents before children: what
    the fuzzers pick from."""
    found = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found.append((*prefix, key))
        found += key_paths(value, (*prefix, key))
    return found
