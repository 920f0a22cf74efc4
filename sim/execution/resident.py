"""A resident process, the command line's side: finding one, handing it a command,
starting and stopping it (`baclofen-sim resident start`, issue 19; the process itself is
sim.resident_process).

A small run spends most of its time starting: the interpreter, NumPy, pydantic, pandas,
Numba and the compiled engine loaded from its cache, matplotlib for the report (about
1.4 s of a 1,000-patient base case's 1.9 s, every time). A resident process does all that
once, then serves each command by a fork of itself. The fork takes over the command's
standard streams (passed over a Unix socket: its terminal, pipes or files), working
folder, environment, umask and arguments, and runs the command as `baclofen-sim` would:
the same code on the same inputs, so the same bytes and the same exit code. Ctrl-C and
SIGTERM reach it through the command line, which waits for it; if the command line goes
away, the command is stopped as by SIGTERM (nothing half-written is kept).

Only the standard library here: the command line looks for a resident process before it
imports anything heavy, and runs the command itself when there is none.

What keeps a command from reaching a process that would run other code:
- the socket's name is a hash of the interpreter, the installed libraries, the package's
  files (path, size and modification time) and the environment that decides what is
  imported or how the engine and the linear algebra run (KEYED_ENVIRONMENT): after an
  edit of the package, an install, from another checkout or with other thread settings
  the command runs in its own process, and the resident one idles out;
- the socket is in a folder of the user's own (mode 0700, owned by the user);
- it starts only when asked for, and ends after `idle` seconds without a command, or by
  `baclofen-sim resident stop`. BACLOFEN_SIM_RESIDENT=off runs a command in its own
  process even when a resident one is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import stat
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]
#: Set to off (or 0, no, false) to run every command in its own process.
SWITCH = "BACLOFEN_SIM_RESIDENT"
OFF = ("off", "0", "no", "false")
#: The folder that holds the sockets (default: $XDG_RUNTIME_DIR, else the temp folder).
FOLDER = "BACLOFEN_SIM_RUNTIME_DIR"
#: The command that manages resident processes: always run by the command line itself.
COMMAND = "resident"
#: The module that is the resident process (run as `python -m`).
PROCESS = "sim.resident_process"
#: Minutes without a command after which a resident process ends, by default.
IDLE_MINUTES = 60.0
#: The environment that decides what a process imports, how its compiled engine and
#: linear algebra run, and its default text encoding (in the key).
KEYED_ENVIRONMENT = ("PYTHONPATH", "NUMBA_", "OMP_", "OPENBLAS_", "MKL_", "LANG", "LC_")
#: The package's own files: what its code and data are (the compiled cache is not).
PACKAGE_FILES = (".py", ".csv", ".yaml", ".json")
#: Signals the command line passes on to the command it waits for.
PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long the command line waits for a resident process to take its command, before it
#: runs the command itself (if it took it after all, the closed socket stops it there).
HANDSHAKE_SECONDS = 30.0
#: A Unix socket's path is at most this long (sun_path, less its NUL).
MAX_SOCKET_PATH = 107
#: A request on the socket: its length in 4 bytes, then its JSON (see `send`).
LENGTH = struct.Struct(">I")


class Unavailable(Exception):
    """No resident process can be used or started here (the message says why)."""


def key(environ: dict[str, str] | None = None) -> str:
    """A hash of what a resident process's imports are: the interpreter, the installed
    libraries (their folders change when a package is installed or removed), the
    package's files and the environment in KEYED_ENVIRONMENT."""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256()
    for part in (sys.executable, sys.version, str(PACKAGE)):
        digest.update(part.encode() + b"\0")
    for entry in sys.path:
        if entry.endswith("-packages") and os.path.isdir(entry):
            digest.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\0".encode())
    for name in sorted(environ):
        if name.startswith(KEYED_ENVIRONMENT):
            digest.update(f"{name}={environ[name]}\0".encode())
    for folder, subfolders, names in os.walk(PACKAGE):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(PACKAGE_FILES):
                path = os.path.join(folder, name)
                info = os.stat(path)
                line = f"{os.path.relpath(path, PACKAGE)}\0{info.st_size}\0{info.st_mtime_ns}\0"
                digest.update(line.encode())
    return digest.hexdigest()


def folder(create: bool = False) -> Path:
    """The user's own folder of sockets; Unavailable when it is not safe to use (another
    owner, or open to others)."""
    base = os.environ.get(FOLDER) or os.environ.get("XDG_RUNTIME_DIR")
    if not base:
        import tempfile

        base = tempfile.gettempdir()
    path = Path(base) / f"baclofen-sim-{os.getuid()}"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise Unavailable(f"{path}: no such folder") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise Unavailable(f"{path}: not a folder of this user's own (mode 0700)")
    return path


def socket_path(create: bool = False) -> Path:
    """The socket of the resident process for this interpreter, package and environment."""
    path = folder(create) / f"{key()[:24]}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise Unavailable(f"{path}: too long for a socket; set {FOLDER} to a shorter folder")
    return path


