"""The event stream of a run: one JSON object per line in runs/<id>/events.jsonl.

One typed writer (`EventWriter`) is the only code that writes it; the native loop, the Trainer callback and
the job process all go through its methods, so the format lives here:

    start       engine, model, labels, total_steps, epochs, batch_size, world_size, pid, resumed_from_step,
                checkpoint (the one resumed from, or null), trainable_parameters, total_parameters (LoRA: the
                adapters' share)
    train       step, epoch, loss, learning_rate, grad_norm, samples_per_second, tokens_per_second, memory_mb
    eval        step, epoch, eval_* metrics
    checkpoint  step, path (relative to the run directory when inside it, as every path an event records)
    alert       level ("warning" | "error"), message, step, kind (sentinel.py: "nonfinite-loss", "loss-spike",
                ...; absent on older alerts), action (the policy applied: warn | save | stop)
    control     action (stop | save | eval | early-stop | no-early-stop | invalid), via (a signal, "control"
                for a request file, "early-stopping"), message, request (the request file's name),
                refused (true when the job could not honour it): the job acknowledging a request
    predictions step, items: [{text, gold, prediction, confidence}] for a fixed handful of validation examples
    status      status (preparing, running, stopping, finished, stopped, failed), message, step, total_steps,
                traceback
    final       step, path (the saved model)

Every line is written whole or not at all: a write that fails (a full disk) is cut back to the previous
line end, and a torn last line left by a killed writer is cut off before the next writer appends. Steps
that a resumed job repeats (it restarts from its last checkpoint, before the step a crash reached) carry
"replay": true; readers skip them, so no view or export shows a step twice.

Paths inside the run (checkpoints, final/) are written relative to the run directory, so a copied or moved
run points at its own files; RunState reads them back against its run directory, and reads the absolute
paths that older runs recorded as they were written.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.training.storage import storage_error

EVENTS = "events.jsonl"
RESERVE = ".reserve"
TERMINAL = ("finished", "stopped", "failed")
ACTIVE = ("preparing", "running", "stopping", "starting")


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no newline: its writer was killed mid-line); returns the bytes removed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        fh.truncate(keep)
        return size - keep


class EventWriter:
    """Appends events to a run; one per run at a time (the job holds the run's lock)."""

    def __init__(
        self, run_dir: str | Path, on_write: Callable[[dict[str, Any]], None] | None = None, reserve: int = 0
    ) -> None:
        """`reserve`: bytes set aside on disk (runs/<id>/.reserve) so a final status fits on a full disk."""
        self.path = Path(run_dir) / EVENTS
        self.on_write = on_write
        self._lock = threading.Lock()  # the vitals thread writes beside the training loop: one line at a time
        self._reserve = self.path.parent / RESERVE if reserve else None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repair_tail(self.path)
            self._replay_until = self._logged_steps()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if self._reserve is not None:
                with open(self._reserve, "wb") as fh:
                    fh.write(b"\0" * reserve)
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            if self._reserve is not None:
                self.free_reserve()
            raise storage_error(exc, f"cannot write {self.path}") from None

    def free_reserve(self) -> None:
        """Give the reserved space back (a full disk: the final status goes into it)."""
        if self._reserve is not None:
            try:
                self._reserve.unlink()
            except OSError:
                pass

    def _logged_steps(self) -> dict[str, int]:
        """The highest step already logged per kind: a resumed job marks steps up to it as replays."""
        out: dict[str, int] = {}
        for e in EventReader(self.path.parent).read():
            kind = e.get("event")
            if kind in ("train", "eval") and not e.get("replay") and isinstance(e.get("step"), int):
                out[kind] = max(out.get(kind, -1), e["step"])
        return out

    # -- the one place a line is written --

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._append_locked(record)

    def _append_locked(self, record: dict[str, Any]) -> dict[str, Any]:
        data = (json.dumps(record, default=_jsonable) + "\n").encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device")  # a short write: the disk filled up mid-line
        except OSError as exc:
            try:
                os.ftruncate(self._fd, end)  # never leave half a line (a torn status) behind
            except OSError:
                pass
            raise storage_error(exc, f"cannot write {self.path}") from None
        if self.on_write is not None:
            self.on_write(record)
        return record

    def _event(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = {"event": kind, "time": round(time.time(), 3)}
        record.update({k: v for k, v in fields.items() if v is not None})
        return self._append(record)

    def _in_run(self, path: str | os.PathLike[str] | None) -> str | None:
        """`path` relative to the run directory when it lies inside it, else absolute."""
        if path is None:
            return None
        run, full = os.path.abspath(self.path.parent), os.path.abspath(path)
        return os.path.relpath(full, run) if os.path.commonpath([run, full]) == run else full

    def _replayed(self, kind: str, step: int) -> bool | None:
        return True if step <= self._replay_until.get(kind, -1) else None

    # -- the event kinds --

    def start(
        self,
        *,
        engine: str,
        model: str,
        total_steps: int,
        epochs: float,
        labels: list[str],
        batch_size: int,
        world_size: int = 1,
        resumed_from_step: int = 0,
        checkpoint: str | None = None,
        pid: int | None = None,
        trainable_parameters: int = 0,
        total_parameters: int = 0,
        precision: str = "fp32",
        grad_accum: int = 1,
        grad_checkpointing: bool = False,
    ) -> dict[str, Any]:
        return self._event(
            "start",
            {
                "trainable_parameters": trainable_parameters,
                "total_parameters": total_parameters,
                "precision": precision,
                "grad_accum": grad_accum,
                "grad_checkpointing": grad_checkpointing,
                "total_steps": total_steps,
                "epochs": epochs,
                "engine": engine,
                "model": model,
                "labels": labels,
                "pid": pid or os.getpid(),
                "world_size": world_size,
                "resumed_from_step": resumed_from_step,
                "checkpoint": self._in_run(checkpoint),
                "batch_size": batch_size,
            },
        )

    def train(
        self,
        *,
        step: int,
        epoch: float,
        loss: float,
        learning_rate: float | None = None,
        grad_norm: float | None = None,
        samples_per_second: float | None = None,
        tokens_per_second: float | None = None,
        memory_mb: float | None = None,
    ) -> dict[str, Any]:
        return self._event(
            "train",
            {
                "step": step,
                "epoch": round(epoch, 4),
                "loss": loss,
                "learning_rate": learning_rate,
                "grad_norm": grad_norm,
                "samples_per_second": samples_per_second,
                "tokens_per_second": tokens_per_second,
                "memory_mb": memory_mb,
                "replay": self._replayed("train", step),
            },
        )

    def eval(self, *, step: int, epoch: float, metrics: dict[str, float]) -> dict[str, Any]:
        keep = {k if k.startswith("eval_") else f"eval_{k}": v for k, v in metrics.items()}
        return self._event(
            "eval", {"step": step, "epoch": round(epoch, 4), **keep, "replay": self._replayed("eval", step)}
        )

    def checkpoint(self, *, step: int, path: str) -> dict[str, Any]:
        return self._event("checkpoint", {"step": step, "path": self._in_run(path)})

    def vitals(self, **fields: Any) -> dict[str, Any]:
        """The machine as the job sees it (core/training/vitals.py samples it)."""
        return self._event("vitals", fields)

    def alert(
        self,
        message: str,
        *,
        level: str = "warning",
        step: int | None = None,
        kind: str | None = None,
        action: str | None = None,
    ) -> dict[str, Any]:
        return self._event("alert", {"level": level, "message": message, "step": step, "kind": kind, "action": action})

    def control_ack(
        self, action: str, *, via: str, message: str = "", request: str | None = None, refused: bool | None = None
    ) -> dict[str, Any]:
        return self._event(
            "control", {"action": action, "via": via, "message": message, "request": request, "refused": refused}
        )

    def predictions(self, *, step: int, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self._event("predictions", {"step": step, "items": items})

    def status(
        self,
        status: str,
        *,
        message: str = "",
        step: int | None = None,
        total_steps: int | None = None,
        traceback: str | None = None,
    ) -> dict[str, Any]:
        return self._event(
            "status",
            {"status": status, "message": message, "step": step, "total_steps": total_steps, "traceback": traceback},
        )

    def final(self, *, step: int, path: str) -> dict[str, Any]:
        return self._event("final", {"step": step, "path": self._in_run(path)})

    def close(self) -> None:
        self.free_reserve()
        with self._lock:  # a vitals line in flight lands before the file closes, never in a reused descriptor
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class EventReader:
    """Reads the complete lines appended since the last call (a byte offset: O(new events) per call)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / EVENTS
        self.offset = 0

    def read_bytes(self) -> bytes:
        """The complete new lines, undecoded."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:
                    self.offset = 0  # the file was replaced or cut back: read it again from the start
                fh.seek(self.offset)
                chunk = fh.read()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return b""
        end = chunk.rfind(b"\n")
        if end < 0:
            return b""  # a line still being written
        self.offset += end + 1
        return chunk[: end + 1]

    def read(self) -> list[dict[str, Any]]:
        out = []
        for line in self.read_bytes().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a line torn by a killed writer of an older version: skip it, keep the rest
            if isinstance(value, dict):
                out.append(value)
        return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _step(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


VITALS_KEPT = 60  # samples behind a sparkline: five minutes at one every five seconds


@dataclass
class RunState:
    """Everything the live view shows, folded from the events. Any value from the file is checked."""

    status: str = "pending"
    message: str = ""
    traceback: str = ""
    engine: str = ""
    model: str = ""
    labels: list[str] = field(default_factory=list)
    total_steps: int = 0
    step: int = 0
    epoch: float = 0.0
    epochs: float = 0.0
    batch_size: int = 0  # samples per optimizer step, over all processes
    trainable_parameters: int = 0  # 0: not said (runs from before LoRA)
    total_parameters: int = 0
    grad_accum: int = 1  # micro-batches per optimizer step (batch_size counts all of them)
    precision: str = ""
    started: float | None = None
    updated: float | None = None
    segment_started: float | None = None  # the latest start event (a resume begins a new segment)
    segment_step: int = 0  # the step that segment started from
    resumed_from: str | None = None  # the checkpoint the latest segment resumed from
    train: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    lr: list[tuple[int, float]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)  # acknowledged requests
    predictions: dict[str, Any] | None = None  # the latest {"step", "items"}
    predictions_history: list[dict[str, Any]] = field(default_factory=list)  # every one, oldest first
    intervals: list[float] = field(default_factory=list)  # seconds between recent train events (stall check)
    last_train: tuple[float, int] | None = None  # (time, step) of the latest train event
    samples_per_second: float | None = None
    tokens_per_second: float | None = None
    memory_mb: float | None = None
    grad_norm: float | None = None
    checkpoints: list[str] = field(default_factory=list)
    final_path: str | None = None
    pid: int | None = None
    replayed: int = 0  # events skipped as replays
    vitals: dict[int, dict[str, Any]] = field(default_factory=dict)  # the latest sample, by rank
    vitals_history: list[dict[str, Any]] = field(default_factory=list)  # rank 0's recent samples, for sparklines
    run_dir: Path | None = None  # what run-relative paths in the events are relative to

    def _path(self, recorded: Any) -> str:
        """A path an event recorded, as a path from here: run-relative ones joined to the run directory; an
        absolute one (written by an older version) as it was written."""
        text = _text(recorded)
        if not text or self.run_dir is None or os.path.isabs(text):
            return text
        return str(self.run_dir / text)

    def _advance(self, step: int | None) -> None:
        if step is not None and step > self.step:
            self.step = step

    def apply(self, events: list[dict[str, Any]]) -> None:
        numbers = (int, float)
        for e in events:
            kind = e.get("event")
            when = e.get("time")
            if type(when) in numbers and kind != "vitals":  # a sampler ticking is no sign the training moves
                self.updated = when
            if e.get("replay") is True:
                self.replayed += 1
                continue
            if kind == "train":  # the common case first, type checks inline: attach folds 100k of these
                step, loss, lr = e.get("step"), e.get("loss"), e.get("learning_rate")
                if type(step) is not int:
                    step = _step(step)
                if step is not None:
                    if type(when) in numbers:
                        last = self.last_train
                        if last is not None and step > last[1] and when >= last[0]:
                            self.intervals.append(when - last[0])
                            if len(self.intervals) > 64:
                                del self.intervals[:-32]
                        self.last_train = (when, step)
                    if step > self.step:
                        self.step = step
                    if type(loss) in numbers:
                        self.train.append((step, loss))
                    if type(lr) in numbers:
                        self.lr.append((step, lr))
                epoch = e.get("epoch")
                if type(epoch) in numbers:
                    self.epoch = epoch
                for key in ("samples_per_second", "tokens_per_second", "memory_mb", "grad_norm"):
                    value = e.get(key)
                    if type(value) in numbers:
                        setattr(self, key, value)
            elif kind == "start":
                self.started = self.started or self.updated
                self.segment_started = self.updated
                self.segment_step = _step(e.get("resumed_from_step")) or 0
                self.total_steps = _step(e.get("total_steps")) or self.total_steps
                self.epochs = _number(e.get("epochs")) or self.epochs
                self.batch_size = _step(e.get("batch_size")) or self.batch_size
                self.trainable_parameters = _step(e.get("trainable_parameters")) or self.trainable_parameters
                self.total_parameters = _step(e.get("total_parameters")) or self.total_parameters
                self.grad_accum = _step(e.get("grad_accum")) or 1
                self.precision = _text(e.get("precision"))
                self.engine = _text(e.get("engine")) or self.engine
                self.model = _text(e.get("model")) or self.model
                labels = e.get("labels")
                self.labels = [_text(x) for x in labels] if isinstance(labels, list) else self.labels
                self.pid = _step(e.get("pid")) or self.pid
                self.resumed_from = _text(e.get("checkpoint")) or None
            elif kind == "status":
                self.status = _text(e.get("status")) or self.status
                self.message = _text(e.get("message"))
                self.traceback = _text(e.get("traceback")) or (self.traceback if self.status == "failed" else "")
                self._advance(_step(e.get("step")))
                self.total_steps = _step(e.get("total_steps")) or self.total_steps
            elif kind == "eval":
                self._advance(_step(e.get("step")))
                self.evals.append({k: v for k, v in e.items() if k not in ("event", "time")})
            elif kind == "checkpoint":
                self._advance(_step(e.get("step")))
                self.checkpoints.append(self._path(e.get("path")))
            elif kind == "alert":
                self.alerts.append(
                    {
                        "level": _text(e.get("level")) or "warning",
                        "message": _text(e.get("message")),
                        "step": _step(e.get("step")),
                        "kind": _text(e.get("kind")),
                        "action": _text(e.get("action")),
                    }
                )
            elif kind == "control":
                self.controls.append(
                    {
                        "action": _text(e.get("action")),
                        "via": _text(e.get("via")),
                        "message": _text(e.get("message")),
                        "request": _text(e.get("request")),
                        "refused": e.get("refused") is True,
                    }
                )
            elif kind == "predictions":
                items = e.get("items")
                if isinstance(items, list):
                    self.predictions = {
                        "step": _step(e.get("step")),
                        "items": [i for i in items if isinstance(i, dict)],
                    }
                    self.predictions_history.append(self.predictions)
            elif kind == "final":
                self._advance(_step(e.get("step")))
                self.final_path = self._path(e.get("path")) or None
            elif kind == "vitals":
                rank = e.get("rank") if type(e.get("rank")) is int else 0
                self.vitals[rank] = e
                if rank == 0:
                    self.vitals_history.append(e)
                    del self.vitals_history[:-VITALS_KEPT]

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def parameters_text(self) -> str:
        """The line "trains 1,123 of 21,232 parameters (5.29%)" when only a part trains (LoRA); empty for a full
        finetune (the views have no room for news that every weight trains) and until a start event says it."""
        if not self.trainable_parameters or self.trainable_parameters >= self.total_parameters:
            return ""
        share = 100 * self.trainable_parameters / self.total_parameters
        return f"trains {self.trainable_parameters:,} of {self.total_parameters:,} parameters ({share:.2f}%)"

    @property
    def progress(self) -> float:
        if self.status == "finished":
            return 1.0
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """From this segment's pace (a resumed run does not count the time it was not running)."""
        start = self.segment_started or self.started
        done = self.step - self.segment_step
        if not start or not self.updated or done <= 0 or not self.total_steps or self.done:
            return None
        return (self.updated - start) / done * max(self.total_steps - self.step, 0)

    def best(self) -> tuple[str, float] | None:
        """The best evaluation metric so far: accuracy if there is one, else the lowest eval loss. The baseline
        evaluation before the first step is not a result of training (compare.py skips it the same way)."""
        trained = [e for e in self.evals if e.get("step")]
        for key, better in (("eval_accuracy", max), ("eval_f1", max), ("eval_loss", min)):
            values = [v for e in trained if (v := _number(e.get(key))) is not None and math.isfinite(v)]
            if values:
                return key.removeprefix("eval_"), better(values)
        return None


def read_state(run_dir: str | Path) -> RunState:
    state = RunState(run_dir=Path(run_dir))
    state.apply(EventReader(run_dir).read())
    return state


def to_csv(run_dir: str | Path, out: str | Path) -> int:
    """Write every train and eval event as CSV rows (one column per metric); returns the row count."""
    import csv

    rows = [e for e in EventReader(run_dir).read() if e.get("event") in ("train", "eval") and not e.get("replay")]
    columns = ["event", "time", "step", "epoch"]
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, out)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise storage_error(exc, f"cannot write {out}") from None
    return len(rows)


def pid_alive(pid: int | None) -> bool:
    """Whether a process exists. Not whether a run is alive: that is its lock (runs.is_alive)."""
    from tui_hf.core.training.runlock import process_alive

    return bool(pid) and process_alive(pid)  # type: ignore[arg-type]
