"""Training jobs: a run directory, a detached process, graceful stop, resume, listing.

A job runs as `python -m tui_hf.train RUN_DIR` (or under torch.distributed.run for several processes) in a
new session: closing the terminal, the app, or the SSH connection that started it does not stop it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.errors import SpecError
from tui_hf.core.training import data
from tui_hf.core.training.events import RunState, pid_alive, read_state
from tui_hf.core.training.spec import TrainSpec

SPEC, PID, LOG = "spec.json", "pid", "train.log"


def runs_root(root: str | os.PathLike[str] | None = None) -> Path:
    return Path(root or os.environ.get("TUI_HF_RUNS") or "runs")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text.rstrip("/")).name or text).strip("-")[:40] or "model"


def create_run(spec: TrainSpec, root: str | os.PathLike[str] | None = None, name: str | None = None) -> Path:
    """Check the spec and data, then make runs/<id>/ with spec.json. Raises SpecError listing every problem."""
    problems = data.check(spec)
    if problems:
        raise SpecError("; ".join(problems))
    base = runs_root(root)
    if name:
        run_dir = base / name
        if run_dir.exists():
            raise SpecError(f"{run_dir} already exists: choose another name, or resume that run")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = base / f"{stamp}-{_slug(spec.model)}-{spec.engine}"
        n = 1
        while run_dir.exists():
            n += 1
            run_dir = base / f"{stamp}-{_slug(spec.model)}-{spec.engine}-{n}"
    run_dir.mkdir(parents=True)
    (run_dir / SPEC).write_text(spec.to_json(), encoding="utf-8")
    return run_dir


def command(run_dir: Path, nproc: int = 1) -> list[str]:
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                "-m", "tui_hf.train", str(run_dir)]
    return [sys.executable, "-m", "tui_hf.train", str(run_dir)]


def launch(run_dir: Path, nproc: int = 1) -> int:
    """Start the job detached (own session, output to train.log); returns its pid."""
    with open(run_dir / LOG, "ab") as log:
        proc = subprocess.Popen(command(run_dir, nproc), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=os.getcwd())
    (run_dir / PID).write_text(str(proc.pid), encoding="utf-8")
    return proc.pid


def run_foreground(run_dir: Path, nproc: int = 1) -> int:
    """Run the job attached to this terminal (plain progress lines); returns its exit code."""
    proc = subprocess.Popen(command(run_dir, nproc) + ["--echo"], stdin=subprocess.DEVNULL)
    (run_dir / PID).write_text(str(proc.pid), encoding="utf-8")
    try:
        return proc.wait()
    except KeyboardInterrupt:  # ctrl+c reached the child too: it saves a checkpoint and exits
        return proc.wait()


def job_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / PID).read_text().strip())
    except (OSError, ValueError):
        return None


def stop(run_dir: Path) -> bool:
    """Ask the job to stop: SIGINT to its process group; it finishes the step and saves a checkpoint."""
    pid = job_pid(run_dir)
    if not pid_alive(pid):
        return False
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)
    return True


@dataclass
class RunInfo:
    path: Path
    state: RunState
    status: str  # the events' status, or "died" when the process is gone without saying so


def effective_status(run_dir: Path, state: RunState) -> str:
    """The events' status, or "died" when the job's process is gone without having written a final one."""
    if state.done:
        return state.status
    alive = pid_alive(job_pid(run_dir)) or pid_alive(state.pid)
    if not alive and (state.status != "pending" or (run_dir / PID).exists()):
        return "died"
    return state.status


def run_info(run_dir: Path) -> RunInfo:
    state = read_state(run_dir)
    return RunInfo(run_dir, state, effective_status(run_dir, state))


def run_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Run directories under `root`, oldest first (a directory listing: no events are read)."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    dirs = [p for p in base.iterdir() if p.is_dir() and ((p / SPEC).exists() or (p / "events.jsonl").exists())]
    return sorted(dirs, key=lambda p: p.stat().st_mtime)


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    return [run_info(p) for p in run_dirs(root)]


def inference_task(run_dir: Path) -> str:
    """The inference task that serves what a run finetuned (a causal LM generates text)."""
    spec = TrainSpec.load(run_dir / SPEC)
    return {"causal-lm": "text-generation"}.get(spec.task, spec.task)


def resolve_run(ref: str, root: str | os.PathLike[str] | None = None) -> Path:
    """A run given as a path or as its name under the runs directory."""
    for candidate in (Path(ref), runs_root(root) / ref):
        if (candidate / "events.jsonl").exists() or (candidate / SPEC).exists():
            return candidate
    raise SpecError(f"no run at {ref} (looked in . and {runs_root(root)})")
