"""The resident process (sim.execution.resident): a command it serves does what the
command line's own process would do, to the byte, with the same exit codes, one-line
errors and interrupts; a command never reaches a process of another build."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    BASE,
    ROOT,
    assert_nothing_written,
    assert_one_line_error,
    console,
    console_finish,
    console_start,
    contents,
)

from sim.execution import resident

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork, Unix sockets, pidfd")

OFF = {resident.SWITCH: "off"}
#: A run long enough to be interrupted while it simulates (about 9 s on 2 cores).
LONG_RUN = ("--patients", "6000000", "--psa-iterations", "0", "--no-one-way", "--quiet")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """A resident process for this build, in the test session's own folder: its pid."""
    started = console("resident", "start", "--idle-minutes", "10", cwd=ROOT)
    assert started.code == 0, started.err
    running = resident.status()
    assert running is not None
    yield running["pid"]
    console("resident", "stop", cwd=ROOT)


def _served() -> int:
    running = resident.status()
    assert running is not None, "the resident process is gone"
    return int(running["served"])


def _descendants(pid: int) -> list[int]:
    """The live processes below `pid` (Linux /proc), zombies left out."""
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    for child in map(int, children):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found += [child, *_descendants(child)]
    return found


def _no_command_left(server: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _descendants(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _descendants(server) == [], "a command's process outlived it"


def _table(out: str) -> list[str]:
    return [line for line in out.splitlines() if "patients per strategy" not in line]


def test_a_served_run_writes_what_its_own_process_writes(server: int, tmp_path: Path) -> None:
    args = ("run", BASE, "--patients", "300", "--psa-iterations", "5", "--quiet")
    before = _served()
    by_it = console(*args, "--out", "served", cwd=tmp_path)  # a folder relative to cwd
    assert _served() == before + 1
    alone = console(*args, "--out", "alone", cwd=tmp_path, env=OFF)
    assert _served() == before + 1
    assert (by_it.code, alone.code) == (0, 0), by_it.err + alone.err
    assert by_it.err == alone.err == ""
    # the summary table to the byte (its closing line holds the run's seconds)
    assert _table(by_it.out) == _table(alone.out)
    assert "patients per strategy" in by_it.out
    served, own = contents(tmp_path / "served" / "base"), contents(tmp_path / "alone" / "base")
    assert "summary.csv" in served and "report.html" in served
    assert served == own


def test_bad_input_is_one_line_and_exit_2_through_it(server: int, tmp_path: Path) -> None:
    bad = ROOT / "tests" / "bad_input" / "discount-above-1.yaml"
    before = _served()
    ran = console("run", bad, "--out", tmp_path / "results", cwd=tmp_path)
    assert _served() == before + 1
    assert_one_line_error(ran.code, ran.err, str(bad), "discount")
    assert ran.out == ""
    assert_nothing_written(tmp_path / "results")


def test_help_is_the_command_lines(server: int, tmp_path: Path) -> None:
    before = _served()
    by_it = console("run", "--help", cwd=tmp_path)
    alone = console("run", "--help", cwd=tmp_path, env=OFF)
    assert _served() == before + 1
    assert by_it == alone
    assert by_it.code == 0 and "Usage: python -m sim run" in by_it.out  # not its own name


def _long_run_served(results: Path, seconds: float) -> subprocess.Popen[str]:
    """LONG_RUN started and taken by the resident process, `seconds` into its run."""
    before = _served()
    proc = console_start("run", BASE, *LONG_RUN, "--out", results, cwd=results.parent)
    deadline = time.monotonic() + 60
    while _served() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(seconds)
    return proc


def test_ctrl_c_stops_a_served_run_and_writes_nothing(server: int, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = _long_run_served(results, seconds=1.5)
    proc.send_signal(signal.SIGINT)
    ran = console_finish(proc)
    assert_one_line_error(ran.code, ran.err, "interrupted", exit_code=130)
    assert_nothing_written(results)
    _no_command_left(server)


def test_a_command_whose_command_line_is_killed_stops(server: int, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = _long_run_served(results, seconds=1.0)
    proc.kill()  # no chance to pass anything on: the attendant sees the socket close
    proc.communicate()
    _no_command_left(server)
    assert_nothing_written(results)


def test_forward_serves_commands_but_not_its_own(
    server: int, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    before = _served()
    assert resident.forward(["baclofen-sim", "resident", "status"]) is None
    assert _served() == before
    assert resident.forward(["baclofen-sim", "schema"]) == 0
    assert _served() == before + 1
    assert '"title"' in capfd.readouterr().out  # written to this process's stdout
    monkeypatch.setenv(resident.SWITCH, "off")
    assert resident.forward(["baclofen-sim", "schema"]) is None
    assert _served() == before + 1


def test_status_and_stop_answer_without_a_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(resident.FOLDER, str(tmp_path))
    assert resident.status() is None
    assert resident.stop() == []
    assert resident.forward(["baclofen-sim", "schema"]) is None


def test_the_key_follows_the_package_and_the_engine_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "sim"
    (package / "model").mkdir(parents=True)
    source = package / "model" / "events.py"
    source.write_text("RATE = 1\n")
    (package / "__pycache__").mkdir()
    monkeypatch.setattr(resident, "PACKAGE", package)
    libraries = tmp_path / "site-packages"
    libraries.mkdir()
    monkeypatch.setattr(sys, "path", [str(libraries)])
    environ = {"HOME": "/home/a", "NUMBA_NUM_THREADS": "2"}
    first = resident.key(environ)
    assert resident.key({**environ, "HOME": "/home/b", "TERM": "xterm"}) == first
    (package / "__pycache__" / "events.nbi").write_bytes(b"compiled")
    assert resident.key(environ) == first
    assert resident.key({**environ, "NUMBA_NUM_THREADS": "1"}) != first
    assert resident.key({**environ, "PYTHONPATH": "/elsewhere"}) != first
    assert resident.key({**environ, "OMP_NUM_THREADS": "1"}) != first
    os.utime(libraries, ns=(2, 2))  # a library installed or removed
    assert resident.key(environ) != first
    first = resident.key(environ)
    source.write_text("RATE = 2\n")
    os.utime(source, ns=(1, 1))
    assert resident.key(environ) != first


def test_a_folder_open_to_others_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(resident.FOLDER, str(tmp_path))
    mine = tmp_path / f"baclofen-sim-{os.getuid()}"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    with pytest.raises(resident.Unavailable, match="0700"):
        resident.socket_path()
    (mine / f"{resident.key()[:24]}.sock").touch()
    assert resident.forward(["baclofen-sim", "schema"]) is None


def test_a_resident_process_that_does_not_answer_is_passed_by(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(resident.FOLDER, str(tmp_path))
    monkeypatch.setattr(resident, "HANDSHAKE_SECONDS", 0.3)
    path = resident.socket_path(create=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        hung.bind(str(path))
        hung.listen(1)  # takes the connection, never the command
        start = time.monotonic()
        assert resident.forward(["baclofen-sim", "schema"]) is None
        assert time.monotonic() - start < 5


def test_elsewhere_than_linux_every_command_runs_in_its_own_process(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _served()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert resident.forward(["baclofen-sim", "schema"]) is None
    with pytest.raises(resident.Unavailable, match="Linux"):
        resident.start()
    monkeypatch.undo()
    assert _served() == before
