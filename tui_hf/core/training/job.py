"""Training jobs: a run directory, a process that outlives the terminal, stop, resume, delete.

A job runs as `python -m tui_hf.train RUN_DIR` (or under torch.distributed.run for several processes) in a
session of its own: closing the terminal, the app, or the SSH connection that started it does not stop it.
Whoever starts it takes the run's lock first and passes it to the job (see runlock), so one process at
most ever trains a run. Everything here raises the app's own errors (SpecError, RunStateError,
StorageError) with one line for the user.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.errors import EXIT_RUN, RunStateError, SaveTargetError, SpecError, StorageError, TargetNotEmptyError
from tui_hf.core.training import checkpoints, preflight, runlock
from tui_hf.core.training.events import ACTIVE, EVENTS, read_state
from tui_hf.core.training.nodes import Nodes, node_env, torchrun_flags
from tui_hf.core.training.runs import (  # noqa: F401  (the job API in one import)
    MARKER,
    SPEC,
    RunInfo,
    deletable,
    effective_status,
    is_alive,
    is_run_dir,
    list_runs,
    mark_run,
    marker_info,
    resolve_run,
    run_dirs,
    run_info,
    run_path,
    runs_root,
)
from tui_hf.core.training.spec import TrainSpec
from tui_hf.core.training.storage import check_space, is_storage_error, storage_error

LOG = "train.log"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text.rstrip("/")).name or text).strip("-.")[:40] or "model"


def check_name(name: str) -> str:
    """A run name is one directory under the runs root: no separators, no '..', nothing hidden."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise SpecError(
            f"run name {name!r}: use letters, digits, '.', '_' and '-' (no '/' or '..'), "
            "starting with a letter or digit"
        )
    return name


