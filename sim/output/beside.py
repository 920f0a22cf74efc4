"""report.html and results.xlsx written by processes of their own, started ahead.

Both are pure Python work of about the same size (matplotlib's figures, XlsxWriter's
cells), so a machine with two cores writes them in the time of one, and the process that
ran the scenario never imports matplotlib. Only the standard library here (and the
signals of sim.execution.interrupts): the command line starts the processes before it
reads the scenario, so that they have imported their
libraries by the time the tables are written.

On Linux, a process with a single thread forks its writers (`start="fork"`): they share
the libraries it has imported (NumPy, pandas and the result folder's reader: about a
second of CPU that two fresh interpreters spent importing them again, while the run
wanted the cores). Elsewhere, or beside other threads (a notebook's kernel), each writer
is a fresh interpreter (`python -m <module> -`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn, TypeVar

from sim.execution.interrupts import STOPS

T = TypeVar("T")
U = TypeVar("U")

#: What a writer process says when it has written a folder.
DONE = b"written\n"
#: Imported by the process that forks its writers, before it forks: what both writers
#: use (the result folder's reader imports pandas and NumPy).
SHARED = ("sim.output.report.folder",)


@dataclass(frozen=True)
class Output:
    """An output of a result folder and the process that writes it: `module` is run as
    `python -m <module> -`, imports `imports` while the run goes on, and writes a folder
    with its function `write`."""

    made: str
    module: str
    write: str
    imports: tuple[str, ...]


WORKBOOK = Output(
    "results.xlsx",
    "sim.output.workbook",
    "write",
    ("xlsxwriter", "sim.output.files", "sim.output.report.folder"),
)
REPORT = Output(
    "report.html",
    "sim.output.report",
    "write_page",
    ("matplotlib.backends.backend_agg", "matplotlib.figure", "matplotlib.ticker"),
)


def can_fork() -> bool:
    """Whether writers may be forked from this process: Linux (elsewhere a fork without
    exec can break system libraries), and no other thread (a fork copies only the calling
    thread: a lock another one held would never be released in the child)."""
    return sys.platform == "linux" and threading.active_count() == 1


class _Forked:
    """A writer process forked from this one, with the part of `subprocess.Popen` that
    Writer uses: its stdin and stdout pipes, `pid`, `poll`, `wait` and `returncode`. The
    child keeps only its pipes and `err` (every other descriptor closed: a writer forked
    after another must not hold the first one's pipes open), runs in a session of its
    own, serves `output` and ends with os._exit: it never returns into this process's
    code."""

    def __init__(self, output: Output, err: IO[bytes]) -> None:
        for module in SHARED:
            importlib.import_module(module)
        child_in, self_in = os.pipe()
        self_out, child_out = os.pipe()
        try:
            self.pid, held = _fork()
            if self.pid == 0:
                _forked_child(output, child_in, child_out, err.fileno(), held)
        except BaseException:
            for fd in (child_in, self_in, self_out, child_out):
                os.close(fd)
            raise
        os.close(child_in)
        os.close(child_out)
        self.stdin: IO[bytes] | None = os.fdopen(self_in, "wb")
        self.stdout: IO[bytes] | None = os.fdopen(self_out, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            while self.poll() is None:
                _pid, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"writer {self.pid}", timeout)
            time.sleep(0.005)
        return self.returncode


def _fork() -> tuple[int, set[signal.Signals]]:
    """os.fork with the standard streams flushed (nothing written twice) and SIGINT and
    SIGTERM held: a signal before the child's own handlers would run this process's
    handler there, and its exception this process's code. The parent gets the signals
    back at once; the child restores the returned mask once it cannot return into the
    caller's code."""
    sys.stdout.flush()
    sys.stderr.flush()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return pid, held


def _kill_group(pid: int) -> None:
    """Kill a writer and whatever it forked (in_two): it leads a process group of its
    own, unless it is killed before it made one."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _forked_child(
    output: Output, stdin: int, stdout: int, err: int, mask: set[signal.Signals]
) -> NoReturn:
    """The forked writer: its descriptors 0, 1 and 2 are its pipes and `err`; `mask` is
    the signal mask to restore once its handlers are the defaults."""
    code = 1
    try:
        os.setsid()  # a Ctrl-C at the terminal reaches the parent only, which stops it
        for signum in STOPS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(err, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        serve(output.imports, getattr(importlib.import_module(output.module), output.write))
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


class Writer:
    """The process that writes one output of a result folder (`WORKBOOK` or `REPORT`),
    started ahead of the folders it will write (`start` names each, `finish` waits for
    it): a batch imports the libraries once. A Ctrl-C reaches this process only, which
    stops the child. `start` says how the process starts: "fork" (see the module's
    docstring), "spawn" (a fresh interpreter), or by default fork where `can_fork`."""

    def __init__(self, output: Output = WORKBOOK, start: str | None = None) -> None:
        self.made = output.made
        self._folder: Path | None = None
        # its stderr to a file, not a pipe: warnings over a long batch can never fill a
        # pipe that nobody reads until the end, and block the child
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        if (start or ("fork" if can_fork() else "spawn")) == "fork":
            self._child: subprocess.Popen[bytes] | _Forked = _Forked(output, self._err)
            return
        package = Path(__file__).resolve().parents[2]
        path = os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")]))
        self._child = subprocess.Popen(
            [sys.executable, "-m", output.module, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,
        )

    def start(self, folder: Path) -> None:
        """Write the output of the tables in `folder` (written by now)."""
        self._folder = Path(folder)
        assert self._child.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a child that failed: finish() says why
            self._child.stdin.write(os.fsencode(self._folder) + b"\n")
            self._child.stdin.flush()

    def finish(self) -> None:
        """Wait for the output of the last `start`. A failure raises here: an OSError
        with its errno (a full disk), or a RuntimeError (a bug) with the child's last
        line."""
        assert self._child.stdout is not None
        if self._child.stdout.readline() == DONE:
            return
        self._child.wait()  # a child that failed has stopped: its stderr says why
        self._err.seek(0)
        err = self._err.read()
        target = (self._folder or Path(".")) / self.made
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        failed = re.search(r"\[Errno (\d+)\] ([^:']+)", last)  # a full disk, say
        if failed:
            raise OSError(int(failed.group(1)), failed.group(2).strip(), str(target))
        error = RuntimeError(f"{target}: not written ({last})")
        # the child's whole traceback, for --debug (a note is not part of the one line)
        error.add_note(err.decode("utf-8", "replace").rstrip())
        raise error

    def stop(self, wait: bool = False) -> None:
        """Stop the process: with `wait`, once it has read its last folder (it ends at
        the end of its input), else at once (an error or an interrupt here)."""
        with contextlib.suppress(OSError):
            if self._child.stdin is not None:
                self._child.stdin.close()
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(timeout=5)
        if self._child.poll() is None:
            _kill_group(self._child.pid)
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._err.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.stop(wait=kind is None)


class Writers:
    """The report's and the workbook's processes, started together (`start` as Writer's)."""

    def __init__(self, start: str | None = None) -> None:
        self.each: list[Writer] = []
        try:
            self.each += [Writer(REPORT, start), Writer(WORKBOOK, start)]
        except BaseException:
            self.stop()
            raise

    def start(self, folder: Path) -> None:
        for writer in self.each:
            writer.start(folder)

    def finish(self) -> None:
        for writer in self.each:
            writer.finish()

    def stop(self, wait: bool = False) -> None:
        for writer in self.each:
            writer.stop(wait)

    def __enter__(self) -> Writers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.stop(wait=kind is None)


@contextlib.contextmanager
def writing_beside(folder: Path, writer: Writer | None = None) -> Iterator[None]:
    """The outputs of `writer` (default: a workbook process started now) written into
    `folder` while the block runs, waited for at its end; an exception in the block stops
    the writer."""
    own = writer is None
    writer = writer or Writer()
    try:
        writer.start(folder)
        yield
        writer.finish()
    except BaseException:
        writer.stop()
        raise
    if own:
        writer.stop(wait=True)


def in_two(here: Callable[[], T], there: Callable[[], U]) -> tuple[T, U]:
    """`here()` in this process and `there()` at the same time in one forked from it (the
    report's figures on both cores): the results of both, as if called one after the
    other. Where `can_fork` says no, or when the forked process fails (its exception,
    a signal, a result that does not pickle), `there()` runs here too, and raises here
    as it would have. The forked process shares this one's imports and data, and ends
    with os._exit: it never returns into the caller's code."""
    if not can_fork():
        return here(), there()
    read, write = os.pipe()
    try:
        pid, held = _fork()
    except OSError:
        os.close(read)
        os.close(write)
        return here(), there()
    if pid == 0:
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            os.close(read)
            data = pickle.dumps(there(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            code = 0
        except BaseException:
            pass  # this process runs `there()` again, and says what went wrong
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        try:
            mine = here()
            data = pipe.read()
        except BaseException:  # a failure here, or an interrupt: the other one stops too
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return mine, there()
    return mine, pickle.loads(data)


def serve(imports: tuple[str, ...], write: Callable[[Path], None]) -> None:
    """A writer process's main: import its libraries while the parent is still running,
    then write each folder named on a line of stdin, saying DONE after each, until stdin
    ends (at once: the run it was started for stopped first). A failure ends the process
    with its traceback on stderr, which the parent reads."""
    import gc

    for module in imports:
        importlib.import_module(module)
    gc.freeze()  # the libraries' objects: never garbage, not walked by each collection
    done = os.fdopen(os.dup(1), "wb")  # the parent's pipe: DONE lines only
    os.dup2(2, 1)  # whatever a library prints goes with the warnings
    for line in iter(sys.stdin.buffer.readline, b""):
        write(Path(os.fsdecode(line.rstrip(b"\n"))))
        done.write(DONE)
        done.flush()
    gc.freeze()  # nor at the end: the process's end frees them (0.25 s sooner)
