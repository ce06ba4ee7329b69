"""`python -m tui_hf.train RUN_DIR [--echo]`: the training job process.

Started detached by the app or `tui-hf train --detach`, in the foreground by `tui-hf train`, or N times
under torch.distributed.run. Rank 0 alone writes events and checkpoints. SIGINT or SIGTERM asks for a
graceful stop: the current step finishes, a checkpoint is saved, the status says "stopped".
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.job import SPEC
from tui_hf.core.training.spec import TrainSpec


def describe(record: dict[str, Any]) -> str | None:
    """One plain log line per event, for train.log and a foreground terminal."""
    kind = record["event"]
    if kind == "train":
        parts = [f"step {record['step']}", f"epoch {record.get('epoch', 0):.2f}", f"loss {record['loss']:.4f}"]
        if record.get("learning_rate") is not None:
            parts.append(f"lr {record['learning_rate']:.2e}")
        if record.get("samples_per_second") is not None:
            parts.append(f"{record['samples_per_second']:.1f} samples/s")
        return "  ".join(parts)
    if kind == "eval":
        return "eval  " + "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in record.items()
                                    if k.startswith("eval_") and isinstance(v, (int, float)))
    if kind == "start":
        return f"start  {record.get('engine')}  {record.get('total_steps')} steps  labels {record.get('labels')}"
    if kind == "status":
        return f"status {record['status']}" + (f": {record['message']}" if record.get("message") else "")
    if kind in ("checkpoint", "final"):
        return f"{kind} {record.get('path')}"
    return None


class EchoWriter(EventWriter):
    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        record = super().write(event, **fields)
        line = describe(record)
        if line:
            print(line, flush=True)
        return record


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    echo = "--echo" in args
    args = [a for a in args if a != "--echo"]
    if len(args) != 1:
        print("usage: python -m tui_hf.train RUN_DIR [--echo]", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    rank = int(os.environ.get("RANK", "0"))
    writer: EventWriter | None = None
    if rank == 0:
        writer = (EchoWriter if echo or not sys.stdout.isatty() else EventWriter)(run_dir)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        if writer is not None and not stop.is_set():
            writer.status("stopping", message=f"signal {signal.Signals(signum).name}: saving a checkpoint")
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    import transformers  # noqa: F401  (imported first so its default log handler can be replaced)

    from tui_hf.core.quiet import route_library_logs

    route_library_logs(run_dir / "library.log")
    try:
        spec = TrainSpec.load(run_dir / SPEC)
        if writer is not None:
            writer.status("running", message=f"pid {os.getpid()}")
        from tui_hf.core.training.engines import ENGINES

        outcome = ENGINES[spec.engine](spec, run_dir, writer, stop)
    except (SpecError, ValueError, OSError) as exc:
        if writer is not None:
            writer.status("failed", message=str(exc), traceback=traceback.format_exc())
        print(f"tui-hf train: error: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:  # a crash: the traceback goes into the run for `tui-hf attach`
        if writer is not None:
            writer.status("failed", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        traceback.print_exc()
        return 1
    if writer is not None:
        if outcome.final_path:
            writer.write("final", step=outcome.step, path=outcome.final_path)
        writer.status("stopped" if outcome.stopped else "finished",
                      message=f"checkpoint at step {outcome.step}; resume to continue" if outcome.stopped else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
