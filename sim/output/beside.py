"""report.html and results.xlsx written by processes of their own, started ahead.

Both are pure Python work of about the same size (matplotlib's figures, XlsxWriter's
cells), so a machine with two cores writes them in the time of one, and the process that
ran the scenario never imports matplotlib. Only the standard library here: the command
line starts the processes before it reads the scenario, so that they have imported their
libraries by the time the tables are written.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

#: What each process writes into a result folder, and the module it runs.
WORKBOOK = ("results.xlsx", "sim.output.workbook")
REPORT = ("report.html", "sim.output.report")
#: What a writer process says when it has written a folder.
DONE = b"written\n"


class Writer:
    """The process that writes one output of a result folder (`WORKBOOK` or `REPORT`),
    started ahead of the folders it will write (`start` names each, `finish` waits for
    it): a batch imports the libraries once. A Ctrl-C reaches this process only, which
    stops the child."""

    def __init__(self, output: tuple[str, str] = WORKBOOK) -> None:
        package = Path(__file__).resolve().parents[2]
        path = os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")]))
        self.made, module = output
        self._folder: Path | None = None
        # its stderr to a file, not a pipe: warnings over a long batch can never fill a
        # pipe that nobody reads until the end, and block the child
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self._child = subprocess.Popen(
            [sys.executable, "-m", module, "-"],
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
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._err.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.stop(wait=kind is None)


class Writers:
    """The report's and the workbook's processes, started together."""

    def __init__(self) -> None:
        self.each: list[Writer] = []
        try:
            self.each += [Writer(REPORT), Writer(WORKBOOK)]
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


def serve(imports: tuple[str, ...], write: Callable[[Path], None]) -> None:
    """A writer process's main: import its libraries while the parent is still running,
    then write each folder named on a line of stdin, saying DONE after each, until stdin
    ends (at once: the run it was started for stopped first). A failure ends the process
    with its traceback on stderr, which the parent reads."""
    import gc
    import importlib

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
