"""TuiHfCallback: a TrainerCallback that writes a run directory tui-hf can follow live.

Add it to any script's Trainer and `tui-hf attach runs/<name>` shows that training over SSH:

    from tui_hf import TuiHfCallback
    trainer = Trainer(..., callbacks=[TuiHfCallback("runs/my-experiment")])

The app's own Trainer engine uses the same class, so both write identical events.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tui_hf.core.training.events import EventWriter


def memory_mb() -> float | None:
    """Peak accelerator memory if training on a GPU, else this process's resident memory."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except Exception:
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return None


class TuiHfCallback(TrainerCallback):
    def __init__(self, run_dir: str | os.PathLike[str], *, stop_event: threading.Event | None = None,
                 tokens_per_sample: float | None = None, labels: list[str] | None = None, engine: str = "trainer",
                 model_name: str | None = None, owns_status: bool = True, writer: EventWriter | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.stop_event = stop_event
        self.tokens_per_sample = tokens_per_sample
        self.labels = labels or []
        self.engine = engine
        self.model_name = model_name
        self.owns_status = owns_status
        self.stopped = False
        self.started = False  # set when on_train_begin already wrote the start event (a baseline evaluation)
        self.total_steps: int | None = None  # known before Trainer computes it (for that early start event)
        self._writer = writer
        self._last: tuple[float, int] | None = None

    def _w(self) -> EventWriter:
        if self._writer is None:
            self._writer = EventWriter(self.run_dir)
        return self._writer

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.started:
            return
        labels = self.labels or list((getattr(getattr(model, "config", None), "id2label", None) or {}).values())
        self._w().write("start", total_steps=self.total_steps or state.max_steps, epochs=args.num_train_epochs, engine=self.engine,
                        model=self.model_name or type(model).__name__, labels=labels, pid=os.getpid(),
                        world_size=args.world_size, resumed_from_step=state.global_step,
                        batch_size=args.train_batch_size * args.gradient_accumulation_steps * args.world_size)
        if self.owns_status:
            self._w().status("running")
        self._last = (time.time(), state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stop_event is not None and self.stop_event.is_set() and not self.stopped:
            # A graceful stop: finish this step, save a checkpoint, end training.
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        now = time.time()
        fields: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
                                  "loss": logs["loss"], "learning_rate": logs.get("learning_rate"),
                                  "grad_norm": logs.get("grad_norm"), "memory_mb": memory_mb()}
        if self._last is not None and now > self._last[0] and state.global_step > self._last[1]:
            batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
            sps = (state.global_step - self._last[1]) * batch / (now - self._last[0])
            fields["samples_per_second"] = round(sps, 3)
            if self.tokens_per_sample:
                fields["tokens_per_second"] = round(sps * self.tokens_per_sample, 1)
        self._last = (now, state.global_step)
        self._w().write("train", **fields)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if state.is_world_process_zero and metrics:
            keep = {k: v for k, v in metrics.items() if k.startswith("eval_") and not k.endswith(("_runtime", "_time",
                    "_samples_per_second", "_steps_per_second"))}
            self._w().write("eval", step=state.global_step, epoch=round(state.epoch or 0.0, 4), **keep)
            self._last = (time.time(), state.global_step)  # evaluation time is not training throughput

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._w().write("checkpoint", step=state.global_step,
                            path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.owns_status:
            self._w().status("stopped" if self.stopped else "finished")
