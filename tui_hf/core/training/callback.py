"""TuiHfCallback: a TrainerCallback that writes a run directory tui-hf can follow live.

Add it to any script's Trainer and `tui-hf attach runs/<name>` shows that training over SSH:

    from tui_hf import TuiHfCallback
    trainer = Trainer(..., callbacks=[TuiHfCallback("runs/my-experiment")])

On its own it takes the run's lock for the length of training (a second writer is refused) and writes
start, train, eval, checkpoint and status events through the same `EventWriter` as the native loop.

It also runs the sentinel (per-step NaN/inf loss, empty batches, loss spikes; gradient norms as Trainer
logs them), records each step's input hash and loss for the batch X-ray (the rows themselves only in the
app's own Trainer engine, whose collator reports them), and honours requests sent with `tui-hf control`
at step boundaries: save, eval (when the Trainer has an eval_strategy), stop, early-stop and no-early-stop.
With several processes rank 0 reads the requests and each step hands its decisions to every rank. The
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
    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        stop_event: threading.Event | None = None,
        tokens_per_sample: float | None = None,
        labels: list[str] | None = None,
        engine: str = "trainer",
        model_name: str | None = None,
        owns_status: bool = True,
        writer: EventWriter | None = None,
        commit_checkpoints: bool = False,
        on_stop: Callable[[int], None] | None = None,
        watch: Any = None,
        can_evaluate: bool | None = None,
        eval_steps: int = 0,
        predictor: Callable[[Any], list[dict[str, Any]]] | None = None,
        heartbeat: Any = None,
    ) -> None:
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
        self.watch = watch  # StepWatch; made on first use for a script's Trainer
        self._own_watch = watch is None
        self.can_evaluate = can_evaluate
        self.eval_steps = eval_steps
        self.predictor = predictor
        self._evaluated_step = -1
        self._saved_step = -1
        self.heartbeat = heartbeat  # nodes.Heartbeat on every rank of a job of several processes
        self._world = 1
        self._pending_stop = False  # several processes: a stop decided on rank 0, carried out by all at _sync

    def _w(self) -> EventWriter:
        if self._writer is None:
            from tui_hf.core.training.runlock import RunLock
            from tui_hf.core.training.runs import mark_run
            from tui_hf.core.training.storage import storage_error

            # Marked as tui-hf's (so `runs rm` may delete it) only when this made it: a folder of the user's
            # own, given as the run directory, is followed but never deleted.
            made = not self.run_dir.exists() or not any(self.run_dir.iterdir())
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock.acquire(self.run_dir)  # one writer per run: refuse a second one
            self._lock.record(os.getpid())
            if made:
                try:
                    mark_run(self.run_dir, writer="TuiHfCallback")
                except OSError as exc:
                    raise storage_error(exc, f"cannot write {self.run_dir}") from None
            self._writer = EventWriter(self.run_dir)
        return self._writer

    def _watch(self) -> Any:
        if self.watch is None and self._own_watch:
            from tui_hf.core.training.watch import StepWatch

            self.watch = StepWatch(self.run_dir, self._w())
        return self.watch

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._last = (time.time(), state.global_step)
        self._world = args.world_size
        if self.heartbeat is not None and model is not None:
            self.heartbeat.watch(model)
            self.heartbeat.restart_clock()
        if state.is_world_process_zero and model is not None:
            self._watch().attach(model)
            if self.can_evaluate is None:
                self.can_evaluate = str(getattr(args, "eval_strategy", "no")) not in ("no", "IntervalStrategy.NO")
        if not state.is_world_process_zero or self.started:
            return
        labels = self.labels or list((getattr(getattr(model, "config", None), "id2label", None) or {}).values())
        self._w().start(
            engine=self.engine,
            model=self.model_name or type(model).__name__,
            total_steps=self.total_steps or state.max_steps,
            epochs=args.num_train_epochs,
            labels=[str(x) for x in labels],
            world_size=args.world_size,
            resumed_from_step=state.global_step,
            batch_size=args.train_batch_size * args.gradient_accumulation_steps * args.world_size,
            precision="bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
            grad_accum=args.gradient_accumulation_steps,
            grad_checkpointing=bool(getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing),
        )
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
        if state.is_world_process_zero and self.watch is not None:
            self._cockpit(args, state, control)
        if args.world_size > 1:
            self._sync(state, control)
        if self.heartbeat is not None:
            self.heartbeat.step(state.global_step)

    def _sync(self, state: Any, control: Any) -> None:
        """Rank 0's decisions (stop, save, evaluate: from requests, the sentinel, early stopping) and a stop
        signal on any rank, made every rank's at this step: a rank that stopped or evaluated alone would leave
        the others waiting in a collective for ever."""
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        stop = self.stopped or self._pending_stop  # ours only: Trainer's own end (max_steps) is the same on all
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        flags = torch.tensor([float(stop), float(control.should_save), float(control.should_evaluate)], device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # rank 0's decisions reach all; any rank's stop too
        stop, save, evaluate = (bool(x) for x in flags.tolist())
        control.should_save, control.should_evaluate = save, evaluate
        if stop:
            control.should_training_stop = True
            control.should_save = True
            if not self.stopped:  # asked on another rank (a signal there)
                self.stopped = True
                if self.stop_event is not None and hasattr(self.stop_event, "request"):
                    self.stop_event.request("another rank")
                if self.on_stop is not None:
                    self.on_stop(state.global_step)

    def _stop(self, control: Any, state: Any, via: str) -> None:
        """A graceful stop decided here (a request, the sentinel, early stopping): a checkpoint, then the end."""
        if self.stopped:
            return
        self.stopped = True
        if self._world > 1:
            self._pending_stop = True  # every rank stops at the next step's _sync, together
        else:
            control.should_training_stop = True
            control.should_save = True
        if self.stop_event is not None and hasattr(self.stop_event, "request"):
            self.stop_event.request(via)
        if self.on_stop is not None:
            self.on_stop(state.global_step)  # the engine acknowledges it (and says "stopping")
        else:
            self._w().control_ack("stop", via=via, message=f"stopping at step {state.global_step}")

    def _cockpit(self, args: Any, state: Any, control: Any) -> None:
        """The sentinel's verdict on this step, the policy, the viewers' requests."""
        watch, step = self.watch, state.global_step
        alerts = watch.end_step(step)
        if alerts and watch.policy == "save":
            control.should_save = True
        elif alerts and watch.policy == "stop":
            self._stop(control, state, "sentinel")
        if self.eval_steps and step % self.eval_steps == 0 and self.can_evaluate:
            control.should_evaluate = True
        for c in watch.controls():  # on rank 0; with several processes _sync hands its decisions to all
            if c.action == "save":
                control.should_save = True
                watch.ack(c, f"saving checkpoint-{step}")
            elif c.action == "eval":
                if self.can_evaluate:
                    control.should_evaluate = True
                    watch.ack(c, f"evaluating at step {step}")
                else:
                    watch.ack(c, "no validation data to evaluate on", refused=True)
            elif c.action == "stop":
                watch.ack(c, f"stopping at step {step}: saving a checkpoint")
                self._stop(control, state, "control")
            elif c.action == "early-stop":
                if self.can_evaluate:
                    watch.arm(c)
                else:
                    watch.ack(c, "no validation data: nothing to watch", refused=True)
            elif c.action == "no-early-stop":
                watch.ack(c, watch.disarm())

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # An epoch that ends where an evaluation or save was just made (a stop, eval_steps) does not repeat it.
        if state.global_step == self._evaluated_step:
            control.should_evaluate = False
        if state.global_step == self._saved_step:
            control.should_save = False

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
        self._w().train(
            step=state.global_step,
            epoch=state.epoch or 0.0,
            loss=logs["loss"],
            learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            samples_per_second=sps,
            tokens_per_second=tps,
            memory_mb=memory_mb(),
        )
        if self.watch is not None and isinstance(logs.get("grad_norm"), (int, float)):
            alerts = self.watch.grad_norm(state.global_step, float(logs["grad_norm"]))
            if alerts and self.watch.policy == "stop":
                self._stop(control, state, "sentinel")

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if metrics:
            self._evaluated_step = state.global_step  # on every rank, as _saved_step
        if self.heartbeat is not None:
            self.heartbeat.restart_clock()
        if state.is_world_process_zero and metrics:
            keep = {k: v for k, v in metrics.items() if k.startswith("eval_") and not k.endswith(_TIMING)}
            self._w().eval(step=state.global_step, epoch=state.epoch or 0.0, metrics=keep)
            self._last = (time.time(), state.global_step)  # evaluation time is not training throughput
            model = kwargs.get("model")
            if self.predictor is not None and model is not None:
                items = self.predictor(model)
                if items:
                    self._w().predictions(step=state.global_step, items=items)
            if self.watch is not None:
                # Early stopping counts evaluations made while training, not the baseline before step 1.
                alerts, stop = self.watch.evaluated(state.global_step, keep, training=state.global_step > 0)
                if stop:
                    self._stop(control, state, "early-stopping")
                elif alerts and self.watch.policy == "stop" and state.global_step > 0:
                    self._stop(control, state, "sentinel")  # as the native loop does on an eval alert

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._saved_step = state.global_step  # on every rank: on_epoch_end's choice must be the same on all
        if not state.is_world_process_zero:
            return
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self.commit_checkpoints:
            from tui_hf.core.training import checkpoints

            path = checkpoints.commit(self.run_dir, path)
        self._w().checkpoint(step=state.global_step, path=str(path))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.owns_status:
            self._w().status(
                "stopped" if self.stopped else "finished", step=state.global_step, total_steps=state.max_steps
            )
        if self.watch is not None:
            self.watch.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
