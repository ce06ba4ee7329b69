"""Writing into run directories when the disk is full or read-only: one line for the user, nothing torn.

Every command and the job turn an OSError from the run directory into a `StorageError` that says what
happened and what to do, instead of a traceback; files that must never be half-written (spec.json, the
lock's identity, checkpoints) are written beside their final name and renamed into place.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from tui_hf.core.errors import StorageError

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is exhausted: free some space",
    errno.EROFS: "the file system is read-only: use a writable runs directory",
    errno.EACCES: "permission denied: use a directory you can write to",
    errno.EPERM: "permission denied: use a directory you can write to",
}


def storage_error(exc: OSError, context: str) -> StorageError:
    advice = _ADVICE.get(exc.errno or 0) or (exc.strerror or str(exc))
    return StorageError(f"{context}: {advice}")


MIN_FREE = 2**20  # a job writes events and checkpoints: starting one with less free space than this fails


def check_space(path: Path, context: str, need: int = MIN_FREE) -> None:
    """Refuse to start work in a directory whose disk is (nearly) full."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free < need:
        raise StorageError(f"{context}: the disk is full ({free // 1024} KiB free): free some space")


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _ADVICE


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a sibling temp file and rename it over `path`: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
