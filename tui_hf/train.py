"""`python -m tui_hf.train RUN_DIR [--echo] [--data-changed]`: the training job process.

Started detached by the app or `tui-hf train --detach`, in the foreground by `tui-hf train`, or N times
under torch.distributed.run. It holds the run's lock for its whole life (handed over by whoever started it,
or taken here), and rank 0 alone writes events and checkpoints. SIGINT or SIGTERM asks for a graceful stop:
the current step finishes, a checkpoint is saved, the status says "stopped". SIGHUP is ignored: a closed
terminal does not end a job. A full disk or a read-only run directory ends it with one line saying so.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from tui_hf.core.errors import EXIT_RUN, EXIT_USAGE, StorageError, TuiHfError
from tui_hf.core.training import checkpoints, runlock
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.families import FAMILIES
from tui_hf.core.training.runs import SPEC
from tui_hf.core.training.spec import TrainSpec

RESERVE_BYTES = 256 * 1024  # set aside at the start so a final status can be written on a full disk


def describe(record: dict[str, Any], run_dir: Path | None = None) -> str | None:
    """One plain log line per event, for train.log and a foreground terminal (paths the events record inside
    the run are shown under `run_dir`)."""
    kind = record["event"]
    if record.get("replay"):
        return None
    if kind == "train":
        parts = [f"step {record['step']}", f"epoch {record.get('epoch', 0):.2f}", f"loss {record['loss']:.4f}"]
        if record.get("learning_rate") is not None:
            parts.append(f"lr {record['learning_rate']:.2e}")
        if record.get("samples_per_second") is not None:
            parts.append(f"{record['samples_per_second']:.1f} samples/s")
        return "  ".join(parts)
    if kind == "eval":
        return f"eval  step {record.get('step')}  " + "  ".join(
            f"{k.removeprefix('eval_')} {v:.4f}"
            for k, v in record.items()
            if k.startswith("eval_") and isinstance(v, (int, float))
        )
    if kind == "start":
        resumed = f"  resumed from {Path(record['checkpoint']).name}" if record.get("checkpoint") else ""
        return (
            f"start  {record.get('engine')}  {record.get('total_steps')} steps  labels {record.get('labels')}{resumed}"
        )
    if kind == "status":
        return f"status {record['status']}" + (f": {record['message']}" if record.get("message") else "")
    if kind == "alert":
        return f"{record.get('level', 'warning')}: {record.get('message')}"
    if kind in ("checkpoint", "final"):
        path = record.get("path")
        if run_dir is not None and isinstance(path, str) and not os.path.isabs(path):
            path = str(run_dir / path)
        return f"{kind} {path}"
    return None


class Echo:
    """Prints each event's line; goes quiet when the terminal is gone (a closed window gives EIO)."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.alive = True
        self.run_dir = run_dir

    def __call__(self, record: dict[str, Any]) -> None:
        line = describe(record, self.run_dir)
        if line and self.alive:
            try:
                print(line, flush=True)
            except (OSError, ValueError):
                self.alive = False


def _take_lock(run_dir: Path) -> runlock.RunLock | None:
    """The lock handed over by the starter, or taken here. None when a torchrun launcher holds it for us."""
    handed = os.environ.get(runlock.INHERITED_ENV)
    lock = runlock.RunLock.inherited(run_dir)
    if lock is not None:
        return lock
    if handed and int(os.environ.get("WORLD_SIZE", "1")) > 1 and runlock.is_held(run_dir):
        return None  # torchrun's launcher holds it; its workers do not inherit descriptors
    lock = runlock.RunLock.acquire(run_dir)
    lock.record(os.getpid())
    return lock


