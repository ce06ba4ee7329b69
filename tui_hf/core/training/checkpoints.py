"""Checkpoints that are whole or absent: written into checkpoints/.staging/, renamed into place when done.

A job killed during a save (kill -9, a full disk) leaves at most a staging directory, which the next start
removes; `latest` only ever returns a checkpoint that was completely written, so a resume never trips over
half a checkpoint. Both engines use this layout: the native loop saves into the staging directory itself,
Trainer saves there as its output_dir and our callback moves each finished save into place.

A checkpoint damaged after it was saved (a file truncated by a disk fault or a copy, garbage in a state
file) would make every resume fail the same way: `usable` checks each file cheaply (a safetensors header
against the file's size, every JSON file parsed, torch's zip archives opened) and picks the newest
checkpoint that passes; the job moves a damaged one aside as `checkpoint-N.corrupt` and says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.training.storage import fsync_dir

CHECKPOINTS = "checkpoints"
STAGING = ".staging"
KEEP = 2  # complete checkpoints kept per run
# What a complete checkpoint holds: the model's config and weights, and one engine's training state.
STATE_FILES = ("training_state.pt", "trainer_state.json")
_NAME = re.compile(r"checkpoint-(\d+)")


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def staging_dir(run_dir: Path) -> Path:
    return checkpoints_dir(run_dir) / STAGING


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int


def is_complete(path: Path) -> bool:
    return (
        (path / "config.json").is_file()
        and any((path / f).is_file() for f in STATE_FILES)
        and any(p.suffix == ".safetensors" or p.name == "pytorch_model.bin" for p in path.iterdir())
    )


def complete(run_dir: Path) -> list[Checkpoint]:
    """Complete checkpoints, oldest first."""
    found = []
    try:
        entries = list(checkpoints_dir(run_dir).iterdir())
    except OSError:
        return []
    for p in entries:
        m = _NAME.fullmatch(p.name)
        if m and p.is_dir() and is_complete(p):
            found.append(Checkpoint(p, int(m.group(1))))
    return sorted(found, key=lambda c: c.step)


def latest(run_dir: Path) -> Checkpoint | None:
    found = complete(run_dir)
    return found[-1] if found else None


def _safetensors_problem(path: Path) -> str | None:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(8)
        if len(head) < 8:
            return f"{path.name} is cut short ({size} bytes)"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return f"{path.name} is cut short (its header alone needs {length:,} bytes, the file has {size:,})"
        header = json.loads(fh.read(length))
    if not isinstance(header, dict):
        return f"{path.name} has no valid safetensors header"
    end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end != size:
        return (
            f"{path.name} is cut short ({size:,} bytes; its header describes {8 + length + end:,})"
            if 8 + length + end > size
            else f"{path.name} does not match its header (extra bytes at the end)"
        )
    return None


def _file_problem(path: Path) -> str | None:
    """Why one file of a checkpoint would not load, from a cheap read (None: nothing found)."""
    try:
        if path.suffix == ".safetensors":
            return _safetensors_problem(path)
        if path.suffix == ".json":
            json.loads(path.read_bytes())
        elif path.suffix in (".pt", ".pth", ".bin"):
            # torch.save writes a zip archive: its directory sits at the end, so a cut file has none. The
            # pickled part (small) is read whole, which checks its CRC as well.
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if info.filename.endswith(".pkl"):
                        archive.read(info)
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, EOFError) as exc:
        kind = "JSON" if path.suffix == ".json" else "archive" if path.suffix != ".safetensors" else "file"
        return f"{path.name} is not a readable {kind} ({type(exc).__name__})"
    return None


def verify(path: Path) -> str | None:
    """Why this complete-looking checkpoint would not load, naming the file; None when every file reads."""
    try:
        files = sorted(p for p in Path(path).iterdir() if p.is_file())
    except OSError as exc:
        return f"it cannot be listed ({exc.strerror or exc})"
    for p in files:
        why = _file_problem(p)
        if why:
            return why
    return None


def usable(run_dir: Path) -> tuple[Checkpoint | None, list[tuple[Checkpoint, str]]]:
    """The newest complete checkpoint whose files read, and the newer ones that do not (with the reason)."""
    bad = []
    for c in reversed(complete(run_dir)):
        why = verify(c.path)
        if why is None:
            return c, bad
        bad.append((c, why))
    return None, bad


def set_aside(checkpoint: Checkpoint) -> Path:
    """Move a damaged checkpoint out of the way (kept, for the user to look at): checkpoint-N.corrupt."""
    target = checkpoint.path.with_name(f"{checkpoint.path.name}.corrupt")
    n = 1
    while target.exists():
        n += 1
        target = checkpoint.path.with_name(f"{checkpoint.path.name}.corrupt-{n}")
    os.replace(checkpoint.path, target)
    return target


def interrupted(run_dir: Path) -> list[Path]:
    """Saves that never completed: staging leftovers and checkpoint directories missing files."""
    out = []
    staging = staging_dir(run_dir)
    if staging.is_dir():
        out += sorted(staging.iterdir())
    try:
        entries = list(checkpoints_dir(run_dir).iterdir())
    except OSError:
        entries = []
    out += sorted(
        p
        for p in entries
        if p.is_dir() and (p.name.startswith(".old-") or _NAME.fullmatch(p.name) and not is_complete(p))
    )
    return out


def clean_interrupted(run_dir: Path) -> list[str]:
    """Remove what interrupted saves left; returns their names (for the job to report)."""
    names = []
    for p in interrupted(run_dir):
        names.append(p.name)
        shutil.rmtree(p, ignore_errors=True)
    return names


def stage(run_dir: Path, step: int) -> Path:
    """A fresh staging directory for the checkpoint of `step`."""
    path = staging_dir(run_dir) / f"checkpoint-{step}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(path)


def commit(run_dir: Path, staged: Path, keep: int = KEEP) -> Path:
    """Move a finished save into place (one rename), then drop the oldest beyond `keep`."""
    step = int(_NAME.fullmatch(staged.name).group(1))  # type: ignore[union-attr]
    _fsync_tree(staged)
    final = checkpoints_dir(run_dir) / f"checkpoint-{step}"
    if final.exists():  # the same step saved again (stopped right after a resume): replace it whole
        old = final.with_name(f".old-{final.name}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staged, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, final)
    fsync_dir(checkpoints_dir(run_dir))
    for old in complete(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old.path, ignore_errors=True)
    return final


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)
