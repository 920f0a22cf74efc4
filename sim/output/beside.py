"""results.xlsx written by a process of its own (:mod:`sim.output.workbook` run as a
script) while this one draws the report's figures: both are pure Python work of about the
same size, and a machine with two cores does them in the time of one. Only the standard
library here: the command line starts the process before it reads the scenario, so that
the process has imported its libraries by the time the tables are written.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


class Writer:
    """The process that writes `folder/results.xlsx`, started ahead of the folder
    (`start` names it). A Ctrl-C reaches this process only, which stops the child."""

    def __init__(self) -> None:
        package = Path(__file__).resolve().parents[2]
        path = os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")]))
        self._folder: Path | None = None
        self._child = subprocess.Popen(
            [sys.executable, "-m", "sim.output.workbook", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,
        )

    def start(self, folder: Path) -> None:
        """Write the workbook of the tables in `folder` (written by now)."""
        self._folder = Path(folder)
        assert self._child.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a child that failed: finish() says why
            self._child.stdin.write(os.fsencode(self._folder) + b"\n")
            self._child.stdin.flush()  # finish() closes it

    def finish(self) -> None:
        """Wait for the workbook; a failure raises here (a full disk with its errno)."""
        _, err = self._child.communicate()
        if self._child.returncode:
            target = (self._folder or Path(".")) / "results.xlsx"
            last = (err.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
            failed = re.search(r"\[Errno (\d+)\] ([^:']+)", last)  # a full disk, say
            if failed:
                raise OSError(int(failed.group(1)), failed.group(2).strip(), str(target))
            raise OSError(f"{target}: not written ({last})")

    def stop(self) -> None:
        """Stop the process if it is still running (an error or an interrupt here)."""
        if self._child.poll() is None:
            self._child.kill()
            self._child.wait()
        for stream in (self._child.stdin, self._child.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def writing_beside(folder: Path, writer: Writer | None = None) -> Iterator[None]:
    """`folder/results.xlsx` written by `writer` (or one started now) while the block
    runs, waited for at its end; an exception in the block stops the writer."""
    writer = writer or Writer()
    try:
        writer.start(folder)
        yield
        writer.finish()
    finally:
        writer.stop()