def create_run(
    spec: TrainSpec,
    root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    *,
    nproc: int = 1,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Check everything, then make runs/<id>/ with spec.json. Nothing is created when a check fails.

    Raises RunRefused (a SpecError listing every problem), SpecError for a taken name, StorageError when the
    runs directory cannot be written. Reads the whole data file: call it from a worker in a UI.
    """
    if name is not None:
        check_name(name)
    plan = preflight.check(spec, nproc)
    for w in plan.warnings:
        if warn is not None:
            warn(w)
    if warn is not None:
        from tui_hf.core.training.plan import memory_warning

        over = memory_warning(spec, plan.labels)  # before it starts, not as an out-of-memory crash
        if over:
            warn(over)
    spec, as_given = _with_data_resolved(spec, plan)
    base = runs_root(root)
    check_space(base, f"cannot create a run in {base}")
    try:
        base.mkdir(parents=True, exist_ok=True)
        if name:
            run_dir = base / name
            try:
                run_dir.mkdir()
            except FileExistsError:
                raise SpecError(f"{run_dir} already exists: choose another name, or resume that run") from None
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            stem = f"{stamp}-{_slug(spec.model)}-{spec.engine}"
            for n in range(1, 1000):
                run_dir = base / (stem if n == 1 else f"{stem}-{n}")
                try:
                    run_dir.mkdir()
                    break
                except FileExistsError:
                    continue
    except OSError as exc:
        raise storage_error(exc, f"cannot create a run in {base}") from None
    try:
        from tui_hf.core.training.storage import write_atomic

        mark_run(run_dir, data_as_given=as_given)
        write_atomic(run_dir / preflight.DATA_PLAN, plan.to_json())
        write_atomic(run_dir / SPEC, spec.to_json())
    except OSError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)  # no half-made run left behind
        raise storage_error(exc, f"cannot create {run_dir}") from None
    return run_dir


def _with_data_resolved(spec: TrainSpec, plan: preflight.DataPlan) -> tuple[TrainSpec, dict[str, str]]:
    """A copy of `spec` whose data files are absolute paths (so resume and batch find them from any directory),
    and the paths as the user gave them (kept in the run's marker, for messages)."""
    import dataclasses

    from tui_hf.core.training.datafile import is_local_data

    data = dataclasses.replace(spec.data)
    as_given: dict[str, str] = {}
    for role in ("train", "validation"):
        ref = getattr(data, role)
        if not ref or not is_local_data(ref):
            continue  # a hub dataset id
        full = os.path.abspath(os.path.expanduser(ref))
        as_given[role] = ref
        setattr(data, role, full)
        for report in plan.reports:
            if report.role == role:
                report.path = full
    return dataclasses.replace(spec, data=data), as_given


def check_data_files(run_dir: Path, action: str) -> None:
    """SpecError when a data file the run was created with is gone: `action` (resume, X-ray) needs its rows.

    Runs made by this version hold absolute paths; an older run's relative path is read from the current
    directory, as before, and the message says so when it is not there."""
    from tui_hf.core.training.datafile import is_file_ref

    try:
        spec = TrainSpec.load(Path(run_dir) / SPEC)
    except SpecError:
        return  # a script's run, or an unreadable spec: the command says so itself
    given = marker_info(run_dir).get("data_as_given")
    given = given if isinstance(given, dict) else {}
    for role in ("train", "validation"):
        ref = getattr(spec.data, role)
        # A saved dataset's directory has no data file's suffix: the path recorded as given says it was local.
        if not ref or not (is_file_ref(ref) or role in given) or os.path.exists(ref):
            continue
        if os.path.isabs(ref):
            typed = given.get(role)
            note = f" (given as {typed})" if isinstance(typed, str) and typed != ref else ""
            raise SpecError(
                f"cannot {action} {Path(run_dir).name}: its {role} data {ref}{note} is missing (moved or "
                "deleted since the run started); put it back at that path"
            )
        raise SpecError(
            f"cannot {action} {Path(run_dir).name}: its {role} data {ref} is relative to the directory "
            f"the run was started from, and {os.getcwd()} has no {ref}: run this from that directory"
        )


def command(run_dir: Path, nproc: int = 1, data_changed: bool = False, nodes: Nodes | None = None) -> list[str]:
    """The job's command line; `data_changed`: resume although the data changed (the job keeps the split);
    `nodes`: this machine's part of a job on several (torchrun's c10d rendezvous)."""
    flags = ["--data-changed"] if data_changed else []
    if nodes is not None:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            *torchrun_flags(nodes, nproc),
            "-m",
            "tui_hf.train",
            str(run_dir),
            *flags,
        ]
    if nproc > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "tui_hf.train",
            str(run_dir),
            *flags,
        ]
    return [sys.executable, "-m", "tui_hf.train", str(run_dir), *flags]


def _spawn(
    run_dir: Path, nproc: int, foreground: bool, data_changed: bool = False, nodes: Nodes | None = None
) -> subprocess.Popen[bytes]:
    """Start the job holding the run's lock (taken here, so a second start fails at once)."""
    if nproc < 1:
        raise SpecError(f"nproc must be 1 or more, not {nproc}")
    lock = runlock.RunLock.acquire(run_dir)
    try:
        check_space(run_dir, f"cannot start {run_dir.name}")
        env = {**os.environ, runlock.INHERITED_ENV: str(lock.fd), **(node_env(nodes) if nodes else {})}
        if foreground:
            out = None
            argv = command(run_dir, nproc, data_changed, nodes) + ["--echo"]
        else:
            try:
                out = open(run_dir / LOG, "ab")
            except OSError as exc:
                raise storage_error(exc, f"cannot write {run_dir / LOG}") from None
            argv = command(run_dir, nproc, data_changed, nodes)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
                pass_fds=(lock.fd,),
                env=env,
            )
        finally:
            if out is not None:
                out.close()
        try:
            lock.record(proc.pid)
        except StorageError:
            _signal_group(proc.pid, signal.SIGKILL)  # a job nobody can identify (or stop) must not run
            raise
        return proc
    finally:
        lock.release()  # the job holds it now, through its copy of the descriptor


