"""The event stream of a run: one JSON object per line in runs/<id>/events.jsonl.

Writers append and flush each line, so a reader (the UI, `tui-hf attach`, another machine over SSH)
sees every step as it happens and a crash loses nothing already written. Readers keep a byte offset and
read only what is new, so following a run of thousands of steps costs the same at step 10 and 10,000.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = "events.jsonl"


class EventWriter:
    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / EVENTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        self._fh.write(json.dumps(record, default=_jsonable) + "\n")
        self._fh.flush()
        return record

    def status(self, status: str, **fields: Any) -> dict[str, Any]:
        return self.write("status", status=status, **fields)

    def close(self) -> None:
        self._fh.close()


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class EventReader:
    """Reads the complete lines appended since the last call."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / EVENTS
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # a line still being written
        self.offset += end + 1
        out = []
        for line in chunk[: end + 1].splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a killed writer: skip it, keep the rest
        return out


TERMINAL = ("finished", "stopped", "failed")


@dataclass
class RunState:
    """Everything the live view shows, folded from the events."""

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
    started: float | None = None
    updated: float | None = None
    train: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    lr: list[tuple[int, float]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    samples_per_second: float | None = None
    tokens_per_second: float | None = None
    memory_mb: float | None = None
    grad_norm: float | None = None
    checkpoints: list[str] = field(default_factory=list)
    final_path: str | None = None
    pid: int | None = None

    def apply(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            kind = e.get("event")
            self.updated = e.get("time", self.updated)
            if kind == "start":
                self.started = self.started or e.get("time")
                self.total_steps = int(e.get("total_steps") or 0)
                self.epochs = float(e.get("epochs") or 0)
                self.engine = e.get("engine", self.engine)
                self.model = e.get("model", self.model)
                self.labels = list(e.get("labels") or [])
                self.pid = e.get("pid", self.pid)
            elif kind == "status":
                self.status = e.get("status", self.status)
                self.message = e.get("message", "")
                if e.get("traceback"):
                    self.traceback = e["traceback"]
            elif kind == "train":
                self.step = int(e.get("step", self.step))
                self.epoch = float(e.get("epoch", self.epoch))
                if e.get("loss") is not None:
                    self.train.append((self.step, float(e["loss"])))
                if e.get("learning_rate") is not None:
                    self.lr.append((self.step, float(e["learning_rate"])))
                for key in ("samples_per_second", "tokens_per_second", "memory_mb", "grad_norm"):
                    if e.get(key) is not None:
                        setattr(self, key, float(e[key]))
            elif kind == "eval":
                self.evals.append({k: v for k, v in e.items() if k not in ("event", "time")})
            elif kind == "checkpoint":
                self.checkpoints.append(e.get("path", ""))
            elif kind == "final":
                self.final_path = e.get("path")

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def progress(self) -> float:
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if not self.started or not self.updated or not self.step or not self.total_steps or self.done:
            return None
        rate = (self.updated - self.started) / self.step
        return rate * (self.total_steps - self.step)

    def best(self) -> tuple[str, float] | None:
        """The best evaluation metric so far: accuracy if there is one, else the lowest eval loss."""
        for key, better in (("eval_accuracy", max), ("eval_f1", max), ("eval_loss", min)):
            values = [e[key] for e in self.evals if e.get(key) is not None]
            if values:
                return key.removeprefix("eval_"), better(values)
        return None


def read_state(run_dir: str | Path) -> RunState:
    state = RunState()
    state.apply(EventReader(run_dir).read())
    return state


def to_csv(run_dir: str | Path, out: str | Path) -> int:
    """Write every train and eval event as CSV rows (one column per metric); returns the row count."""
    import csv

    rows = [e for e in EventReader(run_dir).read() if e.get("event") in ("train", "eval")]
    columns = ["event", "time", "step", "epoch"]
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