def _resume_point(run_dir: Path, writer: EventWriter | None) -> Any:
    """The newest checkpoint that loads, after removing what interrupted saves left and moving damaged
    checkpoints aside (each reported as an alert)."""
    removed = checkpoints.clean_interrupted(run_dir)
    latest, damaged = checkpoints.usable(run_dir)
    going_on = f"resuming from {latest.path.name}" if latest else "starting from the beginning"
    if writer is not None:
        for name in removed:
            writer.alert(
                f"{name} was not completely saved (the job was interrupted); removed it"
                + (f", resuming from {latest.path.name}" if latest else "")
            )
        for bad, why in damaged:
            aside = checkpoints.set_aside(bad)
            writer.alert(
                f"{bad.path.name} cannot be loaded: {why}; moved it to {checkpoints.CHECKPOINTS}/"
                f"{aside.name} and {going_on}",
                level="error",
            )
    return latest


def _data_plan(
    spec: TrainSpec,
    run_dir: Path,
    checkpoint: Any,
    stop: Any,
    writer: EventWriter | None = None,
    data_changed: bool = False,
) -> Any:
    """The checked data: the plan made when the run was created if the files are unchanged, else checked now.

    Resuming a checkpoint on data other than the run started on is refused (DataChanged) unless the user said
    to go on (`data_changed`): then the original split is kept, the new files become the run's, and an
    alert says so. With no checkpoint nothing has trained yet: the data as it is now is the run's."""
    from tui_hf.core.errors import DataChanged
    from tui_hf.core.training import preflight
    from tui_hf.core.training.data import accept_changes, data_changes, run_plan, save_plan

    plan = run_plan(spec, run_dir, stop)
    changes = data_changes(spec, plan) if plan.fingerprint is not None else []
    if changes and checkpoint is None:
        plan.fingerprint = None  # recorded afresh when the data is loaded
    elif changes and not data_changed:
        raise DataChanged(run_dir.name, changes)
    elif changes:
        held = (plan.fingerprint or {}).get("validation_rows")
        accept_changes(spec, plan)
        kept = (
            f"the {len(held):,} rows it validated on stay validation rows, new rows train"
            if held is not None
            else "the validation data is still its validation file"
        )
        if writer is not None:
            writer.alert(
                f"the data changed since the run started ({'; '.join(changes)}); going on as asked "
                f"(--data-changed) from {checkpoint.path.name}: {kept}"
            )
            save_plan(run_dir, plan)
    if checkpoint is not None and FAMILIES[spec.task].labelled and plan.labels:
        import json

        config = json.loads((checkpoint.path / "config.json").read_text(encoding="utf-8"))
        trained = preflight.head_labels(config)
        kept = preflight.reconcile_labels(trained, plan.labels)
        if kept is None:
            raise preflight.RunRefused(
                [
                    preflight.Problem(
                        f"the data's labels ({', '.join(plan.labels[:8])}) are not those of {checkpoint.path.name} "
                        f"({', '.join(trained[:8])}): the data changed since the run started; start a new run"
                    )
                ]
            )
        plan.labels = kept
    return plan


def main(argv: list[str] | None = None) -> int:
    held: list[runlock.RunLock] = []
    try:
        return _run(argv, held)
    finally:
        for lock in held:
            lock.release()  # the final status is written: the run is free (interpreter teardown takes a while)


