"""The resident process itself (`python -m sim.resident_process`, started by
`baclofen-sim resident start`): the command line's start-up done once, then each command
run by a fork of it that takes over the command's streams, folder, environment, umask and
arguments (see sim.execution.resident for the command line's side, and the safety rules).

Per command, two processes: an attendant, which passes on the signals the command line
sends, stops the command if the command line goes away and sends the exit code back; and
the worker it forks, which runs the command with a single thread (so that its report and
workbook writers can fork in turn) while the resident process goes on serving.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from sim.execution.interrupts import STOPS
from sim.execution.resident import PACKAGE, PASSED_ON, receive


def warm(scenario: Path | None) -> None:
    """What every command would do first: the command line's imports, the writers' (the
    report's matplotlib, the workbook's XlsxWriter), Numba's machinery and the compiled
    engine, by a small simulation of `scenario` (the checkout's base case by default, if
    there is one). Its threads end before the process serves: a fork copies one thread."""
    import importlib

    from sim.execution.collector import long_lived

    with long_lived():
        from sim import cli  # noqa: F401
        from sim.output import beside

        for module in (*beside.SHARED, *beside.REPORT.imports, *beside.WORKBOOK.imports):
            importlib.import_module(module)
        for module in (beside.REPORT.module, beside.WORKBOOK.module, "sim.pipeline"):
            importlib.import_module(module)
        scenario = scenario or PACKAGE.parent / "scenarios" / "base.yaml"
        if scenario.is_file():
            import sim

            sim.run(sim.load(scenario, patients=16, psa_iterations=0), one_way_analyses=False)


def serve(path: Path, idle_seconds: float, scenario: Path | None = None) -> None:
    """The resident process's main: warm up, then serve each connection to `path` until
    it has been idle for `idle_seconds`, is asked to stop, or its socket is replaced."""
    warm(scenario)
    # what `resident status` shows
    state = {"pid": os.getpid(), "started": time.time(), "idle_seconds": idle_seconds}
    state |= {"socket": str(path), "served": 0}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    listener.bind(str(staged))
    listener.listen(16)
    os.replace(staged, path)  # a running command line sees a socket that answers, or none
    mine = path.stat().st_ino
    last = time.monotonic()
    signal.signal(signal.SIGTERM, _leave)
    try:
        while True:
            _reap()
            left = idle_seconds - (time.monotonic() - last)
            if left <= 0 or not _still_mine(path, mine):
                return
            listener.settimeout(min(left, 5.0))
            try:
                connection, _address = listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            with connection:
                if _serve_one(connection, listener, state):
                    return
    finally:
        if _still_mine(path, mine):
            path.unlink()
            log = path.with_suffix(".log")
            with contextlib.suppress(OSError):
                if not log.stat().st_size:  # kept when it says why a start failed
                    log.unlink()
        listener.close()


def _leave(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(0)


def _reap() -> None:
    """Collect the commands' attendants that have ended."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _still_mine(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except FileNotFoundError:
        return False


def _serve_one(connection: socket.socket, listener: socket.socket, state: dict[str, Any]) -> bool:
    """Answer a status or stop request, or fork the attendant of a command: whether the
    request was to stop. A request that cannot be served is closed unanswered (the
    command line then runs its command itself)."""
    connection.settimeout(10)
    try:
        request, fds = receive(connection)
    except (OSError, ValueError):
        return False
    kind = request.get("kind")
    if kind in ("status", "stop"):
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps(state).encode() + b"\n")
        return kind == "stop"
    if kind != "run" or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return False
    try:
        attendant = os.fork()
    except OSError:  # no process to spare: the command line runs the command itself
        attendant = -1
    if attendant == 0:
        listener.close()
        _attend(connection, request, fds)
    for fd in fds:
        os.close(fd)
    if attendant > 0:
        state["served"] += 1
    return False


def _attend(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> NoReturn:
    """One command's attendant: forks the worker that runs it, passes on the signals the
    command line sends, stops it if the command line goes away, and sends its exit code.
    Its own process, so that the worker has a single thread (its writers fork) and the
    resident process goes on serving."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # held in the worker until the command line's handlers are in place (sim.entry):
        # one sent early is then neither lost nor a traceback
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
        connection.settimeout(None)
        worker = os.fork()
        if worker == 0:
            connection.close()
            _work(request, fds)
        for fd in fds:
            os.close(fd)
        connection.sendall(f"started {worker}\n".encode())
        code = _watch(connection, worker)
        with contextlib.suppress(OSError):
            connection.sendall(f"exit {code}\n".encode())
    finally:
        os._exit(0)


def _watch(connection: socket.socket, worker: int) -> int:
    """The worker's exit code (128 + N for a signal N), passing on signals meanwhile."""
    ended = os.pidfd_open(worker)
    waiting: list[Any] = [connection, ended]
    pending = b""
    while True:
        ready, _w, _x = select.select(waiting, [], [])
        if ended in ready:
            _pid, status = os.waitpid(worker, 0)
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        data = b""
        with contextlib.suppress(OSError):
            data = connection.recv(256)
        if not data:  # the command line went away: stop the command as SIGTERM would
            waiting.remove(connection)
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGTERM)
            continue
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            word, _, number = line.partition(b" ")
            if word == b"signal" and number.isdigit() and int(number) in PASSED_ON:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, int(number))


def _work(request: dict[str, Any], fds: list[int]) -> NoReturn:
    """Run the command as the command line's own process would, and end with its code."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        sys.stdin, sys.stdout, sys.stderr = (
            _stream(fd, encoding, errors)
            for fd, (encoding, errors) in enumerate(request["streams"])
        )
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request["umask"]))
        import tempfile

        tempfile.tempdir = None  # found again from this command's TMPDIR
        sys.argv = [str(a) for a in request["argv"]]
        sys.modules["__main__"].__package__ = request.get("main_package")
        from sim import console, entry

        console.reopen()
        try:
            entry.main(forward=False)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _stream(fd: int, encoding: str | None, errors: str | None) -> io.TextIOWrapper:
    """A standard stream on `fd` as Python makes it at start-up (line-buffered on a
    terminal, and stderr always), with the command line's encoding."""
    encoding = encoding or "utf-8"
    if fd == 0:
        reader = io.BufferedReader(io.FileIO(0, "r", closefd=False))
        return io.TextIOWrapper(reader, encoding=encoding, errors=errors or "strict")
    writer = io.BufferedWriter(io.FileIO(fd, "w", closefd=False))
    return io.TextIOWrapper(
        writer,
        encoding=encoding,
        errors=errors or ("backslashreplace" if fd == 2 else "strict"),
        line_buffering=fd == 2 or os.isatty(fd),
    )


def _exit_code(code: object) -> int:
    """SystemExit's code as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(BaseException):
        print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(
        Path(sys.argv[1]),
        float(sys.argv[2]),
        Path(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
