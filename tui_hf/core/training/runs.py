"""The runs directory: which runs exist, what state each is in, listed cheaply and incrementally.

A run's status comes from two facts: the last status its events recorded, and whether a process holds its
lock. A run whose events say "running" while nobody holds the lock has died (killed, out of memory, machine
lost); one whose lock is held is alive, whatever its pid file or events say.

`RunsWatcher` is for lists (the app's runs list, `tui-hf runs`): its first pass reads each run's events
once, parsing only the few lines a summary needs, and later passes read only the lines appended since.
Call it from a worker thread; `iter_refresh` yields runs one at a time, newest first.

A run is a directory tui-hf made: `create_run` and a script's TuiHfCallback write a marker file into it
(MARKER). A run made before the marker existed is recognised by what only tui-hf writes (an events file
whose first line is one of its events, or a spec.json shaped as its specs are); such a run can be followed,
resumed and exported, but `runs rm` deletes only a marked run, and only inside the runs directory.
"""

from __future__ import annotations

import collections
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError
from tui_hf.core.training import runlock
from tui_hf.core.training.events import ACTIVE, EVENTS, EventReader, RunState, read_state

SPEC = "spec.json"
MARKER = "tui-hf-run.json"  # written when tui-hf makes a run directory: only such a directory is ever deleted
_EVENT_KINDS = ("status", "start", "train", "eval", "checkpoint", "alert", "control", "predictions", "final")


def runs_root(root: str | os.PathLike[str] | None = None) -> Path:
    return Path(root or os.environ.get("TUI_HF_RUNS") or "runs")


def shown_dir(path: Path) -> str:
    """A directory as a sentence shows it: "./runs/", not "runs" ("no runs in runs" reads as a stutter)."""
    text = str(path).rstrip("/") or "/"
    if not path.is_absolute() and not text.startswith("."):
        text = f"./{text}"
    return text if text.endswith("/") else f"{text}/"


def mark_run(run_dir: Path, **about: Any) -> None:
    """Write the marker saying tui-hf made `run_dir` (what deleting it requires). Raises OSError."""
    from tui_hf import __version__
    from tui_hf.core.training.storage import write_atomic

    record = {"made_by": "tui-hf", "version": __version__, "created": round(time.time(), 3), **about}
    write_atomic(Path(run_dir) / MARKER, json.dumps(record, indent=1))


def is_marked(path: Path) -> bool:
    """Holds tui-hf's marker (a regular file: a link to one elsewhere does not count)."""
    marker = Path(path) / MARKER
    return marker.is_file() and not marker.is_symlink()