def _run(argv: list[str] | None, held: list[runlock.RunLock]) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    echo = "--echo" in args
    data_changed = "--data-changed" in args  # resume although the data changed (see _data_plan)
    args = [a for a in args if a not in ("--echo", "--data-changed")]
    if len(args) != 1:
        print("usage: python -m tui_hf.train RUN_DIR [--echo] [--data-changed]", file=sys.stderr)
        return EXIT_USAGE
    run_dir = Path(args[0])
    from tui_hf.core.training.nodes import adopt_node_rank, start_heartbeat

    try:
        adopt_node_rank()  # several machines: rank 0 on the one that holds the run (before anything reads RANK)
    except TuiHfError as exc:
        print(f"tui-hf train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    rank = int(os.environ.get("RANK", "0"))

    from tui_hf.core.training.engine import Context, StopRequest, drive

    stop = StopRequest()
    signal.signal(signal.SIGINT, lambda signum, _frame: stop.request(signal.Signals(signum).name))
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop.request(signal.Signals(signum).name))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        lock = _take_lock(run_dir) if rank == 0 else None
        if lock is not None:
            held.append(lock)
    except TuiHfError as exc:  # another process trains this run: leave its events alone
        print(f"tui-hf train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    writer: EventWriter | None = None
    heartbeat = None
    try:
        heartbeat = start_heartbeat(run_dir, leader=rank == 0)
        if rank == 0:
            writer = EventWriter(
                run_dir, on_write=Echo(run_dir) if echo or not sys.stdout.isatty() else None, reserve=RESERVE_BYTES
            )
            # Each phase says what the job is doing: importing alone takes seconds, loading a model minutes.
            writer.status("preparing", message=f"importing torch and transformers (pid {os.getpid()})")
            from tui_hf.core.training.vitals import start_vitals

            start_vitals(writer, run_dir, rank)  # CPU, memory, disk, GPUs beside the run's own numbers
        spec = TrainSpec.load(run_dir / SPEC)
        if spec.engine == "trainer" and spec.device.startswith("cuda:"):
            # Trainer has no device index: it uses the first visible GPU.
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", spec.device.split(":")[1])
        import transformers  # noqa: F401  (imported first so its default log handler can be replaced)

        from tui_hf.core.quiet import route_library_logs

        try:
            route_library_logs(run_dir / "library.log")
        except OSError:
            pass  # the libraries' chatter is optional; a read-only run fails below with a clear line
        from tui_hf.core.training.engines import ENGINES

        if writer is not None:
            writer.status("preparing", message="checking the data")
        checkpoint = _resume_point(run_dir, writer) if rank == 0 else checkpoints.usable(run_dir)[0]
        plan = _data_plan(spec, run_dir, checkpoint, stop, writer, data_changed)
        if writer is not None:
            for warning in plan.warnings:
                writer.alert(warning)
        ctx = Context(spec=spec, run_dir=run_dir, writer=writer, stop=stop, plan=plan, checkpoint=checkpoint)
        ctx.heartbeat = heartbeat
        if writer is not None:
            writer.status("preparing", message=f"loading the model ({spec.model}) and tokenizing the data")
        engine = ENGINES[spec.engine](ctx)
        outcome = drive(engine, ctx)
    except StorageError as exc:
        _fail(writer, str(exc), None)
        return EXIT_RUN
    except TuiHfError as exc:
        _fail(writer, str(exc), traceback.format_exc())
        return exc.exit_code
    except BaseException as exc:  # a crash: the traceback goes into the run for `tui-hf attach`
        if stop.is_set() and isinstance(exc, KeyboardInterrupt):
            _fail(writer, "interrupted", None, status="stopped")
            return 0
        if heartbeat is not None:
            heartbeat.final()  # which ranks were gone when this one failed (a lost rank ends the others)
        _fail(writer, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            traceback.print_exc()
        except OSError:
            pass
        return EXIT_RUN
    try:
        if writer is not None:
            if outcome.final_path:
                writer.final(step=outcome.step, path=outcome.final_path)
            message = outcome.message or (
                f"checkpoint at step {outcome.step}; resume to continue" if outcome.stopped else ""
            )
            writer.status(
                "stopped" if outcome.stopped else "finished",
                message=message,
                step=outcome.step,
                total_steps=outcome.total_steps,
            )
    except StorageError as exc:
        _fail(writer, str(exc), None)
        return EXIT_RUN
    if writer is not None:
        writer.close()
    if heartbeat is not None:
        heartbeat.close()
    return 0


def _fail(writer: EventWriter | None, message: str, tb: str | None, status: str = "failed") -> None:
    """The final status, if it can still be written; one line on stderr either way."""
    if writer is not None:
        writer.free_reserve()  # on a full disk, the space set aside at the start takes the final status
        try:
            writer.status(status, message=message, traceback=tb[-20000:] if tb else None)
        except StorageError:
            pass  # still no room: the line says so below; the events end whole at their last line
    try:
        print(f"tui-hf train: {'error: ' if status == 'failed' else ''}{message}", file=sys.stderr, flush=True)
    except OSError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
