"""Writing results so that nothing is ever half-written (DESIGN §8).

A result folder is built in a temporary folder beside its place and renamed into place
when complete; a single file is written through a temporary file and renamed. An earlier
result survives any failure or interruption.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sim.execution import interrupts


class NotOurs(Exception):
    """Something the tool did not write stands where a result folder would go."""


#: What marks a folder this tool wrote: its manifest names the package's version.
PACKAGE = "baclofen-sim"


def check_replaceable(target: Path) -> None:
    """A result folder replaces only what is absent or a complete result folder of this
    tool (its manifest.json names the package): never a user's own folder or file."""
    if not target.exists() and not target.is_symlink():
        return
    what = "a file" if not target.is_dir() or target.is_symlink() else None
    if what is None:
        try:
            manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
            ours = PACKAGE in manifest.get("versions", {})
        except (OSError, ValueError, AttributeError, TypeError):
            ours = False
        what = None if ours else "a folder without a manifest.json of this tool"
    if what is not None:
        raise NotOurs(
            f"{target}: exists and is {what}, not a result folder of {PACKAGE}: it is "
            "left as it is; move it away or give another --out"
        )


def _stale(folder: Path, name: str) -> None:
    """Remove the temporary folders of `name` that a killed run left (their process, in
    the name, is gone)."""
    for path in folder.glob(f".{name}.*-*-*"):
        kind, _, rest = path.name[len(name) + 2 :].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` whole.

    On any failure or interruption the temporary folder is removed and an earlier
    `target` stays as it was: there is never a half-written result folder. `target` must
    be absent or a result folder of this tool (check_replaceable), and nothing is put in
    place after an interrupt, even one whose exception was swallowed.
    """
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _stale(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield tmp
        interrupts.check()
        check_replaceable(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with _signals_held():
        _swap(tmp, target)


def _swap(tmp: Path, target: Path) -> None:
    """Put `tmp` in `target`'s place; if the second rename fails, the old one goes back."""
    old = None
    try:
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent)
            )
            os.rename(target, old / "previous")
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old / "previous", target)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait while result folders are swapped: an interruption between
    the two renames would otherwise leave no result folder at all."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename it into place: a
    reader never sees half a file, and an earlier file survives a failure."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