def forward(argv: list[str]) -> int | None:
    """Run the command `argv` (sys.argv) by the resident process, if there is one for
    this build: its exit code; None when the command is to run here (none is running, it
    is switched off, or the command manages resident processes)."""
    if sys.platform != "linux" or os.environ.get(SWITCH, "").strip().lower() in OFF:
        return None
    if argv[1:2] == [COMMAND]:
        return None
    try:
        path = socket_path()
    except Unavailable:
        return None
    if not path.exists():
        return None
    try:
        where = os.getcwd()
    except OSError:  # a folder deleted under the command line: it says so itself
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with connection:
        streams = [sys.stdin, sys.stdout, sys.stderr]
        request = {
            "kind": "run",
            "argv": list(argv),
            "cwd": where,
            "env": dict(os.environ),
            "umask": _umask(),
            # how click names the program in usage lines: "baclofen-sim" or "python -m sim"
            "main_package": getattr(sys.modules["__main__"], "__package__", None),
            "streams": [
                [getattr(s, "encoding", None), getattr(s, "errors", None)] for s in streams
            ],
        }
        for stream in streams[1:]:  # what this process wrote comes first
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        with _passing_on(connection) as caught:
            try:
                # a resident process that does not answer (stopped, swamped) is passed by
                connection.settimeout(HANDSHAKE_SECONDS)
                connection.connect(str(path))
                send(connection, request, [0, 1, 2])
                reply = connection.makefile("rb")
                started = reply.readline()
            except OSError:
                started = b""
            if started.startswith(b"started "):
                connection.settimeout(None)
                return _wait(reply)
        for signum in caught:  # nothing was started: the command runs here, and stops
            signal.raise_signal(signum)
    return None


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _connected(path: Path) -> Iterator[socket.socket]:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
        yield connection
    finally:
        connection.close()


@contextlib.contextmanager
def _passing_on(connection: socket.socket) -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM sent on to the command's attendant while the block runs (the
    signals caught, for a command that was not started after all)."""
    caught: list[int] = []

    def pass_on(signum: int, _frame: object) -> None:
        caught.append(signum)
        with contextlib.suppress(OSError):
            connection.sendall(f"signal {signum}\n".encode())

    previous = {signum: signal.signal(signum, pass_on) for signum in PASSED_ON}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait(reply: io.BufferedReader) -> int:
    """The command's exit code, sent by its attendant when it ends."""
    try:
        line = reply.readline()
    except OSError:
        line = b""
    if line.startswith(b"exit "):
        return int(line.split()[1])
    sys.stderr.write("error: the resident process ended before the command did\n")
    return 1


def send(connection: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
    """A request, with the file descriptors `fds` passed along (SCM_RIGHTS)."""
    data = json.dumps(message).encode()
    framed = LENGTH.pack(len(data)) + data
    sent = socket.send_fds(connection, [framed[:4096]], fds)
    if sent < len(framed):  # (sending nothing to a peer that has answered and gone: EPIPE)
        connection.sendall(framed[sent:])


def receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """A request sent by `send`, and the descriptors that came with it (now ours)."""
    data, fds, _flags, _address = socket.recv_fds(connection, 4096, 3)
    try:
        while len(data) < LENGTH.size:
            data += _more(connection)
        (length,) = LENGTH.unpack(data[: LENGTH.size])
        while len(data) < LENGTH.size + length:
            data += _more(connection)
        message = json.loads(data[LENGTH.size : LENGTH.size + length])
        if not isinstance(message, dict):
            raise ValueError("a request is a JSON object")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


def _more(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise ConnectionError("the request ended early")
    return chunk


def ask(path: Path, kind: str) -> dict[str, Any] | None:
    """A resident process's answer to `kind` (status, stop); None when none answers."""
    try:
        with _connected(path) as connection:
            connection.settimeout(10)
            send(connection, {"kind": kind}, [])
            line = connection.makefile("rb").readline()
    except OSError:
        return None
    try:
        answer = json.loads(line)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def start(idle_minutes: float = IDLE_MINUTES, scenario: Path | None = None) -> dict[str, Any]:
    """Start a resident process for this build (unless one is running) and wait until it
    serves: its status. Unavailable says why it could not start."""
    if sys.platform != "linux":  # fork without exec, pidfd
        raise Unavailable("a resident process needs Linux")
    path = socket_path(create=True)
    running = ask(path, "status")
    if running is not None:
        return {**running, "already": True}
    import subprocess

    log = path.with_suffix(".log")
    command = [sys.executable, "-m", PROCESS, str(path), str(idle_minutes * 60)]
    if scenario is not None:
        command.append(str(Path(scenario).resolve()))
    with open(log, "wb") as err:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            cwd=PACKAGE.parent,
        )
    while process.poll() is None:
        answer = ask(path, "status")
        if answer is not None and answer.get("pid") == process.pid:
            return answer
        time.sleep(0.05)
    last = (log.read_text(errors="replace").strip().splitlines() or ["no message"])[-1]
    raise Unavailable(f"the resident process did not start ({last}; see {log})")


def stop() -> list[dict[str, Any]]:
    """Stop this user's resident processes, this build's and any left from an earlier
    one (they would idle out): the status of each. Commands they are running go on to
    their end. A socket that nobody listens on any more is removed."""
    try:
        sockets = sorted(folder().glob("*.sock"))
    except Unavailable:
        return []
    stopped = []
    for path in sockets:
        answer = ask(path, "stop")
        if answer is not None:
            stopped.append(answer)
        elif not _listened(path):
            for leftover in (path, path.with_suffix(".log")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    return stopped


def _listened(path: Path) -> bool:
    try:
        with _connected(path):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


def status() -> dict[str, Any] | None:
    """The status of this build's resident process, or None if none is running."""
    try:
        return ask(socket_path(), "status")
    except Unavailable:
        return None
