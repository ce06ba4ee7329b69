"""TuiHfCallback: a TrainerCallback that writes a run directory tui-hf can follow live.

Add it to any script's Trainer and `tui-hf attach runs/<name>` shows that training over SSH:

    from tui_hf import TuiHfCallback
    trainer = Trainer(..., callbacks=[TuiHfCallback("runs/my-experiment")])

On its own it takes the run's lock for the length of training (a second writer is refused) and writes
start, train, eval, checkpoint and status events through the same `EventWriter` as the native loop. The
app's Trainer engine uses the same class with its own writer, and has it move each finished checkpoint
from Trainer's output directory (a staging area) into place.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tui_hf.core.errors import Cancelled
from tui_hf.core.training.engine import memory_mb
from tui_hf.core.training.events import EventWriter

# Trainer's own timing keys: evaluation time is not a model metric.
_TIMING = ("_runtime", "_time", "_samples_per_second", "_steps_per_second")


class TuiHfCallback(TrainerCallback):
    def __init__(self, run_dir: str | os.PathLike[str], *, stop_event: threading.Event | None = None,
                 tokens_per_sample: float | None = None, labels: list[str] | None = None, engine: str = "trainer",
                 model_name: str | None = None, owns_status: bool = True, writer: EventWriter | None = None,
                 commit_checkpoints: bool = False, on_stop: Callable[[int], None] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.stop_event = stop_event
        self.tokens_per_sample = tokens_per_sample
        self.labels = labels or []
        self.engine = engine
        self.model_name = model_name
        self.owns_status = owns_status
        self.commit_checkpoints = commit_checkpoints
        self.on_stop = on_stop
        self.stopped = False
        self.started = False  # the start event is written (by the engine, before a baseline evaluation)
        self.abort_evaluation = False  # a stop request ends the evaluation under way (the baseline)
        self.total_steps: int | None = None
        self._writer = writer
        self._lock: Any = None
        self._last: tuple[float, int] | None = None

    def _w(self) -> EventWriter:
        if self._writer is None:
            from tui_hf.core.training.runlock import RunLock

            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock.acquire(self.run_dir)  # one writer per run: refuse a second one
            self._lock.record(os.getpid())
            self._writer = EventWriter(self.run_dir)
        return self._writer

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._last = (time.time(), state.global_step)
        if not state.is_world_process_zero or self.started:
            return
        labels = self.labels or list((getattr(getattr(model, "config", None), "id2label", None) or {}).values())
        self._w().start(engine=self.engine, model=self.model_name or type(model).__name__,
                        total_steps=self.total_steps or state.max_steps, epochs=args.num_train_epochs,
                        labels=[str(x) for x in labels], world_size=args.world_size,
                        resumed_from_step=state.global_step,
                        batch_size=args.train_batch_size * args.gradient_accumulation_steps * args.world_size)
        self.started = True
        if self.owns_status:
            self._w().status("running")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_log = True  # the last step is logged too, so a finished run shows all its steps
        if self.stop_event is not None and self.stop_event.is_set() and not self.stopped:
            # A graceful stop: finish this step, save a checkpoint, end training.
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
            if self.on_stop is not None:
                self.on_stop(state.global_step)

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.abort_evaluation and self.stop_event is not None and self.stop_event.is_set():
            raise Cancelled("stopped during evaluation")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        now = time.time()
        sps = tps = None
        if self._last is not None and now > self._last[0] and state.global_step > self._last[1]:
            batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
            sps = round((state.global_step - self._last[1]) * batch / (now - self._last[0]), 3)
            if self.tokens_per_sample:
                tps = round(sps * self.tokens_per_sample, 1)
        self._last = (now, state.global_step)
        self._w().train(step=state.global_step, epoch=state.epoch or 0.0, loss=logs["loss"],
                        learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                        samples_per_second=sps, tokens_per_second=tps, memory_mb=memory_mb())

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if state.is_world_process_zero and metrics:
            keep = {k: v for k, v in metrics.items() if k.startswith("eval_") and not k.endswith(_TIMING)}
            self._w().eval(step=state.global_step, epoch=state.epoch or 0.0, metrics=keep)
            self._last = (time.time(), state.global_step)  # evaluation time is not training throughput

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self.commit_checkpoints:
            from tui_hf.core.training import checkpoints

            path = checkpoints.commit(self.run_dir, path)
        self._w().checkpoint(step=state.global_step, path=str(path))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.owns_status:
            self._w().status("stopped" if self.stopped else "finished", step=state.global_step,
                             total_steps=state.max_steps)
        if self._lock is not None:
            self._lock.release()
            self._lock = None
