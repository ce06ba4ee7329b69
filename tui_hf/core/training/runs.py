"""The runs directory: which runs exist, what state each is in, listed cheaply and incrementally.

A run's status comes from two facts: the last status its events recorded, and whether a process holds its
lock. A run whose events say "running" while nobody holds the lock has died (killed, out of memory, machine
lost); one whose lock is held is alive, whatever its pid file or events say.

`RunsWatcher` is for lists (the app's runs list, `tui-hf runs`): its first pass reads each run's events
once, parsing only the few lines a summary needs, and later passes read only the lines appended since.
Call it from a worker thread; `iter_refresh` yields runs one at a time, newest first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.errors import SpecError
from tui_hf.core.training import runlock
from tui_hf.core.training.events import ACTIVE, EVENTS, EventReader, RunState, read_state

SPEC = "spec.json"


def runs_root(root: str | os.PathLike[str] | None = None) -> Path:
    return Path(root or os.environ.get("TUI_HF_RUNS") or "runs")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / SPEC).exists() or (path / EVENTS).exists())


def created(path: Path) -> float:
    """When a run was made: its spec's time (written once), else the directory's."""
    for candidate in (path / SPEC, path):
        try:
            return candidate.stat().st_mtime
        except OSError:
            continue
    return 0.0


def run_dirs(root: str | os.PathLike[str] | None = None, newest_first: bool = False) -> list[Path]:
    """Run directories under `root`, oldest first (a directory listing: no events are read)."""
    base = runs_root(root)
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    dirs = [p for p in entries if is_run_dir(p)]
    return sorted(dirs, key=lambda p: (created(p), p.name), reverse=newest_first)


def effective_status(run_dir: Path, state: RunState) -> str:
    """The events' status, "died" when no process holds the run and it never wrote a final status."""
    who = runlock.holder(run_dir)
    if who is not None:
        if state.status in ACTIVE:
            return state.status
        if state.done and who.since is not None and state.updated is not None and who.since <= state.updated:
            return state.status  # the job wrote its final status and is exiting
        return "starting"  # started (or resumed) and not yet writing
    if state.done:
        return state.status
    if state.status != "pending" or state.started is not None or runlock.ever_locked(run_dir):
        return "died"
    return "pending"


def is_alive(run_dir: str | os.PathLike[str]) -> bool:
    """A process holds the run (its job, or a script's TuiHfCallback)."""
    return runlock.is_held(run_dir)


@dataclass
class RunInfo:
    path: Path
    state: RunState
    status: str  # the events' status, or "died" when the process is gone without saying so


def run_info(run_dir: Path) -> RunInfo:
    state = read_state(run_dir)
    return RunInfo(run_dir, state, effective_status(run_dir, state))


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    """Every run with its full state (every event parsed): for a summary list use RunsWatcher."""
    return [run_info(p) for p in run_dirs(root)]


def resolve_run(ref: str, root: str | os.PathLike[str] | None = None) -> Path:
    """A run given as a path or as its name under the runs directory."""
    for candidate in (Path(ref), runs_root(root) / ref):
        if is_run_dir(candidate):
            return candidate
    raise SpecError(f"no run at {ref} (looked in . and {runs_root(root)})")


# -- summaries, incrementally -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One line of a runs list."""

    path: Path
    status: str
    step: int
    total_steps: int
    loss: float | None  # the last logged train loss
    best: tuple[str, float] | None
    engine: str
    model: str
    message: str
    created: float
    updated: float | None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def alive(self) -> bool:
        return self.status in ACTIVE


_TRAIN_PREFIX = b'{"event": "train"'


class _Tracker:
    """A run's summary state: every event but train is folded; of the train lines only the last is parsed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader = EventReader(path)
        self.state = RunState()
        self.created = created(path)

    def poll(self) -> None:
        data = self.reader.read_bytes()
        if not data:
            return
        events, last_train = [], None
        for line in data.splitlines():
            if line.startswith(_TRAIN_PREFIX):
                last_train = line
                continue
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                if value.get("event") == "train":  # written by another JSON library's spacing
                    last_train = line
                    continue
                events.append(value)
        if last_train is not None:
            try:
                value = json.loads(last_train)
            except ValueError:
                value = None
            if isinstance(value, dict):
                events.append(value)
        self.state.apply(events)
        if len(self.state.train) > 1:
            del self.state.train[:-1]
            del self.state.lr[:-1]

    def summary(self) -> RunSummary:
        s = self.state
        return RunSummary(path=self.path, status=effective_status(self.path, s), step=s.step,
                          total_steps=s.total_steps, loss=s.train[-1][1] if s.train else None, best=s.best(),
                          engine=s.engine, model=s.model, message=s.message, created=self.created,
                          updated=s.updated)


class RunsWatcher:
    """Summaries of every run under a root, kept up to date by reading only what was appended."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = runs_root(root)
        self._trackers: dict[Path, _Tracker] = {}

    def iter_refresh(self) -> Iterator[RunSummary]:
        """Each run's summary, newest first, as it is brought up to date (cheap after the first pass)."""
        dirs = run_dirs(self.root, newest_first=True)
        self._trackers = {p: self._trackers.get(p) or _Tracker(p) for p in dirs}
        for path in dirs:
            tracker = self._trackers[path]
            tracker.poll()
            yield tracker.summary()

    def refresh(self) -> list[RunSummary]:
        return list(self.iter_refresh())