def marker_info(run_dir: Path) -> dict[str, Any]:
    """What the marker recorded (empty for an older run or an unreadable marker)."""
    try:
        value = json.loads((Path(run_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _made_by_older_tui_hf(path: Path) -> bool:
    """A run from before the marker: its events start with a line EventWriter wrote, or its spec has the shape
    of a TrainSpec. A folder that merely holds files with those names does not pass."""
    try:
        with open(path / EVENTS, "rb") as fh:
            first = json.loads(fh.readline(65536))
        if (
            isinstance(first, dict)
            and first.get("event") in _EVENT_KINDS
            and isinstance(first.get("time"), (int, float))
            and not isinstance(first.get("time"), bool)
        ):
            return True
    except (OSError, ValueError):
        pass
    try:
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    data = spec.get("data") if isinstance(spec, dict) else None
    return (
        isinstance(data, dict)
        and isinstance(data.get("train"), str)
        and isinstance(spec.get("model"), str)
        and isinstance(spec.get("engine"), str)
        and isinstance(spec.get("task"), str)
    )


def is_run_dir(path: Path) -> bool:
    """A directory tui-hf made: marked, or an older run it recognises (see the module's docstring)."""
    path = Path(path)
    return path.is_dir() and (is_marked(path) or _made_by_older_tui_hf(path))


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


def is_path_ref(ref: str) -> bool:
    """RUN written as a path (it has a separator, or starts with '.' or '/'), not a name."""
    return os.sep in ref or (os.altsep is not None and os.altsep in ref) or ref.startswith((".", "/", "~"))


def run_path(ref: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where RUN points: a name is always RUNS_DIR/NAME (never ./NAME); a path is taken as written."""
    return Path(ref).expanduser() if is_path_ref(ref) else runs_root(root) / ref


def resolve_run(ref: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The run RUN names (every command on one run looks it up here). SpecError when there is none."""
    path = run_path(ref, root)
    if is_run_dir(path):
        return path
    if is_path_ref(ref):
        what = "is not a tui-hf run" if path.is_dir() else "does not exist"
        raise SpecError(f"{ref} {what}")
    here = f"; ./{ref} is a folder here, not a run name: give a path (./{ref}) to use it" if Path(ref).is_dir() else ""
    raise SpecError(f"no run named {ref} in {runs_root(root)}{here}")


def deletable(run_dir: Path, root: str | os.PathLike[str] | None = None) -> Path:
    """The directory `runs rm` may delete for `run_dir`, or SpecError saying what it would have deleted and why
    not: only a directory (not a link to one) whose parent is the runs directory itself, after '..' and links
    (the parent is compared by identity, device and inode, not by path), holding the marker tui-hf wrote when it
    made the run."""
    path, base = Path(run_dir).absolute(), runs_root(root)  # not normalised: '..' after a link is physical
    shown = str(path)
    try:
        st = os.lstat(path)
        parent, home = os.stat(path / ".."), os.stat(base)
    except OSError:
        raise SpecError(f"refused: {shown} is not a directory; nothing deleted") from None
    if stat.S_ISLNK(st.st_mode):
        raise SpecError(
            f"refused: {shown} is a link to {os.path.realpath(path)}, not a run inside the runs "
            f"directory {os.path.abspath(base)} (see --runs-dir); nothing deleted"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise SpecError(f"refused: {shown} is not a directory; nothing deleted")
    if (parent.st_dev, parent.st_ino) != (home.st_dev, home.st_ino):
        raise SpecError(
            f"refused: {shown} is not a run inside the runs directory {os.path.abspath(base)} "
            "(see --runs-dir); nothing deleted"
        )
    if not is_marked(path):
        raise SpecError(
            f"refused: {shown} has no {MARKER} (tui-hf writes it in each run it makes); deleting it "
            f"would remove {_contents(path)}; nothing deleted (delete it yourself if it is yours "
            "to delete)"
        )
    return path


def _contents(path: Path) -> str:
    """ "N files (S MiB)" under path, for a refusal that says what deleting would have removed."""
    files = size = 0
    for top, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            try:
                size += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return f"{files} file{'s' if files != 1 else ''} ({size / 2**20:.1f} MiB)"


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
    alerts: int = 0  # alert events, plus a stall the viewer detects (see sentinel.stall)
    alert: dict[str, Any] | None = None  # the one a list shows: the first error, else the latest warning
    vitals: dict[str, Any] | None = None  # the job's latest machine sample (rank 0)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def alive(self) -> bool:
        return self.status in ACTIVE


_TRAIN_PREFIX = b'{"event": "train"'
TRAIN_TAIL = 16


class _Tracker:
    """A run's summary state: every event but train is folded; of the train lines only the last is parsed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader = EventReader(path)
        self.state = RunState(run_dir=path)
        self.created = created(path)
        self._stall_factor: float | None = None

    def poll(self) -> None:
        data = self.reader.read_bytes()
        if not data:
            return
        # The last few train lines are parsed: enough for the time between steps (the stall check).
        events, trains = [], collections.deque(maxlen=TRAIN_TAIL)
        for line in data.splitlines():
            if line.startswith(_TRAIN_PREFIX):
                trains.append(line)
                continue
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                if value.get("event") == "train":  # written by another JSON library's spacing
                    trains.append(line)
                    continue
                events.append(value)
        for line in trains:
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if isinstance(value, dict):
                events.append(value)
        self.state.apply(events)
        if len(self.state.train) > 1:
            del self.state.train[:-1]
            del self.state.lr[:-1]

    def summary(self) -> RunSummary:
        import time

        from tui_hf.core.training.sentinel import stall

        s = self.state
        status = effective_status(self.path, s)
        errors = [a for a in s.alerts if a.get("level") == "error"]
        alerts = errors[:1] or s.alerts[-1:]
        count = len(s.alerts)
        if status in ACTIVE:
            stalled = stall(s.intervals, s.updated, time.time(), s.step, self.stall_factor)
            if stalled is not None:
                if not errors:
                    alerts = [
                        {"level": "warning", "message": stalled.message, "step": stalled.step, "kind": stalled.kind}
                    ]
                count += 1
        return RunSummary(
            path=self.path,
            status=status,
            step=s.step,
            total_steps=s.total_steps,
            loss=s.train[-1][1] if s.train else None,
            best=s.best(),
            engine=s.engine,
            model=s.model,
            message=s.message,
            created=self.created,
            updated=s.updated,
            alerts=count,
            alert=alerts[0] if alerts else None,
            vitals=s.vitals.get(0),
        )

    @property
    def stall_factor(self) -> float:
        """The run's own stall_factor (its spec), read once."""
        if self._stall_factor is None:
            from tui_hf.core.training.sentinel import SentinelConfig

            self._stall_factor = SentinelConfig().stall_factor
            try:
                raw = json.loads((self.path / SPEC).read_text(encoding="utf-8"))
                value = raw.get("stall_factor") if isinstance(raw, dict) else None
                if isinstance(value, (int, float)) and value > 1:
                    self._stall_factor = float(value)
            except (OSError, ValueError):
                pass
        return self._stall_factor


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