def launch(run_dir: Path, nproc: int = 1, data_changed: bool = False, nodes: Nodes | None = None) -> int:
    """Start the job detached (own session, output to train.log); returns its pid. RunStateError if in use."""
    return _spawn(Path(run_dir), nproc, foreground=False, data_changed=data_changed, nodes=nodes).pid


def create_node_dir(spec: TrainSpec, nproc: int = 1, warn: Callable[[str], None] | None = None) -> Path:
    """What a machine other than node rank 0 trains from: the spec and checked data in a temporary folder of
    its own (not a run: the run and everything written to it stay on node rank 0's machine)."""
    import tempfile

    plan = preflight.check(spec, nproc)
    for w in plan.warnings:
        if warn is not None:
            warn(w)
    spec, _ = _with_data_resolved(spec, plan)
    try:
        node_dir = Path(tempfile.mkdtemp(prefix="tui-hf-node-"))
        (node_dir / preflight.DATA_PLAN).write_text(plan.to_json(), encoding="utf-8")
        (node_dir / SPEC).write_text(spec.to_json(), encoding="utf-8")
    except OSError as exc:
        raise storage_error(exc, "cannot create this machine's node directory") from None
    return node_dir


def run_foreground(run_dir: Path, nproc: int = 1, data_changed: bool = False, nodes: Nodes | None = None) -> int:
    """Run the job with its progress lines on this terminal; returns its exit code.

    The job runs in a session of its own, so a closed terminal (SIGHUP) does not reach it: it goes on, and
    `tui-hf attach` finds it. Ctrl+C here asks it to stop gracefully (a checkpoint, then a final status).
    """
    proc = _spawn(Path(run_dir), nproc, foreground=True, data_changed=data_changed, nodes=nodes)
    asked = False
    while True:
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            if not asked:
                asked = True
                _interrupt(proc.pid)
                print("stopping: the job finishes its step and saves a checkpoint…", file=sys.stderr, flush=True)
            continue
        if code != 0 and nodes is not None and nodes.node_rank > 0:  # the run and its status are on node rank 0
            print(
                f"tui-hf: error: this machine's part of the job (node rank {nodes.node_rank}) ended with exit "
                f"code {code}: see the run on node rank 0's machine",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_RUN
        if code != 0 and not read_state(Path(run_dir)).done:
            # Killed (kill -9, the out-of-memory killer) before it could write its final status or a line.
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"ended with exit code {code}"
            print(
                f"tui-hf: error: the job {how} without a final status: `tui-hf resume {Path(run_dir).name}` "
                "continues from its last checkpoint",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_RUN
        return code


def _interrupt(pid: int) -> None:
    """A graceful stop for the job led by `pid`. Under torchrun only its workers are interrupted: the launcher,
    interrupted, would end them before their checkpoint, and on several machines would leave the other
    machines' launchers waiting for it at their exit barrier (they end when their workers end)."""
    try:
        import psutil

        launcher = psutil.Process(pid)
        workers = [c.pid for c in launcher.children()] if "torch.distributed.run" in launcher.cmdline() else []
    except (ImportError, Exception):
        workers = []
    if not workers:
        _signal_group(pid, signal.SIGINT)
    for worker in workers:  # children of the verified launcher, never a pid from a file
        try:
            os.kill(worker, signal.SIGINT)
        except ProcessLookupError:
            pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def job_pid(run_dir: Path) -> int | None:
    """The pid of the process that holds the run (verified), or None when the run is not running."""
    who = runlock.holder(run_dir)
    return who.pid if who is not None and who.verified else None


def request_stop(run_dir: Path) -> int:
    """Ask the run's job to stop gracefully (SIGINT: it finishes the step and saves a checkpoint).

    Signals only the process that holds the run's lock, after checking its start time, never a pid from a
    file alone. Returns the pid signalled; RunStateError when the run is not running.
    """
    who = runlock.holder(run_dir)
    if who is None:
        raise RunStateError(f"{Path(run_dir).name} is not running")
    if not who.verified or who.pid is None:
        raise RunStateError(
            f"{Path(run_dir).name} is held by a process that cannot be identified "
            f"(pid {who.pid}, host {who.host or '?'}); stop it where it runs"
        )
    if who.pgid == who.pid:  # the job leads its own session: the group holds its torchrun workers too
        _interrupt(who.pid)
    else:  # a training script with TuiHfCallback: only that process
        os.kill(who.pid, signal.SIGINT)
    return who.pid


def stop(run_dir: Path) -> bool:
    """request_stop, as a yes/no."""
    try:
        request_stop(run_dir)
    except RunStateError:
        return False
    return True


@dataclass(frozen=True)
class ResumePlan:
    run_dir: Path
    checkpoint: checkpoints.Checkpoint | None  # None: from the start
    skipped: list[str]  # interrupted saves that will be removed
    damaged: tuple[str, ...] = ()  # newer checkpoints that would not load: "checkpoint-N (why)", set aside
    data_changes: tuple[str, ...] = ()  # how the data differs from the run's start (resumed with data_changed)

    def describe(self, done: bool = False) -> str:
        """ "resuming RUN from checkpoint-N (step N)…", or "resumed …" once the job is started."""
        where = (
            f"from {self.checkpoint.path.name} (step {self.checkpoint.step})"
            if self.checkpoint
            else "from the start (no complete checkpoint)"
        )
        skipped = f"; skipping the interrupted save {', '.join(self.skipped)}" if self.skipped else ""
        damaged = "".join(f"; {d} cannot be loaded: it is moved aside" for d in self.damaged)
        data = (
            f"; on changed data ({'; '.join(self.data_changes)}), keeping the original split"
            if self.data_changes
            else ""
        )
        return f"{'resumed' if done else 'resuming'} {self.run_dir.name} {where}{skipped}{damaged}{data}"


def resume_plan(run_dir: Path, data_changed: bool = False) -> ResumePlan:
    """What `resume` would do, or RunStateError saying why it cannot (running, finished; DataChanged when the
    data differs from what the run started on, unless `data_changed` says to go on)."""
    run_dir = Path(run_dir)
    info = run_info(run_dir)
    if info.status in ACTIVE:
        raise RunStateError(f"{run_dir.name} is still {info.status}: stop it first, or attach to it")
    if info.status == "finished":
        final = f"; its model is in {info.state.final_path}" if info.state.final_path else ""
        raise RunStateError(
            f"{run_dir.name} already finished (step {info.state.step} of "
            f"{info.state.total_steps}){final}: start a new run to train more"
        )
    if not (run_dir / SPEC).is_file():
        raise RunStateError(f"{run_dir.name} has no spec.json (a script's run): resume it from that script")
    check_data_files(run_dir, "resume")
    checkpoint, damaged = checkpoints.usable(run_dir)
    changes: list[str] = []
    stored = preflight.DataPlan.load(run_dir / preflight.DATA_PLAN)
    if checkpoint is not None and stored is not None and stored.fingerprint is not None:
        from tui_hf.core.errors import DataChanged
        from tui_hf.core.training.data import data_changes

        changes = data_changes(TrainSpec.load(run_dir / SPEC), stored)
        if changes and not data_changed:
            raise DataChanged(run_dir.name, changes)
    return ResumePlan(
        run_dir,
        checkpoint,
        [p.name for p in checkpoints.interrupted(run_dir)],
        tuple(f"{c.path.name} ({why})" for c, why in damaged),
        tuple(changes),
    )


def resume(run_dir: Path, nproc: int = 1, data_changed: bool = False) -> ResumePlan:
    """Resume detached from the last complete checkpoint; returns what it resumed from."""
    plan = resume_plan(run_dir, data_changed)
    launch(run_dir, nproc, data_changed)
    return plan


def delete_run(run_dir: Path, root: str | os.PathLike[str] | None = None) -> Path:
    """Delete a run that tui-hf made inside the runs directory `root`; returns the directory deleted.

    SpecError, nothing deleted, for anything else (see runs.deletable); RunStateError while a process holds
    the run (its lock is taken for the deletion).
    """
    real = deletable(Path(run_dir), root)
    try:
        lock = runlock.RunLock.acquire(real, wait=0.2)
    except RunStateError:
        raise RunStateError(f"{real.name} is running: stop it before deleting it") from None
    with lock:
        try:
            shutil.rmtree(real)
        except OSError as exc:
            raise storage_error(exc, f"cannot delete {real}") from None
    return real


def export_target(
    run_dir: Path, out: str | os.PathLike[str] | None, overwrite: bool = False, own: str = "metrics.csv"
) -> Path:
    """Where `export` may write a run's metrics (or, with own="train.py", its script): RUN/`own` by default, the
    one file of its kind a run holds. Another path is refused when it is a run's own file or lies inside a run
    directory (replacing events.jsonl or spec.json would erase the run's history), when it is a folder or its
    folder is missing, and when a file is already there, unless `overwrite`. The app's buttons and the CLI
    both ask here, so they write to the same places."""

    default = Path(run_dir) / own
    if out is None or Path(out).resolve() == default.resolve():
        return default
    target = Path(out).expanduser()
    where = target.resolve()
    for folder in where.parents:
        if is_run_dir(folder):
            raise SaveTargetError(
                f"{out} is inside the run directory {folder}: exporting there could replace the "
                f"run's own files; write it elsewhere (or to RUN/{own}, the default)"
            )
    if target.is_dir():
        raise SaveTargetError(f"{out} is a folder: give a file name")
    if not target.parent.is_dir():
        raise SaveTargetError(f"no folder {target.parent} to write {target.name} into")
    if target.exists() and not overwrite:
        raise TargetNotEmptyError(f"{out} already exists: exporting would replace it")
    return target


def inference_task(run_dir: Path) -> str:
    """The inference task that serves what a run finetuned (a causal LM generates text): its family's."""
    spec = TrainSpec.load(run_dir / SPEC)
    from tui_hf.core.training.families import FAMILIES

    return FAMILIES[spec.task].inference_task_for(spec) if spec.task in FAMILIES else spec.task


def try_inputs(run_dir: Path) -> dict[str, str]:
    """What "Try model" puts in the inference form besides the model: for a run on sentence pairs, the first
    row of its validation file (or, split off the train data, of its train file) as "text" and "text_pair",
    so the model is tried on a pair as it learnt them; "text_pair" empty where no row can be read (a hub or
    saved dataset, a file moved since). Other runs: nothing."""
    spec = TrainSpec.load(run_dir / SPEC)
    pair = spec.data.text_pair_column
    if spec.task != "text-classification" or not pair:
        return {}
    from tui_hf.core.errors import TuiHfError
    from tui_hf.core.training.datafile import is_file_ref, records

    source = spec.data.validation or spec.data.train
    if is_file_ref(source) and Path(source).is_file():
        try:
            for _, row in records(source):
                text, second = row.get(spec.data.text_column), row.get(pair)
                if isinstance(text, str) and isinstance(second, str):
                    return {"text": text, "text_pair": second}
                break
        except TuiHfError:  # a file edited since the run: the form stays empty, the hint says what to fill
            pass
    return {"text_pair": ""}


__all__ = [
    "EVENTS",
    "LOG",
    "MARKER",
    "ResumePlan",
    "RunInfo",
    "StorageError",
    "check_data_files",
    "check_name",
    "command",
    "create_node_dir",
    "create_run",
    "delete_run",
    "effective_status",
    "inference_task",
    "try_inputs",
    "is_alive",
    "is_storage_error",
    "job_pid",
    "launch",
    "list_runs",
    "read_state",
    "request_stop",
    "resolve_run",
    "resume",
    "resume_plan",
    "run_dirs",
    "run_foreground",
    "run_info",
    "run_path",
    "runs_root",
    "stop",
]
