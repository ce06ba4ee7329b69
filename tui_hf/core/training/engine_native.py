"""The native PyTorch loop, as the Hugging Face course writes it: AdamW, a linear schedule with warmup,
gradient clipping, evaluation and a checkpoint each epoch; DistributedDataParallel under torchrun.

A checkpoint holds the model, the tokenizer, and the optimizer, scheduler and random-number states, so a
resumed run continues exactly where it stopped: the same batches in the same order (each epoch's order
comes from the seed and the epoch number; batches already trained are skipped by index), the same learning
rate, the same Adam moments, the same dropout masks.
"""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any, ClassVar

from tui_hf.core.errors import Cancelled, StorageError
from tui_hf.core.training import checkpoints
from tui_hf.core.training.data import Prepared, prepare
from tui_hf.core.training.engine import (
    Context,
    Outcome,
    StartInfo,
    build_model,
    checkpoint_bytes,
    enable_grad_checkpointing,
    eval_metrics,
    job_precision,
    load_tokenizer_for,
    memory_mb,
    save_final,
    storage_failure,
    warmup_steps,
)
from tui_hf.core.training.storage import is_storage_error, storage_error

STATE_FILE = "training_state.pt"
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_")


class NativeEngine:
    name: ClassVar[str] = "native"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.step = 0
        self.watch: Any = None
        self._saved_at = -1  # the step of the last checkpoint (no second save of the same step)
        self._evaluated_at = -1

    # -- prepare --

    def prepare(self) -> StartInfo:
        import torch
        import torch.distributed as dist
        from transformers import get_linear_schedule_with_warmup, set_seed

        from tui_hf.core.device import pick_device

        spec = self.spec
        device = pick_device(spec.device).device
        if self.world > 1:
            if device.startswith("cuda"):
                device = f"cuda:{self.local_rank}"
                torch.cuda.set_device(self.local_rank)
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        self.device = device
        from tui_hf.core.training.precision import grad_scaler

        self.precision = job_precision(spec, device)
        self.scaler = grad_scaler(self.precision, device)
        set_seed(spec.seed)
        self.resolved, self.tok = load_tokenizer_for(spec)
        self.prep: Prepared = prepare(spec, self.tok, self.ctx.plan, self.ctx.stop)
        from tui_hf.core.training.watch import make_watch

        self.watch = make_watch(self.ctx, self.prep.collator, self.tok, self.prep)
        resume = self.ctx.checkpoint
        self.model = build_model(spec, self.resolved, self.prep.labels, source=str(resume.path) if resume else None).to(
            device
        )
        from tui_hf.core.training.families import family

        family(spec.task).prepare_model(self.model, self.tok, spec)
        self.core = self.model
        enable_grad_checkpointing(self.core, spec)
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if device.startswith("cuda") else None
            )
        self.per_rank = math.ceil(len(self.prep.train) / self.world) if self.world > 1 else len(self.prep.train)
        # Optimizer steps, as Trainer counts them: a last, shorter group of micro-batches is a step too.
        self.steps_per_epoch = max(math.ceil(math.ceil(self.per_rank / spec.batch_size) / spec.grad_accum), 1)
        self.total = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * self.steps_per_epoch)
        params = [(n, p) for n, p in self.core.named_parameters() if p.requires_grad]  # LoRA freezes the base
        groups = [
            {"params": [p for n, p in params if not any(k in n for k in NO_DECAY)], "weight_decay": spec.weight_decay},
            {"params": [p for n, p in params if any(k in n for k in NO_DECAY)], "weight_decay": 0.0},
        ]
        # The fused kernel (what Trainer picks too) where this torch has it for the device; foreach otherwise.
        fused = device.startswith("cuda") or (device == "cpu" and _fused_on_cpu())
        self.optimizer = torch.optim.AdamW(groups, lr=spec.learning_rate, fused=fused or None)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup_steps(spec, self.total), self.total)
        if resume is not None:
            state = torch.load(resume.path / STATE_FILE, weights_only=True, map_location="cpu")
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            _restore_rng(state.get("rng"))
        return StartInfo(
            total_steps=self.total,
            epochs=spec.epochs,
            labels=self.prep.labels,
            batch_size=spec.batch_size * spec.grad_accum * self.world,
            world_size=self.world,
            resumed_from_step=self.step,
            checkpoint=str(resume.path) if resume else None,
            **_counts(self.core),
            precision=self.precision,
            grad_accum=spec.grad_accum,
            grad_checkpointing=spec.grad_checkpointing,
        )

    # -- evaluate --

    def evaluate(self, baseline: bool = False) -> dict[str, float]:
        import torch
        from torch.utils.data import DataLoader

        from tui_hf.core.training.precision import autocast

        if self.prep.eval is None or self.rank != 0:
            return {}
        spec = self.spec
        self.core.eval()
        from tui_hf.core.training.families import family

        fam = family(spec.task)
        scores = fam.scores_logits
        gen_kwargs = fam.generation_kwargs(self.core, spec)  # a family that generates: as Seq2SeqTrainer generates
        losses, all_preds, all_labels, outputs = [], [], [], []
        with torch.inference_mode():
            for batch in DataLoader(
                self.prep.eval,
                batch_size=spec.batch_size * 2,
                collate_fn=self.prep.collator,
                generator=torch.Generator().manual_seed(spec.seed),
            ):
                if baseline and self.ctx.stop.is_set():
                    self.core.train()
                    raise Cancelled("stopped during the baseline evaluation")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with autocast(self.precision, self.device):
                    out = self.core(**batch)
                losses.append(float(out.loss))
                if scores:
                    all_preds.append(out.logits.float().argmax(-1).cpu().numpy())
                    all_labels.append(batch["labels"].cpu().numpy())
                elif fam.generates:
                    generated = self.core.generate(
                        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), **gen_kwargs
                    )
                    all_preds.append(generated.cpu().numpy())
                    all_labels.append(batch["labels"].cpu().numpy())
                if fam.scores_outputs:
                    outputs.append(tuple(t.float().cpu().numpy() for t in fam.eval_outputs(out)))
        self.core.train()
        result = eval_metrics(
            spec, sum(losses) / max(len(losses), 1), all_preds, all_labels, self.prep.labels, self.tok
        )
        if outputs:
            result.update({f"eval_{k}": v for k, v in fam.score_outputs(outputs, self.prep).items()})
        if self.ctx.writer is not None:
            self.ctx.writer.eval(step=self.step, epoch=self.step / self.steps_per_epoch, metrics=result)
        self._evaluated_at = self.step
        if self.watch is not None:
            self._predict()
            alerts, stop = self.watch.evaluated(self.step, result, training=not baseline)
            self._apply(alerts, in_eval=True)
            if stop:
                self.ctx.stop.request("early-stopping")
        return result

    def _predict(self) -> None:
        from tui_hf.core.training.predict import predict_examples

        items = predict_examples(self.core, self.tok, self.spec, self.prep, self.device)
        if items and self.ctx.writer is not None:
            self.ctx.writer.predictions(step=self.step, items=items)

    # -- the cockpit: alerts and requests, at step boundaries --

    def _apply(self, alerts: list[Any], in_eval: bool = False) -> None:
        """The sentinel's policy: save a checkpoint, or stop (which saves one), on any alert."""
        if not alerts or self.watch is None:
            return
        if self.watch.policy == "stop":
            self.ctx.stop.request("sentinel")
        elif self.watch.policy == "save" and not in_eval:
            self.save_checkpoint()

    def _steer(self) -> None:
        if self.watch is None:
            return
        for c in self.watch.controls():
            if c.action == "save":
                self.save_checkpoint()
                self.watch.ack(c, f"saved checkpoint-{self.step}")
            elif c.action == "eval":
                if self.prep.eval is None:
                    self.watch.ack(c, "no validation data to evaluate on", refused=True)
                else:
                    self.watch.ack(c, f"evaluating at step {self.step}")
                    self.evaluate()
            elif c.action == "stop":
                self.ctx.stop.request("control")
                self.watch.ack(c, f"stopping at step {self.step}")
            elif c.action == "early-stop":
                if self.prep.eval is None:
                    self.watch.ack(c, "no validation data: nothing to watch", refused=True)
                else:
                    self.watch.arm(c)
            elif c.action == "no-early-stop":
                self.watch.ack(c, self.watch.disarm())

    # -- train --

    def _epoch_order(self, epoch: int) -> list[int]:
        """This rank's sample indices for `epoch`: a pure function of the seed and the epoch."""
        import torch
        from torch.utils.data.distributed import DistributedSampler

        if self.world > 1:
            sampler = DistributedSampler(
                self.prep.train, num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.spec.seed
            )
            sampler.set_epoch(epoch)
            return list(sampler)
        generator = torch.Generator().manual_seed(self.spec.seed + epoch)
        return torch.randperm(len(self.prep.train), generator=generator).tolist()

    def _mean_loss(self, loss: Any) -> float:
        """The step's loss averaged over the ranks (each saw its own share of the batch)."""
        import torch.distributed as dist

        total = loss.detach().reshape(1).clone()
        dist.all_reduce(total)  # SUM: the one reduction gloo and nccl both have
        return float(total) / self.world

    def _stop_requested(self) -> bool:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1.0 if self.ctx.stop.is_set() else 0.0], device=self.device)  # nccl: on the GPU
        if self.world > 1:  # every rank must leave the loop at the same step, or the others hang in all-reduce
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def train(self) -> Outcome:
        import contextlib

        import torch
        from torch.utils.data import DataLoader

        from tui_hf.core.training.precision import autocast

        spec, writer = self.spec, self.ctx.writer
        if self.watch is not None:
            self.watch.attach(self.core)  # here, not in prepare: hooks added after prepare run before ours
        if self.ctx.heartbeat is not None:
            self.ctx.heartbeat.watch(self.core)
            self.ctx.heartbeat.restart_clock()  # loading and the baseline evaluation are no step's time
        self.model.train()
        last_time, samples, tokens = time.time(), 0, 0
        stopped = False
        epochs = math.ceil(self.total / self.steps_per_epoch)
        for epoch in range(self.step // self.steps_per_epoch, epochs):
            skip = (self.step - epoch * self.steps_per_epoch) * spec.batch_size * spec.grad_accum
            order = self._epoch_order(epoch)[skip:]  # batches already trained are skipped by index, not rerun
            # A generator of its own: a loader draws its base seed from the global generator otherwise, and a
            # resumed run (one more loader) would get other dropout masks than an uninterrupted one.
            loader = DataLoader(
                self.prep.train,
                batch_size=spec.batch_size,
                sampler=order,
                collate_fn=self.prep.collator,
                generator=torch.Generator().manual_seed(spec.seed + epoch),
            )
            left = len(loader)
            group, micro, losses = 0, 0, []
            for i, batch in enumerate(loader):
                if micro == 0:  # a new optimizer step: this many micro-batches make it (fewer at an epoch's end)
                    group = min(spec.grad_accum, left - i)
                batch = {k: v.to(self.device) for k, v in batch.items()}
                micro += 1
                # DDP all-reduces gradients on every backward: only the group's last one needs to.
                sync = micro == group or self.world == 1
                with contextlib.nullcontext() if sync else self.model.no_sync():
                    with autocast(self.precision, self.device):
                        loss = self.model(**batch).loss
                    # The mean over the group, as one batch of all its rows would give (equal-sized micro-batches).
                    self.scaler.scale(loss / group).backward()
                losses.append(loss.detach())
                samples += batch["input_ids"].shape[0] * self.world
                tokens += int(batch["attention_mask"].sum()) * self.world if "attention_mask" in batch else 0
                if micro < group:
                    continue
                micro = 0
                self.scaler.unscale_(self.optimizer)  # clipping and the logged norm see the true gradients
                # max_grad_norm 0 means no clipping; the norm is still measured for the live view.
                limit = spec.max_grad_norm if spec.max_grad_norm > 0 else math.inf
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), limit))
                self.scaler.step(self.optimizer)  # skipped (fp16) when the gradients overflowed
                self.scaler.update()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                step_loss = sum(losses) / len(losses)  # the step's loss: its micro-batches' mean (detached)
                losses = []
                value = float(step_loss)
                if self.ctx.heartbeat is not None:
                    self.ctx.heartbeat.step(self.step)
                if self.world > 1 and (self.step % spec.logging_steps == 0 or self.step in (1, self.total)):
                    value = self._mean_loss(step_loss)  # every rank takes part: the steps are the same on all
                if self.watch is not None:
                    self._apply(self.watch.end_step(self.step, grad_norm))
                    self._steer()
                    if spec.eval_steps and self.step % spec.eval_steps == 0 and self.step < self.total:
                        self.evaluate()
                if writer is not None:
                    if self.step % spec.logging_steps == 0 or self.step in (1, self.total):
                        now = time.time()
                        elapsed = max(now - last_time, 1e-9)
                        writer.train(
                            step=self.step,
                            epoch=self.step / self.steps_per_epoch,
                            loss=value,
                            learning_rate=self.scheduler.get_last_lr()[0],
                            grad_norm=grad_norm,
                            samples_per_second=round(samples / elapsed, 3),
                            tokens_per_second=round(tokens / elapsed, 1),
                            memory_mb=memory_mb(),
                        )
                        last_time, samples, tokens = now, 0, 0
                if self._stop_requested():
                    stopped = True
                    self.ctx.acknowledge_stop(self.step)
                    break
                if self.step >= self.total:
                    break
            if stopped:
                break
            if self._evaluated_at != self.step:
                self.evaluate()
            self.save_checkpoint()
            last_time, samples, tokens = time.time(), 0, 0
            if self.step >= self.total:
                break
            if self._stop_requested():  # early stopping after the epoch's evaluation
                stopped = True
                self.ctx.acknowledge_stop(self.step)
                break
        if stopped:
            self.save_checkpoint()
        if self.watch is not None:
            self.watch.close()
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        return Outcome(stopped, self.step, total_steps=self.total)

    def save_checkpoint(self) -> None:
        import torch

        if self.rank != 0 or self._saved_at == self.step:
            return
        what = f"saving checkpoint-{self.step}"
        needed = checkpoint_bytes(self.core)
        reason = storage_failure(self.ctx.run_dir, what, needed)
        if reason:  # refuse before writing anything: a half save would only fill the disk further
            raise StorageError(reason)
        staged = checkpoints.stage(self.ctx.run_dir, self.step)
        try:
            self.core.save_pretrained(staged)
            self.tok.save_pretrained(staged)
            torch.save(
                {
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "step": self.step,
                    "rng": _rng_state(),
                    "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                },
                staged / STATE_FILE,
            )
            path = checkpoints.commit(self.ctx.run_dir, staged)
        except Exception as exc:
            checkpoints.discard(staged)  # frees the space it took, for the final status
            if isinstance(exc, OSError) and is_storage_error(exc):
                raise storage_error(exc, what) from None
            reason = storage_failure(self.ctx.run_dir, what, needed)
            if reason:
                raise StorageError(reason) from None
            raise
        self._saved_at = self.step
        if self.ctx.writer is not None:
            self.ctx.writer.checkpoint(step=self.step, path=str(path))

    def save(self) -> str:
        if self.rank != 0:
            return ""
        return save_final(self.core, self.tok, self.ctx.run_dir)


def _counts(model: Any) -> dict[str, int]:
    from tui_hf.core.training.lora import parameter_counts

    trainable, total = parameter_counts(model)
    return {"trainable_parameters": trainable, "total_parameters": total}


def _fused_on_cpu() -> bool:
    """torch has a fused AdamW kernel for CPU since 2.4; asking for it elsewhere raises."""
    import torch

    try:
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any] | None) -> None:
    import torch

    if not state:
        return
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(state["python"]) if not isinstance(state["python"], tuple) else state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
