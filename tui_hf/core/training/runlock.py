"""One writer per run: an flock on runs/<id>/lock, held for the whole life of the job's process.

The kernel drops an flock when the last descriptor of it closes, so a killed job (kill -9, OOM, a lost
machine) never leaves a run looking alive, and nothing needs cleaning up. Whoever starts a job takes the
lock first and hands the descriptor to the child (`pass_fds`), so two racing `resume`s cannot both start
one: the second fails to take it. The lock file also records who holds it (pid, process start time, process
group); `stop` signals only a process whose start time still matches, so a recycled pid is never signalled.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.errors import RunStateError
from tui_hf.core.training.storage import storage_error

LOCK = "lock"
INHERITED_ENV = "TUI_HF_RUN_LOCK_FD"  # set by the starter: the job holds the lock through this descriptor


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot): with the pid, one process's identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    pid: int | None  # the job's process (None while the starter has not written it yet)
    pgid: int | None
    start: str | None
    host: str
    since: float | None

    @property
    def verified(self) -> bool:
        """The recorded process still exists and is the same one (its start time matches)."""
        if self.pid is None or self.host != socket.gethostname():
            return False
        current = process_start(self.pid)
        if current is None:  # no /proc (not Linux): the pid alone, as the lock says someone holds it
            return self.start is None and process_alive(self.pid)
        return current == self.start


def _read_identity(fd: int) -> Holder:
    try:
        raw = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    return Holder(
        pid=raw.get("pid"),
        pgid=raw.get("pgid"),
        start=raw.get("start"),
        host=raw.get("host", ""),
        since=raw.get("since"),
    )


def holder(run_dir: str | os.PathLike[str]) -> Holder | None:
    """Who holds the run's lock, or None when no process does (the job is not running)."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    try:
        try:
            # A shared probe: it fails while the job holds its exclusive lock, and never blocks a starter
            # for longer than this call.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_identity(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def is_held(run_dir: str | os.PathLike[str]) -> bool:
    return holder(run_dir) is not None


def ever_locked(run_dir: str | os.PathLike[str]) -> bool:
    """A job was started on this run at some point (the lock file outlives its holder)."""
    return (Path(run_dir) / LOCK).exists()


class RunLock:
    """The exclusive lock on a run directory, held by this process (and any child given `fd`)."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir = run_dir
        self.fd = fd

    @classmethod
    def acquire(cls, run_dir: str | os.PathLike[str], wait: float = 1.0) -> RunLock:
        """Take the lock, or raise RunStateError naming the holder. `wait` covers a reader's brief probe."""
        run_dir = Path(run_dir)
        try:
            fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, f"cannot lock {run_dir}") from None
        os.set_inheritable(fd, False)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    who = _read_identity(fd)
                    os.close(fd)
                    pid = f" (pid {who.pid})" if who.pid else ""
                    raise RunStateError(
                        f"{run_dir.name} is in use by another process{pid}: one job per run; "
                        "wait for it to end or stop it first"
                    ) from None
                time.sleep(0.02)
        return cls(run_dir, fd)

    @classmethod
    def inherited(cls, run_dir: str | os.PathLike[str]) -> RunLock | None:
        """The lock a starter handed to this process, if any (checked to really be held through it)."""
        value = os.environ.pop(INHERITED_ENV, "")
        if not value.isdigit():
            return None
        fd = int(value)
        try:
            # The number may name another file here (a torchrun worker inherits the variable, not the
            # descriptor): it must be the run's lock file, and already locked through this description.
            held, expected = os.fstat(fd), os.stat(Path(run_dir) / LOCK)
            if (held.st_dev, held.st_ino) != (expected.st_dev, expected.st_ino):
                return None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.set_inheritable(fd, False)  # children of the job (workers) must not keep the run locked
        except OSError:
            return None
        return cls(Path(run_dir), fd)

    def record(self, pid: int) -> None:
        """Write who the job is, so viewers can name it and `stop` can check it before signalling."""
        identity = {
            "pid": pid,
            "pgid": _pgid(pid),
            "start": process_start(pid),
            "host": socket.gethostname(),
            "since": round(time.time(), 3),
        }
        data = (json.dumps(identity) + "\n").encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
        except OSError as exc:
            raise storage_error(exc, f"cannot write {self.run_dir / LOCK}") from None

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
